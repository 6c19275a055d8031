"""Real parts for the agent's tests: a routersim over TCP, SQLite files in tmp_path.

``sim`` is a SimRouter on 127.0.0.1; ``agent_config(...)`` points an AgentConfig at one or
more of them with short intervals; ``ros`` reads and writes the simulated router through
librouteros, as an operator's tool would, to check what the agent did.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from librouteros import async_connect

from agent.config import AgentConfig, parse_agent_config
from agent.service import Agent
from common import wire
from routersim import SimRouter
from tests.helpers import wait_for as wait_for

FAST_AGENT = {
    "reconcile_interval": 1.0,
    "counters_interval": 0.5,
    "health_interval": 0.5,
    "expiry_check_interval": 0.2,
    "drift_interval": 3600.0,  # tests call repair_drift() themselves
    "startup_jitter": 0.0,
    "metrics_listen": "127.0.0.1:0",
    # Every counter move reported, as the tests of other behaviour expect; the step has its own.
    "counters_step_bytes": 0,
    "counters_step_idle": 0.0,
}
FAST_ROUTER = {
    "connect_timeout": 2.0,
    "command_timeout": 2.0,
    "listen_timeout": 5.0,
    "backoff_min": 0.05,
    "backoff_max": 0.3,
}


def make_config(
    state_dir: Path, routers: list[SimRouter], agent: dict | None = None, **router: Any
) -> AgentConfig:
    return parse_agent_config(
        {
            "agent": {
                "site": "test-site",
                "state_dir": str(state_dir),
                **FAST_AGENT,
                **(agent or {}),
            },
            "routers": [
                {
                    "name": sim.name,
                    "host": sim.host,
                    "port": sim.port,
                    "username": sim.username,
                    "password": sim.password,
                    **FAST_ROUTER,
                    **router,
                }
                for sim in routers
            ],
        },
        "test.toml",
    )


@pytest.fixture
async def sim() -> AsyncIterator[SimRouter]:
    async with SimRouter(name="r1", seed=1) as router:
        yield router


@pytest.fixture
def config(tmp_path: Path, sim: SimRouter) -> AgentConfig:
    return make_config(tmp_path / "state", [sim])


@pytest.fixture
async def agent(config: AgentConfig) -> AsyncIterator[Agent]:
    async with Agent(config) as running:
        await wait_for(lambda: all(link.state.online for link in running.links.values()))
        yield running


async def events(agent: Agent, kind: str | None = None) -> list[wire.Event]:
    """Every event still in the outbox (tests run without a hub, so nothing is acked)."""
    found = await agent.outbox.read_after(0, limit=100_000)
    return [e for e in found if kind is None or e.kind == kind]


class Ros:
    """librouteros against a SimRouter: how tests look at the router the agent changed."""

    def __init__(self, sim: SimRouter) -> None:
        self.sim = sim

    async def _api(self):
        return await async_connect(
            self.sim.host, self.sim.username, self.sim.password, port=self.sim.port, timeout=5
        )

    async def call(self, command: str, **params: Any) -> list[dict[str, Any]]:
        api = await self._api()
        try:
            return [row async for row in api(command, **params)]
        finally:
            await api.close()

    async def rows(self, menu: str) -> list[dict[str, Any]]:
        return await self.call(f"{menu}/print")

    async def add(self, menu: str, **params: Any) -> str:
        rows = await self.call(f"{menu}/add", **params)
        return str(rows[0]["ret"])


@pytest.fixture
def ros(sim: SimRouter) -> Ros:
    return Ros(sim)
