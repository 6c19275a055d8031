"""Agent footprint: RSS, CPU and cycle time with 1 router x 2,000 active sessions.

    .venv/bin/python -m bench.agent_cycle [--sessions 2000] [--seconds 60] [--interval 5]

A routersim runs in a subprocess with 2,000 logged-in hotspot sessions whose counters move
every second (70 % of them each second, so nearly every session changes between two
agent cycles: the worst case, a session.updated event per session per cycle). The agent
runs as the real program (``python -m agent run``) in another subprocess, polling every
``--interval`` seconds. After a warm-up, its VmRSS and utime+stime are read from /proc
every cycle for ``--seconds``; the cycle time is the sum of the session collectors'
durations as the agent's own /metrics reports them. Medians are printed. Targets: under
60 MB RSS and under 5 % of one core.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

ROOT = Path(__file__).resolve().parents[1]
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
CYCLE_COLLECTORS = ("hotspot_sessions", "interfaces", "ppp_sessions")

SIM_SCRIPT = """
import asyncio, random, sys
from routersim import SimRouter

async def main(count):
    sim = SimRouter(name="bench", seed=1)
    await sim.start(host="127.0.0.1", port=0)
    sessions = []
    for n in range(count):
        user = f"+2557{n:08d}"
        sim.add_hotspot_user(user, password="pw")
        mac = f"02:00:00:{n >> 16 & 255:02X}:{n >> 8 & 255:02X}:{n & 255:02X}"
        address = f"10.5.{60 + n // 250}.{2 + n % 250}"
        sessions.append(sim.hotspot_login(user, mac_address=mac, ip_address=address))
    print(sim.host, sim.port, flush=True)
    rng = random.Random(1)
    while True:
        await asyncio.sleep(1.0)
        for sid in sessions:
            if rng.random() < 0.7:
                sim.add_traffic(sid, rng.randrange(100, 5_000), rng.randrange(1_000, 50_000))
        sim.step(1.0)

asyncio.run(main(int(sys.argv[1])))
"""


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


async def run(sessions: int, seconds: float, interval: float, warmup: float) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    sim = await asyncio.create_subprocess_exec(
        sys.executable, "-c", SIM_SCRIPT, str(sessions), stdout=asyncio.subprocess.PIPE, env=env
    )
    agent = None
    try:
        assert sim.stdout is not None
        host, port = (await asyncio.wait_for(sim.stdout.readline(), 120)).decode().split()
        with tempfile.TemporaryDirectory() as tmp:
            config, metrics_port = Path(tmp) / "agent.toml", free_port()
            write_config(config, host, int(port), metrics_port, interval)
            agent = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "agent", "run", "--config", str(config), cwd=ROOT, env=env
            )
            url = f"http://127.0.0.1:{metrics_port}/metrics"
            print(f"routersim: {sessions} sessions on {host}:{port}; agent pid {agent.pid}")
            print(f"warm-up {warmup:.0f} s (the first cycle records {sessions} session.started)")
            await asyncio.sleep(warmup)
            rss: list[float] = []
            cpu: list[float] = []
            cycles: list[float] = []
            async with aiohttp.ClientSession() as http:
                started_cpu, started = cpu_seconds(agent.pid), time.monotonic()
                last_cpu, last = started_cpu, started
                while time.monotonic() - started < seconds:
                    await asyncio.sleep(interval)
                    now, now_cpu = time.monotonic(), cpu_seconds(agent.pid)
                    cpu.append(100 * (now_cpu - last_cpu) / (now - last))
                    last, last_cpu = now, now_cpu
                    rss.append(rss_bytes(agent.pid) / 2**20)
                    cycle, rows = await cycle_seconds(http, url)
                    cycles.append(cycle)
                total_cpu = 100 * (last_cpu - started_cpu) / (last - started)
            print(f"window: {last - started:.0f} s, {len(cpu)} samples, outbox {rows:.0f} rows")
            print(f"RSS median:            {statistics.median(rss):6.1f} MB (max {max(rss):.1f})")
            print(f"CPU median per cycle:  {statistics.median(cpu):6.2f} % of one core")
            print(f"CPU over the window:   {total_cpu:6.2f} % of one core")
            print(f"cycle time median:     {1000 * statistics.median(cycles):6.1f} ms")
    finally:
        for process in (agent, sim):
            if process is not None and process.returncode is None:
                process.terminate()
                await process.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--interval", type=float, default=5.0)
    parser.add_argument("--warmup", type=float, default=15.0)
    args = parser.parse_args()
    asyncio.run(run(args.sessions, args.seconds, args.interval, args.warmup))


if __name__ == "__main__":
    main()
