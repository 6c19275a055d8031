"""The agent's hub link against a real hub app and a routersim: events, acks, commands, restarts."""

from __future__ import annotations

import dataclasses
import logging
import time
import tomllib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestServer

from agent.config import AgentConfig, HubSettings
from agent.enroll import enroll
from agent.hublink import HubLink
from agent.service import Agent
from common import wire
from hub.app import create_app
from hub.config import HubConfig
from hub.link import DISPATCHER, LINK_REGISTRY
from hub.services.agents import AgentService
from hub.storage.link import CommandRepository
from hub.typedefs import DB_POOL
from routersim import SimRouter

from .conftest import make_config, wait_for

FAST_LINK = {"heartbeat": 0.5, "backoff_min": 0.05, "backoff_max": 0.2}


@pytest.fixture
def hub_config(pg_dsn: str) -> HubConfig:
    return HubConfig(
        database_url=pg_dsn,
        agent_heartbeat=0.5,
        agent_offline_after=5.0,
        metrics_refresh_interval=60.0,
    )


@pytest.fixture
async def hub(hub_config: HubConfig, aiohttp_server: Any) -> TestServer:
    return await aiohttp_server(create_app(hub_config), host="127.0.0.1")


@pytest.fixture
def pool(hub: TestServer) -> asyncpg.Pool:
    return hub.app[DB_POOL]


def hub_url(server: TestServer) -> str:
    return str(server.make_url("")).rstrip("/")


@pytest.fixture
async def agent_config(
    hub: TestServer, pool: asyncpg.Pool, sim: SimRouter, tmp_path: Path
) -> AgentConfig:
    """An agent enrolled with the hub the way an operator does it (``enroll``)."""
    tenant_id = await pool.fetchval(
        "INSERT INTO tenants (slug, name) VALUES ('acme', 'Acme') RETURNING id"
    )
    _, token = await AgentService(pool, HubConfig()).issue_token(
        tenant_id=tenant_id, site="test-site", ttl_hours=1
    )
    config_path = tmp_path / "agent.toml"
    await enroll(hub_url(hub), token, str(config_path))
    hub_section = tomllib.loads(config_path.read_text())["hub"]
    config = make_config(tmp_path / "state", [sim])
    config.hub = HubSettings(**hub_section, **FAST_LINK)
    return config


@pytest.fixture
async def linked(agent_config: AgentConfig) -> AsyncIterator[Agent]:
    """A running Agent with its HubLink (the Agent starts it: a hub is configured)."""
    async with Agent(agent_config) as agent:
        await wait_for(lambda: agent.hub_connected)
        yield agent
    assert not agent.failed.is_set()


async def hub_sessions(pool: asyncpg.Pool) -> set[str]:
    return {r["username"] for r in await pool.fetch("SELECT username FROM current_sessions")}


async def outbox_drained(agent: Agent, pool: asyncpg.Pool) -> bool:
    """Every event stored at the hub and deleted from the outbox."""
    last_seq = await agent.outbox.last_seq()
    stored = await pool.fetchval("SELECT last_seq FROM agents")
    return last_seq > 0 and stored == last_seq and not await agent.outbox.read_after(0)


async def test_events_flow_and_acks_empty_the_outbox(
    linked: Agent, sim: SimRouter, pool: asyncpg.Pool
):
    sim.add_hotspot_user("+255712345678", password="pw")
    sid = sim.hotspot_login("+255712345678", mac_address="AA:BB:CC:DD:EE:01")
    await wait_for(lambda: hub_sessions(pool))
    assert await hub_sessions(pool) == {"+255712345678"}
    await wait_for(lambda: outbox_drained(linked, pool))
    version = await wait_for(lambda: pool.fetchval("SELECT version FROM router_health"))
    assert version == sim.rows("/system/resource")[0]["version"]
    assert await pool.fetchval("SELECT status FROM router_health") == "online"

    sim.add_traffic(sid, bytes_in=4000, bytes_out=9000)
    await wait_for(  # a session.updated from the counters poll
        lambda: pool.fetchval("SELECT bytes_in + bytes_out >= 13000 FROM current_sessions")
    )
    sim.logout(sid)
    await wait_for(lambda: pool.fetchval("SELECT count(*) FROM session_history"))
    assert await hub_sessions(pool) == set()
    ended = await pool.fetchrow("SELECT username, bytes_in, bytes_out FROM session_history")
    assert ended["username"] == "+255712345678"
    assert ended["bytes_in"] + ended["bytes_out"] >= 13000
    await wait_for(lambda: outbox_drained(linked, pool))


async def test_hub_command_runs_on_the_router(
    linked: Agent, sim: SimRouter, hub: TestServer, pool: asyncpg.Pool
):
    sim.add_hotspot_user("+255712345678", password="pw")
    sim.hotspot_login("+255712345678", mac_address="AA:BB:CC:DD:EE:01")
    await wait_for(lambda: hub_sessions(pool))
    router = await pool.fetchrow("SELECT id, name, agent_id, tenant_id FROM routers")
    result = await hub.app[DISPATCHER].execute(
        tenant_id=router["tenant_id"],
        agent_id=router["agent_id"],
        router_id=router["id"],
        router_name=router["name"],
        name=wire.DISCONNECT,
        args={"username": "+255712345678", "mac_address": None},
        requested_by="test",
        timeout=10.0,
    )
    assert result.ok, result
    assert result.result["session_removed"] is True
    assert result.result["user_disabled"] is True
    assert sim.rows("/ip/hotspot/active") == []
    await wait_for(lambda: pool.fetchval("SELECT status = 'done' FROM commands"))


async def test_hub_restart_resumes_without_duplicates(
    linked: Agent,
    sim: SimRouter,
    hub: TestServer,
    pool: asyncpg.Pool,
    hub_config: HubConfig,
    aiohttp_server: Any,
    caplog: pytest.LogCaptureFixture,
):
    for username in ("+255700000001", "+255700000002"):
        sim.add_hotspot_user(username, password="pw")
    first = sim.hotspot_login("+255700000001", mac_address="AA:BB:CC:DD:EE:01")
    await wait_for(lambda: hub_sessions(pool))
    await wait_for(lambda: outbox_drained(linked, pool))
    acked_before = await pool.fetchval("SELECT last_seq FROM agents")

    port = hub.port
    await hub.close()
    await wait_for(lambda: not linked.hub_connected)

    # While the hub is away the site keeps living; the outbox keeps every event.
    sim.logout(first)
    second = sim.hotspot_login("+255700000002", mac_address="AA:BB:CC:DD:EE:02")
    sim.logout(second)

    async def ended_in_outbox() -> bool:
        pending = await linked.outbox.read_after(0)
        return len([e for e in pending if e.kind == wire.SESSION_ENDED]) == 2

    await wait_for(ended_in_outbox)
    pending = await linked.outbox.read_after(0)
    assert pending[0].seq > acked_before  # rows the hub acknowledged were deleted

    caplog.set_level(logging.INFO, logger="hub.link")
    restarted = await aiohttp_server(create_app(hub_config), host="127.0.0.1", port=port)
    await wait_for(lambda: linked.hub_connected, timeout=10.0)
    new_pool = restarted.app[DB_POOL]
    await wait_for(lambda: outbox_drained(linked, new_pool), timeout=10.0)

    rows = await new_pool.fetch("SELECT session_id, username FROM session_history")
    assert sorted(r["username"] for r in rows) == ["+255700000001", "+255700000002"]
    assert len({r["session_id"] for r in rows}) == len(rows)
    assert await hub_sessions(new_pool) == set()
    assert not [r for r in caplog.records if "duplicate events ignored" in r.getMessage()]


async def test_rejected_credential_keeps_retrying_and_says_why(
    agent_config: AgentConfig, caplog: pytest.LogCaptureFixture
):
    settings = dataclasses.replace(agent_config.hub, credential="ifa_999_not-the-secret")
    caplog.set_level(logging.ERROR, logger="agent.hublink")

    def rejections() -> int:
        return sum(
            "agent credential rejected — re-enroll" in r.getMessage() for r in caplog.records
        )

    async with Agent(dataclasses.replace(agent_config, hub=settings)) as agent:
        await wait_for(lambda: rejections() >= 2)
        assert not agent.failed.is_set() and not agent.hub_connected


def test_link_needs_url_and_credential():
    with pytest.raises(ValueError, match=r"hub\.url and hub\.credential"):
        HubLink(HubSettings(url=None, credential="x"), None)  # type: ignore[arg-type]


async def test_a_refused_event_never_blocks_the_ones_behind_it(
    linked: Agent, pool: asyncpg.Pool, caplog: pytest.LogCaptureFixture
):
    """A bad event between good ones in a real outbox: logged once, dropped, the rest stored."""
    await wait_for(lambda: outbox_drained(linked, pool))
    caplog.set_level(logging.ERROR, logger="agent.hublink")
    session = wire.as_dict(wire.Session("*S1", "hotspot", "u1", None, None, 1, 0, 10, 20, "mac"))
    outbox = linked.outbox
    first = await outbox.append(wire.SESSION_STARTED, "r1", session)
    bad = await outbox.append(wire.SESSION_STARTED, "r1", {**session, "username": "x" * 100_000})
    last = await outbox.append(wire.SESSION_STARTED, "r1", {**session, "session_id": "*S2"})
    await wait_for(lambda: outbox_drained(linked, pool))
    assert first < bad < last
    assert {"*S1", "*S2"} <= {
        r["session_id"] for r in await pool.fetch("SELECT session_id FROM current_sessions")
    }
    refused = [r for r in caplog.records if "hub refused event" in r.getMessage()]
    assert len(refused) == 1 and f"seq={bad}" in refused[0].getMessage()
    reason = await pool.fetchval(
        "SELECT data->>'reason' FROM site_events WHERE seq = $1 AND kind = $2",
        bad,
        wire.EVENT_REJECTED,
    )
    assert "username" in reason


async def test_entitlements_sync_once_per_change_not_once_per_reconnect(
    linked: Agent, hub: TestServer, pool: asyncpg.Pool
):
    """Reconnects with an unchanged set send nothing and add no outbox rows; a changed set
    arrives as one sync and the agent converges on it."""
    from agent.commands import ENTITLEMENTS_DIGEST
    from hub.link import LINK_REGISTRY

    router = await pool.fetchrow("SELECT id, name, agent_id, tenant_id FROM routers")

    async def entitle(username: str) -> None:
        customer_id = await pool.fetchval(
            "INSERT INTO customers (tenant_id, username) VALUES ($1, $2) RETURNING id",
            router["tenant_id"],
            username,
        )
        await pool.execute(
            "INSERT INTO entitlements (tenant_id, customer_id, profile, on_expiry, starts_at,"
            " expires_at) VALUES ($1, $2, 'paid', 'cut', now() - interval '1 minute',"
            " now() + interval '1 hour')",
            router["tenant_id"],
            customer_id,
        )

    results: list[int] = []  # seqs of command results the agent appended

    async def on_commit(tx) -> None:
        results.extend(seq for seq, kind in tx.appended if kind == wire.COMMAND_RESULT)

    linked.store.add_commit_hook(on_commit)

    async def relink() -> None:
        held = hub.app[LINK_REGISTRY].get(router["agent_id"])
        await held.ws.close()
        await wait_for(lambda: hub.app[LINK_REGISTRY].get(router["agent_id"]) not in (None, held))

    async def held_usernames() -> set[str]:
        return {s.entitlement.username for s in await linked.store.entitlements()}

    await entitle("+255700000011")
    await relink()
    await wait_for(lambda: held_usernames())
    digest = await wait_for(lambda: linked.store.get_meta(ENTITLEMENTS_DIGEST))
    await wait_for(lambda: len(results) == 1)  # the sync's one result

    for _ in range(3):  # unchanged: nothing sent, nothing re-reported
        await relink()
    ping = await hub.app[DISPATCHER].execute(
        tenant_id=router["tenant_id"],
        agent_id=router["agent_id"],
        router_id=router["id"],
        router_name=router["name"],
        name=wire.PING,
        args={"address": "127.0.0.1", "count": 1},
        requested_by="test",
        timeout=10.0,
    )
    assert ping.name == wire.PING
    assert len(results) == 2  # the sync result, then the ping's: no sync was re-reported

    await entitle("+255700000012")
    await relink()
    await wait_for(lambda: _has_both(linked))
    assert await linked.store.get_meta(ENTITLEMENTS_DIGEST) != digest


async def _has_both(agent: Agent) -> bool:
    held = {s.entitlement.username for s in await agent.store.entitlements()}
    return held == {"+255700000011", "+255700000012"}


async def test_events_and_snapshots_are_split_to_fit_the_frame_bound(
    agent_config: AgentConfig,
    sim: SimRouter,
    hub: TestServer,
    pool: asyncpg.Pool,
    caplog: pytest.LogCaptureFixture,
):
    from hub.link import LINK_REGISTRY

    users = [f"+2557000{i:05d}" for i in range(200)]
    for i, username in enumerate(users):
        sim.add_hotspot_user(username, password="pw")
        sim.hotspot_login(username, mac_address=f"AA:BB:CC:DD:{i // 256:02X}:{i % 256:02X}")
    # ~30 sessions a frame; the Agent starts its HubLink with these settings
    agent_config.hub = dataclasses.replace(agent_config.hub, max_frame_bytes=8 * 1024)
    caplog.set_level(logging.INFO, logger="hub.link.ingest")
    async with Agent(agent_config) as agent:
        await wait_for(lambda: agent.hub_connected)
        (first,) = await wait_for(lambda: list(hub.app[LINK_REGISTRY]))
        await wait_for(lambda: _count(pool, 200), timeout=20)
        assert list(hub.app[LINK_REGISTRY]) == [first]  # never closed for a big frame
        caplog.clear()
        await first.ws.close()  # relink: the snapshot of 200 sessions goes in parts
        await wait_for(lambda: [r for r in caplog.records if "last=True" in r.getMessage()])
        parts = [r.getMessage() for r in caplog.records if "snapshot stored" in r.getMessage()]
        # (the first link's snapshot may still log its last parts after the clear)
        assert len(parts) > 1 and any("part=0" in part for part in parts)
        assert await _count(pool, 200)


async def _count(pool: asyncpg.Pool, expected: int) -> bool:
    return await pool.fetchval("SELECT count(*) FROM current_sessions") == expected


# --- entitlement sync by difference (issue 20) ------------------------------------------------


class SyncSite:
    """The hub's entitlements of the linked router, written as the hub's services write them
    (the version trigger runs), and the entitlement syncs the agent receives."""

    def __init__(self, hub: TestServer, pool: asyncpg.Pool, router: asyncpg.Record) -> None:
        self.hub = hub
        self.pool = pool
        self.router = router
        self.syncs: list[wire.Command] = []

    def watch(self, agent: Agent) -> None:
        """Record every entitlements.sync that reaches ``agent`` (then run it as ever)."""
        submit = agent.submit

        async def recording(command: wire.Command) -> None:
            if command.name == wire.ENTITLEMENTS_SYNC:
                self.syncs.append(command)
            await submit(command)

        agent.submit = recording  # type: ignore[method-assign]

    async def entitle(
        self, username: str, *, seconds: float = 3600.0, mac: str | None = None, own: bool = False
    ) -> None:
        """Access for ``seconds`` from now: tenant-wide, or on the router only (``own``)."""
        customer_id = await self.pool.fetchval(
            "INSERT INTO customers (tenant_id, username) VALUES ($1, $2)"
            " ON CONFLICT (tenant_id, username) DO UPDATE SET username = EXCLUDED.username"
            " RETURNING id",
            self.router["tenant_id"],
            username,
        )
        await self.pool.execute(
            "INSERT INTO entitlements (tenant_id, customer_id, router_id, mac_address, profile,"
            " on_expiry, starts_at, expires_at) VALUES ($1, $2, $3, $4, 'paid', 'cut',"
            " now() - interval '1 minute', now() + make_interval(secs => $5))",
            self.router["tenant_id"],
            customer_id,
            self.router["id"] if own else None,
            mac,
            seconds,
        )

    async def revoke(self, username: str) -> None:
        await self.pool.execute(
            "UPDATE entitlements SET revoked_at = now() WHERE revoked_at IS NULL AND customer_id"
            " = (SELECT id FROM customers WHERE username = $1)",
            username,
        )

    async def wanted(self) -> set[tuple[str, str, str, float]]:
        """The hub's live set for the agent: (router, username, MAC, expiry to the ms)."""
        rows = await CommandRepository(self.pool).active_entitlements(self.router["agent_id"])
        return {
            (r.router, r.username, r.mac_address or "", round(r.expires_at.timestamp(), 3))
            for r in rows
        }

    async def relink(self) -> None:
        """The hub drops the agent's link; wait until the agent is back (a new connection)."""
        held = self.hub.app[LINK_REGISTRY].get(self.router["agent_id"])
        await held.ws.close()
        await wait_for(
            lambda: self.hub.app[LINK_REGISTRY].get(self.router["agent_id"]) not in (None, held)
        )
        await self.fence()

    async def fence(self) -> None:
        """A ping through the link: the hub pushes its sync before any command it sends."""
        ping = await self.hub.app[DISPATCHER].execute(
            tenant_id=self.router["tenant_id"],
            agent_id=self.router["agent_id"],
            router_id=self.router["id"],
            router_name=self.router["name"],
            name=wire.PING,
            args={"address": "127.0.0.1", "count": 1},
            requested_by="test",
            timeout=10.0,
        )
        assert ping.ok, ping.error


async def held(agent: Agent) -> set[tuple[str, str, str, float]]:
    """The agent's unexpired entitlements, as SyncSite.wanted."""
    now = time.time()
    return {
        (s.router, s.entitlement.username, s.entitlement.mac_address or "", round(s.expires_at, 3))
        for s in await agent.store.entitlements()
        if s.expires_at > now
    }


@pytest.fixture
async def site(hub: TestServer, pool: asyncpg.Pool, linked: Agent) -> SyncSite:
    router = await pool.fetchrow("SELECT id, name, agent_id, tenant_id FROM routers")
    site = SyncSite(hub, pool, router)
    site.watch(linked)
    return site


async def test_reconnect_with_nothing_changed_sends_no_entitlement_command(
    linked: Agent, site: SyncSite
):
    for n in range(3):
        await site.entitle(f"+25570000010{n}")
    await site.relink()
    await wait_for(lambda: _same(linked, site))
    assert len(site.syncs) == 1 and wire.parse_entitlements_sync(site.syncs[0].args).base is None

    for _ in range(3):
        await site.relink()
    assert len(site.syncs) == 1  # three reconnects, the set unchanged: nothing travelled


async def test_one_change_sends_one_command_with_only_that_change(linked: Agent, site: SyncSite):
    for n in range(5):
        await site.entitle(f"+25570000020{n}")
    await site.relink()
    await wait_for(lambda: _same(linked, site))
    first = wire.parse_entitlements_sync(site.syncs[-1].args)
    # (On a loaded box the link may also have dropped and come back between the grants: the
    # syncs then add up to the set instead of being one; what matters is the agent holds it.)
    assert all(e.routers is None for e in first.entitlements)  # tenant-wide: once, no list
    before = len(site.syncs)

    await site.entitle("+255700000299")
    await site.relink()
    await wait_for(lambda: _same(linked, site))
    assert len(site.syncs) == before + 1
    change = wire.parse_entitlements_sync(site.syncs[-1].args)
    assert change.base == first.digest and change.digest != first.digest
    assert [e.username for e in change.entitlements] == ["+255700000299"]
    assert change.revoked == []


async def test_agent_offline_across_several_changes_ends_with_the_hubs_set(
    agent_config: AgentConfig, hub: TestServer, pool: asyncpg.Pool
):
    async with Agent(agent_config) as agent:
        await wait_for(lambda: agent.hub_connected)
        router = await pool.fetchrow("SELECT id, name, agent_id, tenant_id FROM routers")
        site = SyncSite(hub, pool, router)
        site.watch(agent)
        for username in ("+255700000301", "+255700000302", "+255700000303"):
            await site.entitle(username)
        await site.entitle("+255700000304", mac="AA:BB:CC:DD:EE:04", own=True)
        await site.relink()
        await wait_for(lambda: _same(agent, site))

    # While the agent is stopped: a revoke, an extension, a new grant on the router only, a
    # new device of a known user, and one that is granted and revoked again.
    await site.revoke("+255700000301")
    await site.entitle("+255700000302", seconds=7200.0)
    await site.entitle("+255700000305", own=True)
    await site.entitle("+255700000303", mac="AA:BB:CC:DD:EE:03")
    await site.entitle("+255700000306")
    await site.revoke("+255700000306")

    site.syncs.clear()
    async with Agent(agent_config) as agent:
        site.watch(agent)
        await wait_for(lambda: agent.hub_connected)
        await site.fence()
        await wait_for(lambda: _same(agent, site))
        (change,) = [wire.parse_entitlements_sync(c.args) for c in site.syncs]
        assert change.base is not None  # a difference, not the whole set
        assert sorted(e.username for e in change.entitlements) == [
            "+255700000302",
            "+255700000303",
            "+255700000305",
        ]
        # Revoked since: 306 too, which it never held (the hub does not know what it holds).
        assert sorted(r.username for r in change.revoked) == ["+255700000301", "+255700000306"]
        users = {username for _, username, _, _ in await held(agent)}
        assert "+255700000301" not in users and "+255700000306" not in users


async def test_expiry_is_enforced_on_time_for_an_entitlement_that_came_as_a_difference(
    linked: Agent, site: SyncSite, sim: SimRouter
):
    await site.entitle("+255700000401")
    await site.relink()
    await wait_for(lambda: _same(linked, site))
    user, mac = "+255700000402", "AA:BB:CC:DD:EE:42"
    sim.add_hotspot_user(user, password="pw")
    sim.hotspot_login(user, mac_address=mac)
    await site.entitle(user, seconds=3.0)
    expires_at = max(expiry for _, name, _, expiry in await site.wanted() if name == user)
    await site.relink()
    assert wire.parse_entitlements_sync(site.syncs[-1].args).base is not None
    await wait_for(lambda: _holds(linked, user), timeout=5)

    def cut() -> bool:
        return not [r for r in sim.rows("/ip/hotspot/active") if r.get("user") == user]

    await wait_for(cut, timeout=15)
    enforced = await wait_for(  # as the hub stored the agent's event
        lambda: site.pool.fetchrow(
            "SELECT ts, data FROM site_events WHERE kind = $1 AND data->>'username' = $2",
            wire.ENTITLEMENT_ENFORCED,
            user,
        )
    )
    assert enforced["ts"].timestamp() >= expires_at - 0.001  # not before its time
    assert enforced["data"]["action"] == "cut"


async def _holds(agent: Agent, user: str) -> bool:
    return user in {username for _, username, _, _ in await held(agent)}


async def _same(agent: Agent, site: SyncSite) -> bool:
    return await held(agent) == await site.wanted()


def test_reconnect_delay_spreads_below_a_doubling_ceiling():
    from agent.hublink import reconnect_delay

    first = [reconnect_delay(n, 2.0, 15.0) for n in (1, 2, 3) for _ in range(400)]
    later = [reconnect_delay(10, 2.0, 15.0) for _ in range(1000)]
    assert all(0.0 <= d <= 2.0 for d in first)  # the first three retries within backoff_min
    assert all(0.0 <= d <= 15.0 for d in later) and max(later) > 2.0  # capped at backoff_max
    assert min(first) < 0.5 and max(first) > 1.5  # spread over the window, not one instant


async def test_a_hub_frame_over_aiohttps_default_limit_reaches_the_agent(
    linked: Agent, hub: TestServer, pool: asyncpg.Pool
):
    """A big frame from the hub (a large tenant's whole entitlement set) is taken, not refused
    with 1009 into a reconnect loop: here a command whose args pass 4 MiB."""
    row = "SELECT id, name, agent_id, tenant_id FROM routers"
    router = await wait_for(lambda: pool.fetchrow(row))
    result = await hub.app[DISPATCHER].execute(
        tenant_id=router["tenant_id"],
        agent_id=router["agent_id"],
        router_id=router["id"],
        router_name=router["name"],
        name=wire.DISCONNECT,
        args={"username": "+255700000099", "padding": "x" * (5 * 1024 * 1024)},
        requested_by="test",
        timeout=30.0,
    )
    assert result.ok, result  # read and run (nobody to disconnect), not lost with the link
    assert result.result["sessions_found"] == 0
