"""Commands hub -> agent: round trips, timeouts, reconnects, entitlement sync, two processes."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import aiohttp
import asyncpg
import pytest
from aiohttp.test_utils import TestServer

from common import wire
from common.timeutil import parse_iso, utcnow
from hub.errors import AgentUnavailable, CommandTimedOut, InvalidInput, NotFound
from hub.link import DISPATCHER
from hub.typedefs import DB_POOL, METRICS

from .conftest import ROUTERS, FakeAgent, enrolled_agent, result_event, wait_for

DISCONNECT_ARGS = {"username": "+255700000001", "mac_address": None}


async def router_of(pool: asyncpg.Pool, agent_id: int) -> tuple[int, str]:
    row = await pool.fetchrow("SELECT id, name FROM routers WHERE agent_id = $1", agent_id)
    return row["id"], row["name"]


def execute(server: TestServer, tenant_id: int, agent_id: int, router: tuple[int, str], **changes):
    values = {
        "tenant_id": tenant_id,
        "agent_id": agent_id,
        "router_id": router[0],
        "router_name": router[1],
        "name": wire.DISCONNECT,
        "args": DISCONNECT_ARGS,
        "requested_by": "api_key:test",
        "timeout": 5.0,
    }
    values.update(changes)
    return server.app[DISPATCHER].execute(**values)


async def test_command_round_trip(
    agent: FakeAgent, hub: TestServer, pool: asyncpg.Pool, tenant_id: int
):
    agent_id = (await agent.connect())["agent_id"]
    router = await router_of(pool, agent_id)
    running = asyncio.create_task(execute(hub, tenant_id, agent_id, router))

    command = await agent.command()
    assert (command.name, command.router, command.args) == (wire.DISCONNECT, "r1", DISCONNECT_ARGS)
    assert parse_iso(command.deadline) > utcnow()
    row = await pool.fetchrow("SELECT * FROM commands WHERE id = $1::uuid", command.id)
    assert (row["status"], row["requested_by"], row["router_id"]) == (
        "sent",
        "api_key:test",
        router[0],
    )

    ack = await agent.send_events(result_event(1, command, session_removed=True))
    assert ack == 1
    result = await running
    assert result == wire.CommandResult(
        command_id=command.id,
        name=wire.DISCONNECT,
        ok=True,
        result={"session_removed": True},
        latency_ms=12.5,
    )
    row = await pool.fetchrow("SELECT * FROM commands WHERE id = $1::uuid", command.id)
    assert (row["status"], row["result"], row["latency_ms"]) == (
        "done",
        {"session_removed": True},
        12.5,
    )
    assert row["completed_at"] is not None
    histogram = hub.app[METRICS].command_round_trip_seconds.labels(command=wire.DISCONNECT)
    assert histogram._sum.get() > 0


async def test_failed_result_is_returned_and_recorded(
    agent: FakeAgent, hub: TestServer, pool: asyncpg.Pool, tenant_id: int
):
    agent_id = (await agent.connect())["agent_id"]
    running = asyncio.create_task(
        execute(hub, tenant_id, agent_id, await router_of(pool, agent_id))
    )
    command = await agent.command()
    failure = result_event(1, command, ok=False, errors=["binding: no such item"])
    failure.data["error"] = "1 step failed"
    await agent.send_events(failure)
    result = await running
    assert (result.ok, result.error) == (False, "1 step failed")
    row = await pool.fetchrow("SELECT status, error FROM commands")
    assert tuple(row) == ("failed", "1 step failed")


async def test_agent_unavailable_at_once(
    http: aiohttp.ClientSession, hub: TestServer, pool: asyncpg.Pool, tenant_id: int
):
    agent_id, credential = await enrolled_agent(http, hub, tenant_id)
    fake = FakeAgent(http, hub, credential)
    await fake.connect()
    router = await router_of(pool, agent_id)
    await fake.close()
    await wait_for(lambda: pool.fetchval("SELECT NOT connected FROM agents"))

    # At once: refused before anything is queued (a wait would hang on this timeout).
    with pytest.raises(AgentUnavailable):
        await execute(hub, tenant_id, agent_id, router, timeout=3600.0)
    assert await pool.fetchval("SELECT count(*) FROM commands") == 0

    # Marked connected by a hub process that went silent (crashed): stale, so unavailable too.
    await pool.execute(
        "UPDATE agents SET connected = true, hub_instance = 'gone',"
        " last_seen_at = now() - interval '1 minute'"
    )
    with pytest.raises(AgentUnavailable):
        await execute(hub, tenant_id, agent_id, router, timeout=3600.0)
    assert await pool.fetchval("SELECT count(*) FROM commands") == 0


async def test_wrong_tenant_router_or_command_is_refused(
    agent: FakeAgent, hub: TestServer, pool: asyncpg.Pool, tenant_id: int
):
    agent_id = (await agent.connect())["agent_id"]
    router = await router_of(pool, agent_id)
    with pytest.raises(NotFound):
        await execute(hub, tenant_id + 1, agent_id, router)
    with pytest.raises(NotFound):
        await execute(hub, tenant_id, agent_id, (router[0] + 100, "nope"))
    with pytest.raises(InvalidInput):
        await execute(hub, tenant_id, agent_id, router, name="format_disk")
    assert await pool.fetchval("SELECT count(*) FROM commands") == 0


async def test_command_times_out_and_expires(
    agent: FakeAgent, hub: TestServer, pool: asyncpg.Pool, tenant_id: int
):
    agent_id = (await agent.connect())["agent_id"]
    router = await router_of(pool, agent_id)
    with pytest.raises(CommandTimedOut):
        await execute(hub, tenant_id, agent_id, router, timeout=0.3)
    command = await agent.command()  # it was sent; the agent just never answered
    assert await pool.fetchval("SELECT status FROM commands") == "expired"

    # A late answer is still recorded: the command did run after all.
    assert await agent.send_events(result_event(1, command)) == 1
    assert await pool.fetchval("SELECT status FROM commands") == "done"


async def test_result_for_another_agents_command_is_ignored(
    http: aiohttp.ClientSession, hub: TestServer, pool: asyncpg.Pool, tenant_id: int
):
    agent_id, credential = await enrolled_agent(http, hub, tenant_id, site="a")
    _, other_credential = await enrolled_agent(http, hub, tenant_id, site="b")
    target, intruder = FakeAgent(http, hub, credential), FakeAgent(http, hub, other_credential)
    await target.connect()
    await intruder.connect()
    running = asyncio.create_task(
        execute(hub, tenant_id, agent_id, await router_of(pool, agent_id), timeout=1.0)
    )
    command = await target.command()
    assert await intruder.send_events(result_event(1, command)) == 1
    with pytest.raises(CommandTimedOut):
        await running
    await target.close()
    await intruder.close()


async def test_agent_leaving_fails_its_command_at_once_and_it_is_not_resent(
    agent: FakeAgent, hub: TestServer, pool: asyncpg.Pool, tenant_id: int
):
    """Gone before answering: the caller gets AgentUnavailable now, not after the timeout, and
    the command (lost with the agent) does not run later when the agent is back."""
    agent_id = (await agent.connect())["agent_id"]
    running = asyncio.create_task(
        execute(hub, tenant_id, agent_id, await router_of(pool, agent_id), timeout=3600.0)
    )
    await agent.command()
    await agent.close()
    with pytest.raises(AgentUnavailable, match="agent gone"):
        await running
    assert await pool.fetchval("SELECT status FROM commands") == "lost"
    await agent.connect(last_seq=0)
    await agent.send_events(wire.Event(1, "2026-01-15T12:00:00Z", "x", None, {}))
    assert not [f for f in agent.inbox if f["type"] == "command"]


async def test_pending_commands_are_pushed_on_reconnect(
    agent: FakeAgent, hub: TestServer, pool: asyncpg.Pool, tenant_id: int
):
    """A command queued for an agent that is between sockets reaches its next one."""
    agent_id = (await agent.connect())["agent_id"]
    router_id, _ = await router_of(pool, agent_id)
    await agent.close()
    await wait_for(lambda: pool.fetchval("SELECT NOT connected FROM agents"))
    command_id = str(uuid.uuid4())
    await pool.execute(
        "INSERT INTO commands (id, tenant_id, agent_id, router_id, name, args, requested_by,"
        " deadline) VALUES ($1::uuid, $2, $3, $4, 'ping', $5, 'test', now() + interval '1 min')",
        command_id,
        tenant_id,
        agent_id,
        router_id,
        {"address": "127.0.0.1", "count": 1},
    )
    await agent.connect(last_seq=0)
    assert (await agent.command()).id == command_id


async def test_sweep_sends_a_command_whose_notification_was_lost(
    agent: FakeAgent, hub: TestServer, pool: asyncpg.Pool, tenant_id: int
):
    agent_id = (await agent.connect())["agent_id"]
    router_id, _ = await router_of(pool, agent_id)
    command_id = str(uuid.uuid4())
    await pool.execute(
        "INSERT INTO commands (id, tenant_id, agent_id, router_id, name, args, requested_by,"
        " deadline) VALUES ($1::uuid, $2, $3, $4, 'ping', $5, 'test', now() + interval '1 min')",
        command_id,
        tenant_id,
        agent_id,
        router_id,
        {"address": "127.0.0.1", "count": 1},
    )
    command = await agent.command(timeout=30.0)  # the 0.5 s presence tick sweeps it out
    assert (command.id, command.name) == (command_id, wire.PING)
    assert await pool.fetchval("SELECT status FROM commands") == "sent"


async def test_entitlements_are_pushed_on_connect(
    agent: FakeAgent, hub: TestServer, pool: asyncpg.Pool, tenant_id: int
):
    await agent.connect()  # creates router r1
    await agent.close()
    router_id = await pool.fetchval("SELECT id FROM routers")
    now = utcnow()

    async def customer(username: str) -> int:
        return await pool.fetchval(
            "INSERT INTO customers (tenant_id, username) VALUES ($1, $2) RETURNING id",
            tenant_id,
            username,
        )

    async def entitle(customer_id, *, router=None, hours=1.0, revoked=False, mac=None):
        await pool.execute(
            "INSERT INTO entitlements (tenant_id, customer_id, router_id, mac_address, profile,"
            " on_expiry, starts_at, expires_at, revoked_at) VALUES ($1, $2, $3, $4, 'paid',"
            " 'throttle', $5, $6, $7)",
            tenant_id,
            customer_id,
            router,
            mac,
            now - timedelta(hours=2),
            now + timedelta(hours=hours),
            now if revoked else None,
        )

    alice, bob, carol, dave = [await customer(f"+25570000000{i}") for i in range(1, 5)]
    await entitle(alice, router=router_id, mac="AA:BB:CC:DD:EE:01")
    await entitle(alice, router=router_id, mac="AA:BB:CC:DD:EE:01", hours=3)  # the newest wins
    await entitle(bob)  # every router of the tenant
    await entitle(carol, hours=-1)  # expired: nothing
    await entitle(dave, revoked=True)  # revoked while the agent was away: delete it

    welcome_routers = [*ROUTERS, wire.RouterInfo(name="r2", host="127.0.0.1", port=18728)]
    await agent.connect(routers=welcome_routers)
    sync = await agent.command()  # one command for the whole set
    assert (sync.name, sync.router) == (wire.ENTITLEMENTS_SYNC, "r1")
    body = wire.parse_entitlements_sync(sync.args)
    puts = {e.username: e for e in body.entitlements}
    assert set(puts) == {"+255700000001", "+255700000002"}
    alice = puts["+255700000001"]
    assert alice == wire.SyncedEntitlement(
        username="+255700000001",
        mac_address="AA:BB:CC:DD:EE:01",
        expires_at=alice.expires_at,
        profile="paid",
        on_expiry="throttle",
        routers=["r1"],
    )
    expires = parse_iso(alice.expires_at)
    assert timedelta(hours=2.9) < expires - now < timedelta(hours=3.1)
    assert puts["+255700000002"].routers is None  # tenant-wide: once, for every router
    assert [(r.username, r.mac_address, r.routers) for r in body.revoked] == [
        ("+255700000004", None, None)
    ]
    await agent.send_events(wire.Event(1, "2026-01-15T12:00:00Z", "x", None, {}))
    assert not [f for f in agent.inbox if f["type"] == "command"]  # nothing before the ack

    # An agent holding that set says so in its hello: nothing is sent.
    await agent.close()
    await agent.connect(routers=welcome_routers, entitlements_digest=body.digest)
    await agent.send_events(wire.Event(2, "2026-01-15T12:00:00Z", "x", None, {}))
    assert not [f for f in agent.inbox if f["type"] == "command"]

    # A changed set: one new sync, with a new digest and id.
    await entitle(carol, hours=5)
    await agent.close()
    await agent.connect(routers=welcome_routers, entitlements_digest=body.digest)
    changed = await agent.command()
    assert changed.name == wire.ENTITLEMENTS_SYNC and changed.id != sync.id
    difference = wire.parse_entitlements_sync(changed.args)
    assert difference.digest != body.digest
    # Only what changed since the set the agent holds: carol's new access.
    assert difference.base == body.digest
    assert [e.username for e in difference.entitlements] == ["+255700000003"]
    assert difference.revoked == []


async def test_command_reaches_agent_on_another_hub_process(
    http: aiohttp.ClientSession, start_hub, tenant_id: int
):
    # Sweeps an hour apart: only LISTEN/NOTIFY can carry the command (and its result) in time.
    first = await start_hub(agent_heartbeat=3600.0)
    second = await start_hub(agent_heartbeat=3600.0)
    agent_id, credential = await enrolled_agent(http, first, tenant_id)
    fake = FakeAgent(http, first, credential)  # its socket is held by the first process
    await fake.connect()
    router = await router_of(second.app[DB_POOL], agent_id)

    running = asyncio.create_task(execute(second, tenant_id, agent_id, router, timeout=60.0))
    command = await fake.command(timeout=60.0)
    await fake.send_events(result_event(1, command, session_removed=True))
    result = await running
    assert result.ok and result.result == {"session_removed": True}
    assert result.latency_ms == 12.5
    await fake.close()
