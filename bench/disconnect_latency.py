"""Disconnect latency and router round trips: the agent's executor against routersim.

    .venv/bin/python -m bench.disconnect_latency [--users 40] [--background 200]

One routersim router (in the bench's process) holds ``--background`` other hotspot sessions
and, per approach and latency, ``--users`` hotspot users, each logged in with a ``bypassed``
ip-binding the agent made (comment ``ispfleet:<user>``), plus as many PPPoE subscribers. The
agent runs in-process (``agent.service.Agent``: SQLite store, mirror with its listens, command
executor); each disconnect is a ``wire.Command`` through ``CommandExecutor.run``, timed until
its result is recorded, so the figure includes the SQLite commit of the result.

- **new**: ``actions.disconnect_user`` with the router's mirror (what to remove from memory,
  verification from the listen's ``.dead`` rows).
- **old**: the previous implementation (kept below as ``old_disconnect``): prints of users,
  bindings and sessions, removals, then prints again to verify.

Both at router latency 0 (loopback) and 50 ms (``SimRouter.latency``: added before each
command's replies). Round trips are counted from ``RouterLink.round_trips`` around each
disconnect; the mirror's own polls are set 10 minutes apart so that none falls inside one.
Prints median and p99 (ms) through the executor, the median of the action alone (its own
``latency_ms``: the router part, without the executor's two SQLite commits), and round trips
per disconnect. Target: new < 160 ms at 50 ms, at most 3 round trips.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from agent import actions, const
from agent.config import parse_agent_config
from agent.errors import RouterCommandError
from agent.routeros import RouterLink, is_true
from agent.service import Agent
from common import wire
from routersim import SimRouter

LATENCIES = (0.0, 0.05)
QUIET = 600.0  # seconds between the mirror's prints: none falls inside a disconnect


async def old_disconnect(
    link: RouterLink, username: str, mac: str | None, *, disable_user: bool = True
) -> dict[str, Any]:
    """The disconnect as it was before the mirror was used (about ten round trips)."""
    errors: list[str] = []
    result: dict[str, Any] = {"session_removed": False, "binding_removed": False}
    users = await actions.find(link, const.HOTSPOT_USER, name=username)
    all_bindings = await link.call(f"{const.HOTSPOT_BINDING}/print")
    if mac is not None:
        macs = {mac}
    else:
        own = await actions.hotspot_sessions_of(link, username, None)
        macs = {m for m in map(actions.row_mac, [*own, *users]) if m}
        macs |= {
            m for b in all_bindings if actions.owned_by(b, username) and (m := actions.row_mac(b))
        }
    sessions = await actions.sessions_of(link, username, mac, macs)
    bindings = [b for b in all_bindings if actions.row_mac(b) in macs]
    if users and disable_user:
        for user in users:
            if not is_true(user.get("disabled")):
                await link.call(f"{const.HOTSPOT_USER}/set", **{".id": user[".id"]}, disabled="yes")
    await actions.remove(link, const.HOTSPOT_BINDING, [b[".id"] for b in bindings])
    await actions.remove(link, const.HOTSPOT_ACTIVE, list(sessions))
    try:
        ppp = await actions.find(link, const.PPP_ACTIVE, name=username)
        await actions.remove(link, const.PPP_ACTIVE, [p[".id"] for p in ppp])
    except RouterCommandError as exc:
        errors.append(exc.message)
    remaining = await actions.sessions_of(link, username, mac, macs)
    result["verified_gone"] = not remaining
    result["errors"] = errors
    return result


def _mac(n: int) -> str:
    return f"02:10:00:{n >> 16 & 255:02X}:{n >> 8 & 255:02X}:{n & 255:02X}"


def _address(n: int) -> str:
    return f"10.5.{60 + n // 250}.{2 + n % 250}"


class Population:
    """Distinct users for every (approach, latency, kind), made before the agent starts."""

    def __init__(self, sim: SimRouter, users: int, background: int) -> None:
        self.sim, self.n = sim, 0
        self.groups: dict[tuple[str, float, str], list[tuple[str, str]]] = {}
        for _ in range(background):
            self._hotspot("bg")
        for approach in ("old", "new"):
            for latency in LATENCIES:
                key = (approach, latency)
                self.groups[(*key, "hotspot")] = [self._hotspot("hs") for _ in range(users)]
                self.groups[(*key, "ppp")] = [self._ppp() for _ in range(users)]

    def _hotspot(self, prefix: str) -> tuple[str, str]:
        self.n += 1
        user, mac = f"+2556{self.n:08d}", _mac(self.n)
        self.sim.add_hotspot_user(user, password="pw")
        if prefix == "hs":
            self.sim.add_ip_binding(mac, type="bypassed", comment=f"ispfleet:{user}")
        self.sim.hotspot_login(user, mac_address=mac, ip_address=_address(self.n))
        return user, mac

    def _ppp(self) -> tuple[str, str]:
        self.n += 1
        user, mac = f"+2558{self.n:08d}", _mac(self.n)
        self.sim.add_ppp_secret(user, password="pw", service="pppoe")
        self.sim.ppp_login(user, caller_id=mac)
        return user, mac


async def run_group(
    agent: Agent, users: list[tuple[str, str]], approach: str
) -> tuple[list[float], list[float], list[int], int]:
    """Disconnect each user through the executor: (seconds, seconds in the action alone,
    round trips, how many not verified)."""
    link, executor = agent.links["bench"], agent.executor
    if approach == "old":

        async def handler(link: RouterLink, router: str, args: dict) -> dict[str, Any]:
            started = time.perf_counter()
            result = await old_disconnect(link, args["username"], None)
            result["latency_ms"] = (time.perf_counter() - started) * 1000
            return result

        executor._handlers[wire.DISCONNECT] = handler
    else:
        executor._handlers[wire.DISCONNECT] = executor._disconnect
    times: list[float] = []
    actions_only: list[float] = []
    trips: list[int] = []
    unverified = 0
    for user, _mac_address in users:
        command = wire.Command(uuid.uuid4().hex, wire.DISCONNECT, "bench", {"username": user})
        before = link.round_trips.count
        started = time.perf_counter()
        result = await executor.run(command)
        times.append(time.perf_counter() - started)
        trips.append(link.round_trips.count - before)
        assert result is not None and result.ok, result
        actions_only.append(result.result["latency_ms"] / 1000)
        unverified += not result.result.get("verified_gone")
    return times, actions_only, trips, unverified


def _ms(values: list[float]) -> tuple[float, float]:
    ordered = sorted(values)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return statistics.median(ordered) * 1000, p99 * 1000


async def main(users: int, background: int) -> None:
    async with SimRouter(name="bench", seed=1) as sim:
        population = Population(sim, users, background)
        with tempfile.TemporaryDirectory() as state:
            config = parse_agent_config(
                {
                    "agent": {
                        "site": "bench",
                        "state_dir": state,
                        "counters_interval": QUIET,
                        "reconcile_interval": QUIET,
                        "health_interval": QUIET,
                        "drift_interval": QUIET,
                        "startup_jitter": 0.0,
                        "metrics_listen": "127.0.0.1:0",
                    },
                    "routers": [
                        {
                            "name": "bench",
                            "host": sim.host,
                            "port": sim.port,
                            "username": sim.username,
                            "password": sim.password,
                            "listen_timeout": QUIET,
                        }
                    ],
                },
                str(Path(state) / "bench.toml"),
            )
            async with Agent(config) as agent:
                mirror = agent.mirrors["bench"]
                deadline = time.monotonic() + 30
                while not (mirror.sessions_trusted() and mirror.config_trusted()):
                    if time.monotonic() > deadline:
                        raise SystemExit("the mirror never caught up with the router")
                    await asyncio.sleep(0.05)
                print(
                    f"disconnect_latency: 1 router, {len(sim.rows(const.HOTSPOT_ACTIVE))} hotspot"
                    f" + {len(sim.rows(const.PPP_ACTIVE))} PPP sessions; {users} distinct users"
                    " per row; through CommandExecutor.run"
                )
                header = f"{'latency':<9}{'approach':<10}{'kind':<9}{'median ms':>11}{'p99 ms':>9}"
                print(f"{header}{'action ms':>11}{'round trips':>13}{'unverified':>12}")
                for latency in LATENCIES:
                    sim.latency = latency
                    for approach in ("old", "new"):
                        for kind in ("hotspot", "ppp"):
                            group = population.groups[(approach, latency, kind)]
                            times, alone, trips, unverified = await run_group(
                                agent, group, approach
                            )
                            median, p99 = _ms(times)
                            action = statistics.median(alone) * 1000
                            label = f"{latency * 1000:.0f} ms"
                            trip_text = f"{statistics.median(trips):.0f} (max {max(trips)})"
                            print(
                                f"{label:<9}{approach:<10}{kind:<9}{median:>11.1f}{p99:>9.1f}"
                                f"{action:>11.1f}{trip_text:>13}{unverified:>12}"
                            )
                sim.latency = 0.0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=40, help="disconnects per row")
    parser.add_argument("--background", type=int, default=200, help="other sessions")
    args = parser.parse_args()
    asyncio.run(main(args.users, args.background))
