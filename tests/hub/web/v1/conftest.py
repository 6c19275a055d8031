"""A tenant's site for the /v1 router tests: the hub on a loopback port, a routersim, and an
agent enrolled the operator's way and running (``RunningAgent``), all real.

``site.call(method, path, json=...)`` speaks to /v1 as the tenant's operator (a JWT);
``site.stop_agent()`` is a site losing its link: router calls then answer 503.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest
from aiohttp.test_utils import TestServer

from agent.enroll import enroll
from hub.app import create_app
from hub.config import HubConfig
from hub.typedefs import DB_POOL, SERVICES
from routersim import SimRouter
from tests.e2e.conftest import RunningAgent, enrolled_agent_config, server_url, wait_for
from tests.hub.conftest import Seeder

ROUTER = "Tower Router"
OFFLINE = f"Cannot connect to router {ROUTER}. Please check router configuration."


@dataclass
class Site:
    server: TestServer
    sim: SimRouter
    agent: RunningAgent
    pool: asyncpg.Pool
    http: aiohttp.ClientSession
    headers: dict[str, str]  # the operator's
    router_id: int
    tenant_id: int
    viewer: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return server_url(self.server)

    async def call(
        self, method: str, path: str, json: Any = None, headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, Any]]:
        async with self.http.request(
            method, self.url + path, json=json, headers=headers or self.headers
        ) as response:
            return response.status, await response.json()

    async def data(self, method: str, path: str, json: Any = None, status: int = 200) -> Any:
        """The envelope's data of a call that must answer ``status``."""
        got, body = await self.call(method, path, json)
        assert got == status, (method, path, got, body)
        assert body["success"] is True and body["error"] is None
        return body["data"]

    async def stop_agent(self) -> None:
        """The site's link goes down; waits until the hub treats the router as offline."""
        await self.agent.stop()

        async def offline() -> bool:
            router = await self.server.app[SERVICES].portal.router(self.router_id, self.tenant_id)
            return not router.online

        await wait_for(offline)


@pytest.fixture
def site_config(pg_dsn: str, tmp_path: Path) -> HubConfig:
    """The e2e hub config: commands get 5 s, a silent agent is offline within seconds."""
    return HubConfig(
        database_url=pg_dsn,
        data_dir=str(tmp_path / "hub"),
        command_timeout=5.0,
        agent_heartbeat=0.5,
        agent_offline_after=3.0,
        rate_limit_per_minute=100_000,
        rate_limit_burst=10_000,
        metrics_refresh_interval=60.0,
    )


@pytest.fixture
async def sim() -> AsyncIterator[SimRouter]:
    async with SimRouter(name=ROUTER, seed=7) as router:
        yield router


@pytest.fixture
async def site(
    site_config: HubConfig, aiohttp_server: Any, sim: SimRouter, tmp_path: Path
) -> AsyncIterator[Site]:
    """Yielded once the router is online at the hub (its agent connected and reported it)."""
    server = await aiohttp_server(create_app(site_config), host="127.0.0.1")
    pool, services = server.app[DB_POOL], server.app[SERVICES]
    seeder = Seeder(pool, site_config)
    tenant = await seeder.tenant("acme")
    operator = await seeder.user(tenant, "otto", "operator")
    viewer = await seeder.user(tenant, "vera", "viewer")
    token = (await services.agents.create_agent("acme", "tower")).token
    config_path = tmp_path / "agent" / "agent.toml"
    await enroll(server_url(server), token, str(config_path))
    agent = RunningAgent(enrolled_agent_config(config_path, [sim]))
    await agent.start()
    try:

        async def router_online() -> int | None:
            router_id = await pool.fetchval("SELECT id FROM routers WHERE name = $1", ROUTER)
            if router_id is None:
                return None
            router = await services.portal.router(router_id, tenant.tenant.id)
            return router_id if router.online else None

        router_id = await wait_for(router_online)
        async with aiohttp.ClientSession() as http:
            yield Site(
                server,
                sim,
                agent,
                pool,
                http,
                operator.headers,
                router_id,
                tenant.tenant.id,
                viewer.headers,
            )
    finally:
        await agent.stop()
