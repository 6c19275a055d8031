"""The tenant portal end to end (seeds 000 and 001): a client logs in on a routersim, the site's
agent reports it, the portal shows it, and a disconnect through the portal kicks it off the router.

Everything is real: Postgres, the hub's app on a loopback port, an agent enrolled the operator's
way running ``Agent`` + ``HubLink`` with one-second cycles, and librouteros over TCP to check the
router. Hub restarts (the agent resumes at the last acknowledged sequence, no duplicate history)
are proven by tests/agent/test_hublink.py::test_hub_restart_resumes_without_duplicates and, across
hub processes, by test_two_hubs.py; they are not repeated here.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest
from aiohttp.test_utils import TestServer

from agent.enroll import enroll
from common.timeutil import to_iso
from hub.config import HubConfig
from hub.services.access import Grant
from hub.services.tenants import TenantService
from hub.typedefs import DB_POOL, SERVICES
from routersim import SimRouter

from .conftest import (
    RECONCILE_INTERVAL,
    RunningAgent,
    enrolled_agent_config,
    router_rows,
    server_url,
    wait_for,
)

ROUTER = "Main Office Router"
PAID = "+255712345678"  # a customer with 24 h of access
TWO_DEVICES = "+255787654321"  # a customer with access, online on a phone and a laptop
STRANGER = "+255700000009"  # on the router, unknown to the hub
MAC_1, MAC_2, MAC_3 = "AA:BB:CC:DD:EE:01", "AA:BB:CC:DD:EE:02", "AA:BB:CC:DD:EE:03"
UNREACHABLE = {
    "success": False,
    "error": f"Cannot connect to router {ROUTER}. Please check router configuration.",
}
TWO_CYCLES = 2 * RECONCILE_INTERVAL


@dataclass
class Site:
    """One tenant's site as the portal sees it: its router, agent and the tenant's API key."""

    sim: SimRouter
    agent: RunningAgent
    pool: asyncpg.Pool
    http: aiohttp.ClientSession
    router_url: str  # .../api/portal/router/<id>
    router_id: int
    grants: dict[str, Grant]

    async def active_users(self) -> tuple[int, dict[str, Any]]:
        async with self.http.get(f"{self.router_url}/active-users/") as response:
            return response.status, await response.json()

    async def sessions(self) -> dict[str, dict[str, Any]]:
        """session_id -> portal entry; empty while the portal answers anything but 200."""
        status, body = await self.active_users()
        return {u["session_id"]: u for u in body["active_users"]} if status == 200 else {}

    async def disconnect(self, **body: Any) -> tuple[int, dict[str, Any]]:
        async with self.http.post(f"{self.router_url}/disconnect-user/", json=body) as response:
            return response.status, await response.json()


@pytest.fixture
async def sim() -> AsyncIterator[SimRouter]:
    async with SimRouter(name=ROUTER, seed=3) as router:
        for username in (PAID, TWO_DEVICES, STRANGER):
            router.add_hotspot_user(username, password="pw")
        yield router


@pytest.fixture
async def site(
    hub_server: TestServer, hub_config: HubConfig, sim: SimRouter, tmp_path: Path
) -> AsyncIterator[Site]:
    """Tenant, API key and paid customers made through the hub's services; the agent enrolled
    and running; yielded once the portal answers 200 for the router (its health arrived)."""
    pool, services = hub_server.app[DB_POOL], hub_server.app[SERVICES]
    tenants = TenantService(pool, hub_config)
    tenant = await tenants.create_tenant("acme", "Acme ISP")
    _, api_key = await services.auth.issue_api_key("acme")
    token = (await services.agents.create_agent("acme", "market")).token
    grants = {
        username: await services.access.grant(tenant, username=username, hours=24, actor="test")
        for username in (PAID, TWO_DEVICES)
    }
    config_path = tmp_path / "agent" / "agent.toml"
    await enroll(server_url(hub_server), token, str(config_path))
    agent = RunningAgent(enrolled_agent_config(config_path, [sim]))
    await agent.start()
    try:
        router_id = await pool.fetchval("SELECT id FROM routers WHERE name = $1", ROUTER)
        headers = {"Authorization": f"Bearer {api_key}"}
        async with aiohttp.ClientSession(headers=headers) as http:
            router_url = f"{server_url(hub_server)}/api/portal/router/{router_id}"
            site = Site(sim, agent, pool, http, router_url, router_id, grants)
            await wait_for(lambda: status_is(site, 200))
            yield site
    finally:
        await agent.stop()


async def status_is(site: Site, status: int) -> bool:
    return (await site.active_users())[0] == status


async def router_sessions(sim: SimRouter) -> dict[str, dict[str, Any]]:
    """The router's /ip/hotspot/active by id, through librouteros."""
    return {str(row[".id"]): row for row in await router_rows(sim, "/ip/hotspot/active")}


async def test_login_shows_in_portal_and_disconnect_kicks_it_off(site: Site, sim: SimRouter):
    sim.add_ip_binding(MAC_1, type="regular")  # the device's binding: the disconnect clears it
    sid = sim.hotspot_login(PAID, mac_address=MAC_1)
    # The router's counters: it received 104857600 from the user (the user's upload) and
    # sent it 52428800 (the user's download); the portal shows the user's side.
    sim.add_traffic(sid, bytes_in=104_857_600, bytes_out=52_428_800)
    stranger = sim.hotspot_login(STRANGER, mac_address=MAC_3)

    async def both_reported() -> dict[str, dict[str, Any]] | None:
        seen = await site.sessions()
        if stranger in seen and seen.get(sid, {}).get("bytes_in") == "52428800":
            return seen
        return None

    seen = await wait_for(both_reported, timeout=TWO_CYCLES, interval=0.05)
    row = (await router_sessions(sim))[sid]
    grant = site.grants[PAID]
    entry = seen[sid]
    remaining = entry["database_info"].pop("time_remaining")
    assert re.fullmatch(r"23:59:\d\d", remaining), remaining
    assert entry == {
        "session_id": sid,
        "username": PAID,
        "mac_address": MAC_1,
        "ip_address": row["address"],
        "uptime": row["uptime"],
        "bytes_in": "52428800",
        "bytes_out": "104857600",
        "idle_time": row["idle-time"],
        "login_time": "http-chap",
        "database_info": {
            "user_id": grant.customer.id,
            "is_active": True,
            "has_active_access": True,
            "access_expires_at": to_iso(grant.entitlement.expires_at, "seconds"),
        },
    }
    # seed 000: bytes_in = downloaded by the user = what the router sent
    assert str(row["bytes-out"]) == entry["bytes_in"]
    assert str(row["bytes-in"]) == entry["bytes_out"]
    assert seen[stranger]["database_info"] == {
        "user_id": None,
        "is_active": False,
        "has_active_access": False,
        "access_expires_at": None,
        "time_remaining": None,
        "note": "User not found in database",
    }

    status, body = await site.disconnect(username=PAID)
    assert status == 200, body
    assert body == {
        "success": True,
        "message": f"User {PAID} disconnected from {ROUTER}",
        "router": {"id": site.router_id, "name": ROUTER},
        "details": {
            "session_removed": True,
            "binding_removed": True,
            "user_disabled": True,
            "ppp_secret_disabled": False,
        },
    }
    assert set(await router_sessions(sim)) == {stranger}
    assert await router_rows(sim, "/ip/hotspot/ip-binding") == []
    users = {u["name"]: u for u in await router_rows(sim, "/ip/hotspot/user")}
    assert users[PAID]["disabled"] is True and users[STRANGER]["disabled"] is False
    await wait_for(lambda: _without(site, sid), timeout=TWO_CYCLES)
    assert set(await site.sessions()) == {stranger}


async def _without(site: Site, session_id: str) -> bool:
    sessions = await site.sessions()
    return bool(sessions) and session_id not in sessions


async def test_disconnect_with_mac_leaves_the_users_other_device(site: Site, sim: SimRouter):
    phone = sim.hotspot_login(TWO_DEVICES, mac_address=MAC_1)
    laptop = sim.hotspot_login(TWO_DEVICES, mac_address=MAC_2)

    async def both_online() -> bool:
        return {phone, laptop} <= set(await site.sessions())

    await wait_for(both_online, timeout=TWO_CYCLES, interval=0.05)
    # The MAC as a customer might type it: the hub normalises it.
    status, body = await site.disconnect(username=TWO_DEVICES, mac_address="aa-bb-cc-dd-ee-02")
    assert status == 200, body
    assert body["success"] is True
    assert body["details"]["session_removed"] is True
    assert body["details"]["user_disabled"] is False  # the phone stays able to log in

    left = await router_sessions(sim)
    assert set(left) == {phone}
    assert left[phone]["mac-address"] == MAC_1
    await wait_for(lambda: _without(site, laptop), timeout=TWO_CYCLES)
    sessions = await site.sessions()
    assert set(sessions) == {phone}
    assert sessions[phone]["mac_address"] == MAC_1


async def test_stopped_agent_makes_the_portal_answer_503(site: Site, sim: SimRouter):
    sim.hotspot_login(PAID, mac_address=MAC_1)
    await wait_for(site.sessions, timeout=TWO_CYCLES)

    await site.agent.stop()
    await wait_for(lambda: status_is(site, 503), timeout=5.0)
    assert await site.active_users() == (503, UNREACHABLE)
    assert await site.disconnect(username=PAID) == (503, UNREACHABLE)
    assert [row["user"] for row in (await router_sessions(sim)).values()] == [PAID]
    assert not await site.pool.fetchval("SELECT connected FROM agents")


async def test_router_offline_makes_the_portal_answer_503_until_it_is_back(
    site: Site, sim: SimRouter
):
    sim.set_offline(True)
    await wait_for(lambda: status_is(site, 503), timeout=5.0)
    assert await site.active_users() == (503, UNREACHABLE)
    assert await site.disconnect(username=PAID) == (503, UNREACHABLE)
    assert site.agent.agent is not None and site.agent.agent.hub_connected

    sim.set_offline(False)
    await wait_for(lambda: status_is(site, 200), timeout=5.0)
    sid = sim.hotspot_login(PAID, mac_address=MAC_1)
    await wait_for(lambda: _has(site, sid), timeout=TWO_CYCLES)
    status, body = await site.disconnect(username=PAID)
    assert status == 200, body
    assert body["details"]["session_removed"] is True
    assert await router_sessions(sim) == {}


async def _has(site: Site, session_id: str) -> bool:
    return session_id in await site.sessions()


async def test_a_download_shows_as_bytes_in_for_hotspot_and_ppp(site: Site, sim: SimRouter):
    """Seed 000 counts from the user's side: downloading more than uploading -> in > out."""
    sim.add_ppp_secret("ppp-client", password="pw")
    hotspot = sim.hotspot_login(PAID, mac_address=MAC_1)
    ppp = sim.ppp_login("ppp-client")
    for sid in (hotspot, ppp):  # router sends (user downloads) 9 MB, receives 1 MB
        sim.add_traffic(sid, bytes_in=1_000_000, bytes_out=9_000_000)

    async def counted() -> dict[str, dict[str, Any]] | None:
        seen = await site.sessions()
        both = [seen.get(sid, {}).get("bytes_in") for sid in (hotspot, ppp)]
        return seen if both == ["9000000", "9000000"] else None

    seen = await wait_for(counted, timeout=4 * TWO_CYCLES, interval=0.05)
    for sid in (hotspot, ppp):
        assert int(seen[sid]["bytes_in"]) > int(seen[sid]["bytes_out"])
        assert seen[sid]["bytes_out"] == "1000000"
    assert seen[ppp]["login_time"] == "pppoe"  # PPP: RouterOS' service name


async def test_disconnect_without_a_session_is_session_not_found(site: Site, sim: SimRouter):
    """A paid customer with no session on this router: seed 001's failure, not a 200."""
    other = sim.hotspot_login(TWO_DEVICES, mac_address=MAC_2)
    await wait_for(lambda: _has(site, other), timeout=TWO_CYCLES)
    status, body = await site.disconnect(username=PAID)
    assert (status, body) == (
        500,
        {
            "success": False,
            "error": f"Failed to disconnect user from {ROUTER}",
            "details": ["Session not found"],
        },
    )
    # A MAC matching none of the customer's sessions is the same failure.
    status, body = await site.disconnect(username=TWO_DEVICES, mac_address=MAC_3)
    assert status == 500 and body["details"] == ["Session not found"]
    assert set(await router_sessions(sim)) == {other}


async def test_ppp_disconnect_reports_session_removed(site: Site, sim: SimRouter):
    sim.add_ppp_secret(STRANGER, password="pw")  # made by hand on the router: no customer
    ppp = sim.ppp_login(STRANGER)
    await wait_for(lambda: _has(site, ppp), timeout=TWO_CYCLES)
    status, body = await site.disconnect(username=STRANGER)
    assert status == 200, body
    assert body["details"]["session_removed"] is True
    assert set(body["details"]) == {
        "session_removed",
        "binding_removed",
        "user_disabled",
        "ppp_secret_disabled",
    }
    assert await router_rows(sim, "/ppp/active") == []
    row = await site.pool.fetchrow("SELECT * FROM audit_log WHERE action = 'disconnect_user'")
    assert row["result"] == "ok" and row["target"] == STRANGER
