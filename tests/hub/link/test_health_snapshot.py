"""The portal's fleet health from a ready snapshot: always what Postgres holds now, the same on
every hub process, and a 304 only when nothing it shows changed."""

from __future__ import annotations

import dataclasses
from typing import Any

import aiohttp
import asyncpg
import pytest
from aiohttp.test_utils import TestServer

from common import wire
from hub.config import HubConfig
from hub.services.auth import AuthService
from hub.storage.routers import RouterRepository
from hub.web import bodies

from .conftest import FakeAgent, ServerFactory, base_url, event, health

HEALTH = "/api/portal/router/health/"


@pytest.fixture
def hub_config(hub_config: HubConfig) -> HubConfig:
    """No lease renewal after the first (the test moves the lease by hand), no silent-agent
    offline, no pings the fake agent would not answer while it is not reading."""
    return dataclasses.replace(
        hub_config,
        instance_heartbeat=3600.0,
        instance_lease=3600.0,
        agent_offline_after=3600.0,
        link_heartbeat=3600.0,
    )


@pytest.fixture
async def api_key(pool: asyncpg.Pool, tenant_id: int) -> str:
    return (await AuthService(pool, HubConfig()).issue_api_key("acme", "fleet"))[1]


async def get(
    http: aiohttp.ClientSession, server: TestServer, key: str, etag: str = ""
) -> tuple[int, Any, str]:
    headers = {"Authorization": f"Bearer {key}"}
    if etag:
        headers["If-None-Match"] = etag
    async with http.get(base_url(server) + HEALTH, headers=headers) as response:
        body = await response.json() if response.status == 200 else await response.read()
        return response.status, body, response.headers.get("ETag", "")


async def direct(pool: asyncpg.Pool, tenant_id: int) -> list[dict[str, Any]]:
    """The routers part of the answer built the old way, from a direct query."""
    routers = await RouterRepository(pool, offline_after=3600.0).find(tenant_id)
    return bodies.fleet_health_body(routers)["routers"]


async def linked(agent: FakeAgent) -> None:
    await agent.connect()
    snap = wire.RouterSnapshot(router="r1", health=health(cpu_load=5), sessions=[])
    await agent.send("snapshot", as_of_seq=0, routers=[snap])
    await agent.send_events()  # the ack says the snapshot before it is stored


async def test_304_only_when_nothing_changed_and_every_change_gives_a_new_etag(
    agent: FakeAgent,
    pool: asyncpg.Pool,
    hub: TestServer,
    http: aiohttp.ClientSession,
    api_key: str,
    tenant_id: int,
):
    await linked(agent)
    status, body, etag = await get(http, hub, api_key)
    assert status == 200 and etag.startswith('W/"'), body
    assert body["routers"] == await direct(pool, tenant_id)
    assert body["summary"] == {"total": 1, "online": 1, "offline": 0}
    assert (await get(http, hub, api_key, etag))[:2] == (304, b"")
    seen = {etag}

    async def changed(expect: dict[str, Any]) -> str:
        status, body, new = await get(http, hub, api_key, etag)
        assert status == 200 and new not in seen, (status, body)
        assert body["routers"] == await direct(pool, tenant_id)
        assert {k: body["routers"][0][k] for k in expect} == expect
        assert (await get(http, hub, api_key, new))[0] == 304
        seen.add(new)
        return new

    # A health report.
    await agent.send_events(event(1, wire.ROUTER_HEALTH, health(cpu_load=77)))
    etag = await changed({"cpu_load": 77, "status": "online"})
    # The router goes down, as its agent reports.
    await agent.send_events(event(2, wire.ROUTER_DOWN, {"error": "timed out"}))
    etag = await changed({"status": "offline", "error": "timed out"})
    await agent.send_events(event(3, wire.ROUTER_UP, {}))
    etag = await changed({"status": "online"})
    # No write to any row it shows: the hub's lease runs out, the agent reads offline now.
    await pool.execute("UPDATE hub_instances SET expires_at = now() - interval '1 second'")
    etag = await changed({"status": "offline", "stale": True})
    # A router added to the fleet (by hand, as any process or script could).
    await pool.execute(
        "INSERT INTO routers (tenant_id, agent_id, name, host) SELECT tenant_id, id, 'r2', 'h2'"
        " FROM agents"
    )
    status, body, _ = await get(http, hub, api_key, etag)
    assert status == 200 and [r["name"] for r in body["routers"]] == ["r1", "r2"]


async def test_two_hub_processes_give_the_same_answer(
    agent: FakeAgent,
    pool: asyncpg.Pool,
    hub: TestServer,
    start_hub: ServerFactory,
    http: aiohttp.ClientSession,
    api_key: str,
):
    other = await start_hub()
    await linked(agent)
    _, first, etag = await get(http, other, api_key)  # cached on the other process
    _, here, etag_here = await get(http, hub, api_key)
    assert etag == etag_here and first["routers"] == here["routers"]

    await agent.send_events(event(1, wire.ROUTER_HEALTH, health(cpu_load=42)))  # on ``hub``
    status, there, etag_there = await get(http, other, api_key, etag)
    _, here, etag_here = await get(http, hub, api_key)
    assert status == 200 and there["routers"][0]["cpu_load"] == 42
    assert etag_there == etag_here != etag and there["routers"] == here["routers"]
