"""Hotspot users at the hub's link: snapshots (also split in parts) and hotspot_user events
end in router_hotspot_users, with router_health.hotspot_users counting them."""

from __future__ import annotations

import asyncpg
import msgspec

from common import wire

from .conftest import FakeAgent, event, health


def user(name: str, **changes) -> wire.HotspotUser:
    return wire.HotspotUser(
        **{"name": name, "user_id": f"*{len(name):X}", "profile": "default", **changes}
    )


def snapshot(users: list[wire.HotspotUser] | None, **health_fields) -> wire.RouterSnapshot:
    return wire.RouterSnapshot(
        router="r1", health=health(**health_fields), sessions=[], hotspot_users=users
    )


async def names(pool: asyncpg.Pool) -> dict[str, tuple]:
    rows = await pool.fetch(
        "SELECT name, profile, disabled, comment, limit_uptime_seconds FROM router_hotspot_users"
    )
    return {r["name"]: tuple(r)[1:] for r in rows}


async def counted(pool: asyncpg.Pool) -> int | None:
    return await pool.fetchval("SELECT hotspot_users FROM router_health")


async def test_snapshot_replaces_events_fold_and_the_count_follows(
    agent: FakeAgent, pool: asyncpg.Pool
):
    await agent.connect()
    await agent.send("snapshot", as_of_seq=0, routers=[snapshot([user("a"), user("b")])])
    ack = await agent.send_events(  # seq 1..: after the snapshot
        event(1, wire.HOTSPOT_USER_PUT, user("c", comment="Guest 5364", limit_uptime_seconds=3600)),
        event(2, wire.HOTSPOT_USER_PUT, user("a", disabled=True)),
        event(3, wire.HOTSPOT_USER_REMOVED, {"name": "b"}),
        event(4, wire.HOTSPOT_USER_PUT, user("d")),  # added and removed within the frame
        event(5, wire.HOTSPOT_USER_REMOVED, {"name": "d"}),
        event(6, wire.ROUTER_HEALTH, health(hotspot_users=99)),  # the table's count wins
        event(7, wire.HOTSPOT_USER_PUT, {"name": ""}),  # refused, the rest applied
    )
    assert ack == 7
    assert await names(pool) == {
        "a": ("default", True, None, None),
        "c": ("default", False, "Guest 5364", 3600),
    }
    assert await counted(pool) == 2
    refused = await pool.fetch("SELECT seq, data FROM site_events WHERE kind = 'event.rejected'")
    assert [r["seq"] for r in refused] == [7]

    # A new link: the snapshot is the whole list again (users removed meanwhile go).
    await agent.close()
    await agent.connect(last_seq=7)
    await agent.send("snapshot", as_of_seq=7, routers=[snapshot([user("c")])])
    await agent.send_events(event(8, wire.HOTSPOT_USER_PUT, user("e")))
    assert set(await names(pool)) == {"c", "e"}
    assert await counted(pool) == 2

    # A router never printed since the agent started (None) keeps the hub's list.
    await agent.send("snapshot", as_of_seq=8, routers=[snapshot(None, hotspot_users=None)])
    await agent.send_events(event(9, wire.ROUTER_UP, {"since": "2026-01-15T12:00:00Z"}))
    assert set(await names(pool)) == {"c", "e"}


async def test_a_list_split_over_snapshot_parts_arrives_whole(agent: FakeAgent, pool: asyncpg.Pool):
    await agent.connect()
    await agent.send("snapshot", as_of_seq=0, routers=[snapshot([user("old")])])
    many = [user(f"user{i:04d}", comment="x" * 200) for i in range(300)]
    parts = wire.split_snapshot(0, [snapshot(many)], max_bytes=16_000)
    assert len(parts) > 3
    assert [r.users_continued for p in parts for r in p.routers][:2] == [False, True]
    for part in parts:
        fields = msgspec.structs.asdict(part)
        del fields["v"]
        await agent.send("snapshot", **fields)
    await agent.send_events(event(1, wire.ROUTER_UP, {"since": "2026-01-15T12:00:00Z"}))
    assert set(await names(pool)) == {u.name for u in many}
    assert await counted(pool) == 300


async def test_a_bad_user_in_a_snapshot_is_refused_alone(agent: FakeAgent, pool: asyncpg.Pool):
    await agent.connect()
    good = msgspec.structs.asdict(user("good"))
    routers = [
        {
            "router": "r1",
            "health": msgspec.structs.asdict(health()),
            "sessions": [],
            "hotspot_users": [good, {"name": "no-id"}, {**good, "name": "x" * 300}],
        }
    ]
    await agent.send("snapshot", as_of_seq=0, routers=routers)
    rejected = await agent.expect("snapshot.rejected")
    assert [r["reason"].split(":")[0] for r in rejected["rejected"]] == ["hotspot user"] * 2
    assert set(await names(pool)) == {"good"}
    assert await counted(pool) == 1
