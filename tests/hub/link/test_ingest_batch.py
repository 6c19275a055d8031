"""Batched ingest: one frame folded and written at once stores what event-by-event would."""

from __future__ import annotations

import asyncpg

from common import wire

from .conftest import FakeAgent, event, health, session
from .test_session import history, sessions


async def test_one_frame_of_many_kinds_ends_as_the_events_in_order(
    agent: FakeAgent, pool: asyncpg.Pool
):
    await agent.connect()
    await agent.send("snapshot", as_of_seq=0, routers=[])
    a = session("*A1", "+255700000001")
    b = session("*B1", "+255700000002")
    a2 = session("*A1", "+255700000001", bytes_in=2000, uptime_seconds=120)
    a_end = session("*A1", "+255700000001", bytes_in=3000, uptime_seconds=180)
    b2 = session("*B1", "+255700000002", bytes_in=4000)
    c = session("*C1", "+255700000003")
    ack = await agent.send_events(
        event(1, wire.SESSION_STARTED, a),
        event(2, wire.SESSION_STARTED, b),
        event(3, wire.SESSION_UPDATED, a2),
        event(4, wire.SESSION_ENDED, a_end),  # started and ended within the frame: gone
        event(5, wire.SESSION_UPDATED, b2),  # the last of two states wins
        event(6, wire.SESSION_ENDED, c),  # ended, then started again with the same id
        event(7, wire.SESSION_STARTED, c),
        event(8, wire.ROUTER_HEALTH, health(cpu_load=40, version="7.16")),
        event(9, wire.ROUTER_DOWN, {"since": "2026-01-15T12:00:00Z", "error": "timed out"}),
        event(10, wire.SESSION_STARTED, {"session_id": "*X", "kind": "telnet"}),  # refused
    )
    assert ack == 10
    assert await sessions(pool) == {
        "*B1": ("+255700000002", 4000, 60),
        "*C1": ("+255700000003", 1000, 60),
    }
    assert [h[0] for h in await history(pool)] == ["*A1", "*C1"]
    row = await pool.fetchrow("SELECT status, error, cpu_load, version FROM router_health")
    # The down came after the health: its status on top, the rest of the health kept.
    assert tuple(row) == ("offline", "timed out", 40, "7.16")
    kinds = await pool.fetch("SELECT seq, kind FROM site_events ORDER BY seq")
    assert [(r["seq"], r["kind"]) for r in kinds] == [
        (9, wire.ROUTER_DOWN),
        (10, wire.EVENT_REJECTED),
    ]
    assert await pool.fetchval("SELECT last_seq FROM agents") == 10

    # A status then a full health in one frame: the health (its own status) wins.
    ack = await agent.send_events(
        event(11, wire.ROUTER_UP, {"since": "2026-01-15T12:05:00Z"}),
        event(12, wire.ROUTER_HEALTH, health("offline", error="refused", cpu_load=3)),
    )
    assert ack == 12
    row = await pool.fetchrow("SELECT status, error, cpu_load FROM router_health")
    assert tuple(row) == ("offline", "refused", 3)


async def test_a_frame_of_only_duplicates_writes_nothing(agent: FakeAgent, pool: asyncpg.Pool):
    await agent.connect()
    await agent.send("snapshot", as_of_seq=0, routers=[])
    a = session("*A1", "+255700000001")
    assert await agent.send_events(event(1, wire.SESSION_STARTED, a), event(2, "x.y", {})) == 2
    a.bytes_in = 99
    assert await agent.send_events(event(1, wire.SESSION_UPDATED, a)) == 2
    assert await sessions(pool) == {"*A1": ("+255700000001", 1000, 60)}
    assert await pool.fetchval("SELECT last_seq FROM agents") == 2
