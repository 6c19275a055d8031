"""routersim.router: lifecycle, going offline mid-command, connections, world ticker."""

from __future__ import annotations

import asyncio
import socket

import librouteros
import pytest
from librouteros.exceptions import ConnectionClosed

from routersim import ControlError, SimRouter
from tests.helpers import wait_for

from .conftest import close, connect, rows


async def test_context_manager_picks_a_free_port_and_stops() -> None:
    async with SimRouter(name="r1") as router:
        assert router.host == "127.0.0.1" and router.port
        port = router.port
        api = await connect(router)
        assert await rows(api, "/system/identity") == [{"name": "r1"}]
        await close(api)
    with pytest.raises(OSError):
        await librouteros.async_connect("127.0.0.1", "admin", "", port=port, timeout=2)


async def test_connections_are_counted(router: SimRouter) -> None:
    first, second = await connect(router), await connect(router)
    await wait_for(lambda: router.connections == 2)
    await close(first)
    await wait_for(lambda: router.connections == 1)
    await close(second)
    await wait_for(lambda: router.connections == 0)


async def test_api_max_sessions_closes_the_connection_beyond_it(router: SimRouter) -> None:
    # /ip/service api max-sessions: the session over the limit is dropped before login.
    router.max_sessions = 1
    first = await connect(router)
    await wait_for(lambda: router.connections == 1)
    with pytest.raises((ConnectionClosed, ConnectionError, EOFError)):
        await connect(router)
    assert await rows(first, "/system/identity")  # the first one goes on
    router.max_sessions = None
    second = await connect(router)
    assert await rows(second, "/system/identity")
    await close(first)
    await close(second)


async def test_offline_mid_command_then_refused_then_back(router: SimRouter) -> None:
    api = await connect(router)
    await api.protocol.writeSentence("/ping", "=address=127.0.0.1", "=interval=0.01")
    reply, _ = await api.readSentence()
    assert reply == "!re"
    router.set_offline(True)
    assert router.connections == 0 and not router.online
    with pytest.raises((ConnectionClosed, ConnectionError)):
        while True:
            await api.readSentence()
    await close(api)
    with pytest.raises(ConnectionRefusedError):
        await librouteros.async_connect(router.host, "admin", "", port=router.port, timeout=2)
    port = router.port
    router.set_offline(False)
    assert router.port == port and router.online
    api = await connect(router)
    assert await rows(api, "/system/identity") == [{"name": "test-router"}]
    await close(api)


async def test_offline_breaks_a_waiting_sync_client(router: SimRouter) -> None:
    loop = asyncio.get_running_loop()
    started = asyncio.Event()

    def talk() -> None:
        api = librouteros.connect(router.host, "admin", "", port=router.port, timeout=5)
        try:
            loop.call_soon_threadsafe(started.set)
            # a ping without count never reaches !done: the client waits until the drop
            list(api("/ping", address="127.0.0.1", interval="0.05"))
        finally:
            api.close()

    job = asyncio.create_task(asyncio.to_thread(talk))
    await asyncio.wait_for(started.wait(), 5)
    await wait_for(lambda: router.connections == 1)
    router.set_offline(True)
    with pytest.raises((ConnectionClosed, ConnectionError)):
        await asyncio.wait_for(job, 5)


async def test_offline_twice_and_online_twice_are_harmless(router: SimRouter) -> None:
    router.set_offline(True)
    router.set_offline(True)
    router.set_offline(False)
    router.set_offline(False)
    api = await connect(router)
    await close(api)


async def test_start_twice_is_an_error(router: SimRouter) -> None:
    with pytest.raises(ControlError):
        await router.start()


async def test_run_world_steps_until_stop() -> None:
    router = SimRouter(seed=2)
    router.populate(10)
    await router.start()
    try:
        task = router.run_world(interval=0.01)
        await wait_for(lambda: router.world.clock >= 0.05)
    finally:
        await router.stop()
    assert task.cancelled()
    clock = router.world.clock
    for _ in range(10):  # let the loop run: a ticker still alive would step here
        await asyncio.sleep(0)
    assert router.world.clock == clock


async def test_world_changes_reach_api_clients(router: SimRouter, api) -> None:
    router.add_hotspot_user("+255712345678", password="pw")
    sid = router.hotspot_login("+255712345678", mac_address="AA:BB:CC:DD:EE:01")
    router.add_traffic(sid, bytes_in=1000, bytes_out=5000)
    (row,) = await rows(api, "/ip/hotspot/active")
    assert (row["bytes-in"], row["bytes-out"]) == (1000, 5000)


async def test_replies_are_not_held_back_by_nagle(router: SimRouter, api) -> None:
    # With Nagle on, every !done waits ~40 ms for the client's delayed ACK: the accepted
    # sockets must have TCP_NODELAY (how fast 20 round trips are is bench/ business).
    assert await rows(api, "/system/identity")
    (connection,) = router._connections
    sock = connection.writer.get_extra_info("socket")
    assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
