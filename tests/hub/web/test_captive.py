"""The captive portal over HTTP (issue 18): the page in the tenant's language with its plans,
a 404 page for an unknown tenant, 400s naming the field, 429s, and a payment's state readable
only with its own token.

The hub serves on a real loopback port that is its public_url, so the Daraja simulator's
callbacks reach it; no agent is connected, so a paid grant stays "granting" until the site
reports a session of the client's MAC.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from hub.app import create_app
from hub.config import HubConfig, MpesaConfig
from routersim.daraja import DarajaConfig, DarajaSim
from tests.helpers import free_port, wait_for
from tests.hub.conftest import SeededTenant, Seeder, session

MAC = "AA:BB:CC:DD:EE:01"
IP = "10.5.50.7"
PHONE = "0712000001"
DIGITS = "254712000001"
WAIT = 20.0


@pytest.fixture
async def daraja() -> AsyncIterator[DarajaSim]:
    async with DarajaSim(DarajaConfig()) as sim:
        yield sim


@pytest.fixture
def hub_config(pg_dsn: str, tmp_path, daraja: DarajaSim) -> HubConfig:
    port = free_port()
    return HubConfig(
        database_url=pg_dsn,
        data_dir=str(tmp_path / "hub"),
        listen_port=port,
        public_url=f"http://127.0.0.1:{port}",
        command_timeout=1.0,
        metrics_refresh_interval=60.0,
        payment_settle_interval=3600.0,
        mpesa=MpesaConfig(
            base_url=daraja.url,
            consumer_key=daraja.config.consumer_key,
            consumer_secret=daraja.config.consumer_secret,
            shortcode=daraja.config.shortcode,
            passkey=daraja.config.passkey,
        ),
        captive_push_burst=6,
        captive_phone_push_burst=2,
        captive_poll_burst=5,
    )


@pytest.fixture
async def client(hub_config: HubConfig, aiohttp_client) -> TestClient:
    app = create_app(hub_config)
    return await aiohttp_client(app, server_kwargs={"port": hub_config.listen_port})


@dataclasses.dataclass
class Site:
    owner: SeededTenant
    router_id: int
    hour_plan: int
    minute_plan: int
    pppoe_plan: int

    def query(self, **changes: Any) -> dict[str, Any]:
        base = {"mac": MAC, "ip": IP, "router": self.router_id}
        base.update(changes)
        return {k: v for k, v in base.items() if v is not None}

    def body(self, **changes: Any) -> dict[str, Any]:
        base = {"plan_id": self.hour_plan, "phone": PHONE, **self.query()}
        base.update(changes)
        return base


@pytest.fixture
async def site(seed: Seeder) -> Site:
    owner = await seed.tenant("acme", "Acme Wi-Fi", country="KE")
    router_id = await seed.router(owner, agent_connected=False)
    hour = await seed.plan(owner, "1 Hour Plan")
    minute = await seed.plan(owner, "5 Minutes Test", price=10, duration_value=5,
                             duration_unit="MINUTES", speed="2M/1M")  # fmt: skip
    pppoe = await seed.plan(owner, "Home Fibre", connection_type="pppoe", price=2000)
    return Site(owner, router_id, hour.id, minute.id, pppoe.id)


async def test_the_page_shows_the_hotspot_plans_in_english_and_swahili(client, site, seed):
    answer = await client.get("/hotspot/acme", params=site.query())
    assert answer.status == 200
    assert answer.content_type == "text/html"
    html = await answer.text()
    assert '<html lang="en">' in html
    assert "Acme Wi-Fi" in html and "Pay with M-Pesa" in html
    assert "1 Hour Plan" in html and "KES 50" in html and "1 hour" in html
    assert "5 Minutes Test" in html and "KES 10" in html and "5 minutes" in html
    assert "Home Fibre" not in html  # a PPPoE plan is not sold on the hotspot
    assert f'data-mac="{MAC}"' in html and f'data-router="{site.router_id}"' in html
    assert "script-src 'self'" in answer.headers["Content-Security-Policy"]
    assert answer.headers["Cache-Control"] == "no-store"
    assert len(html.encode()) < 8 * 1024  # it loads over a slow link before the client is online

    swahili = await client.get("/hotspot/acme", params=site.query(lang="sw"))
    text = await swahili.text()
    assert swahili.status == 200 and '<html lang="sw">' in text
    assert "Lipa kwa M-Pesa" in text and "saa 1" in text and "dakika 5" in text

    # The tenant's own language when the visitor names none.
    await seed.tenants.update_managed(site.owner.tenant.id, {"language": "sw"}, actor="test")
    tenants_own = await (await client.get("/hotspot/acme", params=site.query())).text()
    assert '<html lang="sw">' in tenants_own and "Chagua kifurushi" in tenants_own


async def test_the_voucher_form_posts_to_the_router_login_and_nowhere_else(client, site):
    login = "http://10.5.50.1/login"
    answer = await client.get(
        "/hotspot/acme",
        params=site.query(**{"link-login-only": login, "link-orig": "http://example.com/"}),
    )
    assert answer.status == 200
    html = await answer.text()
    assert f'action="{login}"' in html and 'name="dst"' in html
    assert answer.headers["Content-Security-Policy"].endswith("form-action 'self' http://10.5.50.1")
    assert 'href="http://example.com/"' in html
    for bad in ("javascript:alert(1)", "http://user:pw@10.5.50.1/login", "http://a b/login"):
        refused = await client.get("/hotspot/acme", params=site.query(**{"link-login-only": bad}))
        assert refused.status == 400, bad
        assert "link-login-only" in await refused.text()
    sneaky = await client.get(
        "/hotspot/acme", params=site.query(**{"link-orig": "javascript:alert(1)"})
    )
    assert sneaky.status == 200 and 'href="javascript:' not in await sneaky.text()


async def test_an_unknown_tenant_is_a_404_page(client, site):
    for slug in ("nobody", "ACME", "a" * 300, "acme%00"):
        answer = await client.get(f"/hotspot/{slug}", params=site.query())
        assert answer.status == 404, slug
        assert answer.content_type == "text/html"
        assert "Hotspot not found" in await answer.text()
    pay = await client.post("/hotspot/nobody/pay", json=site.body())
    assert pay.status == 404 and (await pay.json())["error"] == "No such hotspot"


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"mac": "not-a-mac"}, "mac"),
        ({"mac": None}, "mac"),
        ({"mac": "A" * 65}, "mac"),
        ({"ip": "10.5.50.999"}, "ip"),
        ({"router": "abc"}, "router"),
        ({"router": None}, "router"),
        ({"router": 999999}, "router"),
        ({"error": "x" * 201}, "error"),
    ],
)
async def test_a_bad_query_is_a_400_page_naming_the_field(client, site, query, field):
    answer = await client.get("/hotspot/acme", params=site.query(**query))
    assert answer.status == 400
    assert answer.content_type == "text/html"
    assert re.search(rf"<small>{re.escape(field)}\b", await answer.text())


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"mac": "zz:zz"}, "mac"),
        ({"mac": None}, "mac"),
        ({"ip": "nope"}, "ip"),
        ({"phone": "12"}, "phone"),
        ({"phone": None}, "phone"),
        ({"phone": "0" * 33}, "phone"),
        ({"phone": 712000001}, "phone"),
        ({"plan_id": 999999}, "plan_id"),
        ({"plan_id": "one"}, "plan_id"),
        ({"plan_id": None}, "plan_id"),
        ({"router": 999999}, "router"),
        ({"router": 0}, "router"),
    ],
)
async def test_a_bad_payment_is_a_400_naming_the_field(client, site, change, field, pool):
    body = {k: v for k, v in site.body(**change).items() if v is not None}
    answer = await client.post("/hotspot/acme/pay", json=body)
    assert answer.status == 400
    assert (await answer.json())["error"].startswith(field)
    assert await pool.fetchval("SELECT count(*) FROM payments") == 0  # nothing stored


async def test_a_pppoe_plan_or_another_tenants_plan_is_refused(client, site, seed, pool):
    other = await seed.tenant("other", country="KE")
    foreign = await seed.plan(other, "Theirs")
    for plan_id in (site.pppoe_plan, foreign.id):
        answer = await client.post("/hotspot/acme/pay", json=site.body(plan_id=plan_id))
        assert answer.status == 400
        assert (await answer.json())["error"] == "plan_id is not a plan of this hotspot"
    other_router = await seed.router(other, "Their Router", site="theirs")
    answer = await client.post("/hotspot/acme/pay", json=site.body(router=other_router))
    assert answer.status == 400 and (await answer.json())["error"].startswith("router")
    assert await pool.fetchval("SELECT count(*) FROM payments") == 0


async def pay(client: TestClient, body: dict[str, Any]) -> dict[str, Any]:
    answer = await client.post("/hotspot/acme/pay", json=body)
    assert answer.status == 202, await answer.text()
    return await answer.json()


async def state(client: TestClient, token: str, slug: str = "acme") -> tuple[int, Any]:
    answer = await client.get(f"/hotspot/{slug}/payments/{token}")
    return answer.status, await answer.json()


async def test_prompts_are_rate_limited_per_phone_and_per_address(client, site, daraja):
    daraja.set_outcome("paid", delay=None)  # held: nothing settles meanwhile
    for _ in range(2):
        await pay(client, site.body())
    third = await client.post("/hotspot/acme/pay", json=site.body())
    assert third.status == 429 and int(third.headers["Retry-After"]) >= 1
    assert "phone" in (await third.json())["error"]
    # Other phones from the same address, up to its burst of 6 (the refused try counted).
    for n in range(2, 5):
        await pay(client, site.body(phone=f"07120000{n:02d}"))
    spent = await client.post("/hotspot/acme/pay", json=site.body(phone="0712000099"))
    assert spent.status == 429 and "address" in (await spent.json())["error"]
    assert len(daraja.state.payments) == 5  # a refused prompt never reached the provider


async def test_a_payment_state_is_read_only_with_its_own_token(client, site, seed, daraja):
    daraja.set_outcome("paid", delay=None)
    mine = await pay(client, site.body())
    theirs = await pay(client, site.body(phone="0712000002", plan_id=site.minute_plan))
    assert mine["status"] == "pending" and mine["payment"] != theirs["payment"]
    assert await state(client, mine["payment"]) == (
        200,
        {"status": "pending", "reason": None, "expires_at": None},
    )
    # Another tenant's portal cannot read it, and an altered or made-up token reads nothing.
    await seed.tenant("other", country="KE")
    assert (await state(client, mine["payment"], "other"))[0] == 404
    token = mine["payment"]
    flipped = token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1]
    for bad in (flipped, "1", "0" * 60, "x" * 129, token + "A"):
        status, body = await state(client, bad)
        assert status == 404 and body == {"success": False, "error": "Payment not found"}
    # The answer is the state only: no phone, receipt, amount or id of the payment.
    status, body = await state(client, theirs["payment"])
    assert status == 200 and set(body) == {"status", "reason", "expires_at"}


async def test_polling_one_payment_is_rate_limited(client, site, daraja):
    daraja.set_outcome("paid", delay=None)
    token = (await pay(client, site.body()))["payment"]
    statuses = [(await state(client, token))[0] for _ in range(6)]
    assert statuses == [200] * 5 + [429]


async def test_cancelled_failed_paid_and_online_states(client, site, seed, daraja):
    daraja.set_outcome("cancelled", phone=DIGITS)
    daraja.set_outcome("insufficient_funds", phone="254712000002")
    daraja.set_outcome("timeout", phone="254712000003")
    daraja.set_outcome("paid", phone="254712000004")
    cancelled = (await pay(client, site.body()))["payment"]
    poor = (await pay(client, site.body(phone="0712000002")))["payment"]
    silent = (await pay(client, site.body(phone="0712000003")))["payment"]
    paid = (await pay(client, site.body(phone="0712000004", mac="AA:BB:CC:DD:EE:04")))["payment"]

    async def settled(token: str, status: str) -> dict[str, Any] | None:
        code, body = await state(client, token)
        return body if code == 200 and body["status"] == status else None

    assert (await wait_for(lambda: settled(cancelled, "cancelled"), WAIT))["reason"] is None
    assert (await wait_for(lambda: settled(poor, "failed"), WAIT))["reason"] == (
        "insufficient_funds"
    )
    await wait_for(lambda: settled(silent, "timeout"), WAIT)
    granting = await wait_for(lambda: settled(paid, "granting"), WAIT)
    assert granting["expires_at"] is not None  # paid; the site has not let the device on yet
    # The site reports the device online (a session of its MAC on that router): online.
    await seed.sessions(site.router_id, session("*A", "+254712000004", mac="AA:BB:CC:DD:EE:04"))
    online = await wait_for(lambda: settled(paid, "online"), WAIT)
    assert online["expires_at"] == granting["expires_at"]
