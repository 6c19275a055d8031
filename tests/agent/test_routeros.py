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
from tests.helpers import wait_for


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
    # Known offline: commands fail at once until a connect (the mirror's backoff) succeeds.
    with pytest.raises(RouterUnavailable, match="offline, reconnecting"):
        await link.call("/system/resource/print")
    await link.connect()
    assert await link.call("/system/resource/print")
    assert [state.status for state in changes] == ["online", "offline", "online"]


def _endless_ping(link):
    """A command whose reply never ends (a ping without count): always mid-reply."""
    return link.call("/ping", within=3600.0, address="127.0.0.1", interval="0.05")


async def _cut_short(link, sim) -> None:
    await link.connect()
    call = asyncio.create_task(_endless_ping(link))
    await wait_for(lambda: sim.commands_in_flight == 1)  # sent; its replies keep coming
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call
    # Not left streaming into a connection someone else will read: it was closed.
    await wait_for(lambda: sim.commands_in_flight == 0)


@pytest.mark.parametrize("menu", ["/system/identity", "/ip/hotspot/user"])
async def test_a_cancelled_call_leaves_no_reply_behind(link, sim, menu):
    """Cancelled mid-reply (a shutdown, a deadline): the next call gets its own reply only."""
    sim.add_hotspot_user("+255700000001", password="pw")
    await _cut_short(link, sim)
    rows = await link.call(f"{menu}/print")
    if menu == "/system/identity":
        assert rows == [{"name": "r1"}]
    else:
        assert [row["name"] for row in rows] == ["+255700000001"]
    assert link.state.online  # the router was fine: only the connection was replaced


async def test_replies_in_order_after_a_cancelled_call(sim):
    """The measured case: with every reply held back, a print must not get the one before."""
    sim.add_hotspot_user("+255700000001", password="pw")
    link = RouterLink(_settings(sim, connect_timeout=30.0, command_timeout=30.0))
    try:
        await link.connect()
        sim.latency = 0.6  # the same for every command (login too): replies come in order
        first = asyncio.create_task(link.call("/system/identity/print"))
        await wait_for(lambda: sim.commands_in_flight == 1)
        first.cancel()
        with pytest.raises(asyncio.CancelledError):
            await first
        users = await link.call("/ip/hotspot/user/print")
        assert [row["name"] for row in users] == ["+255700000001"]
        assert await link.call("/system/identity/print") == [{"name": "r1"}]
    finally:
        await link.close()


async def test_a_deadline_around_a_call_closes_the_connection(link, sim):
    """An action under asyncio.timeout whose deadline passes mid-reply drops the connection."""
    await link.connect()
    deadlines: list[asyncio.Timeout] = []

    async def action() -> None:
        async with asyncio.timeout(None) as deadline:
            deadlines.append(deadline)
            await _endless_ping(link)

    task = asyncio.create_task(action())
    await wait_for(lambda: sim.commands_in_flight == 1)
    deadlines[0].reschedule(asyncio.get_running_loop().time())  # the deadline passes now
    with pytest.raises(TimeoutError):
        await task
    await wait_for(lambda: sim.commands_in_flight == 0)  # its connection was closed
    assert await link.call("/system/identity/print") == [{"name": "r1"}]
    (resource,) = await link.call("/system/resource/print")
    assert "total-memory" in resource


async def test_offline_link_fails_at_once_without_dialling(sim):
    accepted = []

    async def silent(reader, writer):
        accepted.append(writer)
        try:
            await reader.read()  # never answers
        finally:
            writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    link = RouterLink(_settings(sim, port=port, connect_timeout=0.3, backoff_max=3600.0))
    try:
        with pytest.raises(RouterTimeout):
            await link.call("/system/identity/print")  # "unknown": the first call dials
        await wait_for(lambda: len(accepted) == 1)
        for _ in range(3):
            with pytest.raises(RouterUnavailable, match="offline, reconnecting") as info:
                await link.call("/system/identity/print")
            assert not isinstance(info.value, RouterTimeout)
        with pytest.raises(RouterUnavailable, match="offline, reconnecting"):
            await link.call_separately("/ping", within=1.0, address="127.0.0.1")
        with pytest.raises(RouterTimeout):
            await link.connect()  # the backoff's connect always dials
        await wait_for(lambda: len(accepted) == 2)
        assert len(accepted) == 2  # the four calls dialled nothing
    finally:
        await link.close()
        server.close()
        await server.wait_closed()


async def test_a_call_behind_a_failing_dial_does_not_dial_again(sim):
    """Waiting for the lock behind a connect that fails, a call fails as soon as it gets it."""
    accepted = []
    release = asyncio.Event()

    async def silent(reader, writer):
        accepted.append(writer)
        await release.wait()
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    link = RouterLink(_settings(sim, port=port, connect_timeout=3600.0))
    try:
        dial = asyncio.create_task(link.connect())
        await wait_for(lambda: accepted)
        call = asyncio.create_task(link.call("/system/identity/print"))
        await asyncio.sleep(0)
        assert not call.done()  # "unknown": it waits for the dial under way
        release.set()  # the router hangs up mid-login: the dial fails
        with pytest.raises(RouterUnavailable):
            await dial
        with pytest.raises(RouterUnavailable, match="offline, reconnecting"):
            await call
        assert len(accepted) == 1
    finally:
        release.set()
        await link.close()
        server.close()
        await server.wait_closed()


async def test_offline_router_comes_back_through_the_backoff(link, sim):
    await link.connect()
    sim.set_offline(True)
    with pytest.raises(RouterUnavailable):
        await link.call("/system/resource/print")
    with pytest.raises(RouterUnavailable, match="offline, reconnecting"):
        await link.call("/system/resource/print")
    sim.set_offline(False)
    await link.connect_with_backoff()
    assert await link.call("/system/identity/print") == [{"name": "r1"}]


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
        await wait_for(lambda: sim.commands_in_flight == 1)  # the listen is registered
        sid = sim.hotspot_login("+255700000001", mac_address="AA:BB:CC:DD:EE:01")
        arrived = await asyncio.wait_for(listener.next(), 2)
        assert (arrived[".id"], arrived["user"]) == (sid, "+255700000001")
        sim.logout(sid)
        gone = await asyncio.wait_for(listener.next(), 2)
        assert gone[".id"] == sid
        assert is_true(gone.get(".dead"))
    await wait_for(lambda: sim.connections == 0)  # cancelled and closed


async def test_quiet_listener_times_out(sim):
    link = RouterLink(_settings(sim, listen_timeout=0.3))
    async with link.listener("/ppp/active") as listener:
        with pytest.raises(RouterTimeout, match="quiet"):
            await listener.next()
