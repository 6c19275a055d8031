"""The session mirror against a routersim over TCP, with the cache in a real SQLite file."""

from __future__ import annotations

from collections import Counter

from agent.service import Agent
from common import wire

from .conftest import events, make_config, wait_for

USER = "+255712345678"
OTHER = "+255787654321"


def _started_ended(found: list[wire.Event]) -> tuple[Counter, Counter]:
    started = Counter(e.data["session_id"] for e in found if e.kind == wire.SESSION_STARTED)
    ended = Counter(e.data["session_id"] for e in found if e.kind == wire.SESSION_ENDED)
    return started, ended


async def _listening(agent: Agent) -> bool:
    mirror = agent.mirrors["r1"]
    return mirror.listening == {"hotspot", "ppp"} and "ppp_sessions" in mirror.collectors


async def test_listen_reports_arrival_and_departure(tmp_path, sim):
    # Prints every 600 s and listens kept open: anything seen came through `listen`.
    config = make_config(
        tmp_path,
        [sim],
        agent={"counters_interval": 600.0, "reconcile_interval": 600.0},
        listen_timeout=600.0,
    )
    sim.add_hotspot_user(USER, password="pw")
    async with Agent(config) as agent:
        await wait_for(lambda: _listening(agent))
        mirror = agent.mirrors["r1"]
        prints = mirror.collectors["hotspot_sessions"].runs
        sid = sim.hotspot_login(USER, mac_address="aa-bb-cc-dd-ee-01")
        (started,) = await wait_for(lambda: events(agent, wire.SESSION_STARTED))
        assert started.router == "r1"
        assert started.data["session_id"] == sid
        assert started.data["username"] == USER
        assert started.data["mac_address"] == "AA:BB:CC:DD:EE:01"
        assert started.data["kind"] == "hotspot"
        assert started.data["ip_address"]

        sim.logout(sid)
        (ended,) = await wait_for(lambda: events(agent, wire.SESSION_ENDED))
        assert ended.data["session_id"] == sid
        assert mirror.collectors["hotspot_sessions"].runs == prints  # no print saw them
        assert agent.mirrors["r1"].sessions["hotspot"] == {}
        assert await agent.store.sessions("r1") == []


async def test_counters_update_and_final_counters_on_end(agent, sim):
    sim.add_hotspot_user(USER, password="pw")
    sid = sim.hotspot_login(USER, mac_address="AA:BB:CC:DD:EE:01")
    await wait_for(lambda: events(agent, wire.SESSION_STARTED))
    sim.add_traffic(sid, bytes_in=1000, bytes_out=5000)

    async def updated():
        found = await events(agent, wire.SESSION_UPDATED)
        return [e for e in found if e.data["bytes_out"] == 5000]

    (update,) = await wait_for(updated, timeout=3)
    assert update.data["bytes_in"] == 1000
    cached = {s.session_id: s for _, _, s in await agent.store.sessions("r1")}
    assert (cached[sid].bytes_in, cached[sid].bytes_out) == (1000, 5000)

    sim.logout(sid)
    (ended,) = await wait_for(lambda: events(agent, wire.SESSION_ENDED), timeout=3)
    assert (ended.data["bytes_in"], ended.data["bytes_out"]) == (1000, 5000)
    started, ended_count = _started_ended(await events(agent))
    assert started == ended_count == Counter({sid: 1})


async def test_ppp_session_with_interface_counters(agent, sim, ros):
    await ros.add("/ppp/secret", name=OTHER, password="pw", service="pppoe")
    pid = sim.ppp_login(OTHER, caller_id="AA:BB:CC:DD:EE:02")
    (started,) = await wait_for(lambda: events(agent, wire.SESSION_STARTED), timeout=3)
    assert started.data["kind"] == "ppp"
    assert started.data["session_id"] == pid
    assert started.data["username"] == OTHER
    assert started.data["mac_address"] == "AA:BB:CC:DD:EE:02"
    assert started.data["login_by"] == "pppoe"

    sim.add_traffic(pid, bytes_in=700, bytes_out=9000)

    async def counted():
        found = await events(agent, wire.SESSION_UPDATED)
        return [e for e in found if e.data["bytes_out"] > 0]

    (update,) = await wait_for(counted, timeout=3)
    assert (update.data["bytes_in"], update.data["bytes_out"]) == (700, 9000)
    assert agent.mirrors["r1"].health().ppp_active == 1


async def test_router_offline_and_back_without_duplicates(agent, sim):
    sim.add_hotspot_user(USER, password="pw")
    sim.add_hotspot_user(OTHER, password="pw")
    stays = sim.hotspot_login(USER, mac_address="AA:BB:CC:DD:EE:01")
    leaves = sim.hotspot_login(OTHER, mac_address="AA:BB:CC:DD:EE:02")
    await wait_for(lambda: len(agent.mirrors["r1"].sessions["hotspot"]) == 2)
    await wait_for(lambda: agent.mirrors["r1"].resource is not None)
    link = agent.links["r1"]

    sim.set_offline(True)
    await wait_for(lambda: link.state.status == "offline", timeout=5)
    assert link.state.error
    (down,) = await wait_for(lambda: events(agent, wire.ROUTER_DOWN), timeout=3)
    assert down.data["error"]
    health = agent.mirrors["r1"].health()
    assert health.status == "offline"
    assert health.version == "7.16.2 (stable)"  # the last good data is kept
    sim.logout(leaves)  # while the agent cannot see it

    sim.set_offline(False)
    await wait_for(lambda: link.state.online, timeout=5)
    await wait_for(lambda: events(agent, wire.SESSION_ENDED), timeout=3)
    await wait_for(lambda: len(agent.mirrors["r1"].sessions["hotspot"]) == 1)

    found = await events(agent)
    started, ended = _started_ended(found)
    assert started == Counter({stays: 1, leaves: 1})
    assert ended == Counter({leaves: 1})
    assert [e.kind for e in found if e.kind in (wire.ROUTER_UP, wire.ROUTER_DOWN)] == [
        wire.ROUTER_UP,
        wire.ROUTER_DOWN,
        wire.ROUTER_UP,
    ]
    assert agent.failure is None


async def test_restart_reconciles_exactly_once(config, sim):
    sim.add_hotspot_user(USER, password="pw")
    sim.add_hotspot_user(OTHER, password="pw")
    stays = sim.hotspot_login(USER, mac_address="AA:BB:CC:DD:EE:01")
    leaves = sim.hotspot_login(OTHER, mac_address="AA:BB:CC:DD:EE:02")
    async with Agent(config) as agent:
        await wait_for(lambda: len(agent.mirrors["r1"].sessions["hotspot"]) == 2)
        first_seq = await agent.outbox.last_seq()

    # While the agent is away: one leaves, one arrives, one moves traffic.
    sim.logout(leaves)
    sim.add_hotspot_user("+255700000003", password="pw")
    arrives = sim.hotspot_login("+255700000003", mac_address="AA:BB:CC:DD:EE:03")
    sim.add_traffic(stays, bytes_in=10, bytes_out=20)

    async with Agent(config) as agent:
        await wait_for(lambda: events(agent, wire.SESSION_ENDED), timeout=3)

        async def arrived():
            started, _ = _started_ended(await events(agent))
            return arrives in started

        await wait_for(arrived, timeout=3)
        await wait_for(lambda: agent.mirrors["r1"].sessions["hotspot"][stays].bytes_out == 20)
        found = await events(agent)
        assert found[0].seq == 1
        assert [e.seq for e in found] == list(range(1, found[-1].seq + 1))  # no gap
        assert found[-1].seq > first_seq
        started, ended = _started_ended(found)
        assert started == Counter({stays: 1, leaves: 1, arrives: 1})
        assert ended == Counter({leaves: 1})
        # The router never changed state as far as the hub knows: one router.up in all.
        assert [e.kind for e in found].count(wire.ROUTER_UP) == 1


async def test_snapshot_matches_cache_and_sequence(agent, sim):
    sim.add_hotspot_user(USER, password="pw")
    sid = sim.hotspot_login(USER, mac_address="AA:BB:CC:DD:EE:01")
    await wait_for(lambda: events(agent, wire.SESSION_STARTED))
    await wait_for(lambda: agent.mirrors["r1"].resource is not None)
    as_of_seq, snapshots = await agent.snapshot()
    assert as_of_seq >= max(e.seq for e in await events(agent, wire.SESSION_STARTED))
    (snap,) = snapshots
    assert snap.router == "r1"
    assert [s.session_id for s in snap.sessions] == [sid]
    assert snap.health.status == "online"
    assert snap.health.identity == "r1"
    assert snap.health.version == "7.16.2 (stable)"
    assert snap.health.total_memory and snap.health.free_memory
    assert snap.health.hotspot_active == 1
    assert agent.router_infos() == [wire.RouterInfo("r1", sim.host, sim.port)]


async def test_health_events_and_collectors(agent):
    mirror = agent.mirrors["r1"]
    await wait_for(lambda: events(agent, wire.ROUTER_HEALTH))
    await wait_for(lambda: {"health", "interfaces", "hotspot_config"} <= set(mirror.collectors))
    assert all(stat.success for stat in mirror.collectors.values())
    (health, *_) = await events(agent, wire.ROUTER_HEALTH)
    parsed = wire.parse_health(health.data)
    assert parsed.status == "online"
    assert 0 <= parsed.cpu_load <= 100
    assert parsed.uptime_seconds > 0
    assert {"ether1", "ether2"} <= set(mirror.interfaces)
    assert mirror.hotspot_users == (0, 0)


async def test_session_id_reused_while_router_offline(agent, sim):
    # Hotspot ids follow the client IP: a client that logs out and in while the agent cannot
    # see the router comes back under the same id, up at least as long as last seen.
    mac = "AA:BB:CC:DD:EE:01"
    sim.add_hotspot_user(USER, password="pw")
    mirror, link = agent.mirrors["r1"], agent.links["r1"]
    await wait_for(lambda: mirror.resource is not None)  # the router clock is known
    sid = sim.hotspot_login(USER, mac_address=mac)
    await wait_for(lambda: events(agent, wire.SESSION_STARTED))

    sim.set_offline(True)
    await wait_for(lambda: link.state.status == "offline")
    sim.step(60.0)
    sim.logout(sid)
    assert sim.hotspot_login(USER, mac_address=mac) == sid
    sim.step(30.0)  # the new login is up 30 s: more than the 0 s the agent last saw
    sim.set_offline(False)

    async def both():
        started, ended = _started_ended(await events(agent))
        return started[sid] == 2 and ended[sid] == 1

    await wait_for(both)
    found = await events(agent)
    kinds = [e.kind for e in found if e.kind in (wire.SESSION_STARTED, wire.SESSION_ENDED)]
    assert kinds == [wire.SESSION_STARTED, wire.SESSION_ENDED, wire.SESSION_STARTED]
    again = [e for e in found if e.kind == wire.SESSION_STARTED][-1]
    assert again.data["uptime_seconds"] == 30


async def test_same_session_across_an_outage_is_not_restarted(agent, sim):
    # The other side of the login-time rule: a session that simply went on is the same one.
    sim.add_hotspot_user(USER, password="pw")
    mirror, link = agent.mirrors["r1"], agent.links["r1"]
    await wait_for(lambda: mirror.resource is not None)
    sid = sim.hotspot_login(USER, mac_address="AA:BB:CC:DD:EE:01")
    await wait_for(lambda: events(agent, wire.SESSION_STARTED))
    sim.set_offline(True)
    await wait_for(lambda: link.state.status == "offline")
    sim.step(90.0)
    sim.set_offline(False)
    await wait_for(lambda: mirror.sessions["hotspot"][sid].uptime_seconds == 90)
    started, ended = _started_ended(await events(agent))
    assert (started[sid], ended[sid]) == (1, 0)


async def test_unparsable_row_is_skipped_and_the_rest_still_count(agent, sim):
    sim.add_hotspot_user(USER, password="pw")
    sim.add_hotspot_user(OTHER, password="pw")
    sim.add_hotspot_user("+255700000003", password="pw")
    bad = sim.hotspot_login(USER, mac_address="AA:BB:CC:DD:EE:01")
    moves = sim.hotspot_login(OTHER, mac_address="AA:BB:CC:DD:EE:02")
    leaves = sim.hotspot_login("+255700000003", mac_address="AA:BB:CC:DD:EE:03")
    mirror = agent.mirrors["r1"]
    await wait_for(lambda: len(mirror.sessions["hotspot"]) == 3)
    sim.world.hotspot[bad].bytes_in = "12x"  # the router sends a counter nobody can read
    sim.add_traffic(moves, bytes_in=10, bytes_out=4000)
    sim.logout(leaves)

    async def counted():
        found = await events(agent, wire.SESSION_UPDATED)
        return [e for e in found if e.data["session_id"] == moves and e.data["bytes_out"] == 4000]

    await wait_for(counted)
    await wait_for(lambda: mirror.bad_rows > 0)
    assert mirror.collectors["hotspot_sessions"].success
    _, ended = _started_ended(await events(agent))
    assert ended == Counter({leaves: 1})  # the unreadable one is kept, not ended
    assert set(mirror.sessions["hotspot"]) == {bad, moves}


async def test_short_flap_reaches_the_hub_as_down_then_up(agent):
    mirror, link = agent.mirrors["r1"], agent.links["r1"]
    await wait_for(lambda: events(agent, wire.ROUTER_UP))
    # Down and up before the status loop runs once (the link noticed and reconnected).
    link._set_state("offline", "connection lost")
    link._set_state("online")

    async def kinds():
        found = await events(agent)
        seen = [e.kind for e in found if e.kind in (wire.ROUTER_UP, wire.ROUTER_DOWN)]
        return len(seen) == 3 and seen

    assert await wait_for(kinds) == [wire.ROUTER_UP, wire.ROUTER_DOWN, wire.ROUTER_UP]
    assert mirror.health().status == "online"


async def test_failing_listen_backs_off_and_resets(tmp_path, sim):
    # The router's API session limit lets the command connection in and no listen.
    sim.max_sessions = 1
    sim.add_hotspot_user(USER, password="pw")
    config = make_config(tmp_path, [sim])
    async with Agent(config) as agent:
        mirror, settings = agent.mirrors["r1"], agent.links["r1"].settings
        await wait_for(lambda: mirror.listen_failures["hotspot"] >= 5)
        ceilings = mirror.listen_ceilings["hotspot"][:5]
        assert ceilings == sorted(ceilings)  # exponential, then capped
        assert ceilings[0] == settings.backoff_min
        assert ceilings[-1] == settings.backoff_max
        assert mirror.listening == set()

        sim.max_sessions = None
        await wait_for(lambda: _listening(agent))
        sim.hotspot_login(USER, mac_address="AA:BB:CC:DD:EE:01")
        await wait_for(lambda: events(agent, wire.SESSION_STARTED))
        await wait_for(lambda: mirror.listen_failures["hotspot"] == 0)


async def test_session_id_reused_while_agent_was_stopped(config, sim):
    # The same as above across an agent restart: the login time comes back from the cache.
    mac = "AA:BB:CC:DD:EE:01"
    sim.add_hotspot_user(USER, password="pw")
    sid = sim.hotspot_login(USER, mac_address=mac)
    async with Agent(config) as agent:
        mirror = agent.mirrors["r1"]
        await wait_for(lambda: mirror.resource is not None)
        sim.step(1.0)  # a print after the router clock is known sees the session change
        # Its login time (router clock minus uptime) is cached, though no row is rewritten.
        await wait_for(lambda: _login_cached(agent, sid))

    sim.step(60.0)
    sim.logout(sid)
    assert sim.hotspot_login(USER, mac_address=mac) == sid
    sim.step(30.0)

    async with Agent(config) as agent:

        async def both():
            started, ended = _started_ended(await events(agent))
            return started[sid] == 2 and ended[sid] == 1

        await wait_for(both)


async def _login_cached(agent: Agent, sid: str) -> bool:
    return ("hotspot", sid) in await agent.store.session_logins("r1")


async def test_counter_moves_within_the_step_are_not_reported(tmp_path, sim):
    """Bytes that moved by at most counters_step_bytes since the last report give no
    session.updated (and no cache write); past the step, one; arrivals and departures as ever."""
    config = make_config(tmp_path, [sim], agent={"counters_step_bytes": 10_000})
    sim.add_hotspot_user(USER, password="pw")
    async with Agent(config) as agent:
        mirror = agent.mirrors["r1"]
        sid = sim.hotspot_login(USER, mac_address="AA:BB:CC:DD:EE:01")
        await wait_for(lambda: events(agent, wire.SESSION_STARTED))
        sim.add_traffic(sid, bytes_in=3_000, bytes_out=6_000)  # 9,000: within the step
        runs = mirror.collectors["hotspot_sessions"].runs
        await wait_for(lambda: mirror.collectors["hotspot_sessions"].runs >= runs + 3)
        assert await events(agent, wire.SESSION_UPDATED) == []
        cached = {s.session_id: s for _, _, s in await agent.store.sessions("r1")}
        assert (cached[sid].bytes_in, cached[sid].bytes_out) == (0, 0)

        sim.add_traffic(sid, bytes_in=1_000, bytes_out=1_000)  # 11,000 since the last report
        (update,) = await wait_for(lambda: events(agent, wire.SESSION_UPDATED))
        assert (update.data["bytes_in"], update.data["bytes_out"]) == (4_000, 7_000)
        sim.add_traffic(sid, bytes_in=500, bytes_out=500)  # within the step of the new report
        runs = mirror.collectors["hotspot_sessions"].runs
        await wait_for(lambda: mirror.collectors["hotspot_sessions"].runs >= runs + 3)
        assert len(await events(agent, wire.SESSION_UPDATED)) == 1

        sim.logout(sid)
        (ended,) = await wait_for(lambda: events(agent, wire.SESSION_ENDED))
        assert ended.data["session_id"] == sid
