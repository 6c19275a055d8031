"""Expiry enforced on a routersim with no hub configured, and drift repaired."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from types import SimpleNamespace

import pytest

from agent.service import Agent
from agent.store import Store, StoredEntitlement
from common import wire
from common.timeutil import to_iso, utcnow
from routersim import LoginRefused

from .conftest import events, make_config, wait_for
from .test_commands import MAC1, MAC2, USER, _by_mac, _user, run_command


def _in(seconds: float) -> str:
    return to_iso(utcnow() + timedelta(seconds=seconds))


async def _enforced(agent: Agent) -> list[wire.Event]:
    return await events(agent, wire.ENTITLEMENT_ENFORCED)


async def test_cut_at_expiry_without_hub(agent, sim, ros):
    assert agent.config.hub.url is None
    sim.add_hotspot_user(USER, password="pw")
    sim.hotspot_login(USER, mac_address=MAC1)  # logged in before the grant: no race with it
    expires_at = _in(1.0)
    granted = await run_command(
        agent,
        wire.GRANT_ACCESS,
        {"username": USER, "mac_address": MAC1, "expires_at": expires_at, "password": "pw"},
    )
    assert granted.ok, granted.error

    (event,) = await wait_for(lambda: _enforced(agent), timeout=5)
    assert event.ts >= expires_at  # not before its time (how late is bench/ business)
    assert event.data == {
        "username": USER,
        "mac_address": MAC1,
        "action": "cut",
        "errors": [],
    }
    assert await ros.rows("/ip/hotspot/active") == []
    assert await ros.rows("/ip/hotspot/ip-binding") == []
    assert (await _user(ros, USER))["disabled"] is True
    with pytest.raises(LoginRefused):
        sim.hotspot_login(USER, mac_address=MAC1)
    (stored,) = await agent.store.entitlements()
    assert stored.state == "enforced"
    await wait_for(lambda: agent.enforcer.enforced_total == 1)


async def test_throttle_at_expiry_moves_user_to_expired_profile(agent, sim, ros):
    await ros.add("/ip/hotspot/user/profile", name="expired", **{"rate-limit": "64k/64k"})
    sim.add_hotspot_user(USER, password="pw")
    first = sim.hotspot_login(USER, mac_address=MAC1)
    granted = await run_command(
        agent,
        wire.GRANT_ACCESS,
        {
            "username": USER,
            "mac_address": MAC1,
            "expires_at": _in(0.5),
            "password": "pw",
            "on_expiry": "throttle",
            "expired_profile": "expired",
        },
    )
    assert granted.ok, granted.error

    (event,) = await wait_for(lambda: _enforced(agent), timeout=5)
    assert (event.data["action"], event.data["errors"]) == ("throttle", [])
    user = await _user(ros, USER)
    assert (user["profile"], user["disabled"]) == ("expired", False)
    assert await ros.rows("/ip/hotspot/ip-binding") == []  # a bypass would skip the throttle
    assert first not in [r[".id"] for r in await ros.rows("/ip/hotspot/active")]
    sim.hotspot_login(USER, mac_address=MAC1)  # back in, now on the throttled profile


async def test_expiry_while_agent_was_down_is_enforced_at_start(config, sim, ros):
    sim.add_hotspot_user(USER, password="pw")
    async with Agent(config) as agent:
        await wait_for(lambda: agent.links["r1"].state.online)
        put = await run_command(
            agent, wire.ENTITLEMENT_PUT, {"username": USER, "expires_at": _in(0.3)}
        )
        assert put.ok, put.error
    sid = sim.hotspot_login(USER, mac_address=MAC1)
    (stored,) = await _stored(config)
    await wait_for(lambda: time.time() > stored.expires_at)  # expires while no agent runs

    async with Agent(config) as agent:
        (event,) = await wait_for(lambda: _enforced(agent), timeout=5)
        assert event.data["username"] == USER
        assert sid not in [r[".id"] for r in await ros.rows("/ip/hotspot/active")]


async def _stored(config) -> list[StoredEntitlement]:
    store = await Store.open(config.agent.db_path)
    try:
        return await store.entitlements()
    finally:
        await store.close()


async def test_a_silent_router_does_not_hold_up_the_others(tmp_path, sim, ros):
    """Three due cuts on a router whose connect never returns; the healthy router's still happen.

    The silent router accepts and never answers, with a connect timeout longer than the test:
    every call on it waits for good. Its cuts come first in expiry order, so one loop working
    through due entitlements one at a time would never reach the healthy router's.
    """
    accepted: list[asyncio.StreamWriter] = []

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(writer)
        try:
            await reader.read()  # never answers, until the client hangs up
        finally:
            writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    quiet = SimpleNamespace(
        name="silent",
        host="127.0.0.1",
        port=server.sockets[0].getsockname()[1],
        username="admin",
        password="",
    )
    config = make_config(tmp_path / "state", [quiet, sim])
    config.routers[0].connect_timeout = 3600.0
    healthy_user = "+255700000042"
    sim.add_hotspot_user(healthy_user, password="pw")
    first = sim.hotspot_login(healthy_user, mac_address=MAC1)
    now = time.time()
    store = await Store.open(config.agent.db_path)
    try:
        async with store.transaction() as tx:
            for index in range(3):
                await tx.put_entitlement(
                    _due("silent", f"+2557000001{index:02d}", now - 60 + index)
                )
            await tx.put_entitlement(_due("r1", healthy_user, now - 10))
    finally:
        await store.close()

    try:
        async with Agent(config) as agent:
            (cut,) = await wait_for(lambda: _enforced(agent), timeout=10)
            assert (cut.router, cut.data["username"]) == ("r1", healthy_user)
            assert first not in [r[".id"] for r in await ros.rows("/ip/hotspot/active")]
            assert (await _user(ros, healthy_user))["disabled"] is True

            # Later expiries on the healthy router are not queued behind the silent one.
            sim.add_hotspot_user(USER, password="pw")
            second = sim.hotspot_login(USER, mac_address=MAC2)
            granted = await run_command(
                agent,
                wire.GRANT_ACCESS,
                {"username": USER, "mac_address": MAC2, "expires_at": _in(0.3), "password": "pw"},
            )
            assert granted.ok, granted.error
            await wait_for(lambda: _cut_of(agent, USER), timeout=10)
            assert second not in [r[".id"] for r in await ros.rows("/ip/hotspot/active")]

            assert accepted  # the silent router was dialled, and never answered
            assert agent.links["silent"].state.status == "unknown"
            silent_left = await agent.store.entitlements(state="active")
            assert sorted(s.router for s in silent_left) == ["silent"] * 3
    finally:
        server.close()
        await server.wait_closed()


def _due(router: str, username: str, expires_at: float) -> StoredEntitlement:
    ent = wire.Entitlement(
        username=username, mac_address=None, expires_at=to_iso(utcnow()), password="pw"
    )
    return StoredEntitlement(router=router, entitlement=ent, expires_at=expires_at)


async def _cut_of(agent: Agent, username: str) -> bool:
    return any(e.data["username"] == username for e in await _enforced(agent))


async def test_expiry_of_one_device_leaves_the_others(agent, sim, ros):
    sim.add_hotspot_user(USER, password="pw")
    sim.hotspot_login(USER, mac_address=MAC1)
    keep = sim.hotspot_login(USER, mac_address=MAC2)
    for mac, seconds in ((MAC1, 0.5), (MAC2, 3600)):
        granted = await run_command(
            agent,
            wire.GRANT_ACCESS,
            {"username": USER, "mac_address": mac, "expires_at": _in(seconds), "password": "pw"},
        )
        assert granted.ok, granted.error

    await wait_for(lambda: _enforced(agent), timeout=5)
    assert [r[".id"] for r in await ros.rows("/ip/hotspot/active")] == [keep]
    assert set(_by_mac(await ros.rows("/ip/hotspot/ip-binding"))) == {MAC2}
    assert (await _user(ros, USER))["disabled"] is False  # still entitled on MAC2


async def test_drift_repair_restores_what_was_changed_by_hand(agent, sim, ros):
    granted = await run_command(
        agent,
        wire.GRANT_ACCESS,
        {"username": USER, "mac_address": MAC1, "expires_at": _in(3600), "profile": "default"},
    )
    assert granted.ok, granted.error
    assert await agent.enforcer.repair_drift() == 0  # nothing to repair yet

    # Someone "fixes" things on the router by hand.
    await ros.add("/ip/hotspot/user/profile", name="vip")
    user_id = (await _user(ros, USER))[".id"]
    await ros.call("/ip/hotspot/user/set", **{".id": user_id, "disabled": "yes", "profile": "vip"})
    (binding,) = await ros.rows("/ip/hotspot/ip-binding")
    await ros.call("/ip/hotspot/ip-binding/remove", **{".id": binding[".id"]})

    assert await agent.enforcer.repair_drift() == 3
    found = await events(agent, wire.DRIFT_REPAIRED)
    assert sorted(e.data["what"] for e in found) == [
        "hotspot user enabled",
        "ip-binding created as bypassed",
        "profile set to default",
    ]
    assert all(e.data["username"] == USER and e.router == "r1" for e in found)
    user = await _user(ros, USER)
    assert (user["disabled"], user["profile"]) == (False, "default")
    assert _by_mac(await ros.rows("/ip/hotspot/ip-binding"))[MAC1]["type"] == "bypassed"
    assert await agent.enforcer.repair_drift() == 0  # stable once repaired


async def test_drift_keeps_an_expired_user_cut(agent, sim, ros):
    granted = await run_command(
        agent,
        wire.GRANT_ACCESS,
        {"username": USER, "mac_address": MAC1, "expires_at": _in(0.3), "password": "pw"},
    )
    assert granted.ok
    await wait_for(lambda: _enforced(agent), timeout=5)
    user_id = (await _user(ros, USER))[".id"]
    await ros.call("/ip/hotspot/user/set", **{".id": user_id, "disabled": "no"})
    await ros.add("/ip/hotspot/ip-binding", **{"mac-address": MAC1, "type": "bypassed"})

    assert await agent.enforcer.repair_drift() == 2
    assert (await _user(ros, USER))["disabled"] is True
    assert await ros.rows("/ip/hotspot/ip-binding") == []


async def test_manual_disconnect_is_not_undone_by_drift_repair(agent, sim, ros):
    granted = await run_command(
        agent, wire.GRANT_ACCESS, {"username": USER, "expires_at": _in(3600), "password": "pw"}
    )
    assert granted.ok
    # A session to cut: without one a disconnect is "Session not found" and touches nothing.
    sim.hotspot_login(USER, mac_address=MAC1)
    done = await run_command(agent, wire.DISCONNECT, {"username": USER})
    assert done.ok and done.result["user_disabled"]
    assert await agent.enforcer.repair_drift() == 0
    assert (await _user(ros, USER))["disabled"] is True
    # A renewal from the hub lifts the suspension.
    renewed = await run_command(
        agent, wire.GRANT_ACCESS, {"username": USER, "expires_at": _in(7200), "password": "pw"}
    )
    assert renewed.ok
    assert (await _user(ros, USER))["disabled"] is False


async def test_drift_loop_runs_on_its_own(tmp_path, sim, ros):
    config = make_config(tmp_path, [sim], agent={"drift_interval": 0.3})
    async with Agent(config) as agent:
        await wait_for(lambda: agent.links["r1"].state.online)
        granted = await run_command(
            agent, wire.GRANT_ACCESS, {"username": USER, "expires_at": _in(3600)}
        )
        assert granted.ok
        user_id = (await _user(ros, USER))[".id"]
        await ros.call("/ip/hotspot/user/set", **{".id": user_id, "disabled": "yes"})
        (repair,) = await wait_for(lambda: events(agent, wire.DRIFT_REPAIRED), timeout=3)
        assert repair.data == {
            "username": USER,
            "mac_address": None,
            "what": "hotspot user enabled",
        }
        assert (await _user(ros, USER))["disabled"] is False
