"""Plans: what a tenant's customers can buy."""

from __future__ import annotations

from decimal import Decimal

from hub.domain import Plan
from hub.storage import Executor

_PLAN_COLUMNS = (
    "id, tenant_id, name, price, duration_value, duration_unit, download_speed, upload_speed,"
    " connection_type, router_profile, on_expiry, created_at, deleted_at"
)


class PlanRepository:
    def __init__(self, db: Executor) -> None:
        self._db = db

    async def create(
        self,
        tenant_id: int,
        *,
        name: str,
        price: Decimal,
        duration_value: int,
        duration_unit: str,
        download_speed: str,
        upload_speed: str,
        connection_type: str,
        router_profile: str | None,
        on_expiry: str,
        created_by: str,
    ) -> Plan:
        row = await self._db.fetchrow(
            "INSERT INTO plans (tenant_id, name, price, duration_value, duration_unit,"
            " download_speed, upload_speed, connection_type, router_profile, on_expiry,"
            f" created_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
            f" RETURNING {_PLAN_COLUMNS}",
            tenant_id,
            name,
            price,
            duration_value,
            duration_unit,
            download_speed,
            upload_speed,
            connection_type,
            router_profile,
            on_expiry,
            created_by,
        )
        return Plan(**dict(row))

    async def get(self, plan_id: int, tenant_id: int, *, deleted: bool = False) -> Plan | None:
        """The tenant's plan (None for another tenant's); a deleted one only if ``deleted``."""
        row = await self._db.fetchrow(
            f"SELECT {_PLAN_COLUMNS} FROM plans WHERE id = $1 AND tenant_id = $2"
            " AND ($3 OR deleted_at IS NULL)",
            plan_id,
            tenant_id,
            deleted,
        )
        return Plan(**dict(row)) if row else None

    async def list(self, tenant_id: int, connection_type: str | None = None) -> list[Plan]:
        rows = await self._db.fetch(
            f"SELECT {_PLAN_COLUMNS} FROM plans WHERE tenant_id = $1 AND deleted_at IS NULL"
            " AND ($2::text IS NULL OR connection_type = $2) ORDER BY id",
            tenant_id,
            connection_type,
        )
        return [Plan(**dict(row)) for row in rows]

    async def lock(self, plan_id: int, tenant_id: int) -> Plan | None:
        """The live plan, its row held until the transaction ends (delete vs. a purchase)."""
        row = await self._db.fetchrow(
            f"SELECT {_PLAN_COLUMNS} FROM plans WHERE id = $1 AND tenant_id = $2"
            " AND deleted_at IS NULL FOR UPDATE",
            plan_id,
            tenant_id,
        )
        return Plan(**dict(row)) if row else None

    async def active_customers(self, plan_id: int) -> int:
        """Customers with access bought with this plan running now."""
        return await self._db.fetchval(
            "SELECT count(DISTINCT customer_id) FROM entitlements WHERE plan_id = $1"
            " AND revoked_at IS NULL AND starts_at <= now() AND expires_at > now()",
            plan_id,
        )

    async def soft_delete(self, plan_id: int) -> None:
        """Gone from listings and sales; kept for the payments and vouchers that name it."""
        await self._db.execute("UPDATE plans SET deleted_at = now() WHERE id = $1", plan_id)
