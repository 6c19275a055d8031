"""Customers (hotspot users, phone numbers in E.164) and their paid access."""

from __future__ import annotations

from datetime import datetime

from hub.domain import Customer, Entitlement
from hub.storage import Executor, conflict_on_duplicate, limited_by_tenant

_CUSTOMER_COLUMNS = "id, tenant_id, username, full_name, email, is_active, created_at"
_ENTITLEMENT_COLUMNS = (
    "id, tenant_id, customer_id, router_id, mac_address, profile, rate_limit, on_expiry,"
    " starts_at, expires_at, revoked_at, plan_id"
)


class CustomerRepository:
    def __init__(self, db: Executor) -> None:
        self._db = db

    async def create(self, tenant_id: int, username: str, full_name: str | None) -> Customer:
        with conflict_on_duplicate(f"customer {username!r} already exists"), limited_by_tenant():
            row = await self._db.fetchrow(
                "INSERT INTO customers (tenant_id, username, full_name) VALUES ($1, $2, $3)"
                f" RETURNING {_CUSTOMER_COLUMNS}",
                tenant_id,
                username,
                full_name,
            )
        return Customer(**dict(row))

    async def ensure(self, tenant_id: int, username: str, full_name: str | None) -> Customer:
        """The customer of that username, created if new (the name only fills a blank)."""
        with limited_by_tenant():
            row = await self._db.fetchrow(
                "INSERT INTO customers (tenant_id, username, full_name) VALUES ($1, $2, $3)"
                " ON CONFLICT (tenant_id, username) DO UPDATE"
                " SET full_name = COALESCE(customers.full_name, EXCLUDED.full_name)"
                f" RETURNING {_CUSTOMER_COLUMNS}",
                tenant_id,
                username,
                full_name,
            )
        return Customer(**dict(row))

    async def lock(self, customer_id: int) -> None:
        """Hold the customer's row until the transaction ends: one writer of its access."""
        await self._db.execute("SELECT 1 FROM customers WHERE id = $1 FOR UPDATE", customer_id)

    async def get(self, customer_id: int, tenant_id: int | None) -> Customer | None:
        row = await self._db.fetchrow(
            f"SELECT {_CUSTOMER_COLUMNS} FROM customers"
            " WHERE id = $1 AND ($2::bigint IS NULL OR tenant_id = $2)",
            customer_id,
            tenant_id,
        )
        return Customer(**dict(row)) if row else None

    async def by_usernames(self, tenant_id: int, usernames: list[str]) -> dict[str, Customer]:
        rows = await self._db.fetch(
            f"SELECT {_CUSTOMER_COLUMNS} FROM customers"
            " WHERE tenant_id = $1 AND username = ANY($2::text[])",
            tenant_id,
            usernames,
        )
        return {row["username"]: Customer(**dict(row)) for row in rows}

    async def record_purchase(
        self,
        customer_id: int,
        *,
        phone: str | None,
        mac_address: str | None,
        router_id: int | None,
        plan_id: int,
    ) -> None:
        """What the dashboard shows of a buyer: phone, device, where and what they last bought
        (a blank phone or MAC keeps the one known)."""
        await self._db.execute(
            "UPDATE customers SET phone = COALESCE($2, phone),"
            " mac_address = COALESCE($3, mac_address), router_id = COALESCE($4, router_id),"
            " plan_id = $5 WHERE id = $1",
            customer_id,
            phone,
            mac_address,
            router_id,
            plan_id,
        )


class EntitlementRepository:
    def __init__(self, db: Executor) -> None:
        self._db = db

    async def add(
        self,
        *,
        tenant_id: int,
        customer_id: int,
        router_id: int | None,
        mac_address: str | None,
        profile: str | None,
        starts_at: datetime,
        expires_at: datetime,
        plan_id: int | None = None,
        rate_limit: str | None = None,
        on_expiry: str = "cut",
    ) -> Entitlement:
        row = await self._db.fetchrow(
            "INSERT INTO entitlements (tenant_id, customer_id, router_id, mac_address, profile,"
            " starts_at, expires_at, plan_id, rate_limit, on_expiry)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
            f" RETURNING {_ENTITLEMENT_COLUMNS}",
            tenant_id,
            customer_id,
            router_id,
            mac_address,
            profile,
            starts_at,
            expires_at,
            plan_id,
            rate_limit,
            on_expiry,
        )
        return Entitlement(**dict(row))

    async def latest_for(
        self, customer_ids: list[int], *, started_only: bool = True
    ) -> list[Entitlement]:
        """Per customer and scope (router, MAC): the unrevoked entitlement ending last.

        ``started_only=False`` also counts entitlements whose start is after this
        transaction's ``now()``: a grant extending access must see the grant committed just
        before it, which may have started after this transaction did.
        """
        rows = await self._db.fetch(
            f"SELECT DISTINCT ON (customer_id, router_id, mac_address) {_ENTITLEMENT_COLUMNS}"
            " FROM entitlements WHERE customer_id = ANY($1::bigint[]) AND revoked_at IS NULL"
            " AND (NOT $2 OR starts_at <= now())"
            " ORDER BY customer_id, router_id, mac_address, expires_at DESC",
            customer_ids,
            started_only,
        )
        return [Entitlement(**dict(row)) for row in rows]
