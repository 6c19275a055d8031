"""Paid -> online -> expired, end to end with real parts (issue 15, "Payments").

The hub's app on a real loopback port (its public_url is that port, so the simulator's callbacks
reach it over HTTP), the Daraja simulator (routersim/daraja.py) as M-Pesa, a routersim router,
and an agent enrolled the operator's way running ``Agent`` + ``HubLink``. Payments are started
through the HTTP face with the tenant's API key; the router is checked through librouteros.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest
from aiohttp.test_utils import TestServer

from agent.enroll import enroll
from common.timeutil import parse_iso, utcnow
from hub.app import create_app
from hub.config import HubConfig, MpesaConfig
from hub.domain import Tenant
from hub.payments.service import PaymentService
from hub.services.plans import PlanService
from hub.services.tenants import TenantService
from hub.typedefs import DB_POOL, PAYMENT_PROVIDER, SERVICES
from routersim import SimRouter
from routersim.daraja import DarajaConfig, DarajaSim
from routersim.errors import LoginRefused
from tests.e2e.conftest import RunningAgent, enrolled_agent_config, router_rows, server_url
from tests.helpers import free_port, wait_for

ROUTER = "Market Hotspot"
MAC = "AA:BB:CC:DD:EE:01"
PHONE = "0712000001"  # as a customer types it; Kenya is the tenant's country
USERNAME = "+254712000001"
DIGITS = "254712000001"
WAIT = 30.0  # whole processes on a loaded 2-core box
# A grant whose command did not reach the agent (offline, or the link dropped under load)
# arrives by the entitlement sync of the next hello, which sets the router up at once: the drift
# pass is put far off here so only that can make the tests pass.
DRIFT = 600.0


def phone(n: int) -> tuple[str, str, str]:
    """(typed, username, M-Pesa digits) of customer ``n`` (0..99)."""
    return f"07120001{n:02d}", f"+2547120001{n:02d}", f"2547120001{n:02d}"


@dataclass
class Stack:
    """One tenant's site with mobile money: what the tests drive and look at."""

    hub: TestServer
    daraja: DarajaSim
    router: SimRouter
    agent: RunningAgent
    pool: asyncpg.Pool
    http: aiohttp.ClientSession  # carries the tenant's API key
    tenant: Tenant
    router_id: int
    plan_id: int  # 50 KES for an hour
    minute_plan_id: int  # 10 KES for a minute
    url: str

    @property
    def payments(self) -> PaymentService:
        return self.hub.app[SERVICES].payments

    async def post(self, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        async with self.http.post(self.url + path, json=body) as response:
            return response.status, await response.json()

    async def stk_push(self, typed: str = PHONE, **extra: Any) -> tuple[int, dict[str, Any]]:
        body = {"plan_id": self.plan_id, "phone": typed, "router_id": self.router_id, **extra}
        return await self.post("/api/payments/mpesa/stk-push", body)

    async def payment(self, payment_id: int) -> dict[str, Any]:
        async with self.http.get(f"{self.url}/api/payments/{payment_id}") as response:
            assert response.status == 200, await response.text()
            return await response.json()

    async def settled(self, payment_id: int, status: str = "completed") -> dict[str, Any]:
        async def done() -> dict[str, Any] | None:
            body = await self.payment(payment_id)
            return body if body["status"] == status else None

        return await wait_for(done, WAIT, 0.05)

    async def customer_status(self, username: str) -> str:
        """The customer's status as the dashboard shows it (GET /api/customers, seed 003)."""
        async with self.http.get(f"{self.url}/api/customers") as response:
            assert response.status == 200, await response.text()
            customers = await response.json()
        (customer,) = [c for c in customers if c["phone"] == username.lstrip("+")]
        return customer["status"]

    async def hotspot_user(self, name: str) -> dict[str, Any] | None:
        users = {row["name"]: row for row in await router_rows(self.router, "/ip/hotspot/user")}
        return users.get(name)

    async def entitlements(self, username: str) -> list[asyncpg.Record]:
        return await self.pool.fetch(
            "SELECT e.* FROM entitlements e JOIN customers c ON c.id = e.customer_id"
            " WHERE c.username = $1 ORDER BY e.id",
            username,
        )

    async def router_online(self) -> bool:
        router = await self.hub.app[SERVICES].portal.router(self.router_id, self.tenant.id)
        return router.online

    def callback_url(self, checkout: str) -> str:
        return self.daraja.state.payments[checkout].callback_url


@pytest.fixture
async def daraja() -> AsyncIterator[DarajaSim]:
    async with DarajaSim(DarajaConfig()) as sim:  # outcomes of its own: tests change them
        yield sim


@pytest.fixture
def hub_config(pg_dsn: str, tmp_path: Path, daraja: DarajaSim) -> HubConfig:
    port = free_port()
    return HubConfig(
        database_url=pg_dsn,
        data_dir=str(tmp_path / "hub"),
        listen_port=port,
        public_url=f"http://127.0.0.1:{port}",
        command_timeout=5.0,
        agent_heartbeat=0.5,
        agent_offline_after=3.0,
        rate_limit_per_minute=100_000,
        rate_limit_burst=10_000,
        metrics_refresh_interval=60.0,
        mpesa=MpesaConfig(
            base_url=daraja.url,
            consumer_key=daraja.config.consumer_key,
            consumer_secret=daraja.config.consumer_secret,
            shortcode=daraja.config.shortcode,
            passkey=daraja.config.passkey,
        ),
        # The settler's own pass runs at start-up only; tests call settle_pending themselves.
        payment_query_after=0.0,
        payment_settle_interval=3600.0,
    )


@pytest.fixture
async def stack(
    hub_config: HubConfig, daraja: DarajaSim, aiohttp_server: Any, tmp_path: Path
) -> AsyncIterator[Stack]:
    hub = await aiohttp_server(
        create_app(hub_config), host="127.0.0.1", port=hub_config.listen_port
    )
    pool, services = hub.app[DB_POOL], hub.app[SERVICES]
    tenant = await TenantService(pool, hub_config).create_tenant("acme", "Acme ISP", "KE")
    _, api_key = await services.auth.issue_api_key("acme")
    plans = PlanService(pool)
    plan = {"connection_type": "hotspot", "duration_value": 1, "actor": "test"}
    hour = await plans.create(
        tenant, name="1 Hour Plan", speed="5M/2M", price=50, duration_unit="HOURS", **plan
    )
    minute = await plans.create(
        tenant, name="1 Minute Test", speed="1M/512k", price=10, duration_unit="MINUTES", **plan
    )
    token = (await services.agents.create_agent("acme", "market")).token
    config_path = tmp_path / "agent" / "agent.toml"
    async with SimRouter(name=ROUTER, seed=5) as router:
        await enroll(server_url(hub), token, str(config_path))
        agent_config = enrolled_agent_config(config_path, [router])
        settings = dataclasses.replace(agent_config.agent, drift_interval=DRIFT)
        agent = RunningAgent(dataclasses.replace(agent_config, agent=settings))
        await agent.start()
        try:
            router_id = await pool.fetchval("SELECT id FROM routers WHERE name = $1", ROUTER)
            headers = {"Authorization": f"Bearer {api_key}"}
            async with aiohttp.ClientSession(headers=headers) as http:
                stack = Stack(
                    hub, daraja, router, agent, pool, http, tenant, router_id,
                    hour.id, minute.id, server_url(hub),
                )  # fmt: skip
                await wait_for(stack.router_online, WAIT)
                yield stack
        finally:
            await agent.stop()


async def test_paid_customer_goes_online_and_is_cut_at_expiry(stack: Stack):
    status, body = await stack.stk_push(plan_id=stack.minute_plan_id)
    assert status == 202, body
    assert body["status"] == "pending" and body["checkout_request_id"].startswith("ws_CO_")
    assert body["customer_message"]
    paid = await stack.settled(body["payment_id"])
    assert paid["amount"] == 10.0 and paid["method"] == "mobile_money"
    assert paid["receipt"] and paid["phone"] == DIGITS
    expires_at = parse_iso(paid["expires_at"])
    assert timedelta(seconds=50) < expires_at - utcnow() <= timedelta(minutes=1)
    [entitlement] = await stack.entitlements(USERNAME)
    assert entitlement["plan_id"] == stack.minute_plan_id
    assert entitlement["rate_limit"] == "512k/1M"  # the router's rx/tx: upload/download
    assert entitlement["router_id"] == stack.router_id
    customer = await stack.pool.fetchrow(
        "SELECT phone, router_id, plan_id FROM customers WHERE username = $1", USERNAME
    )
    assert dict(customer) == {
        "phone": DIGITS,
        "router_id": stack.router_id,
        "plan_id": stack.minute_plan_id,
    }

    user = await wait_for(lambda: stack.hotspot_user(USERNAME), WAIT)
    assert user["disabled"] is False
    assert await stack.customer_status(USERNAME) == "active"
    session = stack.router.hotspot_login(USERNAME, mac_address=MAC)  # the client logs in
    active = await router_rows(stack.router, "/ip/hotspot/active")
    assert session in {str(row[".id"]) for row in active}

    async def cut() -> bool:
        user = await stack.hotspot_user(USERNAME)
        active = await router_rows(stack.router, "/ip/hotspot/active")
        return user is not None and user["disabled"] is True and not active

    await wait_for(cut, 60 + WAIT, 0.25)  # the agent cuts at expiry, to the second
    assert utcnow() >= expires_at

    async def enforced_reported() -> bool:
        return bool(
            await stack.pool.fetchval(
                "SELECT count(*) FROM site_events WHERE kind = 'entitlement.enforced'"
                " AND data->>'username' = $1",
                USERNAME,
            )
        )

    await wait_for(enforced_reported, WAIT)
    with pytest.raises(LoginRefused):  # the router refuses the disabled user
        stack.router.hotspot_login(USERNAME, mac_address=MAC)
    assert await stack.customer_status(USERNAME) == "expired"  # and the dashboard says so


async def test_duplicate_and_replayed_callbacks_never_credit_twice(stack: Stack):
    status, body = await stack.stk_push()
    assert status == 202, body
    paid = await stack.settled(body["payment_id"])
    checkout = body["checkout_request_id"]
    deliveries = stack.daraja.state.payments[checkout].deliveries
    await wait_for(lambda: deliveries, WAIT)  # the first callback acknowledged
    async with aiohttp.ClientSession() as plain:
        for _ in range(2):  # Daraja's duplicates: the same body again
            async with plain.post(f"{stack.daraja.url}/sim/replay/{checkout}") as response:
                assert response.status == 200
                assert (await response.json())["status"] == 200  # acknowledged, not refused
        results = await asyncio.gather(
            *(
                plain.post(f"{stack.daraja.url}/sim/replay/{checkout}")
                for _ in range(5)  # and concurrently
            )
        )
        for response in results:
            assert (await response.json())["status"] == 200
            response.release()
    assert len(await stack.entitlements(USERNAME)) == 1
    assert await stack.payment(body["payment_id"]) == paid
    assert [d.status for d in deliveries] == [200] * 8


async def test_buying_again_before_expiry_extends_from_the_current_expiry(stack: Stack):
    first = await stack.settled((await stack.stk_push())[1]["payment_id"])
    second = await stack.settled((await stack.stk_push())[1]["payment_id"])
    assert parse_iso(second["expires_at"]) == parse_iso(first["expires_at"]) + timedelta(hours=1)
    assert len(await stack.entitlements(USERNAME)) == 2


@pytest.mark.parametrize(
    ("outcome", "code", "desc"),
    [
        ("cancelled", 1032, "Request cancelled by user"),
        ("insufficient_funds", 1, "The balance is insufficient for the transaction."),
    ],
)
async def test_failed_and_cancelled_payments_grant_nothing(
    stack: Stack, outcome: str, code: int, desc: str
):
    stack.daraja.set_outcome(outcome, phone=DIGITS)  # type: ignore[arg-type]
    status, body = await stack.stk_push()
    assert status == 202, body
    failed = await stack.settled(body["payment_id"], "failed")
    assert failed["result_desc"] == desc and failed["expires_at"] is None
    row = await stack.pool.fetchrow(
        "SELECT result_code, entitlement_id FROM payments WHERE id = $1", body["payment_id"]
    )
    assert dict(row) == {"result_code": code, "entitlement_id": None}
    assert await stack.entitlements(USERNAME) == []
    assert await stack.hotspot_user(USERNAME) is None


async def test_lost_callback_is_settled_by_the_status_query(stack: Stack):
    stack.daraja.set_outcome("callback_lost", phone=DIGITS)
    status, body = await stack.stk_push()
    assert status == 202, body
    checkout = body["checkout_request_id"]
    await wait_for(lambda: stack.daraja.state.payments[checkout].decided, WAIT)
    assert (await stack.payment(body["payment_id"]))["status"] == "pending"
    report = await stack.payments.settle_pending()
    assert report.completed == 1
    paid = await stack.payment(body["payment_id"])
    assert paid["status"] == "completed" and paid["expires_at"] is not None
    await wait_for(lambda: stack.hotspot_user(USERNAME), WAIT)
    assert (await stack.payments.settle_pending()).completed == 0  # once


async def test_a_payment_never_settled_expires(stack: Stack, hub_config: HubConfig):
    stack.daraja.set_outcome("paid", phone=DIGITS, delay=None)  # the handset never answers
    status, body = await stack.stk_push()
    assert status == 202, body
    assert (await stack.payments.settle_pending()).still_pending == 1  # the query: processing
    app = stack.hub.app
    impatient = PaymentService(
        app[DB_POOL],
        dataclasses.replace(hub_config, payment_expire_after=0.0),
        app[PAYMENT_PROVIDER],
        app[SERVICES].access,
    )
    assert (await impatient.settle_pending()).expired == 1
    assert (await stack.payment(body["payment_id"]))["status"] == "expired"
    async with aiohttp.ClientSession() as plain:  # the money arrives after all: too late
        await plain.post(f"{stack.daraja.url}/sim/settle/{body['checkout_request_id']}")
    checkout = stack.daraja.state.payments[body["checkout_request_id"]]
    await wait_for(lambda: checkout.deliveries, WAIT)
    assert checkout.deliveries[0].status == 200  # acknowledged; nothing to do
    assert (await stack.payment(body["payment_id"]))["status"] == "expired"
    assert await stack.entitlements(USERNAME) == []


async def test_agent_offline_during_payment_gets_the_grant_on_reconnect(stack: Stack):
    # The entitlement reaches the agent by the sync of its next hello, and the agent sets the
    # router up at once (ExpiryEnforcer.repair_soon), not at its next drift pass.
    config = stack.agent.config
    await stack.agent.stop()
    await wait_for(lambda: _not(stack.router_online()), WAIT)
    status, body = await stack.stk_push(mac_address=MAC)
    assert status == 202, body
    paid = await stack.settled(body["payment_id"])
    assert paid["expires_at"] is not None and paid["mac_address"] == MAC
    assert await stack.hotspot_user(USERNAME) is None  # the site has not heard of it yet
    agent = RunningAgent(config)
    await agent.start()
    try:
        user = await wait_for(lambda: stack.hotspot_user(USERNAME), WAIT)
        assert user["disabled"] is False
        bindings = await router_rows(stack.router, "/ip/hotspot/ip-binding")
        assert [(b["mac-address"], b["type"]) for b in bindings] == [(MAC, "bypassed")]
        stack.router.world.mac_login(MAC)  # the device is let through by its binding
    finally:
        await agent.stop()


async def _not(value: Any) -> bool:
    return not await value


def _callback(checkout: str, amount: float, receipt: str = "QJK1234ABC") -> dict[str, Any]:
    """A successful stkCallback as Daraja posts it."""
    return {
        "Body": {
            "stkCallback": {
                "MerchantRequestID": "29115-34620561-1",
                "CheckoutRequestID": checkout,
                "ResultCode": 0,
                "ResultDesc": "The service request is processed successfully.",
                "CallbackMetadata": {
                    "Item": [
                        {"Name": "Amount", "Value": amount},
                        {"Name": "MpesaReceiptNumber", "Value": receipt},
                        {"Name": "TransactionDate", "Value": 20260106175235},
                        {"Name": "PhoneNumber", "Value": int(DIGITS)},
                    ]
                },
            }
        }
    }


async def _post(url: str, body: Any) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as plain, plain.post(url, json=body) as response:
        return response.status, await response.json()


async def test_callbacks_with_a_wrong_secret_amount_or_checkout_are_refused(stack: Stack):
    stack.daraja.set_outcome("paid", phone=DIGITS, delay=None)  # held: we post first
    status, body = await stack.stk_push()
    assert status == 202, body
    checkout = body["checkout_request_id"]
    url = stack.callback_url(checkout)
    base, secret = url.rsplit("/", 1)

    wrong = await _post(f"{base}/{'x' * len(secret)}", _callback(checkout, 50))
    assert wrong == (403, {"ResultCode": 1, "ResultDesc": "callback refused"})
    other_tenant = await _post(url.replace("/acme/", "/nobody/"), _callback(checkout, 50))
    assert other_tenant[0] == 403
    unknown = await _post(url, _callback("ws_CO_000000000000000000", 50))
    assert unknown == (404, {"ResultCode": 1, "ResultDesc": "unknown checkout"})
    garbage = await _post(url, {"Body": {"nothing": 1}})
    assert garbage[0] == 400 and garbage[1]["ResultCode"] == 1
    assert (await stack.payment(body["payment_id"]))["status"] == "pending"

    status, refused = await _post(url, _callback(checkout, 1))
    assert status == 400 and "amount" in refused["ResultDesc"]
    failed = await stack.payment(body["payment_id"])
    assert failed["status"] == "failed" and "amount of 1" in failed["result_desc"]
    # The real callback comes later: the payment is settled, nothing is credited.
    async with aiohttp.ClientSession() as plain:
        await plain.post(f"{stack.daraja.url}/sim/settle/{checkout}")
    sim_payment = stack.daraja.state.payments[checkout]
    await wait_for(lambda: sim_payment.deliveries, WAIT)
    assert sim_payment.deliveries[0].status == 200
    assert (await stack.payment(body["payment_id"]))["status"] == "failed"
    assert await stack.entitlements(USERNAME) == []
    audit = await stack.pool.fetch(
        "SELECT action, result FROM audit_log WHERE action LIKE 'payment%' ORDER BY id"
    )
    assert [tuple(row) for row in audit] == [
        ("payment_stk_push", "ok"),
        ("payment_result", "invalid"),  # the wrong amount: failed, nothing credited
    ]


async def test_fifty_concurrent_payments_for_fifty_customers_credit_each_once(stack: Stack):
    customers = [phone(n) for n in range(50)]
    answers = await asyncio.gather(*(stack.stk_push(typed) for typed, _, _ in customers))
    assert all(status == 202 for status, _ in answers), answers
    ids = [body["payment_id"] for _, body in answers]
    # Duplicates of every callback race the first ones.
    async with aiohttp.ClientSession() as plain:

        async def replay(checkout: str) -> None:
            await wait_for(lambda: stack.daraja.state.payments[checkout].deliveries, WAIT)
            async with plain.post(f"{stack.daraja.url}/sim/replay/{checkout}") as response:
                assert response.status == 200

        await asyncio.gather(*(replay(body["checkout_request_id"]) for _, body in answers))
    paid = await asyncio.gather(*(stack.settled(payment_id) for payment_id in ids))
    assert len({p["receipt"] for p in paid}) == 50
    rows = await stack.pool.fetch(
        "SELECT c.username, count(e.id) AS n FROM customers c"
        " JOIN entitlements e ON e.customer_id = c.id GROUP BY c.username"
    )
    assert {row["username"]: row["n"] for row in rows} == {u: 1 for _, u, _ in customers}
    total = await stack.pool.fetchval("SELECT sum(amount) FROM payments WHERE status = 'completed'")
    assert total == Decimal(50 * 50)

    async def all_on_router() -> bool:
        users = {row["name"] for row in await router_rows(stack.router, "/ip/hotspot/user")}
        return users >= {u for _, u, _ in customers}

    await wait_for(all_on_router, WAIT, 0.25)
