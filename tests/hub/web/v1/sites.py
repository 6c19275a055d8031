"""A tenant's site for the /v1 subscriber tests: the hub (``client``, a real loopback port), an
agent enrolled the operator's way and running, and a routersim it reaches over TCP.

``Site.call`` checks every answer for the passwords the test used: a customer's password is
write-only, so no answer may carry it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
from aiohttp.test_utils import TestClient

from agent.enroll import enroll
from hub.config import HubConfig
from hub.typedefs import DB_POOL, SERVICES
from routersim import SimRouter
from tests.e2e.conftest import RunningAgent, enrolled_agent_config, router_rows, wait_for
from tests.hub.conftest import Seeder

ROUTER = "Main Office Router"


def site_hub_config(pg_dsn: str, tmp_path: Path) -> HubConfig:
    """Commands with room for a loaded box; a silent agent noticed within seconds."""
    return HubConfig(
        database_url=pg_dsn,
        data_dir=str(tmp_path / "hub"),
        command_timeout=10.0,
        agent_heartbeat=0.5,
        agent_offline_after=3.0,
        rate_limit_per_minute=100_000,
        rate_limit_burst=10_000,
        metrics_refresh_interval=60.0,
    )


@dataclass
class Site:
    client: TestClient
    pool: asyncpg.Pool
    seed: Seeder
    sim: SimRouter
    agent: RunningAgent
    tenant_id: int
    router_id: int
    headers: dict[str, str]  # the tenant's admin (manages profiles and customers)
    passwords: set[str] = field(default_factory=set)  # every customer password the test sent

    async def call(
        self, method: str, path: str, json: Any = None, headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, Any]]:
        """One /v1 request; the answer must hold none of the test's customer passwords."""
        for secret in _passwords(json):
            self.passwords.add(secret)
        response = await self.client.request(
            method, path, json=json, headers=headers or self.headers
        )
        text = await response.text()
        for secret in self.passwords:
            assert secret not in text, (method, path, "password in the answer")
        body = await response.json()
        assert set(body) == {"success", "data", "metadata", "error"}, body
        return response.status, body

    async def rows(self, menu: str) -> dict[str, dict[str, Any]]:
        """The router's menu by name, printed over TCP through librouteros."""
        return {str(row["name"]): row for row in await router_rows(self.sim, menu)}

    async def router_online(self) -> bool:
        router = await self.seed.router_state(self.router_id)
        return router is not None and router.online

    async def take_offline(self) -> None:
        """The site loses power: the agent's link closes and the hub sees the router offline."""
        await self.agent.stop()
        await wait_for(lambda: _not(self.router_online()))


async def _not(value: Any) -> bool:
    return not await value


def _passwords(json: Any) -> list[str]:
    items = json if isinstance(json, list) else [json]
    return [
        item["password"]
        for item in items
        if isinstance(item, dict) and isinstance(item.get("password"), str) and item["password"]
    ]


async def open_site(client: TestClient, seed: Seeder, tmp_path: Path) -> AsyncIterator[Site]:
    """Tenant ``acme`` with an admin, its agent enrolled and running with one routersim;
    yielded once the hub sees the router online."""
    pool = client.app[DB_POOL]
    acme = await seed.tenant("acme")
    admin = await seed.user(acme, "adam", "admin")
    ticket = await client.app[SERVICES].agents.create_agent("acme", "market")
    async with SimRouter(name=ROUTER, seed=5) as sim:
        config_path = tmp_path / "agent" / "agent.toml"
        await enroll(str(client.make_url("")).rstrip("/"), ticket.token, str(config_path))
        agent = RunningAgent(enrolled_agent_config(config_path, [sim]))
        await agent.start()
        try:
            router_id = await pool.fetchval("SELECT id FROM routers WHERE name = $1", ROUTER)
            site = Site(client, pool, seed, sim, agent, acme.tenant.id, router_id, admin.headers)
            await wait_for(site.router_online)
            yield site
        finally:
            await agent.stop()
