"""Tenants and their API keys."""

from __future__ import annotations

import asyncpg

from hub.domain import ApiKey, ApiKeyPrincipal, Tenant
from hub.storage import Executor, conflict_on_duplicate

# A tenant's columns beside another table's, read back with tenant_from_row(row, "t_").
TENANT_COLUMNS_T = (
    "t.id AS t_id, t.slug AS t_slug, t.name AS t_name, t.default_country AS t_default_country,"
    " t.currency AS t_currency, t.timezone AS t_timezone"
)


def tenant_from_row(row: asyncpg.Record, prefix: str = "") -> Tenant:
    return Tenant(
        id=row[f"{prefix}id"],
        slug=row[f"{prefix}slug"],
        name=row[f"{prefix}name"],
        default_country=row[f"{prefix}default_country"],
        currency=row[f"{prefix}currency"],
        timezone=row[f"{prefix}timezone"],
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
            f"SELECT k.id, k.tenant_id, k.name, k.prefix, k.key_hash, {TENANT_COLUMNS_T}"
            " FROM api_keys k JOIN tenants t ON t.id = k.tenant_id"
            " WHERE k.prefix = $1 AND k.revoked_at IS NULL",
            prefix,
        )
        if row is None:
            return None
        key = ApiKey(row["id"], row["tenant_id"], row["name"], row["prefix"])
        return ApiKeyPrincipal(key=key, tenant=tenant_from_row(row, "t_")), bytes(row["key_hash"])

    async def touch(self, key_id: int) -> None:
        """Record use, at most once a minute per key (keeps the hot path write-light)."""
        await self._db.execute(
            "UPDATE api_keys SET last_used_at = now() WHERE id = $1"
            " AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')",
            key_id,
        )
