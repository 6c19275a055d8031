"""Expiry enforced on a routersim with no hub configured, and drift repaired."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

import pytest

from agent.service import Agent
from common import wire
from common.timeutil import parse_iso, to_iso, utcnow
from routersim import LoginRefused

from .conftest import events, make_config, wait_for
from .test_commands import MAC1, MAC2, USER, _by_mac, _user, run_command


def _in(seconds: float) -> str:
    return to_iso(utcnow() + timedelta(seconds=seconds))


async def _enforced(agent: Agent) -> list[wire.Event]:
    return await events(agent, wire.ENTITLEMENT_ENFORCED)


async def test_cut_at_expiry_without_hub(agent, sim, ros):
    assert agent.config.hub.url is None
    expires_at = _in(1.0)
    granted = await run_command(
        agent,
        wire.GRANT_ACCESS,
        {"username": USER, "mac_address": MAC1, "expires_at": expires_at, "password": "pw"},
    )
    assert granted.ok, granted.error
    sim.hotspot_login(USER, mac_address=MAC1)

    (event,) = await wait_for(lambda: _enforced(agent), timeout=5)
    late = (parse_iso(event.ts) - parse_iso(expires_at)).total_seconds()
    assert 0 <= late < 2.0
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
    first = sim.hotspot_login(USER, mac_address=MAC1)

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
    await asyncio.sleep(0.4)  # expires while no agent runs

    async with Agent(config) as agent:
        started = time.monotonic()
        (event,) = await wait_for(lambda: _enforced(agent), timeout=5)
        assert time.monotonic() - started < 2.0
        assert event.data["username"] == USER
        assert sid not in [r[".id"] for r in await ros.rows("/ip/hotspot/active")]


async def test_expiry_of_one_device_leaves_the_others(agent, sim, ros):
    for mac, seconds in ((MAC1, 0.5), (MAC2, 3600)):
        granted = await run_command(
            agent,
            wire.GRANT_ACCESS,
            {"username": USER, "mac_address": mac, "expires_at": _in(seconds), "password": "pw"},
        )
        assert granted.ok, granted.error
    sim.hotspot_login(USER, mac_address=MAC1)
    keep = sim.hotspot_login(USER, mac_address=MAC2)

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
