"""Hub ingest: session events per second into Postgres on one hub process, its CPU per event,
and the ack latency, with N load agents speaking the real link protocol over WebSockets.

    .venv/bin/python -m bench.hub_ingest [--agents 10,50,200] [--sessions 50] [--seconds 8]
                                         [--old-tree DIR] [--profile DIR]

Everything is real: Postgres (DATABASE_URL, else an embedded one; a fresh database per hub, dropped
at the end), the hub as ``python -m hub.cli serve`` in a process of its own, and the load agents
in this process (aiohttp WebSocket clients: hello, one snapshot of their sessions, then events
frames and acks). Each agent holds one router with ``--sessions`` hotspot sessions, and every
session changes each cycle (one ``session.updated`` per session per frame, the worst case).

Per level (number of agents), two phases of ``--seconds`` each:
- **saturation**: every agent sends its next frame as soon as the previous one is acked (the
  hub's capacity): events/s stored, hub CPU µs per event (utime+stime of the hub process from
  /proc), Postgres CPU µs per event (the bench database's backends, from /proc, when readable),
  ack p50/p99.
- **paced**: the agents send, spread evenly, at ``--paced-share`` (0.5) of the saturation rate
  just measured (below saturation): ack p50/p99.

``--old-tree DIR`` runs the same levels against a hub started from another checkout first (the
previous ingest, e.g. ``git archive 45b9504 | tar -x -C DIR``), so both are printed in one run.
``--profile DIR`` runs the hub under cProfile and leaves ``hub-<tree>.prof`` there.

``--portal-load SITES`` measures the portal's reads under ingest instead: SITES load agents
paced at a frame every ``--interval`` (5) s, one more holding a router of ``--big`` (1,000)
sessions, and ``--clients`` (20) concurrent dashboards reading that router's active-users and the
health of its tenant's ``--fleet`` (200) routers in turn for ``--seconds``: p50/p99 of each,
the ingest meanwhile, and the hub's and Postgres's CPU.

``--scale 100,300,1000`` runs that portal-load measurement at each fleet size in turn and prints
the cost growth as one table: events/s, ack p99, hub and Postgres CPU µs per event, hub CPU and
RSS and the portal p99s. (hub CPU per event includes serving the portal clients.)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import msgspec

from bench.agent_cycle import rss_bytes
from bench.portal_latency import Child, free_port, wait_until
from common import wire
from common.timeutil import to_iso, utcnow
from hub.config import HubConfig
from hub.database import open_database, scratch_database, throwaway_server
from hub.services.agents import AgentService
from hub.services.auth import AuthService
from hub.services.tenants import TenantService

ROOT = Path(__file__).resolve().parents[1]
TENANT = "bench"
TICK = os.sysconf("SC_CLK_TCK")
_encode = msgspec.json.Encoder().encode


def proc_times(pid: int) -> tuple[float, float] | None:
    """(utime, stime) of a process in seconds (None: gone or not ours to read)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return int(fields[11]) / TICK, int(fields[12]) / TICK


def proc_cpu(pid: int) -> float | None:
    """utime + stime of a process in seconds (None: gone or not ours to read)."""
    times = proc_times(pid)
    return sum(times) if times is not None else None


def pct(values: list[float], q: int) -> float:
    if len(values) < 2:
        return values[0] if values else float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


@dataclass(slots=True)
class LoadAgent:
    """One site's agent: a WebSocket, one router, its sessions, its seq."""

    index: int
    credential: str
    sessions: int
    seq: int = 0
    cycle: int = 0
    ws: aiohttp.ClientWebSocketResponse | None = None
    inbox: asyncio.Queue[dict[str, Any]] = field(default_factory=asyncio.Queue)
    reader: asyncio.Task[None] | None = None
    acks: list[tuple[float, float, int]] = field(default_factory=list)  # (sent, acked, events)

    def session(self, n: int) -> dict[str, Any]:
        c = self.cycle
        return {
            "session_id": f"*{self.index:04X}{n:04X}",
            "kind": "hotspot",
            "username": f"+2557{self.index:04d}{n:04d}",
            "mac_address": f"02:00:{self.index >> 8 & 255:02X}:{self.index & 255:02X}:"
            f"{n >> 8 & 255:02X}:{n & 255:02X}",
            "ip_address": f"10.{self.index >> 8 & 255}.{self.index & 255}.{n % 250 + 2}",
            "uptime_seconds": 60 + 5 * c,
            "idle_seconds": 0,
            "bytes_in": 1000 + 4096 * c + n,
            "bytes_out": 5000 + 65536 * c + n,
            "login_by": "http-chap",
            "server": "hotspot1",
        }

    async def connect(self, http: aiohttp.ClientSession, url: str) -> None:
        self.ws = await http.ws_connect(
            url, headers={"Authorization": f"Bearer {self.credential}"}, max_msg_size=0
        )
        routers = [{"name": "r1", "host": "127.0.0.1", "port": 8728}]
        await self.ws.send_str(
            wire.encode("hello", agent_version="bench", last_seq=0, routers=routers)
        )
        await self.expect("welcome")
        health = {"status": "online", "since": to_iso(utcnow()), "cpu_load": 5}
        snapshot = {
            "router": "r1",
            "health": health,
            "sessions": [self.session(n) for n in range(self.sessions)],
        }
        await self.ws.send_str(wire.encode("snapshot", as_of_seq=0, routers=[snapshot]))
        self.reader = asyncio.create_task(self.read())

    async def close(self) -> None:
        """Close the socket and wait for the reader to see it end."""
        if self.ws is not None:
            await self.ws.close()
        if self.reader is not None:
            await self.reader

    async def read(self) -> None:
        """Always reading, so the hub's pings are answered while the agent waits."""
        assert self.ws is not None
        async for message in self.ws:
            if message.type == aiohttp.WSMsgType.TEXT:
                self.inbox.put_nowait(wire.decode(message.data))
        self.inbox.put_nowait({"type": "closed", "code": self.ws.close_code})

    async def expect(self, kind: str) -> dict[str, Any]:
        assert self.ws is not None
        while True:
            if self.reader is None:
                message = await self.ws.receive()
                if message.type != aiohttp.WSMsgType.TEXT:
                    raise SystemExit(
                        f"agent {self.index}: link closed ({message.type!r} {message.data!r}"
                        f" {message.extra!r})"
                    )
                frame = wire.decode(message.data)
            else:
                frame = await self.inbox.get()
            if frame["type"] == "closed":
                raise SystemExit(f"agent {self.index}: link closed ({frame['code']})")
            if frame["type"] == kind:
                return frame

    def frame(self) -> tuple[bytes, int]:
        """The next events frame: every session updated once; (frame, events)."""
        self.cycle += 1
        ts = to_iso(utcnow())
        events = []
        for n in range(self.sessions):
            self.seq += 1
            events.append(
                {
                    "seq": self.seq,
                    "ts": ts,
                    "kind": wire.SESSION_UPDATED,
                    "router": "r1",
                    "data": self.session(n),
                }
            )
        return _encode({"type": "events", "v": wire.VERSION, "events": events}), len(events)

    async def round(self) -> None:
        """One frame sent and acked, timed."""
        assert self.ws is not None
        data, count = self.frame()
        sent = time.perf_counter()
        await self.ws.send_str(data.decode())
        ack = await self.expect("ack")
        if ack["seq"] != self.seq:
            raise SystemExit(f"agent {self.index}: acked {ack['seq']}, sent up to {self.seq}")
        self.acks.append((sent, time.perf_counter(), count))

    async def saturate(self, until: float) -> None:
        while time.perf_counter() < until:
            await self.round()

    async def paced(self, until: float, interval: float, offset: float) -> None:
        await asyncio.sleep(offset)
        next_at = time.perf_counter()
        while next_at < until:
            await self.round()
            next_at += interval
            await asyncio.sleep(max(0.0, next_at - time.perf_counter()))


@dataclass(slots=True)
class Phase:
    events_per_s: float
    load_cpu: float  # share of a core the load agents (this process) used
    hub_us: float
    pg_us: float | None
    ack_p50_ms: float
    ack_p99_ms: float


class Hub:
    """A hub process from ``tree`` on a fresh database, and the load agents enrolled to it."""

    def __init__(
        self, tree: Path, dsn: str, work: Path, profile: Path | None, sample: Path | None = None
    ) -> None:
        self.tree, self.dsn, self.work, self.profile = tree, dsn, work, profile
        self.sample = sample
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.child = Child(f"hub-{tree.name}", work)

    async def start(self) -> None:
        toml = self.work / f"hub-{self.tree.name}.toml"
        toml.write_text("rate_limit_per_minute = 1000000\nrate_limit_burst = 100000\n")
        env = {k: v for k, v in os.environ.items() if not k.startswith("ISPFLEET_")}
        env.update(
            DATABASE_URL=self.dsn,
            ISPFLEET_HUB_CONFIG=str(toml),
            ISPFLEET_HUB_LISTEN=f"127.0.0.1:{self.port}",
            ISPFLEET_HUB_DATA_DIR=str(self.work / f"data-{self.tree.name}"),
            PYTHONPATH=str(self.tree),
        )
        args = ["-m", "hub.cli", "serve"]
        if self.profile is not None:
            out = self.profile / f"hub-{self.tree.name}.prof"
            args = ["-m", "cProfile", "-o", str(out), "-m", "hub.cli", "serve"]
        elif self.sample is not None:
            out = self.sample / f"hub-{self.tree.name}.stacks"
            args = [str(ROOT / "bench" / "sampler.py"), str(out), "-m", "hub.cli", "serve"]
        self.child = Child(f"hub-{self.tree.name}", self.work)
        with self.child.log.open("ab") as log:
            self.child.process = await asyncio.create_subprocess_exec(
                sys.executable, *args, cwd=self.tree, env=env, stdin=asyncio.subprocess.DEVNULL,
                stdout=log, stderr=asyncio.subprocess.STDOUT,
            )  # fmt: skip

        async def healthy() -> bool:
            async with aiohttp.ClientSession() as http, http.get(self.url + "/healthz") as r:
                return r.status < 500

        await wait_until(healthy, "the hub answering", [self.child])

    def window(self, signum: int) -> None:
        """Open (SIGUSR1) or close (SIGUSR2) the sampler's window, when sampling."""
        if self.sample is not None:
            os.kill(self.pid, signum)

    @property
    def pid(self) -> int:
        assert self.child.process is not None
        return self.child.process.pid

    async def stop(self) -> None:
        await self.child.stop()


async def enroll_agents(
    pool: Any, hub: Hub, count: int, first: int, tenant: str = TENANT
) -> list[str]:
    """``count`` agents of the tenant enrolled over HTTP; their credentials."""
    service = AgentService(pool, HubConfig(database_url=hub.dsn))
    tenant_id = await pool.fetchval("SELECT id FROM tenants WHERE slug = $1", tenant)
    credentials = []
    async with aiohttp.ClientSession() as http:
        for n in range(first, first + count):
            ticket = await service.issue_token(tenant_id=tenant_id, site=f"site-{n}", ttl_hours=1)
            body = {
                "token": ticket.token,
                "device_key": f"bench-device-key-{n:06d}",
                "hostname": f"box-{n}",
                "agent_version": "bench",
            }
            async with http.post(hub.url + wire.ENROLL_PATH, json=body) as response:
                reply = await response.json()
                if response.status != 200:
                    raise SystemExit(f"enroll answered {response.status}: {reply}")
            credentials.append(reply["credential"])
    return credentials


async def connect_all(http: aiohttp.ClientSession, url: str, agents: list[LoadAgent]) -> None:
    """Hello and snapshot of every agent, eight at a time."""
    slots = asyncio.Semaphore(8)

    async def connect(agent: LoadAgent) -> None:
        async with slots:
            await agent.connect(http, url)

    await asyncio.gather(*(connect(agent) for agent in agents))


async def backend_pids(pool: Any) -> list[int]:
    rows = await pool.fetch(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
        " AND pid <> pg_backend_pid()"
    )
    return [r["pid"] for r in rows]


async def measure(agents: list[LoadAgent], hub: Hub, pool: Any, seconds: float, run: Any) -> Phase:
    for agent in agents:
        agent.acks.clear()
    pids = await backend_pids(pool)
    pg0 = [proc_cpu(p) for p in pids]
    cpu0, t0, own0 = proc_cpu(hub.pid) or 0.0, time.perf_counter(), time.process_time()
    until = t0 + seconds
    await asyncio.gather(*(run(agent, until) for agent in agents))
    cpu1, t1, own1 = proc_cpu(hub.pid) or 0.0, time.perf_counter(), time.process_time()
    pg1 = [proc_cpu(p) for p in pids]
    events = sum(n for a in agents for _, _, n in a.acks)
    latencies = [(acked - sent) * 1000 for a in agents for sent, acked, _ in a.acks]
    pg_us = None
    if pids and all(v is not None for v in pg0 + pg1):
        pg_us = sum(b - a for a, b in zip(pg0, pg1, strict=True)) * 1e6 / max(events, 1)
    return Phase(
        events_per_s=events / (t1 - t0),
        load_cpu=(own1 - own0) / (t1 - t0),
        hub_us=(cpu1 - cpu0) * 1e6 / max(events, 1),
        pg_us=pg_us,
        ack_p50_ms=statistics.median(latencies) if latencies else float("nan"),
        ack_p99_ms=pct(latencies, 99),
    )


async def run_tree(
    tree: Path, server_dsn: str, args: argparse.Namespace, work: Path
) -> dict[int, tuple[Phase, Phase]]:
    results: dict[int, tuple[Phase, Phase]] = {}
    async with scratch_database(server_dsn, prefix="bench_ingest") as dsn:
        config = HubConfig(database_url=dsn)
        hub = Hub(tree, dsn, work, args.profile)
        await hub.start()
        try:
            async with open_database(config, max_size=4) as pool:
                await TenantService(pool, config).create_tenant(TENANT, "Bench ISP", "TZ")
                credentials = await enroll_agents(pool, hub, max(args.agents), 0)
                print(f"  [{tree.name}] {len(credentials)} agents enrolled", flush=True)
                timeout = aiohttp.ClientTimeout(total=None)
                connector = aiohttp.TCPConnector(limit=0)  # one connection per agent, no cap
                async with aiohttp.ClientSession(timeout=timeout, connector=connector) as http:
                    agents: list[LoadAgent] = []
                    for level in args.agents:
                        started = time.perf_counter()
                        new = [
                            LoadAgent(n, credentials[n], args.sessions)
                            for n in range(len(agents), level)
                        ]
                        await connect_all(http, hub.url + wire.LINK_PATH, new)
                        agents.extend(new)
                        took = time.perf_counter() - started
                        print(f"  [{tree.name}] {level} agents up ({took:.1f} s)", flush=True)
                        # Every snapshot stored before the clock starts.
                        await wait_until(
                            lambda level=level: pool.fetchval(
                                "SELECT count(*) >= $1 FROM agents WHERE connected", level
                            ),
                            "agents connected",
                            [hub.child],
                        )
                        await measure(agents, hub, pool, 1.0, lambda a, u: a.saturate(u))  # warm
                        sat = await measure(
                            agents, hub, pool, args.seconds, lambda a, u: a.saturate(u)
                        )
                        # Paced below saturation: each agent one frame per interval.
                        rate = sat.events_per_s * args.paced_share / (level * args.sessions)
                        interval = 1.0 / rate if rate > 0 else 1.0
                        paced = await measure(
                            agents,
                            hub,
                            pool,
                            args.seconds,
                            lambda a, u, i=interval, n=level: a.paced(u, i, i * a.index / n),
                        )
                        results[level] = (sat, paced)
                        print(
                            f"  [{tree.name}] {level:4d} agents: {sat.events_per_s:8.0f} ev/s,"
                            f" hub {sat.hub_us:5.1f} µs/ev, pg {fmt(sat.pg_us)} µs/ev,"
                            f" ack p50/p99 {sat.ack_p50_ms:.0f}/{sat.ack_p99_ms:.0f} ms;"
                            f" paced {paced.events_per_s:7.0f} ev/s: ack p50/p99"
                            f" {paced.ack_p50_ms:.0f}/{paced.ack_p99_ms:.0f} ms"
                            f" (load agents {sat.load_cpu:.0%} of a core)",
                            flush=True,
                        )
                    for agent in agents:
                        await agent.close()
        finally:
            await hub.stop()
    return results


def fmt(value: float | None) -> str:
    return "  n/a" if value is None else f"{value:5.1f}"


def table(name: str, results: dict[int, tuple[Phase, Phase]]) -> None:
    print(f"\n{name}")
    print(
        "  agents   events/s  hub µs/ev  pg µs/ev  sat ack p50/p99 ms  paced ev/s"
        "  paced ack p50/p99 ms"
    )
    for level, (sat, paced) in results.items():
        print(
            f"  {level:6d} {sat.events_per_s:10.0f} {sat.hub_us:10.1f} {fmt(sat.pg_us):>9}"
            f" {sat.ack_p50_ms:9.0f} / {sat.ack_p99_ms:<6.0f} {paced.events_per_s:11.0f}"
            f" {paced.ack_p50_ms:11.0f} / {paced.ack_p99_ms:.0f}"
        )


# --- portal reads under load (--portal-load) -------------------------------------------------

PORTAL_TENANT = "bench-portal"  # the big router and the health fleet; the other sites elsewhere


@dataclass(slots=True)
class Reads:
    samples: dict[str, list[float]] = field(default_factory=lambda: {"active": [], "health": []})
    errors: dict[str, int] = field(default_factory=dict)  # "<read> <status>": count
    bodies: dict[str, str] = field(default_factory=dict)  # "<read> <status>": first body
    lapses: list[str] = field(default_factory=list)  # presence as Postgres saw it, when odd


async def portal_client(
    http: aiohttp.ClientSession, urls: dict[str, str], until: float, reads: Reads, first: int
) -> None:
    """One dashboard: active-users and health in turn, each answered in full (no ETag)."""
    names = ["active", "health"]
    turn = first
    while time.perf_counter() < until:
        name = names[turn % 2]
        turn += 1
        started = time.perf_counter()
        async with http.get(urls[name]) as response:
            body = await response.read()
            if response.status != 200:
                what = f"{name} {response.status}"
                reads.errors[what] = reads.errors.get(what, 0) + 1
                reads.bodies.setdefault(what, body[:300].decode(errors="replace"))
                continue
        reads.samples[name].append((time.perf_counter() - started) * 1000)


_PRESENCE = """
SELECT a.connected, extract(epoch FROM now() - a.last_seen_at)::float8 AS silence,
       extract(epoch FROM i.expires_at - now())::float8 AS lease_left,
       extract(epoch FROM now() - i.heartbeat_at)::float8 AS since_renewal, h.status
  FROM agents a JOIN tenants t ON t.id = a.tenant_id
  LEFT JOIN hub_instances i ON i.name = a.hub_instance
  LEFT JOIN routers r ON r.agent_id = a.id LEFT JOIN router_health h ON h.router_id = r.id
 WHERE t.slug = $1 AND a.site = 'site-0'
"""


async def watch_presence(pool: Any, until: float, reads: Reads) -> float:
    """The big router's presence as Postgres sees it, every 0.25 s: what would make it read
    offline (agent disconnected, lease run out, router down) is noted with the time; returns
    the longest time seen since the hub last renewed its lease."""
    longest, t0 = 0.0, time.perf_counter()
    while time.perf_counter() < until:
        row = await pool.fetchrow(_PRESENCE, PORTAL_TENANT)
        since = row["since_renewal"] or 0.0
        longest = max(longest, since)
        lease = row["lease_left"]
        if not row["connected"] or lease is None or lease <= 0 or row["status"] != "online":
            reads.lapses.append(
                f"t={time.perf_counter() - t0:.1f}s connected={row['connected']}"
                f" silence={row['silence']:.1f}s lease_left={lease} renewed {since:.1f}s ago"
                f" status={row['status']}"
            )
        await asyncio.sleep(0.25)
    return longest


@dataclass(slots=True)
class LoadRun:
    """One --portal-load run's figures (ms; CPU as a share of a core)."""

    active_p50: float
    active_p99: float
    health_p50: float
    health_p99: float
    hub_cpu: float
    errors: int
    events_per_s: float = 0.0
    ack_p99: float = 0.0
    hub_us: float = 0.0  # hub CPU per stored event
    pg_us: float = float("nan")  # Postgres CPU per stored event
    hub_rss_mb: float = 0.0


async def portal_load(args: argparse.Namespace) -> None:
    """``--portal-load`` sites reporting (a frame every ``--interval`` s, every session updated)
    plus one router of ``--big`` sessions, while ``--clients`` concurrent dashboards read
    active-users of the big router and health of its tenant's ``--fleet`` routers; with
    ``--old-tree`` the old hub first, each ``--repeat`` times in turn, medians at the end."""
    sites, fleet = args.portal_load, args.fleet
    print(
        f"portal under load: {sites} sites x {args.sessions} sessions, a frame every"
        f" {args.interval:g} s each; one router of {args.big} sessions; {args.clients} clients"
        f" reading active-users and health ({fleet} routers) for {args.seconds:g} s;"
        f" cores: {os.cpu_count()}",
        flush=True,
    )
    trees = ([args.old_tree.resolve()] if args.old_tree else []) + [ROOT]
    runs: dict[Path, list[LoadRun]] = {tree: [] for tree in trees}
    with tempfile.TemporaryDirectory(prefix="bench-portal-load-") as tmp, throwaway_server() as srv:
        for _ in range(args.repeat):
            for tree in trees:
                print(f"\n[{'old' if tree != ROOT else 'new'}] hub of {tree}", flush=True)
                runs[tree].append(await portal_load_tree(tree, args, srv, Path(tmp)))
    if len(trees) * args.repeat < 2:
        return
    print(f"\nmedians over {args.repeat} run(s) each (ms; hub CPU share of a core):")
    print(
        f"  {'hub':<5}{'active p50':>11}{'p99':>8}{'health p50':>12}{'p99':>8}{'CPU':>7}"
        f"{'non-200':>9}"
    )
    medians = {}
    for tree in trees:
        rs = runs[tree]
        m = LoadRun(*(statistics.median(getattr(r, f) for r in rs) for f in LoadRun.__slots__))
        medians[tree] = m
        print(
            f"  {'old' if tree != ROOT else 'new':<5}{m.active_p50:>11.1f}{m.active_p99:>8.1f}"
            f"{m.health_p50:>12.1f}{m.health_p99:>8.1f}{m.hub_cpu:>7.0%}{m.errors:>9.0f}"
        )
    if args.old_tree:
        old, new = medians[trees[0]], medians[ROOT]
        print(
            f"  ratio old/new: active p50 x{old.active_p50 / new.active_p50:.1f},"
            f" p99 x{old.active_p99 / new.active_p99:.1f}; health p50"
            f" x{old.health_p50 / new.health_p50:.1f}, p99 x{old.health_p99 / new.health_p99:.1f}"
        )


async def portal_load_tree(tree: Path, args: argparse.Namespace, srv: str, work: Path) -> LoadRun:
    """One run of the portal-load measurement against a hub started from ``tree``."""
    sites, fleet = args.portal_load, args.fleet
    async with scratch_database(srv, prefix="bench_portal_load") as dsn:
        config = HubConfig(database_url=dsn)
        hub = Hub(tree, dsn, work, args.profile, args.sample)
        await hub.start()
        log_start = hub.child.log.stat().st_size
        try:
            async with open_database(config, max_size=4) as pool:
                tenants = TenantService(pool, config)
                await tenants.create_tenant(TENANT, "Bench ISP", "TZ")
                await tenants.create_tenant(PORTAL_TENANT, "Bench portal ISP", "TZ")
                _, key = await AuthService(pool, config).issue_api_key(PORTAL_TENANT, "bench")
                started = time.perf_counter()
                # The big router's site and fleet - 1 reporting sites in the portal tenant.
                portal = await enroll_agents(pool, hub, fleet, 0, PORTAL_TENANT)
                others = await enroll_agents(pool, hub, sites - (fleet - 1), fleet)
                took = time.perf_counter() - started
                print(f"  {sites + 1} agents enrolled ({took:.0f} s)", flush=True)
                big = LoadAgent(0, portal[0], args.big)
                agents = [big] + [
                    LoadAgent(n, credential, args.sessions)
                    for n, credential in enumerate(portal[1:] + others, start=1)
                ]
                timeout = aiohttp.ClientTimeout(total=None)
                connector = aiohttp.TCPConnector(limit=0)
                async with aiohttp.ClientSession(timeout=timeout, connector=connector) as ws:
                    started = time.perf_counter()
                    await connect_all(ws, hub.url + wire.LINK_PATH, agents)
                    await wait_until(
                        lambda: pool.fetchval(
                            "SELECT count(*) >= $1 FROM agents WHERE connected", len(agents)
                        ),
                        "agents connected",
                        [hub.child],
                    )
                    took = time.perf_counter() - started
                    print(f"  {len(agents)} agents up ({took:.0f} s)", flush=True)
                    router_id = await pool.fetchval(
                        "SELECT r.id FROM routers r JOIN agents a ON a.id = r.agent_id"
                        " WHERE a.site = 'site-0'"
                    )
                    base = f"{hub.url}/api/portal/router"
                    urls = {
                        "active": f"{base}/{router_id}/active-users/",
                        "health": f"{base}/health/",
                    }
                    headers = {"Authorization": f"Bearer {key}"}
                    async with aiohttp.ClientSession(headers=headers) as http:

                        async def answering(url: str) -> bool:
                            async with http.get(url) as response:
                                return response.status == 200

                        for url in urls.values():  # (an old hub's lapsed lease: a while)
                            await wait_until(lambda u=url: answering(u), url, [hub.child])
                        reads = Reads()
                        interval = args.interval
                        count = len(agents)
                        # Reporting starts first and runs a little past the readers.
                        until = time.perf_counter() + args.seconds + interval + 1
                        reporting = [
                            asyncio.create_task(
                                a.paced(until, interval, interval * a.index / count)
                            )
                            for a in agents
                        ]
                        await asyncio.sleep(interval)  # every site has sent once
                        pids = await backend_pids(pool)
                        pg0 = [proc_cpu(p) for p in pids]
                        hub.window(signal.SIGUSR1)
                        cpu0, t0 = proc_cpu(hub.pid) or 0.0, time.perf_counter()
                        sys0 = (proc_times(hub.pid) or (0.0, 0.0))[1]
                        end = t0 + args.seconds
                        for agent in agents:
                            agent.acks.clear()
                        *_, longest_renewal = await asyncio.gather(
                            *(
                                portal_client(http, urls, end, reads, n)
                                for n in range(args.clients)
                            ),
                            watch_presence(pool, end, reads),
                        )
                        cpu1, t1 = proc_cpu(hub.pid) or 0.0, time.perf_counter()
                        sys1 = (proc_times(hub.pid) or (0.0, 0.0))[1]
                        hub.window(signal.SIGUSR2)
                        pg1 = [proc_cpu(p) for p in pids]
                        rss = rss_bytes(hub.pid)
                        events = sum(n for a in agents for _, _, n in a.acks)
                        acks = [(b - a) * 1000 for g in agents for a, b, _ in g.acks]
                        await asyncio.gather(*reporting)
                    for agent in agents:
                        await agent.close()
        finally:
            await hub.stop()
            warnings = [
                line
                for line in hub.child.log.read_bytes()[log_start:]
                .decode(errors="replace")
                .splitlines()
                if " WARNING " in line or " ERROR " in line
            ]
    wall = t1 - t0
    pg, pg_cpu = "n/a", float("nan")
    if pids and all(v is not None for v in pg0 + pg1):
        pg_cpu = sum(b - a for a, b in zip(pg0, pg1, strict=True))
        pg = f"{pg_cpu / wall:.0%}"
    print(f"\n  {'read':<28}{'N':>7}{'p50 ms':>9}{'p99 ms':>9}")
    for name, label in (("active", f"active-users ({args.big} sessions)"), ("health", "health")):
        values = reads.samples[name]
        if name == "health":
            label = f"health ({fleet} routers)"
        print(f"  {label:<28}{len(values):>7}{pct(values, 50):>9.1f}{pct(values, 99):>9.1f}")
    print(
        f"  ingest meanwhile: {events / wall:.0f} events/s, ack p50/p99"
        f" {pct(acks, 50):.0f}/{pct(acks, 99):.0f} ms; non-200 answers {reads.errors or 'none'}"
    )
    print(
        f"  hub process CPU {(cpu1 - cpu0) / wall:.0%} of a core"
        f" (system {(sys1 - sys0) / wall:.0%}), Postgres {pg}"
    )
    print(f"  hub lease: longest time since a renewal {longest_renewal:.1f} s")
    for what, body in reads.bodies.items():
        print(f"  first {what} body: {body}")
    if warnings:
        print(f"  hub log: {len(warnings)} warnings/errors, first: {warnings[:3]}")
    if reads.lapses:
        print(f"  big router unreachable as Postgres saw it ({len(reads.lapses)} samples):")
        for line in (
            reads.lapses[:3] + (["..."] if len(reads.lapses) > 6 else []) + reads.lapses[-3:]
        ):
            print(f"    {line}")
    print(f"  hub RSS {rss / 2**20:.0f} MB")
    return LoadRun(
        pct(reads.samples["active"], 50),
        pct(reads.samples["active"], 99),
        pct(reads.samples["health"], 50),
        pct(reads.samples["health"], 99),
        (cpu1 - cpu0) / wall,
        sum(reads.errors.values()),
        events_per_s=events / wall,
        ack_p99=pct(acks, 99),
        hub_us=(cpu1 - cpu0) / max(events, 1) * 1e6,
        pg_us=pg_cpu / max(events, 1) * 1e6,
        hub_rss_mb=rss / 2**20,
    )


async def scale(args: argparse.Namespace) -> None:
    """``--scale 100,300,1000``: the portal-load run at each fleet size, as one table."""
    levels = sorted(int(n) for n in args.scale.split(","))
    results: dict[int, LoadRun] = {}
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp, throwaway_server() as srv:
        for sites in levels:
            args.portal_load = sites
            args.fleet = min(args.fleet, sites)
            print(f"\n== {sites} sites", flush=True)
            results[sites] = await portal_load_tree(ROOT, args, srv, Path(tmp))
    print(
        f"\ncost growth: {args.sessions} sessions per site, a frame every {args.interval:g} s,"
        f" {args.clients} portal clients (ms; CPU as a share of one core; one run each)"
    )
    print(
        f"  {'sites':>6}{'events/s':>10}{'ack p99':>9}{'hub µs/ev':>11}{'pg µs/ev':>10}"
        f"{'hub CPU':>9}{'RSS MB':>8}{'active p99':>12}{'health p99':>12}"
    )
    for sites, r in results.items():
        print(
            f"  {sites:>6}{r.events_per_s:>10.0f}{r.ack_p99:>9.0f}{r.hub_us:>11.1f}"
            f"{r.pg_us:>10.1f}{r.hub_cpu:>9.0%}{r.hub_rss_mb:>8.0f}{r.active_p99:>12.1f}"
            f"{r.health_p99:>12.1f}"
        )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--agents", default="10,50,200")
    parser.add_argument("--sessions", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--paced-share", type=float, default=0.5)
    parser.add_argument("--old-tree", type=Path, default=None)
    parser.add_argument("--profile", type=Path, default=None, help="cProfile the hub into DIR")
    parser.add_argument(
        "--sample", type=Path, default=None,
        help="--portal-load: sample the hub's CPU (bench/sampler.py) into DIR",
    )  # fmt: skip
    parser.add_argument(
        "--portal-load", type=int, default=0, metavar="SITES",
        help="instead: portal reads under load from this many reporting sites",
    )  # fmt: skip
    parser.add_argument("--interval", type=float, default=5.0, help="--portal-load: s/frame")
    parser.add_argument("--big", type=int, default=1000, help="--portal-load: big router")
    parser.add_argument("--fleet", type=int, default=200, help="--portal-load: health routers")
    parser.add_argument("--clients", type=int, default=20, help="--portal-load: readers")
    parser.add_argument("--repeat", type=int, default=1, help="--portal-load: runs per tree")
    parser.add_argument(
        "--scale", default="", metavar="SITES,...",
        help="instead: the portal-load run at each fleet size (e.g. 100,300,1000), one table",
    )  # fmt: skip
    args = parser.parse_args()
    if args.scale:
        await scale(args)
        return
    if args.portal_load:
        await portal_load(args)
        return
    args.agents = sorted(int(n) for n in args.agents.split(","))
    trees = ([args.old_tree.resolve()] if args.old_tree else []) + [ROOT]
    print(
        f"hub ingest: {args.agents} agents x {args.sessions} sessions, every session updated"
        f" each frame; {args.seconds:g} s per phase; cores: {os.cpu_count()}"
    )
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp, throwaway_server() as server:
        work = Path(tmp)
        results = {}
        for tree in trees:
            results[tree] = await run_tree(tree, server, args, work)
        for tree in trees:
            label = "old (per-event statements)" if tree != ROOT else "new (one statement/frame)"
            table(f"{label}: {tree}", results[tree])
        if args.old_tree:
            print("\nratio new/old events/s at saturation:")
            for level in args.agents:
                old, new = results[trees[0]][level][0], results[ROOT][level][0]
                print(
                    f"  {level:4d} agents: x{new.events_per_s / old.events_per_s:.1f},"
                    f" hub CPU/event x{new.hub_us / old.hub_us:.2f}"
                )


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())
