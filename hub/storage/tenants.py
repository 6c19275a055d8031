"""Tenants and their API keys."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import asyncpg

from hub.domain import ApiKey, ApiKeyPrincipal, Tenant, TenantDetails, TenantStats
from hub.storage import Executor, conflict_on_duplicate
from hub.storage.link import INSTANCE_LIVE

# Columns a /v1 update may set (the service has validated every value).
TENANT_UPDATABLE = (
    "name",
    "company_name",
    "phone",
    "timezone",
    "currency",
    "language",
    "default_country",
    "max_mikrotiks",
    "max_network_users",
    "features",
    "is_active",
)

# A tenant's columns beside another table's, read back with tenant_from_row(row, "t_").
TENANT_COLUMNS_T = (
    "t.id AS t_id, t.slug AS t_slug, t.name AS t_name, t.default_country AS t_default_country,"
    " t.currency AS t_currency, t.timezone AS t_timezone, t.is_active AS t_is_active,"
    " t.language AS t_language"
)


def tenant_from_row(row: asyncpg.Record, prefix: str = "") -> Tenant:
    return Tenant(
        id=row[f"{prefix}id"],
        slug=row[f"{prefix}slug"],
        name=row[f"{prefix}name"],
        default_country=row[f"{prefix}default_country"],
        currency=row[f"{prefix}currency"],
        timezone=row[f"{prefix}timezone"],
        language=row[f"{prefix}language"],
        is_active=row[f"{prefix}is_active"],
    )


class TenantRepository:
    def __init__(self, db: Executor) -> None:
        self._db = db

    async def create(self, slug: str, name: str, default_country: str) -> Tenant:
        with conflict_on_duplicate(f"tenant {slug!r} already exists"):
            row = await self._db.fetchrow(
                "INSERT INTO tenants (slug, name, default_country) VALUES ($1, $2, $3) RETURNING *",
                slug,
                name,
                default_country,
            )
        return tenant_from_row(row)

    async def get(self, tenant_id: int) -> Tenant | None:
        row = await self._db.fetchrow("SELECT * FROM tenants WHERE id = $1", tenant_id)
        return tenant_from_row(row) if row else None

    async def countries(self) -> list[str]:
        """The tenants' default countries: how a phone number may be spelled across tenants."""
        rows = await self._db.fetch("SELECT DISTINCT default_country FROM tenants ORDER BY 1")
        return [row["default_country"] for row in rows]

    async def get_by_slug(self, slug: str) -> Tenant | None:
        row = await self._db.fetchrow("SELECT * FROM tenants WHERE slug = $1", slug)
        return tenant_from_row(row) if row else None


def details_from_row(row: asyncpg.Record) -> TenantDetails:
    return TenantDetails(
        tenant=tenant_from_row(row),
        company_name=row["company_name"],
        phone=row["phone"],
        max_mikrotiks=row["max_mikrotiks"],
        max_network_users=row["max_network_users"],
        features=row["features"],
        is_active=row["is_active"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


# A tenant holding any of these is not deleted (its history would go with it).
_HOLDINGS = ("routers", "agents", "customers", "plans", "payments", "vouchers", "users")


class TenantDetailsRepository:
    """Seed 004's tenant management: every column, filters, limits, stats."""

    def __init__(self, db: Executor) -> None:
        self._db = db

    async def create(self, slug: str, values: Mapping[str, Any]) -> TenantDetails:
        columns = ["slug", *values]
        params = [slug, *values.values()]
        placeholders = ", ".join(f"${i}" for i in range(1, len(params) + 1))
        with conflict_on_duplicate(f"a tenant with subdomain {slug!r} already exists"):
            row = await self._db.fetchrow(
                f"INSERT INTO tenants ({', '.join(columns)}) VALUES ({placeholders}) RETURNING *",
                *params,
            )
        return details_from_row(row)

    async def get(self, tenant_id: int) -> TenantDetails | None:
        row = await self._db.fetchrow("SELECT * FROM tenants WHERE id = $1", tenant_id)
        return details_from_row(row) if row else None

    async def list(
        self, *, is_active: bool | None, search: str | None, limit: int, offset: int
    ) -> tuple[list[TenantDetails], int]:
        """A page of tenants (by id) and how many match in all."""
        where = (
            "($1::boolean IS NULL OR is_active = $1) AND ($2::text IS NULL"
            " OR name ILIKE '%' || $2 || '%' OR slug ILIKE '%' || $2 || '%'"
            " OR company_name ILIKE '%' || $2 || '%')"
        )
        pattern = _like_escaped(search) if search else None
        rows = await self._db.fetch(
            f"SELECT *, count(*) OVER () AS total FROM tenants WHERE {where}"
            " ORDER BY id LIMIT $3 OFFSET $4",
            is_active,
            pattern,
            limit,
            offset,
        )
        if rows:
            return [details_from_row(row) for row in rows], rows[0]["total"]
        total = await self._db.fetchval(
            f"SELECT count(*) FROM tenants WHERE {where}", is_active, pattern
        )
        return [], total

    async def update(self, tenant_id: int, values: Mapping[str, Any]) -> TenantDetails | None:
        assert set(values) <= set(TENANT_UPDATABLE), values
        sets = [f"{name} = ${i}" for i, name in enumerate(values, start=2)]
        params = list(values.values())
        row = await self._db.fetchrow(
            f"UPDATE tenants SET {', '.join([*sets, 'updated_at = now()'])} WHERE id = $1"
            " RETURNING *",
            tenant_id,
            *params,
        )
        return details_from_row(row) if row else None

    async def holdings(self, tenant_id: int) -> dict[str, int]:
        """What a delete would destroy, by kind, leaving out the kinds it holds none of."""
        row = await self._db.fetchrow(
            "SELECT"
            + ",".join(
                f" (SELECT count(*) FROM {table} WHERE tenant_id = $1) AS {table}"
                for table in _HOLDINGS
            ),
            tenant_id,
        )
        return {table: row[table] for table in _HOLDINGS if row[table]}

    async def delete(self, tenant_id: int) -> bool:
        status = await self._db.execute("DELETE FROM tenants WHERE id = $1", tenant_id)
        return status == "DELETE 1"

    async def stats(self, tenant_id: int, offline_after: float) -> TenantStats:
        """Counts for /v1 stats; revenue of the month so far in the tenant's own time zone."""
        row = await self._db.fetchrow(
            f"""
            SELECT
              (SELECT count(*) FROM routers WHERE tenant_id = $1 AND retired_at IS NULL) AS routers,
              (SELECT count(*) FROM agents WHERE tenant_id = $1) AS sites,
              (SELECT count(*) FROM agents a WHERE a.tenant_id = $1 AND a.connected
                  AND a.last_seen_at > now() - make_interval(secs => $2)
                  AND {INSTANCE_LIVE}) AS sites_online,
              (SELECT count(*) FROM current_sessions s JOIN routers r ON r.id = s.router_id
                WHERE r.tenant_id = $1 AND r.retired_at IS NULL) AS active_sessions,
              (SELECT count(*) FROM customers WHERE tenant_id = $1) AS customers,
              (SELECT COALESCE(sum(p.amount), 0)
                 FROM payments p JOIN tenants t ON t.id = p.tenant_id
                WHERE p.tenant_id = $1 AND p.status = 'completed'
                  AND p.completed_at >= date_trunc('month', now() AT TIME ZONE t.timezone)
                      AT TIME ZONE t.timezone) AS revenue_this_month
            """,
            tenant_id,
            offline_after,
        )
        return TenantStats(**dict(row))


def _like_escaped(text: str) -> str:
    """``text`` matched literally inside ILIKE (its %, _ and \\ are not wildcards)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class ApiKeyRepository:
    def __init__(self, db: Executor) -> None:
        self._db = db

    async def create(self, tenant_id: int, name: str, prefix: str, key_hash: bytes) -> ApiKey:
        with conflict_on_duplicate("API key prefix already in use"):
            row = await self._db.fetchrow(
                "INSERT INTO api_keys (tenant_id, name, prefix, key_hash)"
                " VALUES ($1, $2, $3, $4) RETURNING id, tenant_id, name, prefix",
                tenant_id,
                name,
                prefix,
                key_hash,
            )
        return ApiKey(**dict(row))

    async def find_active(self, prefix: str) -> tuple[ApiKeyPrincipal, bytes] | None:
        """The unrevoked key with this prefix, its tenant, and the stored hash to compare."""
        row = await self._db.fetchrow(
            f"SELECT k.id, k.tenant_id, k.name, k.prefix, k.key_hash, k.last_used_at,"
            f" {TENANT_COLUMNS_T}"
            " FROM api_keys k JOIN tenants t ON t.id = k.tenant_id"
            " WHERE k.prefix = $1 AND k.revoked_at IS NULL",
            prefix,
        )
        if row is None:
            return None
        key = ApiKey(row["id"], row["tenant_id"], row["name"], row["prefix"], row["last_used_at"])
        return ApiKeyPrincipal(key=key, tenant=tenant_from_row(row, "t_")), bytes(row["key_hash"])

    async def touch(self, key_id: int) -> None:
        """Record use, at most once a minute per key (keeps the hot path write-light)."""
        await self._db.execute(
            "UPDATE api_keys SET last_used_at = now() WHERE id = $1"
            " AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')",
            key_id,
        )
