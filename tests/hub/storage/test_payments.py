"""PaymentRepository on a real Postgres: a payment leaves pending once, a receipt pays once."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import asyncpg
import pytest

from common.timeutil import utcnow
from hub.domain import Payment
from hub.errors import Conflict
from hub.storage.customers import CustomerRepository, EntitlementRepository
from hub.storage.payments import PaymentRepository

from ..conftest import Seeder


async def pending(pool: asyncpg.Pool, seed: Seeder, slug: str = "acme") -> Payment:
    owner = await seed.tenant(slug, country="KE")
    plan = await seed.plan(owner)
    customer = await CustomerRepository(pool).ensure(owner.tenant.id, "+254712000001", None)
    return await PaymentRepository(pool).create_pending(
        tenant_id=owner.tenant.id,
        customer_id=customer.id,
        plan_id=plan.id,
        router_id=None,
        amount=Decimal(50),
        currency="KES",
        phone="254712000001",
        mac_address=None,
        provider="mpesa",
        recorded_by="test",
    )


async def entitlement_id(pool: asyncpg.Pool, payment: Payment) -> int:
    now = utcnow()
    entitlement = await EntitlementRepository(pool).add(
        tenant_id=payment.tenant_id,
        customer_id=payment.customer_id,
        router_id=None,
        mac_address=None,
        profile=None,
        starts_at=now,
        expires_at=now + timedelta(hours=1),
    )
    return entitlement.id


async def test_a_payment_completes_once(pool: asyncpg.Pool, seed: Seeder):
    payment = await pending(pool, seed)
    repo = PaymentRepository(pool)
    await repo.set_checkout(payment.id, "PAY1", "ws_CO_1", "m-1")
    found = await repo.find_by_checkout(payment.tenant_id, "ws_CO_1")
    assert found is not None and found.id == payment.id
    assert await repo.find_by_checkout(payment.tenant_id + 1, "ws_CO_1") is None  # another's
    ent = await entitlement_id(pool, payment)
    done = await repo.complete(payment.id, receipt="QJK1", paid_at=None, entitlement_id=ent)
    assert done is not None and done.status == "completed" and done.completed_at is not None
    again = await repo.complete(payment.id, receipt="QJK1", paid_at=None, entitlement_id=ent)
    assert again is None
    assert await repo.fail(payment.id, 1032, "cancelled") is None
    assert await repo.expire(payment.id, "late") is None
    view = await repo.get(payment.id, payment.tenant_id)
    assert view is not None and view.status == "completed" and view.access_expires_at is not None


async def test_a_receipt_pays_one_payment(pool: asyncpg.Pool, seed: Seeder):
    first, second = await pending(pool, seed), await pending(pool, seed, "other")
    repo = PaymentRepository(pool)
    await repo.complete(
        first.id, receipt="QJK1", paid_at=None, entitlement_id=await entitlement_id(pool, first)
    )
    with pytest.raises(Conflict):
        await repo.complete(
            second.id,
            receipt="QJK1",
            paid_at=None,
            entitlement_id=await entitlement_id(pool, second),
        )
    assert (await repo.get(second.id, second.tenant_id)).status == "pending"


async def test_pending_older_than_and_the_callback_secret(pool: asyncpg.Pool, seed: Seeder):
    payment = await pending(pool, seed)
    repo = PaymentRepository(pool)
    assert [p.id for p in await repo.pending_older_than(timedelta(0))] == [payment.id]
    assert await repo.pending_older_than(timedelta(hours=1)) == []
    secret = await repo.callback_secret(payment.tenant_id, "first")
    assert secret == "first"
    assert await repo.callback_secret(payment.tenant_id, "second") == "first"  # kept
    tenant, stored = await repo.callback_tenant("acme")
    assert (tenant.id, stored) == (payment.tenant_id, "first")
    assert await repo.callback_tenant("nobody") is None
