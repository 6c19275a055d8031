"""Billing rows for report tests, written with plain SQL.

The payment service is written in parallel with the reports, so payments, entitlements and the
customer's billing columns are inserted here with SQL, exactly in the columns of migration 0011
that the payment service fills. Plans go through the plan service.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import asyncpg

from common.timeutil import utcnow
from hub.services.plans import PlanService
from hub.storage.customers import CustomerRepository
from hub.storage.tenants import TenantRepository


class Ledger:
    """Writes a tenant's billing history: customers, their access, their payments."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def timezone(self, tenant_id: int, zone: str) -> None:
        await self.pool.execute("UPDATE tenants SET timezone = $2 WHERE id = $1", tenant_id, zone)

    async def plan(
        self,
        tenant_id: int,
        name: str = "1 Hour Plan",
        price: int | str = 50,
        duration_value: int = 1,
        duration_unit: str = "hours",
    ) -> int:
        """A hotspot plan, created by the plan service."""
        tenant = await TenantRepository(self.pool).get(tenant_id)
        plan = await PlanService(self.pool).create(
            tenant,
            name=name,
            speed="5M/2M",
            price=Decimal(price),
            duration_value=duration_value,
            duration_unit=duration_unit.upper(),
            connection_type="hotspot",
            actor="test",
        )
        return plan.id

    async def customer(
        self,
        tenant_id: int,
        username: str,
        *,
        phone: str | None = None,
        full_name: str | None = None,
        mac_address: str | None = None,
        router_id: int | None = None,
        plan_id: int | None = None,
        is_active: bool = True,
    ) -> int:
        customer = await CustomerRepository(self.pool).ensure(tenant_id, username, full_name)
        await self.pool.execute(
            "UPDATE customers SET phone = $2, mac_address = $3, router_id = $4, plan_id = $5,"
            " is_active = $6 WHERE id = $1",
            customer.id,
            phone,
            mac_address,
            router_id,
            plan_id,
            is_active,
        )
        return customer.id

    async def access(
        self,
        tenant_id: int,
        customer_id: int,
        *,
        expires_at: datetime,
        starts_at: datetime | None = None,
        plan_id: int | None = None,
        router_id: int | None = None,
        revoked_at: datetime | None = None,
    ) -> int:
        """An entitlement, as a completed payment (or a grant by hand, without a plan) adds."""
        starts_at = starts_at or min(utcnow(), expires_at) - timedelta(hours=1)
        return await self.pool.fetchval(
            "INSERT INTO entitlements (tenant_id, customer_id, router_id, plan_id, starts_at,"
            " expires_at, revoked_at) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
            tenant_id,
            customer_id,
            router_id,
            plan_id,
            starts_at,
            expires_at,
            revoked_at,
        )

    async def payment(
        self,
        tenant_id: int,
        customer_id: int,
        plan_id: int,
        amount: int | str,
        *,
        status: str = "completed",
        method: str = "mobile_money",
        router_id: int | None = None,
        created_at: datetime | None = None,
        completed_at: datetime | None = None,
        phone: str | None = None,
        checkout_request_id: str | None = None,
        merchant_request_id: str | None = None,
        receipt: str | None = None,
        reference: str | None = None,
    ) -> int:
        """A payment row; a completed one arrived at ``completed_at`` (default: when made)."""
        created_at = created_at or completed_at or utcnow()
        if status == "completed" and completed_at is None:
            completed_at = created_at
        return await self.pool.fetchval(
            "INSERT INTO payments (tenant_id, customer_id, plan_id, router_id, method, provider,"
            " status, amount, currency, phone, reference, checkout_request_id,"
            " merchant_request_id, receipt, recorded_by, created_at, completed_at)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'KES', $9, $10, $11, $12, $13, 'test',"
            " $14, $15) RETURNING id",
            tenant_id,
            customer_id,
            plan_id,
            router_id,
            method,
            "mpesa" if method == "mobile_money" else None,
            status,
            Decimal(amount),
            phone,
            reference,
            checkout_request_id,
            merchant_request_id,
            receipt,
            created_at,
            completed_at,
        )
