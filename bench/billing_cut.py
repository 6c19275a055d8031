"""Unpaid session to cut, and voucher login to MAC lock, on a billing-managed router.

    .venv/bin/python -m bench.billing_cut [--logins 30] [--background 500] [--interval 5]

One routersim router (in the bench's process) with ``billing = true`` and ``--background``
paid hotspot sessions (each with an entitlement an hour long), and the agent in-process
(``agent.service.Agent``) at production intervals (``--interval`` = counters_interval). Then,
one after the other, ``--logins`` customers with no paid access log in: each is timed from
its login until routersim no longer lists its session. As many vouchers are synced and each
is timed from its first login until the router's user carries the device's MAC. Prints the
median and p99 (ms). Before billing enforcement an unpaid customer stayed online until the
next 15-minute sweep; the target is within one counters_interval (seconds), and in practice
the session start from the listen (about a second at most).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path

import msgspec

from agent.config import parse_agent_config
from agent.service import Agent
from common import wire
from common.timeutil import to_iso, utcnow
from routersim import SimRouter


def _mac(n: int, prefix: int) -> str:
    return f"02:{prefix:02X}:00:{n >> 16 & 255:02X}:{n >> 8 & 255:02X}:{n & 255:02X}"


async def _until(predicate, timeout: float = 60.0) -> float:
    """Seconds until ``predicate()`` holds (polled every millisecond)."""
    started = time.perf_counter()
    while not predicate():
        if time.perf_counter() - started > timeout:
            raise TimeoutError("condition not met")
        await asyncio.sleep(0.001)
    return time.perf_counter() - started


def _figures(label: str, seconds: list[float]) -> None:
    ms = sorted(s * 1000 for s in seconds)
    p99 = ms[min(len(ms) - 1, int(len(ms) * 0.99))]
    print(f"{label:<34} n={len(ms):<4} median {statistics.median(ms):8.1f} ms   p99 {p99:8.1f} ms")


async def run(logins: int, background: int, interval: float) -> None:
    async with SimRouter(name="bench", seed=1) as sim:
        with tempfile.TemporaryDirectory() as state:
            config = parse_agent_config(
                {
                    "agent": {
                        "site": "bench",
                        "state_dir": str(Path(state)),
                        "counters_interval": interval,
                        "startup_jitter": 0.0,
                        "metrics_listen": "127.0.0.1:0",
                    },
                    "routers": [
                        {
                            "name": sim.name,
                            "host": sim.host,
                            "port": sim.port,
                            "username": sim.username,
                            "password": sim.password,
                            "billing": True,
                        }
                    ],
                },
                "bench.toml",
            )
            async with Agent(config) as agent:
                await _until(lambda: agent.links["bench"].state.online)
                expires = to_iso(utcnow() + timedelta(hours=1))
                for n in range(background):
                    user = f"+2556{n:08d}"
                    sim.add_hotspot_user(user, password="pw")
                    command = wire.Command(
                        id=str(uuid.uuid4()),
                        name=wire.ENTITLEMENT_PUT,
                        router="bench",
                        args={"username": user, "expires_at": expires},
                    )
                    await agent.executor.run(command)
                    sim.hotspot_login(user, mac_address=_mac(n, 1))
                mirror = agent.mirrors["bench"]
                await _until(lambda: mirror.hotspot_users is not None)
                await _until(lambda: len(mirror.sessions["hotspot"]) >= background)

                cuts = []
                for n in range(logins):
                    user = f"+2557{n:08d}"
                    sim.add_hotspot_user(user, password="pw")
                    sid = sim.hotspot_login(user, mac_address=_mac(n, 2))
                    cuts.append(
                        await _until(
                            lambda sid=sid: all(
                                r[".id"] != sid for r in sim.rows("/ip/hotspot/active")
                            )
                        )
                    )

                valid = to_iso(utcnow() + timedelta(days=1))
                codes = [f"BENCH{n:04d}" for n in range(logins)]
                sync = wire.VouchersSync(
                    version=1,
                    vouchers=[
                        wire.SyncedVoucher(
                            code=code, batch_id=1, valid_until=valid, duration_seconds=3600
                        )
                        for code in codes
                    ],
                )
                await agent.executor.run(
                    wire.Command(
                        id=str(uuid.uuid4()),
                        name=wire.VOUCHERS_SYNC,
                        router="bench",
                        args=msgspec.to_builtins(sync),
                    )
                )

                def users() -> dict[str, dict]:
                    return {u["name"]: u for u in sim.rows("/ip/hotspot/user")}

                await _until(lambda: set(codes) <= set(users()))
                locks = []
                for n, code in enumerate(codes):
                    mac = _mac(n, 3)
                    sim.hotspot_login(code, mac_address=mac)
                    locks.append(
                        await _until(
                            lambda code=code, mac=mac: users()[code].get("mac-address") == mac
                        )
                    )
                still = {s.username for s in mirror.sessions["hotspot"].values()}
                assert not any(u.startswith("+2557") for u in still), "an unpaid session stayed"

    print(f"billing cut, {background} paid sessions online, counters_interval {interval:g} s")
    _figures("unpaid login -> session cut", cuts)
    _figures("voucher first login -> MAC locked", locks)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--logins", type=int, default=30)
    parser.add_argument("--background", type=int, default=500)
    parser.add_argument("--interval", type=float, default=5.0)
    args = parser.parse_args()
    asyncio.run(run(args.logins, args.background, args.interval))


if __name__ == "__main__":
    main()
