"""Footprint of routersim: one process holding a fleet of 200 routers x 100 clients.

Prints the time to start the fleet, the resident memory (VmRSS) before and after, the time
of one world step over the whole fleet, and what a sample of routers answer through
librouteros. Run from the repository root:

    .venv/bin/python -m bench.routersim_footprint [--routers 200] [--clients 100] [--sample 20]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time

import librouteros

from routersim import SimFleet


def rss_mib() -> float:
    """Resident set size of this process, from /proc/self/status."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


async def sample_routers(fleet: SimFleet, count: int) -> tuple[int, int, float]:
    """Connect to ``count`` random routers; returns (sessions seen, routers, seconds)."""
    chosen = random.Random(0).sample(fleet.routers, min(count, len(fleet.routers)))
    started = time.perf_counter()
    sessions = 0
    for router in chosen:
        api = await librouteros.async_connect(
            router.host, router.username, router.password, port=router.port, timeout=10
        )
        try:
            sessions += len([row async for row in api.path("/ip/hotspot/active")])
            sessions += len([row async for row in api.path("/ppp/active")])
            [row async for row in api.path("/system/resource")]
        finally:
            await api.close()
    return sessions, len(chosen), time.perf_counter() - started


async def main(routers: int, clients: int, sample: int) -> None:
    baseline = rss_mib()
    started = time.perf_counter()
    fleet = SimFleet(routers=routers, clients=clients, seed=1)
    await fleet.start()
    start_seconds = time.perf_counter() - started
    loaded = rss_mib()
    try:
        print(f"fleet            {routers} routers x {clients} clients")
        print(f"start            {start_seconds:.2f} s")
        print(f"rss before       {baseline:.1f} MiB")
        print(f"rss after start  {loaded:.1f} MiB ({(loaded - baseline) / routers:.2f} MiB/router)")
        step_started = time.perf_counter()
        for router in fleet.routers:
            router.step(1.0)
        print(f"one fleet step   {(time.perf_counter() - step_started) * 1000:.0f} ms")
        sessions, seen, seconds = await sample_routers(fleet, sample)
        print(
            f"librouteros      {seen} routers, {sessions} sessions, "
            f"{seconds * 1000 / seen:.1f} ms per router (connect, login, 3 prints)"
        )
        print(f"rss at the end   {rss_mib():.1f} MiB")
    finally:
        await fleet.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--routers", type=int, default=200)
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--sample", type=int, default=20)
    args = parser.parse_args()
    asyncio.run(main(args.routers, args.clients, args.sample))
