"""A silent agent (a real ``ispfleet-agent run`` process, SIGSTOPped: TCP open, nothing said) is
known gone from the link heartbeat: its in-flight command fails with AgentUnavailable at once,
recorded as lost with the agent, and the next command is refused at once too."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import asyncpg
import pytest
from aiohttp.test_utils import TestServer

from common import wire
from hub.errors import AgentUnavailable, CommandTimedOut
from hub.link import DISPATCHER
from hub.typedefs import DB_POOL
from routersim import SimRouter

from .conftest import ServerFactory, base_url, enrolled_agent, wait_for

ROOT = Path(__file__).parents[3]


@pytest.fixture
async def sim() -> AsyncIterator[SimRouter]:
    router = SimRouter(name="r1")
    await router.start()
    yield router
    await router.stop()


def agent_toml(path: Path, hub: TestServer, credential: str, sim: SimRouter) -> Path:
    path.write_text(
        "[agent]\n"
        'site = "site-a"\n'
        f'state_dir = "{path.parent / "state"}"\n'
        'metrics_listen = "127.0.0.1:0"\n'
        "startup_jitter = 0.0\n"
        "[hub]\n"
        f'url = "{base_url(hub)}"\n'
        f'credential = "{credential}"\n'
        "heartbeat = 600.0\n"  # the agent never gives up on the hub itself in this test
        "backoff_min = 0.05\n"
        "backoff_max = 0.2\n"
        "[[routers]]\n"
        f'name = "{sim.name}"\n'
        f'host = "{sim.host}"\n'
        f"port = {sim.port}\n"
        f'username = "{sim.username}"\n'
        f'password = "{sim.password}"\n'
    )
    return path


async def test_silent_agent_fails_its_command_at_once_as_agent_gone(
    http: aiohttp.ClientSession,
    start_hub: ServerFactory,
    sim: SimRouter,
    tmp_path: Path,
):
    # The command timeout is far above this test's own timeout: only the heartbeat can end it.
    hub = await start_hub(command_timeout=3600.0, link_heartbeat=0.5)
    pool: asyncpg.Pool = hub.app[DB_POOL]
    tenant_id = await pool.fetchval(
        "INSERT INTO tenants (slug, name) VALUES ('acme', 'Acme') RETURNING id"
    )
    agent_id, credential = await enrolled_agent(http, hub, tenant_id)
    config = agent_toml(tmp_path / "agent.toml", hub, credential, sim)
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "agent", "run", "--config", str(config), cwd=ROOT,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    try:
        router_id = await wait_for(
            lambda: pool.fetchval(
                "SELECT r.id FROM routers r JOIN agents a ON a.id = r.agent_id"
                " WHERE a.connected AND r.agent_id = $1",
                agent_id,
            ),
            timeout=30,
        )
        process.send_signal(signal.SIGSTOP)

        def disconnect():
            return hub.app[DISPATCHER].execute(
                tenant_id=tenant_id,
                agent_id=agent_id,
                router_id=router_id,
                router_name=sim.name,
                name=wire.DISCONNECT,
                args={"username": "+255700000001", "mac_address": None},
                requested_by="api_key:test",
                timeout=3600.0,
            )

        with pytest.raises(AgentUnavailable) as failure:
            await disconnect()
        assert not isinstance(failure.value, CommandTimedOut)
        assert "agent gone" in failure.value.message
        row = await pool.fetchrow("SELECT status, error FROM commands")
        assert row["status"] == "lost" and "heartbeat" in row["error"]
        assert not await pool.fetchval("SELECT connected FROM agents WHERE id = $1", agent_id)

        # Known gone now: refused before any command is queued.
        with pytest.raises(AgentUnavailable):
            await disconnect()
        assert await pool.fetchval("SELECT count(*) FROM commands") == 1
    finally:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGCONT)
            process.kill()
        await process.wait()
