"""routersim.fleet: many routers in one process, one ticker."""

from __future__ import annotations

import socket

import librouteros
import pytest

from routersim import ControlError, SimFleet
from tests.helpers import wait_for

from .conftest import close, connect, rows


async def test_fleet_starts_populated_routers_on_distinct_ports() -> None:
    async with SimFleet(routers=3, clients=8, seed=4) as fleet:
        ports = {router.port for router in fleet.routers}
        assert len(ports) == 3
        for n, router in enumerate(fleet.routers, start=1):
            api = await connect(router)
            assert await rows(api, "/system/identity") == [{"name": f"site-{n}"}]
            users = await rows(api, "/ip/hotspot/user")
            secrets = await rows(api, "/ppp/secret")
            assert len(users) + len(secrets) == 8
            await close(api)
        fleet.run_world(interval=0.01)
        await wait_for(lambda: all(r.world.clock >= 0.03 for r in fleet.routers))
    with pytest.raises(OSError):
        await librouteros.async_connect("127.0.0.1", "admin", "", port=ports.pop(), timeout=2)


def free_run(count: int) -> int:
    """A first port with ``count`` free ports after it (best effort)."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            base = probe.getsockname()[1]
        if base + count > 65535:
            continue
        try:
            holders = []
            for port in range(base, base + count):
                holder = socket.socket()
                holders.append(holder)
                holder.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for holder in holders:
                holder.close()
    raise RuntimeError("no free port run")


async def test_base_port_counts_up() -> None:
    base = free_run(2)
    async with SimFleet(routers=2, clients=0, base_port=base) as fleet:
        assert [r.port for r in fleet.routers] == [base, base + 1]


def test_bad_fleet_arguments() -> None:
    with pytest.raises(ControlError):
        SimFleet(routers=0)
    with pytest.raises(ControlError):
        SimFleet(clients=-1)
    with pytest.raises(ControlError):
        SimFleet(routers=2, base_port=65535)
