"""Two real ``ispfleet-hub serve`` processes on one Postgres, a real agent, a routersim.

The agent is enrolled with and connected to hub 1; a tenant's portal request on hub 2 must
reach it (LISTEN/NOTIFY), run on the router, and come back. Hub 1 then restarts on the same
port: the agent reconnects by itself and commands flow again.
"""

from __future__ import annotations

import asyncio
import tomllib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest

from agent.config import parse_agent_config
from agent.enroll import enroll
from agent.service import Agent
from routersim import SimRouter

from .conftest import HubProcess, cli, free_port, wait_for

USERNAME = "+255712345678"
OTHER_USERNAME = "+255712345679"


@pytest.fixture
async def hubs(hub_env: dict[str, str], tmp_path: Path) -> AsyncIterator[list[HubProcess]]:
    processes = [HubProcess(hub_env, f"hub-{n}", free_port(), tmp_path) for n in (1, 2)]
    try:
        await asyncio.gather(*(p.start() for p in processes))
        yield processes
    finally:
        await asyncio.gather(*(p.stop() for p in processes))


@pytest.fixture
async def sim() -> AsyncIterator[SimRouter]:
    async with SimRouter(name="main", seed=7) as router:
        router.add_hotspot_user(USERNAME, password="pw")
        router.add_hotspot_user(OTHER_USERNAME, password="pw")
        yield router


async def test_command_crosses_hub_processes_and_survives_a_restart(
    hubs: list[HubProcess], hub_env: dict[str, str], sim: SimRouter, pg_dsn: str, tmp_path: Path
):
    hub1, hub2 = hubs
    await cli(hub_env, "create-tenant", "--slug", "acme", "--name", "Acme")
    api_key = (await cli(hub_env, "create-api-key", "--tenant", "acme")).splitlines()[1]
    created = await cli(hub_env, "create-agent", "--tenant", "acme", "--site", "market")
    token = next(line for line in created.splitlines() if "token" in line).split()[-1]
    for username in (USERNAME, OTHER_USERNAME):
        await cli(hub_env, "add-customer", "--tenant", "acme", "--username", username)

    # The operator's path: enroll against hub 1, add the router, run the agent.
    config_path = tmp_path / "agent.toml"
    await enroll(hub1.url, token, str(config_path))
    data = tomllib.loads(config_path.read_text())
    data["agent"].update(
        state_dir=str(tmp_path / "state"),
        reconcile_interval=1.0,
        counters_interval=0.5,
        health_interval=0.5,
        startup_jitter=0.0,
        metrics_listen="127.0.0.1:0",
    )
    data["hub"].update(heartbeat=1.0, backoff_min=0.1, backoff_max=0.5)
    data["routers"] = [{"name": "main", "host": sim.host, "port": sim.port}]
    config = parse_agent_config(data, "agent.toml")

    db = await asyncpg.connect(pg_dsn)
    headers = {"Authorization": f"Bearer {api_key}"}
    async with Agent(config) as agent, aiohttp.ClientSession(headers=headers) as http:
        try:
            await wait_for(lambda: agent.hub_connected)
            assert await db.fetchval("SELECT hub_instance FROM agents") == "hub-1"
            router_id = await db.fetchval("SELECT id FROM routers WHERE name = 'main'")

            async def disconnect_through_hub2(username: str, mac: str) -> dict[str, Any]:
                sim.hotspot_login(username, mac_address=mac)
                online = "SELECT count(*) FROM current_sessions WHERE username = $1"
                await wait_for(lambda: db.fetchval(online, username))
                url = f"{hub2.url}/api/portal/router/{router_id}/disconnect-user/"
                async with http.post(url, json={"username": username}) as response:
                    body = await response.json()
                    assert response.status == 200, body
                assert sim.rows("/ip/hotspot/active") == []
                return body

            body = await disconnect_through_hub2(USERNAME, "AA:BB:CC:DD:EE:01")
            assert body["success"] is True
            assert body["message"] == f"User {USERNAME} disconnected from main"
            assert body["details"]["session_removed"] is True
            assert await db.fetchval("SELECT status FROM commands") == "done"

            # Hub 1 goes away (graceful stop) and comes back on the same port.
            await hub1.stop()
            await wait_for(lambda: not agent.hub_connected)
            assert not await db.fetchval("SELECT connected FROM agents")
            await hub1.start()
            await wait_for(lambda: agent.hub_connected, timeout=15.0)
            assert await db.fetchval("SELECT connected AND hub_instance = 'hub-1' FROM agents")

            body = await disconnect_through_hub2(OTHER_USERNAME, "AA:BB:CC:DD:EE:02")
            assert body["details"]["session_removed"] is True
            statuses = await db.fetch("SELECT status FROM commands")
            assert [r["status"] for r in statuses] == ["done", "done"]
            await wait_for(
                lambda: db.fetchval("SELECT count(*) = 2 FROM session_history"), timeout=5.0
            )
            history = await db.fetch("SELECT session_id, username FROM session_history")
            assert sorted(r["username"] for r in history) == [USERNAME, OTHER_USERNAME]
        finally:
            await db.close()
