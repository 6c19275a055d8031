"""Payments (M-Pesa, cash) and the tenant's callback secret: the write side of the money.

A payment leaves ``pending`` once: every transition is guarded in SQL (``WHERE status =
'pending'``), so a replayed or duplicated callback, or a status query racing a callback, finds
nothing to change (None), and the receipt is UNIQUE, so no receipt credits two payments.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import asyncpg

from hub.domain import Payment, Tenant
from hub.storage import Executor, conflict_on_duplicate
from hub.storage.tenants import tenant_from_row

_COLUMNS = (
    "id, tenant_id, customer_id, plan_id, router_id, method, provider, status, amount, currency,"
    " phone, mac_address, reference, checkout_request_id, merchant_request_id, receipt,"
    " result_code, result_desc, entitlement_id, recorded_by, created_at, completed_at,"
    " updated_at"
)
_RECEIPT_USED = "that receipt is already recorded for another payment"


def _payment(row: asyncpg.Record | None) -> Payment | None:
    return Payment(**dict(row)) if row else None


class PaymentRepository:
    def __init__(self, db: Executor) -> None:
        self._db = db

    async def create_pending(
        self,
        *,
        tenant_id: int,
        customer_id: int,
        plan_id: int,
        router_id: int | None,
        amount: Decimal,
        currency: str,
        phone: str | None,
        mac_address: str | None,
        provider: str,
        recorded_by: str,
    ) -> Payment:
        """A mobile-money payment waiting for the provider (its checkout ids come next)."""
        row = await self._db.fetchrow(
            "INSERT INTO payments (tenant_id, customer_id, plan_id, router_id, method, provider,"
            " amount, currency, phone, mac_address, recorded_by)"
            " VALUES ($1, $2, $3, $4, 'mobile_money', $5, $6, $7, $8, $9, $10)"
            f" RETURNING {_COLUMNS}",
            tenant_id,
            customer_id,
            plan_id,
            router_id,
            provider,
            amount,
            currency,
            phone,
            mac_address,
            recorded_by,
        )
        return Payment(**dict(row))

    async def set_checkout(
        self, payment_id: int, reference: str, checkout_request_id: str, merchant_request_id: str
    ) -> Payment | None:
        """The provider's ids of an accepted push; None when the payment is no longer pending."""
        with conflict_on_duplicate("the provider returned a checkout id already in use"):
            row = await self._db.fetchrow(
                "UPDATE payments SET reference = $2, checkout_request_id = $3,"
                " merchant_request_id = $4, updated_at = now()"
                f" WHERE id = $1 AND status = 'pending' RETURNING {_COLUMNS}",
                payment_id,
                reference,
                checkout_request_id,
                merchant_request_id,
            )
        return _payment(row)

    async def find_by_checkout(self, tenant_id: int, checkout_request_id: str) -> Payment | None:
        """The tenant's payment of that checkout, locked until the transaction ends."""
        row = await self._db.fetchrow(
            f"SELECT {_COLUMNS} FROM payments"
            " WHERE checkout_request_id = $1 AND tenant_id = $2 FOR UPDATE",
            checkout_request_id,
            tenant_id,
        )
        return _payment(row)

    async def lock(self, payment_id: int) -> Payment | None:
        """The payment, locked until the transaction ends (one writer of its outcome)."""
        row = await self._db.fetchrow(
            f"SELECT {_COLUMNS} FROM payments WHERE id = $1 FOR UPDATE", payment_id
        )
        return _payment(row)

    async def complete(
        self,
        payment_id: int,
        *,
        receipt: str | None,
        paid_at: datetime | None,
        entitlement_id: int,
        result_code: int | None = None,
        result_desc: str | None = None,
    ) -> Payment | None:
        """Mark a pending payment paid, with the access it bought; None if it was not pending."""
        with conflict_on_duplicate(_RECEIPT_USED):
            row = await self._db.fetchrow(
                "UPDATE payments SET status = 'completed', receipt = $2,"
                " completed_at = COALESCE($3, now()), entitlement_id = $4, result_code = $5,"
                " result_desc = $6, updated_at = now()"
                f" WHERE id = $1 AND status = 'pending' RETURNING {_COLUMNS}",
                payment_id,
                receipt,
                paid_at,
                entitlement_id,
                result_code,
                result_desc,
            )
        return _payment(row)

    async def fail(
        self, payment_id: int, result_code: int | None, result_desc: str
    ) -> Payment | None:
        """Mark a pending payment failed (declined, cancelled, wrong amount, provider error)."""
        row = await self._db.fetchrow(
            "UPDATE payments SET status = 'failed', result_code = $2, result_desc = $3,"
            f" updated_at = now() WHERE id = $1 AND status = 'pending' RETURNING {_COLUMNS}",
            payment_id,
            result_code,
            result_desc,
        )
        return _payment(row)

    async def expire(self, payment_id: int, result_desc: str) -> Payment | None:
        """Give up on a payment the provider never settled; None if it was not pending."""
        row = await self._db.fetchrow(
            "UPDATE payments SET status = 'expired', result_desc = $2, updated_at = now()"
            f" WHERE id = $1 AND status = 'pending' RETURNING {_COLUMNS}",
            payment_id,
            result_desc,
        )
        return _payment(row)

    async def pending_older_than(self, age: timedelta, limit: int = 500) -> list[Payment]:
        """Mobile-money payments of every tenant still pending ``age`` after they started."""
        rows = await self._db.fetch(
            f"SELECT {_COLUMNS} FROM payments"
            " WHERE status = 'pending' AND method = 'mobile_money'"
            " AND created_at < now() - $1::interval ORDER BY created_at LIMIT $2",
            age,
            limit,
        )
        return [Payment(**dict(row)) for row in rows]

    async def record_cash(
        self,
        *,
        tenant_id: int,
        customer_id: int,
        plan_id: int,
        router_id: int | None,
        amount: Decimal,
        currency: str,
        phone: str | None,
        mac_address: str | None,
        entitlement_id: int,
        recorded_by: str,
    ) -> Payment:
        """Cash taken by an operator: completed at once, with the access it bought."""
        row = await self._db.fetchrow(
            "INSERT INTO payments (tenant_id, customer_id, plan_id, router_id, method, status,"
            " amount, currency, phone, mac_address, entitlement_id, recorded_by, completed_at)"
            " VALUES ($1, $2, $3, $4, 'cash', 'completed', $5, $6, $7, $8, $9, $10, now())"
            f" RETURNING {_COLUMNS}",
            tenant_id,
            customer_id,
            plan_id,
            router_id,
            amount,
            currency,
            phone,
            mac_address,
            entitlement_id,
            recorded_by,
        )
        return Payment(**dict(row))

    async def get(self, payment_id: int, tenant_id: int) -> Payment | None:
        """The tenant's payment with the end of the access it bought (None: another's)."""
        columns = ", ".join(f"p.{name.strip()}" for name in _COLUMNS.split(","))
        row = await self._db.fetchrow(
            f"SELECT {columns}, e.expires_at AS access_expires_at FROM payments p"
            " LEFT JOIN entitlements e ON e.id = p.entitlement_id"
            " WHERE p.id = $1 AND p.tenant_id = $2",
            payment_id,
            tenant_id,
        )
        return _payment(row)

    async def callback_secret(self, tenant_id: int, candidate: str) -> str:
        """The tenant's callback secret, ``candidate`` stored first if it had none."""
        return await self._db.fetchval(
            "UPDATE tenants SET payment_callback_secret = COALESCE(payment_callback_secret, $2)"
            " WHERE id = $1 RETURNING payment_callback_secret",
            tenant_id,
            candidate,
        )

    async def callback_tenant(self, slug: str) -> tuple[Tenant, str | None] | None:
        """The tenant a callback URL names, and the secret it must carry (None: none issued)."""
        row = await self._db.fetchrow("SELECT * FROM tenants WHERE slug = $1", slug)
        if row is None:
            return None
        return tenant_from_row(row), row["payment_callback_secret"]
