"""The captive portal in real Chromium on a phone screen, against the whole system (issue 18).

The hub on a real port with the Daraja simulator as M-Pesa, a routersim router with an agent
enrolled the operator's way (the payments stack of tests/hub/billing/test_payments.py), and
the router's hotspot login page (routersim/hotspot_web.py: where ``$(link-login-only)`` points).
Each client joins the hotspot in routersim first (its MAC and address in /ip/hotspot/host),
then opens the portal URL its router's login.html would send it to.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import urlencode

import pytest

from hub.typedefs import SERVICES
from routersim.hotspot_web import HotspotWeb
from tests.browser import phone_page, screenshot  # noqa: F401 (fixture)
from tests.e2e.conftest import router_rows
from tests.helpers import wait_for
from tests.hub.billing.test_payments import (  # noqa: F401 (fixtures)
    WAIT,
    Stack,
    daraja,
    hub_config,
    stack,
)

WAIT_MS = WAIT * 1000


@pytest.fixture
async def hotspot(stack: Stack) -> AsyncIterator[HotspotWeb]:  # noqa: F811
    portal = f"{stack.url}/hotspot/acme?{urlencode({'router': stack.router_id})}"
    async with HotspotWeb(stack.router.world, portal_url=portal) as web:
        yield web


def portal_url(stack: Stack, hotspot: HotspotWeb, mac: str) -> str:  # noqa: F811
    """What the router's login.html redirects a newly joined client to."""
    ip = stack.router.world.join(mac)
    query = {
        "mac": mac,
        "ip": ip,
        "router": stack.router_id,
        "link-login-only": hotspot.login_url(ip),
        "link-orig": "http://example.com/",
    }
    return f"{stack.url}/hotspot/acme?{urlencode(query)}"


async def binding_of(stack: Stack, mac: str) -> dict | None:  # noqa: F811
    bindings = await router_rows(stack.router, "/ip/hotspot/ip-binding")
    return next((b for b in bindings if b["mac-address"] == mac), None)


async def session_of(stack: Stack, mac: str) -> dict | None:  # noqa: F811
    active = await router_rows(stack.router, "/ip/hotspot/active")
    return next((s for s in active if s["mac-address"] == mac), None)


async def pay(page, phone: str, plan: str = "1 Hour Plan") -> None:
    await page.get_by_text(plan).click()
    await page.fill("#phone", phone)
    await page.click("#pay-button")


async def test_a_purchase_gets_the_client_online(phone_page, stack, hotspot):  # noqa: F811
    mac = "AA:BB:CC:00:00:01"
    await phone_page.goto(portal_url(stack, hotspot, mac))
    await phone_page.wait_for_selector("text=Pay with M-Pesa")
    await screenshot(phone_page, "captive-plans")
    assert await binding_of(stack, mac) is None  # not online before paying

    await pay(phone_page, "0712000001")
    online = phone_page.locator("#online")
    await online.wait_for(state="visible", timeout=WAIT_MS)
    assert "You are online." in await online.inner_text()
    assert "Your access lasts until" in await phone_page.inner_text("#online-until")
    assert await phone_page.is_hidden("#pay")
    await screenshot(phone_page, "captive-online")

    # The page said so because it is so: the agent let the MAC through on the router.
    binding = await binding_of(stack, mac)
    assert binding is not None and binding["type"] == "bypassed"
    stack.router.world.mac_login(mac)  # the device's traffic passes by its binding
    assert await session_of(stack, mac) is not None
    payment = await stack.pool.fetchrow(
        "SELECT status, mac_address FROM payments WHERE method = 'mobile_money'"
    )
    assert dict(payment) == {"status": "completed", "mac_address": mac}


async def test_a_cancelled_payment_says_so_and_grants_nothing(phone_page, stack, hotspot):  # noqa: F811
    mac = "AA:BB:CC:00:00:02"
    stack.daraja.set_outcome("cancelled", phone="254712000002")
    await phone_page.goto(portal_url(stack, hotspot, mac))
    await pay(phone_page, "0712000002", plan="1 Minute Test")
    message = phone_page.locator("#message.bad")
    await message.wait_for(state="visible", timeout=WAIT_MS)
    assert await message.inner_text() == "You cancelled the payment. Nothing was charged."
    assert await phone_page.is_enabled("#pay-button")  # they may try again
    assert await phone_page.is_hidden("#online")
    await screenshot(phone_page, "captive-cancelled")
    assert await binding_of(stack, mac) is None
    assert await stack.entitlements("+254712000002") == []


async def test_a_voucher_code_gets_the_client_online(phone_page, stack, hotspot):  # noqa: F811
    vouchers = stack.hub.app[SERVICES].vouchers
    batch = await vouchers.create_batch(stack.tenant, plan_id=stack.plan_id, count=1, actor="test")
    [code] = batch.codes
    await wait_for(lambda: stack.hotspot_user(code), WAIT)  # the agent made it a hotspot user
    mac = "AA:BB:CC:00:00:03"
    await phone_page.goto(portal_url(stack, hotspot, mac))

    await phone_page.fill("#code", "WRONG123")  # a code the router does not know
    await phone_page.click("#voucher button")
    refused = phone_page.locator("#router-error")
    await refused.wait_for(state="visible", timeout=WAIT_MS)
    assert "did not accept that code" in await refused.inner_text()
    await screenshot(phone_page, "captive-voucher-refused")
    assert await session_of(stack, mac) is None

    await phone_page.fill("#code", f" {code} ")
    await phone_page.click("#voucher button")
    online = phone_page.locator("#online")
    await online.wait_for(state="visible", timeout=WAIT_MS)
    assert "You are online." in await online.inner_text()
    await screenshot(phone_page, "captive-voucher-online")

    session = await session_of(stack, mac)
    assert session is not None and session["user"] == code
    assert hotspot.logins == [(code, mac)]

    async def redeemed() -> bool:  # the agent redeemed it and the hub heard of it
        status = await stack.pool.fetchval("SELECT status FROM vouchers WHERE code = $1", code)
        return status == "active"

    await wait_for(redeemed, WAIT)
