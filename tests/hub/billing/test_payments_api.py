"""The payments face without a site: input checks, scope, roles, cash and the provider's failures.

The hub is the real app (create_app, real Postgres) and M-Pesa the Daraja simulator over HTTP;
payments there are held (never decided), so no callback is needed. The whole flow with an agent
and a router is tests/hub/billing/test_payments.py.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from common.timeutil import parse_iso, utcnow
from hub.app import create_app
from hub.config import HubConfig, MpesaConfig
from hub.services.auth import AuthService
from hub.storage.plans import PlanRepository
from hub.typedefs import DB_POOL
from routersim.daraja import DarajaConfig, DarajaSim, Outcome
from tests.helpers import free_port

from ..conftest import SeededTenant, Seeder

STK = "/api/payments/mpesa/stk-push"
CASH = "/api/payments/cash"


@pytest.fixture
async def daraja() -> AsyncIterator[DarajaSim]:
    async with DarajaSim(DarajaConfig(outcome=Outcome("paid", None))) as sim:
        yield sim


def mpesa(base_url: str) -> MpesaConfig:
    sim = DarajaConfig()
    return MpesaConfig(
        base_url=base_url,
        consumer_key=sim.consumer_key,
        consumer_secret=sim.consumer_secret,
        shortcode=sim.shortcode,
        passkey=sim.passkey,
    )


@pytest.fixture
def hub_config(hub_config: HubConfig, daraja: DarajaSim) -> HubConfig:
    return dataclasses.replace(hub_config, mpesa=mpesa(daraja.url))


@dataclasses.dataclass
class Shop:
    owner: SeededTenant
    router_id: int
    plan_id: int


@pytest.fixture
async def shop(seed: Seeder) -> Shop:
    owner = await seed.tenant("acme", country="KE")
    router_id = await seed.router(owner, "Market", online=False)
    plan = await seed.plan(owner)
    return Shop(owner, router_id, plan.id)


async def call(
    client: TestClient, path: str, body: Any, headers: dict[str, str]
) -> tuple[int, Any]:
    async with client.post(path, json=body, headers=headers) as response:
        return response.status, await response.json()


def sale(shop: Shop, **changes: Any) -> dict[str, Any]:
    return {"plan_id": shop.plan_id, "phone": "0712000001", "router_id": shop.router_id, **changes}


async def test_stk_push_starts_a_pending_payment(client: TestClient, shop: Shop, daraja: DarajaSim):
    status, body = await call(client, STK, sale(shop), shop.owner.headers)
    assert status == 202, body
    assert body["status"] == "pending" and body["customer_message"]
    [pushed] = daraja.state.payments.values()
    assert pushed.checkout_request_id == body["checkout_request_id"]
    assert (pushed.amount, pushed.phone) == (50, "254712000001")
    assert pushed.account_reference == f"PAY{body['payment_id']}"
    assert "/api/payments/callback/acme/" in pushed.callback_url
    async with client.get(f"/api/payments/{body['payment_id']}", headers=shop.owner.headers) as r:
        assert r.status == 200
        view = await r.json()
    assert view["status"] == "pending" and view["amount"] == 50.0 and view["expires_at"] is None
    # One secret per tenant, generated once.
    await call(client, STK, sale(shop, phone="0712000002"), shop.owner.headers)
    urls = {p.callback_url for p in daraja.state.payments.values()}
    assert len(urls) == 1


@pytest.mark.parametrize(
    ("changes", "status", "detail"),
    [
        ({"plan_id": None}, 400, "plan_id is required"),
        ({"phone": None}, 400, "phone is required"),
        ({"router_id": None}, 400, "router_id is required"),
        ({"plan_id": "one"}, 400, "plan_id must be an integer"),
        ({"plan_id": 0}, 400, f"plan_id must be between 1 and {2**63 - 1}"),
        ({"phone": "x" * 65}, 400, "phone must be at most 64 characters"),
        ({"mac_address": "not-a-mac"}, 400, "invalid mac_address 'not-a-mac'"),
        ({"plan_id": 999}, 404, "Plan not found"),
        ({"router_id": 999}, 404, "Router not found or access denied"),
    ],
)
async def test_stk_push_refuses_bad_input(
    client: TestClient, shop: Shop, daraja: DarajaSim, changes: dict, status: int, detail: str
):
    body = {k: v for k, v in sale(shop, **changes).items() if v is not None}
    assert await call(client, STK, body, shop.owner.headers) == (status, {"detail": detail})
    assert daraja.state.payments == {}


async def test_a_phone_that_is_no_number_is_refused(client: TestClient, shop: Shop):
    status, body = await call(client, STK, sale(shop, phone="07x"), shop.owner.headers)
    assert status == 400 and body["detail"].startswith("invalid phone number '07x'")


async def test_another_tenants_plan_router_and_payment_are_not_found(
    client: TestClient, seed: Seeder, shop: Shop
):
    other = await seed.tenant("other", country="KE")
    other_router = await seed.router(other, "Theirs", site="theirs", online=False)
    other_plan = await seed.plan(other)
    mine = shop.owner.headers
    status, body = await call(client, STK, sale(shop, plan_id=other_plan.id), mine)
    assert (status, body) == (404, {"detail": "Plan not found"})
    status, body = await call(client, CASH, sale(shop, router_id=other_router), mine)
    assert (status, body) == (404, {"detail": "Router not found or access denied"})
    status, paid = await call(client, CASH, sale(shop), mine)
    assert status == 201, paid
    async with client.get(f"/api/payments/{paid['payment_id']}", headers=other.headers) as r:
        assert r.status == 404
        assert await r.json() == {"detail": "Payment not found"}
    # user_id never widens a tenant's scope.
    body = sale(shop, plan_id=other_plan.id, router_id=other_router, user_id=other.tenant.id)
    assert (await call(client, CASH, body, mine))[0] == 404


async def test_a_plan_price_with_cents_cannot_be_paid_by_mobile_money(
    client: TestClient, shop: Shop, pool
):
    plan = await PlanRepository(pool).create(
        shop.owner.tenant.id, name="Odd", price=Decimal("49.50"), duration_value=1,
        duration_unit="hours", download_speed="5M", upload_speed="2M",
        connection_type="hotspot", router_profile=None, on_expiry="cut", created_by="test",
    )  # fmt: skip
    status, body = await call(client, STK, sale(shop, plan_id=plan.id), shop.owner.headers)
    assert status == 400
    assert body == {"detail": "plan price 49.50 has cents; mobile money takes whole amounts only"}
    status, paid = await call(client, CASH, sale(shop, plan_id=plan.id), shop.owner.headers)
    assert status == 201 and paid["amount"] == 49.5  # cash has cents


async def test_roles_and_credentials(client: TestClient, seed: Seeder, shop: Shop):
    viewer = await seed.user(shop.owner, "viewer1", role="viewer")
    operator = await seed.user(shop.owner, "operator1", role="operator")
    for path in (STK, CASH):
        status, body = await call(client, path, sale(shop), viewer.headers)
        assert (status, body) == (403, {"detail": "This needs the operator role or above"})
        assert (await call(client, path, sale(shop), {}))[0] == 401
    status, paid = await call(client, CASH, sale(shop), operator.headers)
    assert status == 201, paid
    async with client.get(f"/api/payments/{paid['payment_id']}", headers=viewer.headers) as r:
        assert r.status == 200


async def test_cash_grants_at_once_and_buying_again_extends(client: TestClient, shop: Shop, pool):
    status, first = await call(client, CASH, sale(shop), shop.owner.headers)
    assert status == 201, first
    assert first["status"] == "completed" and first["method"] == "cash"
    assert first["username"] == "+254712000001" and first["phone"] == "254712000001"
    assert first["delivery"] == "pending"  # the router is offline: the sync delivers it
    expires = parse_iso(first["expires_at"])
    assert timedelta(minutes=59) < expires - utcnow() <= timedelta(hours=1)
    status, second = await call(client, CASH, sale(shop), shop.owner.headers)
    assert parse_iso(second["expires_at"]) == expires + timedelta(hours=1)
    # A username that is no phone number is a customer too (cash only).
    status, named = await call(client, CASH, sale(shop, phone="guest-7"), shop.owner.headers)
    assert status == 201 and named["username"] == "guest-7" and named["phone"] is None
    audit = await pool.fetch("SELECT action, result FROM audit_log WHERE action = 'payment_cash'")
    assert [tuple(row) for row in audit] == [("payment_cash", "ok")] * 3


async def test_without_mpesa_settings_stk_push_is_unavailable(
    hub_config: HubConfig, aiohttp_client
):
    app = create_app(dataclasses.replace(hub_config, mpesa=MpesaConfig()))
    client = await aiohttp_client(app)
    seed = Seeder(app[DB_POOL], hub_config)
    owner = await seed.tenant("acme", country="KE")
    shop = Shop(owner, await seed.router(owner, online=False), (await seed.plan(owner)).id)
    status, body = await call(client, STK, sale(shop), owner.headers)
    assert (status, body) == (503, {"detail": "mobile money is not configured"})
    assert (await call(client, CASH, sale(shop), owner.headers))[0] == 201


async def test_an_unreachable_provider_fails_the_payment_with_503(
    hub_config: HubConfig, aiohttp_client
):
    dead = f"http://127.0.0.1:{free_port()}"
    app = create_app(dataclasses.replace(hub_config, mpesa=mpesa(dead)))
    client = await aiohttp_client(app)
    pool = app[DB_POOL]
    seed = Seeder(pool, hub_config)
    owner = await seed.tenant("acme", country="KE")
    shop = Shop(owner, await seed.router(owner, online=False), (await seed.plan(owner)).id)
    status, body = await call(client, STK, sale(shop), owner.headers)
    assert status == 503 and body["detail"].startswith("The mobile money provider is unreachable")
    row = await pool.fetchrow("SELECT status, result_desc FROM payments")
    assert row["status"] == "failed" and row["result_desc"].startswith(
        "mpesa: the payment request failed"
    )


async def test_a_platform_admin_names_the_tenant_with_user_id(
    client: TestClient, seed: Seeder, shop: Shop, pool
):
    auth = AuthService(pool, seed.config)
    await auth.create_admin("root@example.com", "correct horse battery")
    token = (await auth.login("root@example.com", "correct horse battery")).access_token
    admin = {"Authorization": f"Bearer {token}"}
    status, body = await call(client, CASH, sale(shop), admin)
    assert (status, body) == (
        400,
        {"detail": "user_id (the tenant's id) is required for a platform admin"},
    )
    status, paid = await call(client, CASH, sale(shop, user_id=shop.owner.tenant.id), admin)
    assert status == 201 and paid["status"] == "completed", paid
    url = f"/api/payments/{paid['payment_id']}"
    async with client.get(url, params={"user_id": shop.owner.tenant.id}, headers=admin) as r:
        assert r.status == 200 and (await r.json())["payment_id"] == paid["payment_id"]
    row = await pool.fetchrow("SELECT actor FROM audit_log WHERE action = 'payment_cash'")
    assert row["actor"] == "user:root@example.com"
