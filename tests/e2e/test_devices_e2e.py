"""A device travels from /v1 to its site's agent (issue 16): no agent.toml edit anywhere.

Real parts only: the hub's app on a loopback port, an agent enrolled the operator's way with NO
routers in its config, a routersim reached through librouteros over TCP. The device is created
through /v1 with the simulator's address and login; the agent connects to it, a hotspot login
on the router shows in the portal's active users; deleting the device closes the agent's link
to the router; and an agent restarted while the hub is down still runs the device.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from agent.enroll import enroll
from agent.service import Agent
from hub.config import HubConfig
from hub.services.auth import AuthService
from hub.services.tenants import TenantService
from hub.typedefs import DB_POOL, SERVICES
from routersim import SimRouter

from .conftest import RECONCILE_INTERVAL, RunningAgent, enrolled_agent_config, server_url, wait_for

ROUTER = "Hub Made Router"
CUSTOMER = "+255712345678"
MAC = "AA:BB:CC:DD:EE:01"
PASSWORD = "correct horse battery"
WITHIN = 10 * RECONCILE_INTERVAL


@pytest.fixture
async def sim() -> AsyncIterator[SimRouter]:
    async with SimRouter(name="routersim", seed=5) as router:
        router.add_hotspot_user(CUSTOMER, password="pw")
        yield router


@pytest.fixture
async def site(hub_server: TestServer, hub_config: HubConfig, tmp_path: Path):
    """Tenant acme with an admin and a portal key; its site agent enrolled, no routers."""
    pool, services = hub_server.app[DB_POOL], hub_server.app[SERVICES]
    await TenantService(pool, hub_config).create_tenant("acme", "Acme ISP")
    _, api_key = await services.auth.issue_api_key("acme")
    auth = AuthService(pool, hub_config)
    await auth.create_user("acme", "ada", PASSWORD, "admin")
    token = (await auth.login("ada", PASSWORD)).access_token
    enrollment = (await services.agents.create_agent("acme", "market")).token
    config_path = tmp_path / "agent" / "agent.toml"
    await enroll(server_url(hub_server), enrollment, str(config_path))
    config = enrolled_agent_config(config_path, [])
    assert config.routers == []
    agent = RunningAgent(config)
    await agent.start()
    try:
        yield agent, {"Authorization": f"Bearer {token}"}, {"Authorization": f"Bearer {api_key}"}
    finally:
        await agent.stop()


def _runs(agent: Agent | None, name: str) -> bool:
    return agent is not None and name in agent.links and agent.links[name].state.online


async def test_a_device_created_through_v1_is_run_by_its_agent(
    hub_server: TestServer, sim: SimRouter, site
):
    running, admin, portal = site
    base = server_url(hub_server)
    async with aiohttp.ClientSession() as http:
        device = {
            "name": ROUTER,
            "host": sim.host,
            "port": sim.port,
            "api_username": sim.username,
            "api_password": sim.password,
            "location": "Market",
        }
        async with http.post(f"{base}/v1/internal/mikrotik", json=device, headers=admin) as r:
            body = await r.json()
            assert r.status == 201, body
        device_id = body["data"]["id"]
        await wait_for(lambda: _runs(running.agent, ROUTER), timeout=WITHIN)

        url = f"{base}/api/portal/router/{device_id}/active-users/"

        async def portal_sessions() -> dict[str, dict] | None:
            async with http.get(url, headers=portal) as response:
                if response.status != 200:
                    return None
                return {u["session_id"]: u for u in (await response.json())["active_users"]}

        async def answers() -> bool:  # its health reached the hub: 200, not 503
            return await portal_sessions() is not None

        await wait_for(answers, timeout=WITHIN)
        sid = sim.hotspot_login(CUSTOMER, mac_address=MAC)
        seen = await wait_for(
            lambda: _with_session(portal_sessions, sid), timeout=WITHIN, interval=0.05
        )
        assert (seen[sid]["username"], seen[sid]["mac_address"]) == (CUSTOMER, MAC)
        async with http.get(f"{base}/v1/internal/mikrotik/{device_id}", headers=admin) as r:
            assert (await r.json())["data"]["online"] is True

        async with http.delete(f"{base}/v1/internal/mikrotik/{device_id}", headers=admin) as r:
            assert r.status == 200
        await wait_for(lambda: ROUTER not in running.agent.links, timeout=WITHIN)
        await wait_for(lambda: sim.connections == 0, timeout=WITHIN)
        async with http.get(url, headers=portal) as response:
            assert response.status == 404


async def _with_session(read, session_id: str):
    sessions = await read()
    return sessions if sessions and session_id in sessions else None


async def test_an_agent_restarted_with_the_hub_down_still_runs_its_device(
    hub_server: TestServer, sim: SimRouter, site
):
    running, admin, _ = site
    base = server_url(hub_server)
    device = {
        "name": ROUTER,
        "host": sim.host,
        "port": sim.port,
        "api_username": sim.username,
        "api_password": sim.password,
    }
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{base}/v1/internal/mikrotik", json=device, headers=admin) as r,
    ):
        assert r.status == 201
    await wait_for(lambda: _runs(running.agent, ROUTER), timeout=WITHIN)
    await running.stop()
    await wait_for(lambda: sim.connections == 0, timeout=WITHIN)
    await hub_server.close()

    async with contextlib.AsyncExitStack() as stack:
        agent = await stack.enter_async_context(Agent(running.config))
        assert not agent.hub_connected
        await wait_for(lambda: _runs(agent, ROUTER), timeout=WITHIN)
        assert sim.connections > 0
