"""Agent footprint: RSS and CPU of the real agent, hub-less and linked to a real hub.

    .venv/bin/python -m bench.agent_cycle [--sessions 2000 5000] [--seconds 60] [--interval 5]
                                          [--hotspot-users N] [--old-tree DIR]

A routersim runs in a subprocess with N logged-in hotspot sessions whose counters move every
second (70 % of them each second, so nearly every session changes between two agent cycles:
the worst case). The agent runs as the real program (``python -m agent run``) polling every
``--interval`` seconds, either with no hub configured ("hub-less") or enrolled with a real hub
(``python -m hub.cli serve`` on a fresh database: DATABASE_URL's server, else an embedded
Postgres), so its hub link sends every event it records ("linked"). After a warm-up, the
agent's VmRSS and utime+stime are read from /proc every cycle for ``--seconds``; medians are
printed, with the hub's CPU over the same window when linked. ``--old-tree DIR`` runs the
same measurements with the agent program of another checkout (e.g. ``git archive`` of the
commit before a change) in the same run, for before/after figures. Each session's user is
a configured hotspot user; ``--hotspot-users N`` configures N in all (at least one per
session), the others with a comment and a limit-uptime as voucher users have: the agent
mirrors them all (listen + the print every reconcile_interval). Targets (linked, 5 s
cycle): 5,000 sessions under 60 MB RSS and 5 % of one core; 2,000 under 2.5 %.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from agent.enroll import enroll
from bench.portal_latency import Child as _Child
from bench.portal_latency import bench_database, hub_env, wait_until
from hub.config import HubConfig
from hub.database import open_database
from hub.services.agents import AgentService
from hub.services.tenants import TenantService

ROOT = Path(__file__).resolve().parents[1]
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
CYCLE_COLLECTORS = ("hotspot_sessions", "interfaces", "ppp_sessions")

SIM_SCRIPT = """
import asyncio, random, sys
from routersim import SimRouter

async def main(count, users):
    sim = SimRouter(name="bench", seed=1)
    await sim.start(host="127.0.0.1", port=0)
    for n in range(count, users):
        sim.add_hotspot_user(f"V{n:07d}", password="pw", comment=f"batch 7 #{n}",
                             **{"limit-uptime": "1h"})
    sessions = []
    for n in range(count):
        user = f"+2557{n:08d}"
        sim.add_hotspot_user(user, password="pw")
        mac = f"02:00:00:{n >> 16 & 255:02X}:{n >> 8 & 255:02X}:{n & 255:02X}"
        address = f"10.{5 + n // 62500}.{60 + n // 250 % 250}.{2 + n % 250}"
        sessions.append(sim.hotspot_login(user, mac_address=mac, ip_address=address))
    print(sim.host, sim.port, flush=True)
    rng = random.Random(1)
    while True:
        await asyncio.sleep(1.0)
        for sid in sessions:
            if rng.random() < 0.7:
                sim.add_traffic(sid, rng.randrange(100, 5_000), rng.randrange(1_000, 50_000))
        sim.step(1.0)

asyncio.run(main(int(sys.argv[1]), int(sys.argv[2])))
"""


class Child(_Child):
    """portal_latency's subprocess, started in a tree of our choice (``--old-tree``)."""

    async def start(self, *args: str, env: dict[str, str], cwd: Path = ROOT) -> None:
        with self.log.open("ab") as log:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable, *args, cwd=cwd, env=env, stdin=asyncio.subprocess.DEVNULL,
                stdout=log, stderr=asyncio.subprocess.STDOUT,
            )  # fmt: skip


@dataclass(slots=True)
class Figures:
    rss: float
    cpu: float
    cpu_window: float
    cycle_ms: float
    outbox: float
    hub_cpu: float | None


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    utime, stime = int(fields[11]), int(fields[12])  # fields 14 and 15 of proc(5)
    return (utime + stime) / CLOCK_TICKS


async def cycle_seconds(http: aiohttp.ClientSession, url: str) -> tuple[float, float]:
    """(sum of the session collectors' last durations, outbox rows) from /metrics."""
    async with http.get(url) as response:
        text = await response.text()
    total, rows = 0.0, 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "ispfleet_router_collector_duration_seconds":
                if sample.labels["collector"] in CYCLE_COLLECTORS:
                    total += sample.value
            elif sample.name == "ispfleet_agent_outbox_events":
                rows = sample.value
    return total, rows


def write_config(path: Path, host: str, port: int, metrics_port: int, interval: float) -> None:
    path.write_text(
        f"""
[agent]
site = "bench"
state_dir = "{path.parent / "state"}"
metrics_listen = "127.0.0.1:{metrics_port}"
counters_interval = {interval}
reconcile_interval = 30.0
health_interval = 15.0
startup_jitter = 0.0
log_level = "WARNING"

[[routers]]
name = "bench"
host = "{host}"
port = {port}
"""
    )


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def agent_token(dsn: str, site: str) -> str:
    """A tenant (once) and a new agent of it, through the hub's services."""
    config = HubConfig(database_url=dsn)
    async with open_database(config, max_size=2) as pool:
        if await pool.fetchval("SELECT id FROM tenants WHERE slug = 'bench'") is None:
            await TenantService(pool, config).create_tenant("bench", "Bench ISP", "TZ")
        return (await AgentService(pool, config).create_agent("bench", site)).token


async def measure(
    work: Path,
    sim: tuple[str, int],
    tree: Path,
    interval: float,
    seconds: float,
    warmup: float,
    hub: tuple[str, str, Child] | None,
    profile: Path | None = None,
) -> Figures:
    """One agent run: warm-up, then a sample every cycle; ``hub`` = (url, token, process)."""
    work.mkdir()
    config, metrics_port = work / "agent.toml", free_port()
    write_config(config, sim[0], sim[1], metrics_port, interval)
    if hub is not None:
        await enroll(hub[0], hub[1], str(config))
    agent = Child("agent", work)
    env = {**os.environ, "PYTHONPATH": str(tree)}
    profiler = ("-m", "cProfile", "-o", str(profile)) if profile is not None else ()
    await agent.start(*profiler, "-m", "agent", "run", "--config", str(config), env=env, cwd=tree)
    assert agent.process is not None
    pid = agent.process.pid
    url = f"http://127.0.0.1:{metrics_port}/metrics"
    try:
        async with aiohttp.ClientSession() as http:
            await wait_until(lambda: cycle_seconds(http, url), "the agent's /metrics", [agent])
            await asyncio.sleep(warmup)
            agent.check()
            rss: list[float] = []
            cpu: list[float] = []
            cycles: list[float] = []
            hub_pid = hub[2].process.pid if hub is not None and hub[2].process else None
            started, started_cpu = time.monotonic(), cpu_seconds(pid)
            hub_started = cpu_seconds(hub_pid) if hub_pid else 0.0
            last, last_cpu, rows = started, started_cpu, 0.0
            while time.monotonic() - started < seconds:
                await asyncio.sleep(interval)
                now, now_cpu = time.monotonic(), cpu_seconds(pid)
                cpu.append(100 * (now_cpu - last_cpu) / (now - last))
                last, last_cpu = now, now_cpu
                rss.append(rss_bytes(pid) / 2**20)
                cycle, rows = await cycle_seconds(http, url)
                cycles.append(cycle)
            hub_cpu = None
            if hub_pid:
                hub_cpu = 100 * (cpu_seconds(hub_pid) - hub_started) / (last - started)
        return Figures(
            rss=statistics.median(rss),
            cpu=statistics.median(cpu),
            cpu_window=100 * (last_cpu - started_cpu) / (last - started),
            cycle_ms=1000 * statistics.median(cycles),
            outbox=rows,
            hub_cpu=hub_cpu,
        )
    finally:
        await agent.stop()


async def start_sim(
    sessions: int, users: int
) -> tuple[asyncio.subprocess.Process, tuple[str, int]]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    sim = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        SIM_SCRIPT,
        str(sessions),
        str(max(users, sessions)),
        stdout=asyncio.subprocess.PIPE,
        env=env,
    )
    assert sim.stdout is not None
    host, port = (await asyncio.wait_for(sim.stdout.readline(), 300)).decode().split()
    return sim, (host, int(port))


async def run(args: argparse.Namespace) -> None:
    trees = [("new", ROOT)]
    if args.old_tree:
        trees.insert(0, ("old", Path(args.old_tree).resolve()))
    rows: list[tuple[int, str, str, Figures]] = []
    with tempfile.TemporaryDirectory(prefix="bench-agent-") as tmp:
        work = Path(tmp)
        async with bench_database() as dsn:
            hub = Child("hub", work)
            port = free_port()
            await hub.start("-m", "hub.cli", "serve", env=hub_env(dsn, work, port))
            hub_url = f"http://127.0.0.1:{port}"
            try:
                async with aiohttp.ClientSession() as http:

                    async def healthy() -> bool:
                        async with http.get(f"{hub_url}/healthz") as response:
                            return response.status == 200

                    await wait_until(healthy, "the hub answering /healthz", [hub])
                for sessions in args.sessions:
                    users = max(args.hotspot_users, sessions)
                    sim, address = await start_sim(sessions, users)
                    try:
                        for label, tree in trees:
                            for mode in args.modes:
                                run_dir = work / f"{sessions}-{label}-{mode}"
                                linked = None
                                if mode == "linked":
                                    token = await agent_token(dsn, run_dir.name)
                                    linked = (hub_url, token, hub)
                                print(
                                    f"{sessions} sessions, {users} hotspot users, {label} agent,"
                                    f" {mode} ...",
                                    flush=True,
                                )
                                figures = await measure(
                                    run_dir,
                                    address,
                                    tree,
                                    args.interval,
                                    args.seconds,
                                    args.warmup,
                                    linked,
                                    profile(args.profile, run_dir.name),
                                )
                                rows.append((sessions, label, mode, figures))
                                show(sessions, label, mode, figures)
                    finally:
                        sim.terminate()
                        await sim.wait()
            finally:
                await hub.stop()
    print("\nsessions agent mode      RSS MB  CPU % (median)  CPU % (window)  cycle ms  hub CPU %")
    for sessions, label, mode, f in rows:
        hub_cpu = f"{f.hub_cpu:9.2f}" if f.hub_cpu is not None else "        -"
        print(
            f"{sessions:8d} {label:5s} {mode:9s} {f.rss:6.1f}  {f.cpu:14.2f}  {f.cpu_window:14.2f}"
            f"  {f.cycle_ms:8.1f}  {hub_cpu}"
        )


def profile(directory: str | None, name: str) -> Path | None:
    return Path(directory).resolve() / f"{name}.prof" if directory else None


def show(sessions: int, label: str, mode: str, f: Figures) -> None:
    hub_cpu = f", hub {f.hub_cpu:.2f} %" if f.hub_cpu is not None else ""
    print(
        f"  RSS {f.rss:.1f} MB, CPU median {f.cpu:.2f} % (window {f.cpu_window:.2f} %),"
        f" cycle {f.cycle_ms:.1f} ms, outbox {f.outbox:.0f} rows{hub_cpu}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, nargs="+", default=[2000, 5000])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--interval", type=float, default=5.0)
    parser.add_argument("--warmup", type=float, default=15.0)
    parser.add_argument(
        "--hotspot-users",
        type=int,
        default=0,
        metavar="N",
        help="hotspot users configured on the router (default: one per session)",
    )
    parser.add_argument("--old-tree", help="another checkout whose agent to measure as 'old'")
    parser.add_argument("--profile", metavar="DIR", help="run each agent under cProfile, into DIR")
    parser.add_argument("--modes", nargs="+", default=["hub-less", "linked"])
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
