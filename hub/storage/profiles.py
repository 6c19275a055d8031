"""Billing profiles (seed 004): what a tenant sells by the month."""

from __future__ import annotations

from decimal import Decimal

from hub.domain import BillingProfile
from hub.storage import Executor, conflict_on_duplicate

_COLUMNS = (
    "id, tenant_id, name, type, price, rate_limit, local_address, remote_address,"
    " created_at, updated_at"
)
# Columns a profile update may set (the service validated each value).
_UPDATABLE = ("name", "type", "price", "rate_limit", "local_address", "remote_address")


def _duplicate(name: str) -> str:
    return f"billing profile {name!r} already exists"


class BillingProfileRepository:
    def __init__(self, db: Executor) -> None:
        self._db = db

    async def create(
        self,
        tenant_id: int,
        *,
        name: str,
        type: str,
        price: Decimal,
        rate_limit: str,
        local_address: str | None,
        remote_address: str | None,
    ) -> BillingProfile:
        with conflict_on_duplicate(_duplicate(name)):
            row = await self._db.fetchrow(
                "INSERT INTO billing_profiles (tenant_id, name, type, price, rate_limit,"
                " local_address, remote_address) VALUES ($1, $2, $3, $4, $5, $6, $7)"
                f" RETURNING {_COLUMNS}",
                tenant_id,
                name,
                type,
                price,
                rate_limit,
                local_address,
                remote_address,
            )
        return BillingProfile(**dict(row))

    async def get(self, profile_id: int, tenant_id: int) -> BillingProfile | None:
        """The tenant's profile; None for another tenant's."""
        row = await self._db.fetchrow(
            f"SELECT {_COLUMNS} FROM billing_profiles WHERE id = $1 AND tenant_id = $2",
            profile_id,
            tenant_id,
        )
        return BillingProfile(**dict(row)) if row else None

    async def id_by_name(self, tenant_id: int, name: str) -> int | None:
        return await self._db.fetchval(
            "SELECT id FROM billing_profiles WHERE tenant_id = $1 AND name = $2", tenant_id, name
        )

    async def by_ids(self, tenant_id: int, profile_ids: list[int]) -> dict[int, BillingProfile]:
        rows = await self._db.fetch(
            f"SELECT {_COLUMNS} FROM billing_profiles"
            " WHERE tenant_id = $1 AND id = ANY($2::bigint[])",
            tenant_id,
            profile_ids,
        )
        return {row["id"]: BillingProfile(**dict(row)) for row in rows}

    async def page(
        self, tenant_id: int, *, limit: int, offset: int
    ) -> tuple[list[BillingProfile], int]:
        """One page of the tenant's profiles by id, and how many there are in all."""
        rows = await self._db.fetch(
            f"SELECT {_COLUMNS}, count(*) OVER () AS total FROM billing_profiles"
            " WHERE tenant_id = $1 ORDER BY id LIMIT $2 OFFSET $3",
            tenant_id,
            limit,
            offset,
        )
        if not rows:
            total = await self._db.fetchval(
                "SELECT count(*) FROM billing_profiles WHERE tenant_id = $1", tenant_id
            )
            return [], total
        total = rows[0]["total"]
        return [
            BillingProfile(**{k: v for k, v in row.items() if k != "total"}) for row in rows
        ], total

    async def update(self, profile: BillingProfile, values: dict[str, object]) -> BillingProfile:
        """Set the given columns (names from _UPDATABLE only)."""
        names = [name for name in _UPDATABLE if name in values]
        if not names:
            return profile
        sets = ", ".join(f"{name} = ${i}" for i, name in enumerate(names, start=2))
        with conflict_on_duplicate(_duplicate(str(values.get("name", profile.name)))):
            row = await self._db.fetchrow(
                f"UPDATE billing_profiles SET {sets}, updated_at = now() WHERE id = $1"
                f" RETURNING {_COLUMNS}",
                profile.id,
                *(values[name] for name in names),
            )
        return BillingProfile(**dict(row))

    async def customers_using(self, profile_id: int) -> int:
        return await self._db.fetchval(
            "SELECT count(*) FROM customers WHERE profile_id = $1", profile_id
        )

    async def routers_using(self, profile_id: int) -> list[int]:
        """The routers holding a customer of the profile: where it must be kept current."""
        rows = await self._db.fetch(
            "SELECT DISTINCT service_router_id FROM customers"
            " WHERE profile_id = $1 AND service_router_id IS NOT NULL ORDER BY 1",
            profile_id,
        )
        return [row[0] for row in rows]

    async def delete(self, profile_id: int) -> None:
        await self._db.execute("DELETE FROM billing_profiles WHERE id = $1", profile_id)
