"""Subscribers: the customers table read and written with seed 004's subscription fields."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from hub.domain import Subscriber
from hub.errors import Conflict
from hub.storage import Executor, conflict_on_duplicate, limited_by_tenant

_COLUMNS = (
    "id, tenant_id, username, full_name, phone, is_active, profile_id, service_type,"
    " billing_day, service_router_id AS router_id, password_sealed, created_at, updated_at"
)
# Subscriber field -> customers column, for the fields an update may set.
_UPDATABLE = {
    "username": "username",
    "full_name": "full_name",
    "phone": "phone",
    "is_active": "is_active",
    "profile_id": "profile_id",
    "service_type": "service_type",
    "billing_day": "billing_day",
    "router_id": "service_router_id",
    "password_sealed": "password_sealed",
}


def duplicate_username(username: str) -> str:
    return f"customer {username!r} already exists"


def _subscriber(row: asyncpg.Record) -> Subscriber:
    return Subscriber(**{key: value for key, value in row.items() if key != "total"})


@dataclass(frozen=True, slots=True)
class SubscriberFilter:
    """What client-find narrows by (None: any)."""

    usernames: list[str] | None = None
    phone: str | None = None
    profile_id: int | None = None
    service_type: str | None = None
    is_active: bool | None = None
    search: str | None = None  # in username, name or phone, case-insensitive


class SubscriberRepository:
    def __init__(self, db: Executor) -> None:
        self._db = db

    async def next_id(self) -> int:
        """An id for a customer about to be created (its password is sealed under its id)."""
        return await self._db.fetchval("SELECT nextval(pg_get_serial_sequence('customers', 'id'))")

    async def create(
        self,
        tenant_id: int,
        customer_id: int,
        *,
        username: str,
        full_name: str | None,
        phone: str | None,
        is_active: bool,
        profile_id: int,
        service_type: str,
        billing_day: int,
        router_id: int,
        password_sealed: bytes,
    ) -> Subscriber:
        with conflict_on_duplicate(duplicate_username(username)), limited_by_tenant():
            row = await self._db.fetchrow(
                "INSERT INTO customers (id, tenant_id, username, full_name, phone, is_active,"
                " profile_id, service_type, billing_day, service_router_id, password_sealed)"
                " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
                f" RETURNING {_COLUMNS}",
                customer_id,
                tenant_id,
                username,
                full_name,
                phone,
                is_active,
                profile_id,
                service_type,
                billing_day,
                router_id,
                password_sealed,
            )
        return _subscriber(row)

    async def get(self, customer_id: int, tenant_id: int) -> Subscriber | None:
        """The tenant's customer; None for another tenant's."""
        row = await self._db.fetchrow(
            f"SELECT {_COLUMNS} FROM customers WHERE id = $1 AND tenant_id = $2",
            customer_id,
            tenant_id,
        )
        return _subscriber(row) if row else None

    async def by_username(self, tenant_id: int, username: str) -> Subscriber | None:
        row = await self._db.fetchrow(
            f"SELECT {_COLUMNS} FROM customers WHERE tenant_id = $1 AND username = $2",
            tenant_id,
            username,
        )
        return _subscriber(row) if row else None

    async def customer_limit(self, tenant_id: int) -> tuple[int | None, int]:
        """The tenant's max_network_users (None: no limit) and how many customers it has.

        A check before the router is written; the insert's trigger (migration 0018) still
        decides under the tenant's row lock."""
        row = await self._db.fetchrow(
            "SELECT t.max_network_users, (SELECT count(*) FROM customers c"
            " WHERE c.tenant_id = t.id) AS used FROM tenants t WHERE t.id = $1",
            tenant_id,
        )
        return row["max_network_users"], row["used"]

    async def find(
        self, tenant_id: int, where: SubscriberFilter, *, limit: int, offset: int
    ) -> tuple[list[Subscriber], int]:
        """One page (by id) of the tenant's customers matching ``where``, and the match count."""
        pattern = None
        if where.search:
            escaped = where.search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            pattern = f"%{escaped}%"
        args = (
            tenant_id,
            where.usernames,
            where.phone,
            where.profile_id,
            where.service_type,
            where.is_active,
            pattern,
        )
        condition = (
            " WHERE tenant_id = $1 AND ($2::text[] IS NULL OR username = ANY($2::text[]))"
            " AND ($3::text IS NULL OR phone = $3) AND ($4::bigint IS NULL OR profile_id = $4)"
            " AND ($5::text IS NULL OR service_type = $5)"
            " AND ($6::boolean IS NULL OR is_active = $6)"
            " AND ($7::text IS NULL OR username ILIKE $7 OR full_name ILIKE $7"
            " OR phone ILIKE $7)"
        )
        rows = await self._db.fetch(
            f"SELECT {_COLUMNS}, count(*) OVER () AS total FROM customers{condition}"
            " ORDER BY id LIMIT $8 OFFSET $9",
            *args,
            limit,
            offset,
        )
        if rows:
            return [_subscriber(row) for row in rows], rows[0]["total"]
        total = await self._db.fetchval(f"SELECT count(*) FROM customers{condition}", *args)
        return [], total

    async def update(self, customer: Subscriber, values: dict[str, object]) -> Subscriber:
        """Set the given fields (names of _UPDATABLE only)."""
        names = [name for name in _UPDATABLE if name in values]
        if not names:
            return customer
        sets = ", ".join(f"{_UPDATABLE[name]} = ${i}" for i, name in enumerate(names, start=2))
        username = str(values.get("username", customer.username))
        with conflict_on_duplicate(duplicate_username(username)):
            row = await self._db.fetchrow(
                f"UPDATE customers SET {sets}, updated_at = now() WHERE id = $1"
                f" RETURNING {_COLUMNS}",
                customer.id,
                *(values[name] for name in names),
            )
        return _subscriber(row)

    async def delete(self, customer_id: int) -> None:
        """Delete the customer (its entitlements go with it); 409 while payments name it."""
        try:
            await self._db.execute("DELETE FROM customers WHERE id = $1", customer_id)
        except asyncpg.ForeignKeyViolationError as exc:
            raise Conflict(PAYMENTS_KEEP_CUSTOMER) from exc

    async def has_payments(self, customer_id: int) -> bool:
        return await self._db.fetchval(
            "SELECT EXISTS (SELECT 1 FROM payments WHERE customer_id = $1)", customer_id
        )


PAYMENTS_KEEP_CUSTOMER = (
    "This customer has payments on record and cannot be deleted; deactivate it instead"
    " (is_active false)"
)
