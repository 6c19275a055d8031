"""The agent WebSocket: authentication, hello/welcome, snapshots, events, acks, presence."""

from __future__ import annotations

import asyncio

import aiohttp
import asyncpg
import pytest
from aiohttp.test_utils import TestServer

from common import wire
from hub.link import LINK_REGISTRY
from hub.link.keys import INSTANCE
from hub.typedefs import METRICS

from .conftest import (
    ROUTERS,
    FakeAgent,
    base_url,
    enrolled_agent,
    event,
    health,
    session,
    wait_for,
)


async def sessions(pool: asyncpg.Pool) -> dict[str, tuple]:
    rows = await pool.fetch(
        "SELECT session_id, username, bytes_in, uptime_seconds FROM current_sessions"
    )
    return {r["session_id"]: (r["username"], r["bytes_in"], r["uptime_seconds"]) for r in rows}


async def history(pool: asyncpg.Pool) -> list[tuple]:
    rows = await pool.fetch(
        "SELECT session_id, username, bytes_in, bytes_out, uptime_seconds FROM session_history"
        " ORDER BY id"
    )
    return [tuple(r) for r in rows]


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "Bearer nope",
        "Basic ifa_1_x",
        "Bearer ifa_1_wrong-secret",
        "Bearer ifa_x_y",
        "Bearer ifa_\u00b2_y",  # a digit to str.isdigit, not to int()
    ],
)
async def test_link_refuses_bad_credentials(
    http: aiohttp.ClientSession, hub: TestServer, tenant_id: int, authorization: str | None
):
    await enrolled_agent(http, hub, tenant_id)
    headers = {"Authorization": authorization} if authorization else {}
    with pytest.raises(aiohttp.WSServerHandshakeError) as caught:
        await http.ws_connect(base_url(hub) + wire.LINK_PATH, headers=headers)
    assert caught.value.status == 401
    async with http.get(base_url(hub) + wire.LINK_PATH, headers=headers) as response:
        assert response.status == 401
        assert await response.json() == {
            "success": False,
            "error": "agent credential is missing or invalid",
        }


async def test_hello_registers_routers_and_presence(
    agent: FakeAgent, pool: asyncpg.Pool, hub: TestServer, tenant_id: int
):
    routers = [*ROUTERS, wire.RouterInfo(name="r2", host="127.0.0.1", port=18728)]
    welcome = await agent.connect(routers=routers)
    agent_id = welcome["agent_id"]
    assert welcome["acked_seq"] == 0
    rows = await pool.fetch(
        "SELECT name, host, port, tenant_id FROM routers WHERE agent_id = $1 ORDER BY name",
        agent_id,
    )
    assert [tuple(r) for r in rows] == [
        ("r1", "127.0.0.1", 8728, tenant_id),
        ("r2", "127.0.0.1", 18728, tenant_id),
    ]
    row = await pool.fetchrow("SELECT * FROM agents WHERE id = $1", agent_id)
    assert row["connected"] and row["last_seen_at"] is not None
    assert row["agent_version"] == "test"
    assert row["hub_instance"] == hub.app[INSTANCE]
    assert hub.app[LINK_REGISTRY].get(agent_id) is not None
    assert hub.app[METRICS].agents_connected._value.get() == 1

    # Presence is refreshed by the heartbeat (0.5 s in these tests).
    first_seen = row["last_seen_at"]
    await wait_for(
        lambda: pool.fetchval(
            "SELECT last_seen_at > $2 FROM agents WHERE id = $1", agent_id, first_seen
        )
    )

    await agent.close()
    await wait_for(
        lambda: pool.fetchval("SELECT NOT connected FROM agents WHERE id = $1", agent_id)
    )
    assert hub.app[LINK_REGISTRY].get(agent_id) is None
    assert hub.app[METRICS].agents_connected._value.get() == 0


async def test_snapshot_replaces_current_state(agent: FakeAgent, pool: asyncpg.Pool):
    welcome = await agent.connect()
    snapshot = wire.RouterSnapshot(
        router="r1",
        health=health(cpu_load=7, version="7.16.2 (stable)", hotspot_active=2),
        sessions=[session("*A1", "+255700000001"), session("*A2", "+255700000002")],
    )
    await agent.send("snapshot", as_of_seq=5, routers=[snapshot])
    await wait_for(lambda: pool.fetchval("SELECT snapshot_seq = 5 FROM agents"))
    assert set(await sessions(pool)) == {"*A1", "*A2"}
    row = await pool.fetchrow("SELECT * FROM router_health")
    assert (row["status"], row["cpu_load"], row["version"]) == ("online", 7, "7.16.2 (stable)")

    snapshot.sessions = [session("*A3", "+255700000003", bytes_in=77)]
    snapshot.health = health("offline", error="connection refused")
    await agent.send("snapshot", as_of_seq=9, routers=[snapshot])
    await wait_for(lambda: pool.fetchval("SELECT snapshot_seq = 9 FROM agents"))
    assert await sessions(pool) == {"*A3": ("+255700000003", 77, 60)}
    row = await pool.fetchrow("SELECT status, error FROM router_health")
    assert tuple(row) == ("offline", "connection refused")
    assert welcome["agent_id"] == await pool.fetchval("SELECT id FROM agents")


async def test_events_are_stored_acked_and_deduplicated(agent: FakeAgent, pool: asyncpg.Pool):
    await agent.connect()
    await agent.send("snapshot", as_of_seq=0, routers=[])
    a = session("*A1", "+255700000001")
    assert await agent.send_events(event(1, wire.SESSION_STARTED, a)) == 1
    assert await sessions(pool) == {"*A1": ("+255700000001", 1000, 60)}

    a.bytes_in, a.uptime_seconds = 2000, 120
    b = session("*B1", "+255700000002", kind="ppp", mac_address=None)
    ack = await agent.send_events(
        event(2, wire.SESSION_UPDATED, a),
        event(3, wire.SESSION_STARTED, b),
        event(4, wire.ROUTER_HEALTH, health(cpu_load=55)),
    )
    assert ack == 4
    assert await sessions(pool) == {
        "*A1": ("+255700000001", 2000, 120),
        "*B1": ("+255700000002", 1000, 60),
    }
    assert await pool.fetchval("SELECT cpu_load FROM router_health") == 55

    a.bytes_in, a.bytes_out, a.uptime_seconds = 3000, 9000, 180
    ended = event(5, wire.SESSION_ENDED, a)
    assert await agent.send_events(ended) == 5
    assert set(await sessions(pool)) == {"*B1"}
    assert await history(pool) == [("*A1", "+255700000001", 3000, 9000, 180)]

    # The connection drops before the agent saw the ack: it resends after reconnecting.
    await agent.close()
    welcome = await agent.connect(last_seq=5)
    assert welcome["acked_seq"] == 5
    assert await agent.send_events(event(4, wire.ROUTER_HEALTH, health(cpu_load=1)), ended) == 5
    assert await history(pool) == [("*A1", "+255700000001", 3000, 9000, 180)]
    assert await pool.fetchval("SELECT cpu_load FROM router_health") == 55
    assert await pool.fetchval("SELECT last_seq FROM agents") == 5


async def test_events_covered_by_the_snapshot_only_go_to_history(
    agent: FakeAgent, pool: asyncpg.Pool
):
    await agent.connect()
    # The snapshot (as of seq 10) already shows *A2 gone and *A1 with its latest counters.
    current = session("*A1", "+255700000001", bytes_in=900)
    snapshot = wire.RouterSnapshot(router="r1", health=health(), sessions=[current])
    await agent.send("snapshot", as_of_seq=10, routers=[snapshot])
    old = session("*A1", "+255700000001", bytes_in=100)
    gone = session("*A2", "+255700000002", bytes_in=500)
    ack = await agent.send_events(
        event(8, wire.SESSION_UPDATED, old),
        event(9, wire.SESSION_ENDED, gone),
        event(10, wire.SESSION_STARTED, session("*A0", "+255700000000")),
        event(11, wire.SESSION_ENDED, current),
    )
    assert ack == 11
    assert await sessions(pool) == {}  # *A1 ended at 11 > 10; nothing older came back
    assert [h[0] for h in await history(pool)] == ["*A2", "*A1"]


async def test_router_up_down_and_other_events_are_site_events(
    agent: FakeAgent, pool: asyncpg.Pool
):
    await agent.connect()
    await agent.send("snapshot", as_of_seq=0, routers=[])
    ack = await agent.send_events(
        event(1, wire.ROUTER_DOWN, {"since": "2026-01-15T12:00:00Z", "error": "timed out"}),
        event(2, wire.OUTBOX_THINNED, {"dropped": 3, "kinds": ["router.health"]}, router=None),
        event(3, "some.future.kind", {"x": 1}),
    )
    assert ack == 3
    row = await pool.fetchrow("SELECT status, error, since FROM router_health")
    assert (row["status"], row["error"]) == ("offline", "timed out")
    assert row["since"].isoformat() == "2026-01-15T12:00:00+00:00"
    kinds = await pool.fetch("SELECT seq, kind, data, router_id FROM site_events ORDER BY seq")
    assert [(r["seq"], r["kind"]) for r in kinds] == [
        (1, wire.ROUTER_DOWN),
        (2, wire.OUTBOX_THINNED),
        (3, "some.future.kind"),
    ]
    assert kinds[1]["data"] == {"dropped": 3, "kinds": ["router.health"]}
    assert kinds[0]["router_id"] is not None and kinds[1]["router_id"] is None

    assert await agent.send_events(event(4, wire.ROUTER_UP, {"since": "2026-01-15T12:05:00Z"})) == 4
    row = await pool.fetchrow("SELECT status, error FROM router_health")
    assert tuple(row) == ("online", None)


async def test_malformed_event_is_skipped_not_fatal(agent: FakeAgent, pool: asyncpg.Pool):
    await agent.connect()
    bad = event(1, wire.SESSION_STARTED, {"session_id": "*X", "kind": "telnet"})
    good = event(2, wire.SESSION_STARTED, session("*A1", "+255700000001"))
    assert await agent.send_events(bad, good) == 2
    assert set(await sessions(pool)) == {"*A1"}


@pytest.mark.parametrize(
    "frame",
    [
        "not json",
        '{"type": "events", "v": 2, "events": []}',
        '{"type": "events", "v": 1, "events": "none"}',
        '{"type": "events", "v": 1, "events": [{"ts": "x", "kind": "k", "data": {}}]}',
    ],
)
async def test_invalid_frame_closes_with_1008(agent: FakeAgent, pool: asyncpg.Pool, frame: str):
    await agent.connect()
    await agent.ws.send_str(frame)
    assert await agent.closed() == aiohttp.WSCloseCode.POLICY_VIOLATION
    assert await pool.fetchval("SELECT last_seq FROM agents") == 0


async def test_unknown_frame_types_are_ignored(agent: FakeAgent):
    await agent.connect()
    await agent.send("from.the.future", anything=1)
    assert await agent.send_events(event(1, "x", {})) == 1


async def test_frame_before_hello_closes_with_1008(
    http: aiohttp.ClientSession, hub: TestServer, tenant_id: int
):
    _, credential = await enrolled_agent(http, hub, tenant_id)
    fake = FakeAgent(http, hub, credential)
    fake.ws = await http.ws_connect(fake.url, headers={"Authorization": f"Bearer {credential}"})
    await fake.send("events", events=[])
    assert await fake.closed() == aiohttp.WSCloseCode.POLICY_VIOLATION


async def test_newer_connection_replaces_older(
    http: aiohttp.ClientSession, hub: TestServer, tenant_id: int, pool: asyncpg.Pool
):
    _, credential = await enrolled_agent(http, hub, tenant_id)
    old, new = FakeAgent(http, hub, credential), FakeAgent(http, hub, credential)
    welcome = await old.connect()
    await new.connect()
    assert await old.closed() == 4000
    assert old.ws.close_code == 4000
    # The old socket's end does not mark the agent offline: the new one holds it.
    assert await pool.fetchval("SELECT connected FROM agents")
    assert hub.app[LINK_REGISTRY].get(welcome["agent_id"]).ws is not None
    assert await new.send_events(event(1, "x", {})) == 1
    await new.close()


async def test_agent_with_reset_sequence_starts_over(agent: FakeAgent, pool: asyncpg.Pool):
    await agent.connect()
    assert await agent.send_events(event(7, "x", {})) == 7
    await agent.close()
    # Its state was wiped: it counts from 1 again, and the hub must not drop those as duplicates.
    welcome = await agent.connect(last_seq=0)
    assert welcome["acked_seq"] == 0
    assert await agent.send_events(event(1, wire.SESSION_STARTED, session("*N", "u"))) == 1
    assert set(await sessions(pool)) == {"*N"}


async def test_shutdown_closes_links_going_away(
    http: aiohttp.ClientSession, start_hub, tenant_id: int, pool: asyncpg.Pool
):
    other = await start_hub()
    _, credential = await enrolled_agent(http, other, tenant_id, site="elsewhere")
    fake = FakeAgent(http, other, credential)
    await fake.connect()
    closed = asyncio.create_task(fake.closed())  # the agent answers the close handshake
    await other.close()
    assert await closed == aiohttp.WSCloseCode.GOING_AWAY
    assert not await pool.fetchval("SELECT connected FROM agents WHERE site = 'elsewhere'")


async def test_out_of_range_events_are_refused_acked_and_recorded(
    agent: FakeAgent, pool: asyncpg.Pool
):
    """A bad event between good ones: refused with its reason, the rest stored, link kept."""
    await agent.connect()
    huge = session("*H", "x" * 1_000_000)
    await agent.send(
        "events",
        events=[
            event(1, wire.SESSION_STARTED, session("*A1", "+255700000001")),
            event(2, wire.SESSION_STARTED, huge),
            {**wire.as_dict(event(3, "x", {})), "seq": 2**63},
            event(4, wire.SESSION_STARTED, session("*A2", "+255700000002", bytes_in=2**63)),
            event(5, wire.SESSION_STARTED, session("*A3", "+255700000003")),
        ],
    )
    ack = await agent.expect("ack")
    assert ack["seq"] == 5
    reasons = {item["seq"]: item["reason"] for item in ack["rejected"]}
    assert set(reasons) == {2, 2**63, 4}
    assert "username" in reasons[2] and "bytes_in" in reasons[4]
    assert set(await sessions(pool)) == {"*A1", "*A3"}
    refused = await pool.fetch(
        "SELECT seq, data FROM site_events WHERE kind = $1 ORDER BY seq", wire.EVENT_REJECTED
    )
    assert [r["seq"] for r in refused] == [2, 4]
    assert refused[0]["data"]["kind"] == wire.SESSION_STARTED
    assert "username" in refused[0]["data"]["reason"]
    # Still linked; a resend of the refused event is a duplicate now.
    assert await agent.send_events(event(2, wire.SESSION_STARTED, huge)) == 5


async def test_bad_parts_of_a_snapshot_are_skipped_and_reported(
    agent: FakeAgent, pool: asyncpg.Pool
):
    routers = [*ROUTERS, wire.RouterInfo(name="r2", host="127.0.0.1", port=18728)]
    await agent.connect(routers=routers)
    good = wire.as_dict(session("*A1", "+255700000001"))
    bad = {**good, "session_id": "*B1", "username": "y" * 100_000}
    await agent.send(
        "snapshot",
        as_of_seq=0,
        routers=[
            {"router": "r1", "health": wire.as_dict(health()), "sessions": [good, bad]},
            {"router": "r1", "health": wire.as_dict(health()), "sessions": []},
            {"router": "r2", "health": {"status": "sideways"}, "sessions": []},
            {"router": "r9", "health": wire.as_dict(health()), "sessions": []},
        ],
    )
    refused = await agent.expect("snapshot.rejected")
    reasons = [(item["router"], item["reason"]) for item in refused["rejected"]]
    assert [router for router, _ in reasons] == ["r1", "r1", "r2", "r9"]
    assert "username" in reasons[0][1] and "twice" in reasons[1][1]
    assert await sessions(pool) == {"*A1": ("+255700000001", 1000, 60)}
    assert await agent.send_events(event(1, "x", {})) == 1  # the link is still up


async def test_router_left_out_of_a_hello_is_retired_with_its_history(
    agent: FakeAgent, hub: TestServer, pool: asyncpg.Pool, tenant_id: int
):
    from hub.storage.routers import RouterRepository

    routers = [*ROUTERS, wire.RouterInfo(name="r2", host="127.0.0.1", port=18728)]
    await agent.connect(routers=routers)
    snapshot = [
        wire.RouterSnapshot("r1", health(), [session("*A1", "u1")]),
        wire.RouterSnapshot("r2", health(), [session("*B1", "u2")]),
    ]
    await agent.send("snapshot", as_of_seq=0, routers=snapshot)
    ended = session("*B0", "u0")
    assert await agent.send_events(event(1, wire.SESSION_ENDED, ended, router="r2")) == 1
    repo = RouterRepository(pool, offline_after=60)
    await wait_for(lambda: sessions(pool))
    assert [r.name for r in await repo.find(tenant_id)] == ["r1", "r2"]
    await agent.close()

    await agent.connect(routers=ROUTERS)  # r2 was removed from the agent's config
    live = await repo.find(tenant_id)
    assert [r.name for r in live] == ["r1"]
    r2 = await pool.fetchrow("SELECT id, retired_at FROM routers WHERE name = 'r2'")
    assert r2["retired_at"] is not None
    assert await repo.get(r2["id"], tenant_id) is None
    assert set(await sessions(pool)) == {"*A1"}
    assert [h[0] for h in await history(pool)] == ["*B0"]  # its history is kept
    await agent.close()

    await agent.connect(routers=routers)  # listed again: back, same id
    assert [r.id for r in await repo.find(tenant_id)] == [live[0].id, r2["id"]]


async def test_hello_naming_too_many_routers_is_refused(
    http: aiohttp.ClientSession, start_hub, tenant_id: int, pool: asyncpg.Pool
):
    small = await start_hub(max_routers_per_agent=3)
    _, credential = await enrolled_agent(http, small, tenant_id, site="big")
    fake = FakeAgent(http, small, credential)
    routers = [wire.RouterInfo(name=f"r{i}", host="10.0.0.1", port=8728) for i in range(4)]
    with pytest.raises(ConnectionError):
        await fake.connect(routers=routers)
    assert fake.ws.close_code == aiohttp.WSCloseCode.POLICY_VIOLATION
    assert await pool.fetchval("SELECT count(*) FROM routers") == 0
    await fake.close()


async def test_hello_over_the_tenants_router_limit_is_refused(
    http: aiohttp.ClientSession, start_hub, tenant_id: int, pool: asyncpg.Pool
):
    hub = await start_hub(max_routers_per_tenant=3)
    _, first_credential = await enrolled_agent(http, hub, tenant_id, site="first")
    first = FakeAgent(http, hub, first_credential)
    two = [wire.RouterInfo(name=f"a{i}", host="10.0.0.1", port=8728) for i in range(2)]
    await first.connect(routers=two)
    _, second_credential = await enrolled_agent(http, hub, tenant_id, site="second")
    second = FakeAgent(http, hub, second_credential)
    also_two = [wire.RouterInfo(name=f"b{i}", host="10.0.0.2", port=8728) for i in range(2)]
    with pytest.raises(ConnectionError):
        await second.connect(routers=also_two)  # 2 + 2 > 3
    assert second.ws.close_code == aiohttp.WSCloseCode.POLICY_VIOLATION
    names = await pool.fetch("SELECT name FROM routers ORDER BY name")
    assert [r["name"] for r in names] == ["a0", "a1"]
    await second.close()
    second = FakeAgent(http, hub, second_credential)
    await second.connect(routers=also_two[:1])  # 2 + 1 fits
    assert await pool.fetchval("SELECT count(*) FROM routers WHERE retired_at IS NULL") == 3
    await second.close()
    await first.close()


async def test_hello_over_the_tenants_own_max_mikrotiks_is_refused(
    http: aiohttp.ClientSession, start_hub, tenant_id: int, pool: asyncpg.Pool
):
    hub = await start_hub()
    await pool.execute("UPDATE tenants SET max_mikrotiks = 1 WHERE id = $1", tenant_id)
    _, credential = await enrolled_agent(http, hub, tenant_id, site="capped")
    fake = FakeAgent(http, hub, credential)
    two = [wire.RouterInfo(name=f"c{i}", host="10.0.0.3", port=8728) for i in range(2)]
    with pytest.raises(ConnectionError):
        await fake.connect(routers=two)
    assert fake.ws.close_code == aiohttp.WSCloseCode.POLICY_VIOLATION  # refused, not a 1011
    assert await pool.fetchval("SELECT count(*) FROM routers") == 0
    await fake.close()
    fake = FakeAgent(http, hub, credential)
    await fake.connect(routers=two[:1])
    assert await pool.fetchval("SELECT count(*) FROM routers") == 1
    await fake.close()


async def test_frames_over_the_bound_are_refused_before_decoding(
    http: aiohttp.ClientSession, start_hub, tenant_id: int, pool: asyncpg.Pool
):
    small = await start_hub(max_frame_bytes=64 * 1024)
    _, credential = await enrolled_agent(http, small, tenant_id, site="chatty")
    fake = FakeAgent(http, small, credential)
    await fake.connect()
    padding = {"comment": "x" * (64 * 1024)}
    await fake.send("events", events=[event(1, "x", padding)])
    assert await fake.closed() == aiohttp.WSCloseCode.MESSAGE_TOO_BIG
    assert await pool.fetchval("SELECT last_seq FROM agents WHERE site = 'chatty'") == 0


async def test_a_snapshot_in_parts_replaces_state_once_and_adds_the_rest(
    agent: FakeAgent, pool: asyncpg.Pool
):
    await agent.connect()
    assert await agent.send_events(event(1, wire.SESSION_STARTED, session("*OLD", "u0"))) == 1
    parts = wire.split_snapshot(
        5,
        [wire.RouterSnapshot("r1", health(), [session(f"*S{i}", f"u{i}") for i in range(40)])],
        4096,
    )
    assert len(parts) > 2
    for part in parts:
        await agent.ws.send_str(wire.encode_frame(part).decode())
    await wait_for(lambda: pool.fetchval("SELECT snapshot_seq = 5 FROM agents"))
    assert set(await sessions(pool)) == {f"*S{i}" for i in range(40)}
