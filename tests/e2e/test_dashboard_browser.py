"""The operator dashboard in real headless Chromium against a live hub, two enrolled agents
(one router each, routersim over TCP) and Postgres: sign in, every card live, a hotspot login
appears without a reload, "disconnect" kicks it off the router, and a stopped agent's card
turns offline while the other stays live. Screenshots of every page go to the artifacts
(tests/browser.py); the README's picture is made from the sites one.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiohttp.test_utils import TestServer

from agent.enroll import enroll
from hub.config import HubConfig
from hub.services.tenants import TenantService
from hub.typedefs import DB_POOL, SERVICES
from routersim import SimRouter
from tests.browser import page, screenshot  # noqa: F401 (fixture)

from .conftest import RunningAgent, enrolled_agent_config, router_rows, server_url, wait_for

OWNER, PASSWORD = "owner", "correct horse battery"
PAID = "+255712345678"
MAC = "AA:BB:CC:DD:EE:01"
LIVE = 10_000  # ms Playwright waits for what the page shows (the stream pushes it at once)


@dataclass
class Fleet:
    url: str
    sims: dict[str, SimRouter]
    agents: dict[str, RunningAgent]
    router_ids: dict[str, int]


@pytest.fixture
async def fleet(hub_server: TestServer, hub_config: HubConfig, tmp_path: Path) -> AsyncIterator:
    """Tenant acme with its owner, a paid customer, and two sites: an agent and a router each."""
    pool, services = hub_server.app[DB_POOL], hub_server.app[SERVICES]
    tenant = await TenantService(pool, hub_config).create_tenant("acme", "Acme ISP")
    await services.auth.create_user("acme", OWNER, PASSWORD, "owner")
    await services.access.grant(tenant, username=PAID, hours=24, actor="test")
    async with (
        SimRouter(name="Market Router", seed=5) as market,
        SimRouter(name="Harbour Router", seed=6) as harbour,
    ):
        sims = {"market": market, "harbour": harbour}
        agents: dict[str, RunningAgent] = {}
        try:
            for site, sim in sims.items():
                sim.add_hotspot_user(PAID, password="pw")
                token = (await services.agents.create_agent("acme", site)).token
                config_path = tmp_path / site / "agent.toml"
                await enroll(server_url(hub_server), token, str(config_path))
                agents[site] = RunningAgent(enrolled_agent_config(config_path, [sim]))
                await agents[site].start()

            async def both_online() -> bool:
                routers = await services.portal.routers(tenant.id)
                return len(routers) == 2 and all(r.online for r in routers)

            await wait_for(both_online)
            ids = {r.site: r.id for r in await services.portal.routers(tenant.id)}
            yield Fleet(server_url(hub_server), sims, agents, ids)
        finally:
            for agent in agents.values():
                await agent.stop()


async def sign_in(page, fleet: Fleet) -> None:  # noqa: F811
    await page.goto(f"{fleet.url}/dashboard/sites")  # signed out: to the sign-in page
    await page.fill("input[name=username]", OWNER)
    await page.fill("input[name=password]", PASSWORD)
    await screenshot(page, "dashboard-login")
    await page.click("button[type=submit]:has-text('Sign in')")
    await page.wait_for_url(f"{fleet.url}/dashboard/sites")


async def card_state(page, fleet: Fleet, site: str):  # noqa: F811
    return page.locator(f'article.site[data-router="{fleet.router_ids[site]}"]')


async def test_login_cards_live_row_and_disconnect(page, fleet: Fleet):  # noqa: F811
    from playwright.async_api import expect

    await sign_in(page, fleet)
    for site in ("market", "harbour"):
        card = await card_state(page, fleet, site)
        await expect(card).to_be_visible()
        await expect(card).to_have_attribute("data-state", "online", timeout=LIVE)
    await expect(page.get_by_test_id("fleet-summary")).to_contain_text("2 sites: 2 online")
    await screenshot(page, "dashboard-sites")

    market = fleet.sims["market"]
    await page.goto(f"{fleet.url}/dashboard/routers/{fleet.router_ids['market']}/users")
    await expect(page.locator(".live-dot.on")).to_have_count(1, timeout=LIVE)  # stream open
    session_id = market.hotspot_login(PAID, mac_address=MAC)
    row = page.locator(f'#users tr[data-session="{session_id}"]')
    await expect(row).to_be_visible(timeout=LIVE)  # pushed: no reload
    await expect(row).to_contain_text(MAC)
    await expect(row).to_have_class("active")
    # The search box filters the rows as the operator types.
    await page.fill("input[type=search]", "no-such-user")
    await expect(row).to_be_hidden()
    await page.fill("input[type=search]", MAC[-5:])
    await expect(row).to_be_visible()
    await screenshot(page, "dashboard-users")

    await row.locator("button[data-disconnect]").click()
    await expect(page.locator("[data-result]")).to_have_text(
        f"{PAID} disconnected from Market Router", timeout=LIVE
    )
    await expect(row).to_have_count(0, timeout=LIVE)

    async def router_has_no_session() -> bool:
        active = await router_rows(market, "/ip/hotspot/active")
        return all(str(r[".id"]) != session_id for r in active)

    await wait_for(router_has_no_session)
    assert [r for r in market.rows("/ip/hotspot/active") if r.get("user") == PAID] == []

    for name in ("", "customers", "plans", "transactions", "vouchers", "usage"):
        await page.goto(f"{fleet.url}/dashboard/{name}")
        await expect(page.locator("main h1")).to_be_visible()
        await screenshot(page, f"dashboard-{name or 'overview'}")


async def test_a_stopped_agent_turns_its_card_offline(page, fleet: Fleet):  # noqa: F811
    from playwright.async_api import expect

    await sign_in(page, fleet)
    harbour = await card_state(page, fleet, "harbour")
    market = await card_state(page, fleet, "market")
    await expect(harbour).to_have_attribute("data-state", "online", timeout=LIVE)
    await expect(page.locator(".live-dot.on")).to_have_count(1, timeout=LIVE)

    await fleet.agents["harbour"].stop()  # the site loses power: its link closes
    await expect(harbour).to_have_attribute("data-state", "agent-offline", timeout=LIVE)
    await expect(harbour).to_contain_text("Offline")
    await expect(market).to_have_attribute("data-state", "online")
    await expect(page.get_by_test_id("fleet-summary")).to_contain_text("1 online, 1 offline")
    await screenshot(page, "dashboard-sites-offline")
