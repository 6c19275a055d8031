"""Reconnect storm: a hub restart with 1,000 agents linked and 10,000 tenant-wide entitlements.

    .venv/bin/python -m bench.reconnect_storm [--agents 1000] [--entitlements 10000]
                                              [--full-agents 10]

One tenant, ``--entitlements`` customers each with access on every router of the tenant (a
tenant-wide entitlement), ``--agents`` enrolled agents with one router each (through the hub's
services), and the hub as ``python -m hub.cli serve`` on a fresh database (DATABASE_URL's
server, else an embedded Postgres). The load agents run in this process, one WebSocket each,
speaking the real link protocol (common.wire): hello with their entitlement token, welcome,
entitlements.sync applied (the token kept), command results sent back as events.

1. Whole set: ``--full-agents`` agents that hold nothing connect at once and each gets the
   whole set (what every connect cost before issue 20): time to the last sync, hub CPU.
2. All agents connect and hold the current set. Then the hub process is stopped (SIGTERM) and
   started again. The agents see the link drop and reconnect with agent/hublink.py's
   ``reconnect_delay`` (full jitter, ceiling doubling from backoff_min 2 s). Printed: time
   from the new hub answering /healthz until every agent is welcomed (target 5 s), the hub's
   CPU over the storm, how many entitlement commands travelled (0 expected), and when the
   agents arrived, per second.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import statistics
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg

from agent.hublink import reconnect_delay
from bench.agent_cycle import cpu_seconds, free_port
from bench.portal_latency import Child, bench_database, wait_until
from common import wire
from common.timeutil import to_iso, utcnow
from hub.config import HubConfig
from hub.database import open_database
from hub.link.session import sync_token
from hub.services.agents import AgentService, EnrollRequest
from hub.services.tenants import TenantService
from hub.storage.link import CommandRepository

as_dict = wire.as_dict

TENANT = "storm"
BACKOFF = (2.0, 15.0)  # agent/config.py HubSettings defaults


class LoadAgent:
    """One agent's link, as agent/hublink.py speaks it, without routers behind it."""

    def __init__(self, index: int, credential: str, url: str, progress: asyncio.Event) -> None:
        self.index = index
        self.progress = progress  # set at each welcome and sync, for the bench to look again
        self.credential = credential
        self.url = url
        self.router = wire.RouterInfo(name=f"site-{index:04d}", host="127.0.0.1", port=8728)
        self.token: str | None = None
        self.seq = 0
        self.syncs = 0
        self.welcomed = asyncio.Event()
        self.welcomed_at: float | None = None
        self.dials: list[float] = []  # monotonic time of each dial

    async def run(self, http: aiohttp.ClientSession) -> None:
        """Connect, converse, reconnect with the agent's own backoff; until cancelled."""
        failures = 0
        while True:
            self.dials.append(time.monotonic())
            try:
                await self._connection(http)
            except (aiohttp.ClientError, OSError, TimeoutError, ConnectionError):
                pass
            if self.welcomed.is_set():
                failures = 0
            self.welcomed.clear()
            failures += 1
            await asyncio.sleep(reconnect_delay(failures, *BACKOFF))

    async def _connection(self, http: aiohttp.ClientSession) -> None:
        headers = {"Authorization": f"Bearer {self.credential}"}
        async with http.ws_connect(self.url, headers=headers, heartbeat=15.0) as ws:
            hello = wire.Hello(
                agent_version="load",
                last_seq=self.seq,
                routers=[self.router],
                entitlements_digest=self.token,
            )
            await ws.send_frame(wire.encode_frame(hello), aiohttp.WSMsgType.TEXT)
            async for message in ws:
                if message.type != aiohttp.WSMsgType.TEXT:
                    break
                kind = wire.frame_type(message.data)
                if kind == "welcome":
                    self.welcomed_at = time.monotonic()
                    self.welcomed.set()
                    self.progress.set()
                elif kind == "command":
                    await self._command(ws, wire.decode(message.data)["command"])
        raise ConnectionError("link closed")

    async def _command(self, ws: aiohttp.ClientWebSocketResponse, raw: dict[str, Any]) -> None:
        command = wire.parse_command(raw)
        if command.name == wire.ENTITLEMENTS_SYNC:
            self.syncs += 1
            self.token = wire.parse_entitlements_sync(command.args).digest
            self.progress.set()
        self.seq += 1
        result = wire.CommandResult(command.id, command.name, True, {}, None, 1.0)
        event = wire.Event(self.seq, to_iso(utcnow()), wire.COMMAND_RESULT, None, as_dict(result))
        await ws.send_frame(wire.encode_frame(wire.Events(events=[event])), aiohttp.WSMsgType.TEXT)


async def until(progress: asyncio.Event, done: Any) -> None:
    """Wait until ``done()`` holds, looking again whenever an agent made progress."""
    while not done():
        progress.clear()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(0.5):
                await progress.wait()


async def set_up(dsn: str, agents: int, entitlements: int) -> list[str]:
    """Tenant, tenant-wide entitlements and enrolled agents; the agents' credentials."""
    config = HubConfig(database_url=dsn)
    async with open_database(config, max_size=4) as pool:
        tenant = await TenantService(pool, config).create_tenant(TENANT, "Storm ISP", "TZ")
        # Bulk rows (the bench's own SQL): customers and one tenant-wide entitlement each.
        await pool.execute(
            "INSERT INTO customers (tenant_id, username)"
            " SELECT $1, '+2557' || lpad(n::text, 8, '0') FROM generate_series(1, $2) n",
            tenant.id,
            entitlements,
        )
        await pool.execute(
            "INSERT INTO entitlements (tenant_id, customer_id, profile, starts_at, expires_at)"
            " SELECT tenant_id, id, 'paid', now() - interval '1 minute',"
            " now() + interval '1 hour' + id * interval '1 second'"
            " FROM customers WHERE tenant_id = $1",
            tenant.id,
        )
        service = AgentService(pool, config)
        slots = asyncio.Semaphore(8)

        async def enrolled(index: int) -> str:
            async with slots:
                ticket = await service.issue_token(tenant_id=tenant.id, site=f"site-{index:04d}")
                request = EnrollRequest(ticket.token, f"device-{index:04d}-key-0123", "box", "x")
                return (await service.enroll(request)).credential

        return await asyncio.gather(*(enrolled(i) for i in range(agents)))


def hub_env(dsn: str, work: Path, port: int) -> dict[str, str]:
    hub_toml = work / "hub.toml"
    hub_toml.write_text(
        "max_routers_per_tenant = 100000\nrate_limit_per_minute = 1000000\n"
        "rate_limit_burst = 100000\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("ISPFLEET_")}
    env.update(
        DATABASE_URL=dsn,
        ISPFLEET_HUB_CONFIG=str(hub_toml),
        ISPFLEET_HUB_LISTEN=f"127.0.0.1:{port}",
        ISPFLEET_HUB_DATA_DIR=str(work / "hub"),
        PYTHONPATH=str(Path(__file__).resolve().parents[1]),
    )
    return env


async def start_hub(hub: Child, env: dict[str, str], url: str) -> float:
    """Start the hub; the monotonic time it first answered /healthz."""
    await hub.start("-m", "hub.cli", "serve", env=env)
    async with aiohttp.ClientSession() as http:

        async def healthy() -> bool:
            async with http.get(f"{url}/healthz") as response:
                return response.status == 200

        await wait_until(healthy, "the hub answering /healthz", [hub])
    return time.monotonic()


async def all_welcomed(agents: list[LoadAgent], since: float) -> None:
    await until(
        agents[0].progress,
        lambda: all(a.welcomed.is_set() and (a.welcomed_at or 0) >= since for a in agents),
    )


async def run(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-storm-") as tmp:
        work = Path(tmp)
        async with bench_database() as dsn:
            began = time.monotonic()
            credentials = await set_up(dsn, args.agents + args.full_agents, args.entitlements)
            print(
                f"set-up: {args.entitlements} tenant-wide entitlements, "
                f"{len(credentials)} enrolled agents, {time.monotonic() - began:.0f} s"
            )
            port = free_port()
            url = f"http://127.0.0.1:{port}"
            env = hub_env(dsn, work, port)
            hub = Child("hub", work)
            await start_hub(hub, env, url)
            link = url + wire.LINK_PATH
            connector = aiohttp.TCPConnector(limit=0)
            async with aiohttp.ClientSession(connector=connector) as http:
                tasks: list[asyncio.Task] = []
                try:
                    await whole_set(http, hub, link, credentials[args.agents :], tasks)
                    progress = asyncio.Event()
                    agents = [
                        LoadAgent(i, c, link, progress)
                        for i, c in enumerate(credentials[: args.agents])
                    ]
                    await storm(http, hub, env, url, agents, tasks, dsn)
                finally:
                    for task in tasks:
                        task.cancel()
                    await asyncio.gather(*tasks, return_exceptions=True)
                    await hub.stop()


async def whole_set(
    http: aiohttp.ClientSession, hub: Child, link: str, credentials: list[str], tasks: list
) -> None:
    """Agents holding nothing: each is sent the whole set (the cost of every connect before)."""
    if not credentials:
        return
    progress = asyncio.Event()
    agents = [LoadAgent(10_000 + i, c, link, progress) for i, c in enumerate(credentials)]
    assert hub.process is not None
    cpu, started = cpu_seconds(hub.process.pid), time.monotonic()
    own = [asyncio.create_task(a.run(http)) for a in agents]
    tasks.extend(own)
    await until(progress, lambda: all(a.syncs for a in agents))
    elapsed = time.monotonic() - started
    used = cpu_seconds(hub.process.pid) - cpu
    print(
        f"\nwhole set to {len(agents)} agents holding nothing, at once: last sync after"
        f" {elapsed:.2f} s, hub CPU {used:.2f} s ({used / len(agents):.3f} s per agent)"
    )
    print(
        f"  (the old way, the whole set on every connect: the storm below would cost about"
        f" {used / len(agents):.3f} s x the agents of hub CPU, and as many sets sent back)"
    )
    for task in own:
        task.cancel()


async def storm(
    http: aiohttp.ClientSession,
    hub: Child,
    env: dict[str, str],
    url: str,
    agents: list[LoadAgent],
    tasks: list,
    dsn: str,
) -> None:
    async with asyncpg.create_pool(dsn, min_size=1, max_size=2) as db:
        # The load agents hold the current set: their token as the hub gives it (read with the
        # hub's own function, so that nothing needs sending on their first connect either).
        tenant_id = await db.fetchval("SELECT id FROM tenants WHERE slug = $1", TENANT)
        version = await CommandRepository(db).entitlements_version(tenant_id, [])
        for agent in agents:
            agent.token = sync_token(version, [agent.router.name])
    started = time.monotonic()
    tasks.extend(asyncio.create_task(a.run(http)) for a in agents)
    await all_welcomed(agents, started)
    print(
        f"\n{len(agents)} agents linked in {time.monotonic() - started:.1f} s (all at once);"
        f" entitlement commands so far: {sum(a.syncs for a in agents)}"
    )
    await asyncio.sleep(2.0)

    assert hub.process is not None
    stopped = time.monotonic()
    await hub.stop()
    dials_before = [len(a.dials) for a in agents]
    syncs_before = sum(a.syncs for a in agents)
    ready = await start_hub(hub, env, url)
    cpu = cpu_seconds(hub.process.pid)
    await all_welcomed(agents, stopped)
    done = time.monotonic()
    used = cpu_seconds(hub.process.pid) - cpu
    await asyncio.sleep(3.0)  # what the hub does right after (presence, snapshots)
    after = cpu_seconds(hub.process.pid) - cpu

    welcomed = sorted((a.welcomed_at or done) - ready for a in agents)
    print(f"\nhub restart: stopped, started again, /healthz after {ready - stopped:.1f} s")
    print(f"every agent welcomed {done - ready:.2f} s after /healthz (target 5 s)")
    print(
        f"welcome times after /healthz: median {statistics.median(welcomed):.2f} s,"
        f" p99 {welcomed[int(0.99 * (len(welcomed) - 1))]:.2f} s, last {welcomed[-1]:.2f} s"
    )
    print(
        f"hub CPU: {used:.2f} s from /healthz to the last welcome,"
        f" {after:.2f} s including the 3 s after"
    )
    print(f"entitlement commands in the storm: {sum(a.syncs for a in agents) - syncs_before}")
    dials = [len(a.dials) - before for a, before in zip(agents, dials_before, strict=True)]
    print(f"dials per agent: median {statistics.median(dials):.0f}, max {max(dials)}")
    arrivals = Counter(int((a.welcomed_at or done) - stopped) for a in agents)
    print("welcomes per second after the stop (jittered reconnects):")
    for second in sorted(arrivals):
        bar = "#" * (arrivals[second] // 10)
        print(f"  {second:3d}-{second + 1:<3d} s  {arrivals[second]:5d}  {bar}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=1000)
    parser.add_argument("--entitlements", type=int, default=10_000)
    parser.add_argument("--full-agents", type=int, default=10)
    random.seed(1)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
