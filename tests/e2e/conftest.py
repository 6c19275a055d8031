"""Real parts for the end-to-end tests: hubs, enrolled agents, routersim, a real Postgres.

Two ways to run a hub: ``HubProcess`` (``python -m hub.cli serve`` on a port of its own, as in
production) and ``hub_server`` (the app from ``create_app`` on a real loopback port in this
process, when a test wants the hub's pool and services at hand). Agents are always enrolled the
operator's way (``agent.enroll.enroll``) and run as an ``Agent``, which starts its
``HubLink`` (``RunningAgent``).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import tomllib
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from librouteros import async_connect

from agent.config import AgentConfig, parse_agent_config
from agent.service import Agent
from hub.app import create_app
from hub.config import HubConfig
from routersim import SimRouter
from tests import helpers
from tests.helpers import free_port as free_port

REPO = Path(__file__).resolve().parents[2]
START_TIMEOUT = 30.0

# Agent cycles of the e2e tests: a reconcile print every second, counters every half second.
RECONCILE_INTERVAL = 1.0
FAST_AGENT = {
    "reconcile_interval": RECONCILE_INTERVAL,
    "counters_interval": 0.5,
    "health_interval": 0.5,
    "drift_interval": 3600.0,
    "startup_jitter": 0.0,
    "metrics_listen": "127.0.0.1:0",
}
FAST_LINK = {"heartbeat": 0.5, "backoff_min": 0.05, "backoff_max": 0.2}
FAST_ROUTER = {
    "connect_timeout": 2.0,
    "command_timeout": 2.0,
    "listen_timeout": 5.0,
    "backoff_min": 0.05,
    "backoff_max": 0.3,
}


async def wait_for(
    predicate: Callable[[], Any | Awaitable[Any]], timeout: float = 10.0, interval: float = 0.1
) -> Any:
    """The shared poller with end-to-end defaults: whole processes take longer."""
    return await helpers.wait_for(predicate, timeout, interval)


class HubProcess:
    """``python -m hub.cli serve`` on a port of its own; output kept in a log file."""

    def __init__(self, env: dict[str, str], name: str, port: int, log_dir: Path) -> None:
        self.env = {
            **env,
            "ISPFLEET_HUB_LISTEN": f"127.0.0.1:{port}",
            "ISPFLEET_HUB_INSTANCE": name,
        }
        self.url = f"http://127.0.0.1:{port}"
        self.log = log_dir / f"{name}.log"
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        with self.log.open("ab") as log:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "hub.cli", "serve", env=self.env, cwd=REPO,
                stdout=log, stderr=asyncio.subprocess.STDOUT,
            )  # fmt: skip
        async with aiohttp.ClientSession() as http:

            async def healthy() -> bool:
                assert self.process is not None
                if self.process.returncode is not None:
                    raise AssertionError(f"hub exited: {self.log.read_text()[-3000:]}")
                with contextlib.suppress(aiohttp.ClientError):
                    async with http.get(self.url + "/healthz") as response:
                        return response.status == 200
                return False

            await wait_for(healthy, START_TIMEOUT)

    async def stop(self) -> None:
        if self.process is None or self.process.returncode is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(self.process.wait(), 20)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()


async def cli(env: dict[str, str], *args: str) -> str:
    """Run ``python -m hub.cli ARGS`` to completion; its stdout (it must succeed)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "hub.cli", *args, env=env, cwd=REPO,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, err.decode()
    return out.decode()


@pytest.fixture
def hub_env(pg_dsn: str, tmp_path: Path) -> dict[str, str]:
    """The environment of a hub process (or the hub CLI) on the test's own database."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ISPFLEET_")}
    env.update(DATABASE_URL=pg_dsn, ISPFLEET_HUB_DATA_DIR=str(tmp_path / "hub"))
    return env


@pytest.fixture
def hub_config(pg_dsn: str, tmp_path: Path) -> HubConfig:
    """An in-process hub that notices a silent agent within seconds and never rate limits."""
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
async def hub_server(hub_config: HubConfig, aiohttp_server: Any) -> TestServer:
    """The hub's app on a real loopback port in this process."""
    return await aiohttp_server(create_app(hub_config), host="127.0.0.1")


def server_url(server: TestServer) -> str:
    return str(server.make_url("")).rstrip("/")


def enrolled_agent_config(config_path: Path, routers: list[SimRouter]) -> AgentConfig:
    """The config ``enroll`` wrote, with the e2e tests' short cycles and these routers."""
    data = tomllib.loads(config_path.read_text())
    data["agent"].update(FAST_AGENT)
    data["hub"].update(FAST_LINK)
    data["routers"] = [
        {
            "name": sim.name,
            "host": sim.host,
            "port": sim.port,
            "username": sim.username,
            "password": sim.password,
            **FAST_ROUTER,
        }
        for sim in routers
    ]
    return parse_agent_config(data, str(config_path))


class RunningAgent:
    """An ``Agent`` (which starts its own ``HubLink``) in this process, as ``ispfleet-agent run``.

    ``stop()`` is what a site losing power looks like to the hub: the link's socket closes.
    """

    def __init__(self, config: AgentConfig) -> None:
        self.config = config
        self.agent: Agent | None = None
        self._stack = contextlib.AsyncExitStack()

    async def start(self) -> None:
        agent = await self._stack.enter_async_context(Agent(self.config))
        self.agent = agent
        await wait_for(lambda: agent.hub_connected)

    async def stop(self) -> None:
        await self._stack.aclose()
        self.agent = None


async def router_rows(sim: SimRouter, menu: str) -> list[dict[str, Any]]:
    """``print`` of a menu through librouteros over TCP, as an operator's tool sees it."""
    api = await async_connect(sim.host, sim.username, sim.password, port=sim.port, timeout=5)
    try:
        return [row async for row in api.path(menu)]
    finally:
        await api.close()
