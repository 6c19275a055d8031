"""RouterLink and Listener over TCP: strings back, errors translated, state tracked."""

from __future__ import annotations

import asyncio

import pytest

from agent.config import RouterSettings
from agent.errors import (
    BadCredentials,
    RouterCommandError,
    RouterTimeout,
    RouterUnavailable,
    ServiceUnreachable,
)
from agent.routeros import RouterLink, is_true, where


def _settings(sim, **overrides) -> RouterSettings:
    values = {
        "name": "r1",
        "host": sim.host,
        "port": sim.port,
        "username": sim.username,
        "password": sim.password,
        "connect_timeout": 1.0,
        "command_timeout": 0.5,
        "listen_timeout": 2.0,
    }
    return RouterSettings(**(values | overrides))


@pytest.fixture
async def link(sim):
    link = RouterLink(_settings(sim))
    yield link
    await link.close()


async def test_call_returns_routeros_strings(link, sim):
    sim.add_hotspot_user("12345", password="yes")
    (user,) = await link.call("/ip/hotspot/user/print", *where(name="12345"))
    assert user["name"] == "12345"  # librouteros would have made it an int
    assert user["disabled"] == "false"
    (resource,) = await link.call("/system/resource/print", **{".proplist": "total-memory"})
    assert resource == {"total-memory": resource["total-memory"]}
    assert resource["total-memory"].isdigit()
    assert link.state.online
    assert link.round_trips.count == 2
    assert link.round_trips.buckets[-1] == 2


async def test_trap_keeps_the_connection(link, sim):
    sim.add_hotspot_user("+255700000001")
    with pytest.raises(RouterCommandError) as info:
        await link.call("/ip/hotspot/user/add", name="+255700000001")
    assert "already have user" in info.value.message
    assert info.value.command == "/ip/hotspot/user/add"
    assert link.state.online
    assert sim.connections == 1
    assert len(await link.call("/ip/hotspot/user/print")) == 1


async def test_bad_credentials(sim):
    link = RouterLink(_settings(sim, password="wrong"))
    with pytest.raises(BadCredentials, match="bad credentials"):
        await link.connect()
    assert link.state.status == "offline"
    assert "bad credentials" in link.state.error


async def test_connection_refused(sim):
    sim.set_offline(True)
    link = RouterLink(_settings(sim))
    with pytest.raises(ServiceUnreachable, match="API service disabled or wrong port"):
        await link.connect()


async def test_silent_server_times_out(sim):
    async def silent(reader, writer):
        try:
            await reader.read()  # accept, never answer, until the client hangs up
        finally:
            writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        link = RouterLink(_settings(sim, port=port, connect_timeout=0.3))
        with pytest.raises(RouterTimeout, match="timeout"):
            await link.connect()
    finally:
        server.close()
        await server.wait_closed()


async def test_slow_command_drops_connection_then_recovers(link, sim):
    changes = []
    link.on_change(changes.append)
    await link.connect()
    sim.latency = 1.0
    with pytest.raises(RouterTimeout):
        await link.call("/system/resource/print")
    assert link.state.status == "offline"
    sim.latency = 0.0
    assert await link.call("/system/resource/print")
    assert [state.status for state in changes] == ["online", "offline", "online"]


async def test_router_going_away(link, sim):
    await link.connect()
    sim.set_offline(True)
    with pytest.raises(RouterUnavailable):
        await link.call("/system/resource/print")
    assert not link.state.online
    sim.set_offline(False)
    await link.connect_with_backoff()
    assert link.state.online


async def test_listener_streams_arrivals_and_removals(link, sim):
    sim.add_hotspot_user("+255700000001", password="pw")
    async with link.listener("/ip/hotspot/active") as listener:
        await asyncio.sleep(0.1)  # the listen is registered
        sid = sim.hotspot_login("+255700000001", mac_address="AA:BB:CC:DD:EE:01")
        arrived = await asyncio.wait_for(listener.next(), 2)
        assert (arrived[".id"], arrived["user"]) == (sid, "+255700000001")
        sim.logout(sid)
        gone = await asyncio.wait_for(listener.next(), 2)
        assert gone[".id"] == sid
        assert is_true(gone.get(".dead"))
    await asyncio.sleep(0.1)
    assert sim.connections == 0  # cancelled and closed


async def test_quiet_listener_times_out(sim):
    link = RouterLink(_settings(sim, listen_timeout=0.3))
    async with link.listener("/ppp/active") as listener:
        with pytest.raises(RouterTimeout, match="quiet"):
            await listener.next()
