"""Presence is what a live hub process holds: a crashed hub's agents read offline once its lease
runs out (not after agent_offline_after), and a hub restarting under its name clears its old
presence at once."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from pathlib import Path

import aiohttp
import asyncpg
import pytest

from common import wire
from hub.errors import AgentUnavailable
from hub.link import DISPATCHER
from hub.link.keys import INSTANCE
from hub.storage.routers import RouterRepository
from hub.typedefs import DB_POOL
from tests.helpers import free_port

from .conftest import FakeAgent, ServerFactory, enrolled_agent, wait_for

ROOT = Path(__file__).parents[3]
FOREVER = 3600.0  # agent_offline_after: only the lease can make these agents offline


async def online(pool: asyncpg.Pool | asyncpg.Connection) -> list[bool]:
    return [r.agent_online for r in await RouterRepository(pool, offline_after=FOREVER).find()]


async def test_agents_of_a_killed_hub_read_offline_once_its_lease_runs_out(
    http: aiohttp.ClientSession,
    start_hub: ServerFactory,
    pg_dsn: str,
    tenant_id: int,
    tmp_path: Path,
):
    survivor = await start_hub(agent_offline_after=FOREVER)
    pool = survivor.app[DB_POOL]
    agent_id, credential = await enrolled_agent(http, survivor, tenant_id)
    config = tmp_path / "hub.toml"
    config.write_text(
        "agent_heartbeat = 0.2\ninstance_heartbeat = 0.2\ninstance_lease = 1.0\n"
        f"agent_offline_after = {FOREVER}\nmetrics_refresh_interval = 60.0\n"
    )
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ISPFLEET_")}
    env.update(
        DATABASE_URL=pg_dsn,
        ISPFLEET_HUB_CONFIG=str(config),
        ISPFLEET_HUB_LISTEN=f"127.0.0.1:{port}",
        ISPFLEET_HUB_INSTANCE="doomed",
        ISPFLEET_HUB_DATA_DIR=str(tmp_path / "hub"),
    )
    doomed = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "hub.cli", "serve", env=env, cwd=ROOT,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}"

        async def healthy() -> bool:
            with contextlib.suppress(aiohttp.ClientError):
                async with http.get(url + "/healthz") as response:
                    return response.status == 200
            return False

        await wait_for(healthy, timeout=30)
        fake = FakeAgent(http, survivor, credential)
        fake.url = url + wire.LINK_PATH  # linked to the doomed process
        await fake.connect()
        assert await online(pool) == [True]

        doomed.send_signal(signal.SIGKILL)  # no shutdown: nothing released
        await doomed.wait()
        await wait_for(lambda: _offline(pool), timeout=15)
        assert await pool.fetchval("SELECT connected FROM agents WHERE id = $1", agent_id)
        router_id = await pool.fetchval("SELECT id FROM routers WHERE agent_id = $1", agent_id)
        with pytest.raises(AgentUnavailable):
            await survivor.app[DISPATCHER].execute(
                tenant_id=tenant_id,
                agent_id=agent_id,
                router_id=router_id,
                router_name="r1",
                name="ping",
                args={"address": "127.0.0.1"},
                requested_by="test",
                timeout=FOREVER,
            )
        await fake.close()
    finally:
        with contextlib.suppress(ProcessLookupError):
            doomed.kill()
        await doomed.wait()


async def _offline(pool: asyncpg.Pool) -> bool:
    return await online(pool) == [False]


async def test_a_hub_restarting_under_its_name_clears_what_it_held(
    http: aiohttp.ClientSession, start_hub: ServerFactory, tenant_id: int
):
    hub = await start_hub(agent_offline_after=FOREVER)
    pool = hub.app[DB_POOL]
    await enrolled_agent(http, hub, tenant_id)
    # As a crashed hub-z left it: its agent marked connected, its lease still running.
    await pool.execute(
        "INSERT INTO routers (tenant_id, agent_id, name, host) SELECT tenant_id, id, 'r1', 'h'"
        " FROM agents"
    )
    await pool.execute(
        "UPDATE agents SET connected = true, hub_instance = 'hub-z', last_seen_at = now()"
    )
    await pool.execute(
        "INSERT INTO hub_instances (name, expires_at) VALUES ('hub-z', now() + interval '1 hour')"
    )
    assert await online(pool) == [True]
    await start_hub(instance_name="hub-z", agent_offline_after=FOREVER)
    assert await online(pool) == [False]
    assert not await pool.fetchval("SELECT connected FROM agents")


async def test_the_lease_is_renewed_while_the_presence_sweeps_are_stuck(
    http: aiohttp.ClientSession, start_hub: ServerFactory, tenant_id: int
):
    """Issue 14: with 1,000 agents the credential sweep (then a query per agent) held the one
    presence loop for 18 s; the lease it also renewed lapsed and the portal answered 503 for a
    live router. Here the sweeps are stuck for good (the commands table locked): the lease must
    still be renewed and the agent read online past the end of the lease it had then."""
    lease = 2.0
    hub = await start_hub(
        agent_heartbeat=0.05,
        instance_heartbeat=0.1,
        instance_lease=lease,
        agent_offline_after=FOREVER,
        link_heartbeat=FOREVER,  # the fake agent answers pings only while it reads
    )
    pool = hub.app[DB_POOL]
    _, credential = await enrolled_agent(http, hub, tenant_id)
    fake = FakeAgent(http, hub, credential)
    await fake.connect()
    assert await online(pool) == [True]
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("LOCK TABLE commands IN ACCESS EXCLUSIVE MODE")
        await wait_for(lambda: _sweep_waits_on_lock(pool))
        stuck_at = await pool.fetchval("SELECT now()")
        await wait_for(
            lambda: pool.fetchval(
                "SELECT heartbeat_at > $1::timestamptz + make_interval(secs => $2::float8)"
                " FROM hub_instances"
                " WHERE name = $3",
                stuck_at,
                lease + 0.5,
                hub.app[INSTANCE],
            ),
            timeout=15,
        )
        assert await online(pool) == [True]
        assert await _sweep_waits_on_lock(pool)  # still stuck: the lease ran on its own
    await fake.close()


async def _sweep_waits_on_lock(pool: asyncpg.Pool) -> bool:
    return await pool.fetchval(
        "SELECT count(*) > 0 FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
        " AND query LIKE '%UPDATE commands%'"
    )


async def test_the_lease_is_renewed_while_every_pool_connection_is_busy(
    http: aiohttp.ClientSession, start_hub: ServerFactory, tenant_id: int, pg_dsn: str
):
    """A hub whose pool is all taken (a load of slow reads or frames) is still alive: its lease
    runs on a connection of its own, so its agents keep reading online."""
    lease = 2.0
    hub = await start_hub(
        instance_heartbeat=0.1,
        instance_lease=lease,
        agent_offline_after=FOREVER,
        link_heartbeat=FOREVER,
    )
    pool = hub.app[DB_POOL]
    _, credential = await enrolled_agent(http, hub, tenant_id)
    fake = FakeAgent(http, hub, credential)
    await fake.connect()
    taken: list[asyncpg.pool.PoolConnectionProxy] = []

    async def take_every_connection() -> None:
        while True:
            taken.append(await pool.acquire())

    hog = asyncio.create_task(take_every_connection())
    observer = await asyncpg.connect(pg_dsn)
    try:
        # Every connection but the listener's and the lease's, and the pool's queue waits.
        await wait_for(lambda: len(taken) >= pool.get_max_size() - 2)
        stuck_at = await observer.fetchval("SELECT now()")
        await wait_for(
            lambda: observer.fetchval(
                "SELECT heartbeat_at > $1::timestamptz + make_interval(secs => $2::float8)"
                " FROM hub_instances WHERE name = $3",
                stuck_at,
                lease + 0.5,
                hub.app[INSTANCE],
            ),
            timeout=15,
        )
        assert await online(observer) == [True]
    finally:
        hog.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await hog
        for conn in taken:
            await pool.release(conn)
        await observer.close()
    await fake.close()
