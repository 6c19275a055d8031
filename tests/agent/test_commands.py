"""Hub commands executed on a routersim; what changed is read back through librouteros."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from agent.service import Agent
from common import wire
from common.timeutil import to_iso, utcnow
from routersim import LoginRefused

from .conftest import Ros, events, make_config, wait_for

USER = "+255712345678"
OTHER = "+255787654321"
MAC1, MAC2, MAC3 = "AA:BB:CC:DD:EE:01", "AA:BB:CC:DD:EE:02", "AA:BB:CC:DD:EE:03"


async def run_command(
    agent: Agent, name: str, args: dict, router: str = "r1", command_id: str | None = None, **kw
) -> wire.CommandResult:
    """Submit like the hub link does and wait for the command.result event."""
    command_id = command_id or uuid.uuid4().hex
    await agent.submit(wire.Command(id=command_id, name=name, router=router, args=args, **kw))

    async def result():
        found = await events(agent, wire.COMMAND_RESULT)
        return [e for e in found if e.data["command_id"] == command_id]

    (event, *_) = await wait_for(result, timeout=10)
    assert event.router == router
    return wire.parse_result(event.data)


def _by_mac(rows: list[dict]) -> dict[str, dict]:
    return {str(row["mac-address"]).upper(): row for row in rows}


async def _user(ros, name: str) -> dict:
    (row,) = [r for r in await ros.rows("/ip/hotspot/user") if r["name"] == name]
    return row


async def _mirror_has_config(agent: Agent, sim) -> None:
    """The mirror follows ip-bindings with a listen, and a disconnect reads them from there:
    a binding made in the very instant of the disconnect may not be there yet, so tests that
    make one by hand wait until the listen has delivered it."""
    mirror = agent.mirrors["r1"]
    wanted = {row[".id"] for row in sim.rows("/ip/hotspot/ip-binding")}

    def seen():
        return mirror.config_trusted() and {b[".id"] for b in mirror.bindings} == wanted

    await wait_for(seen)


async def test_disconnect_without_mac_removes_every_device(agent, sim, ros):
    sim.add_hotspot_user(USER, password="pw")
    sim.add_hotspot_user(OTHER, password="pw")
    sim.hotspot_login(USER, mac_address=MAC1)
    sim.hotspot_login(USER, mac_address=MAC2)
    keep = sim.hotspot_login(OTHER, mac_address=MAC3)
    sim.add_ip_binding(MAC1, type="bypassed")
    sim.add_ip_binding(MAC2.lower(), type="regular")
    sim.add_ip_binding(MAC3, type="bypassed")
    await _mirror_has_config(agent, sim)

    result = await run_command(agent, wire.DISCONNECT, {"username": USER})

    assert result.ok, result.error
    details = result.result
    assert {k: details[k] for k in ("session_removed", "binding_removed", "user_disabled")} == {
        "session_removed": True,
        "binding_removed": True,
        "user_disabled": True,
    }
    assert details["ppp_removed"] is False
    assert details["ppp_secret_disabled"] is False
    assert details["sessions_found"] == 2
    assert details["errors"] == []
    assert details["verified_gone"] is True
    assert details["latency_ms"] > 0
    active = await ros.rows("/ip/hotspot/active")
    assert [row[".id"] for row in active] == [keep]
    assert set(_by_mac(await ros.rows("/ip/hotspot/ip-binding"))) == {MAC3}
    assert (await _user(ros, USER))["disabled"] is True
    assert (await _user(ros, OTHER))["disabled"] is False
    with pytest.raises(LoginRefused):  # a disabled user cannot log back in
        sim.hotspot_login(USER, mac_address=MAC1)
    sim.step(1.0)
    assert [row["user"] for row in await ros.rows("/ip/hotspot/active")] == [OTHER]


async def test_disconnect_with_mac_removes_only_that_device(agent, sim, ros):
    sim.add_hotspot_user(USER, password="pw")
    sim.hotspot_login(USER, mac_address=MAC1)
    other_device = sim.hotspot_login(USER, mac_address=MAC2)
    sim.add_ip_binding(MAC1, type="bypassed")
    sim.add_ip_binding(MAC2, type="bypassed")
    await _mirror_has_config(agent, sim)

    result = await run_command(
        agent, wire.DISCONNECT, {"username": USER, "mac_address": "aa-bb-cc-dd-ee-01"}
    )

    assert result.ok, result.error
    assert result.result["session_removed"] is True
    assert result.result["binding_removed"] is True
    # Seed 001: with a MAC only that device goes; the user's other devices keep working.
    assert result.result["user_disabled"] is False
    assert [row[".id"] for row in await ros.rows("/ip/hotspot/active")] == [other_device]
    assert set(_by_mac(await ros.rows("/ip/hotspot/ip-binding"))) == {MAC2}
    (user,) = await ros.rows("/ip/hotspot/user")
    assert user["disabled"] in ("false", False)
    sim.logout(other_device)
    assert sim.hotspot_login(USER, mac_address=MAC2)  # the other device can log in again


async def _router_state(sim) -> list:
    menus = ("/ip/hotspot/user", "/ip/hotspot/ip-binding", "/ip/hotspot/active", "/ppp/secret")
    return [sim.rows(menu) for menu in (*menus, "/ppp/active")]


@pytest.mark.parametrize("mac", [None, MAC2])
async def test_disconnect_without_session_touches_nothing(agent, sim, ros, mac):
    # Seed 001's "Session not found": the hub answers a failure; nothing may change.
    sim.add_hotspot_user(USER, password="pw")
    sim.add_ip_binding(MAC1, type="bypassed", comment=f"ispfleet:{USER}")
    await ros.add("/ppp/secret", name=USER, password="pw")
    if mac is not None:
        sim.hotspot_login(USER, mac_address=MAC1)  # a session, but not of that MAC
    await _mirror_has_config(agent, sim)
    before = await _router_state(sim)
    args = {"username": USER} if mac is None else {"username": USER, "mac_address": mac}

    result = await run_command(agent, wire.DISCONNECT, args)

    assert result.ok, result.error
    assert result.result["sessions_found"] == 0
    assert result.result["errors"] == []
    for key in ("session_removed", "binding_removed", "user_disabled", "ppp_removed"):
        assert result.result[key] is False, key
    assert result.result["ppp_secret_disabled"] is False
    assert await _router_state(sim) == before
    assert await agent.store.entitlements() == []


async def test_disconnect_removes_ppp_session_and_disables_secret(agent, sim, ros):
    await ros.add("/ppp/secret", name=OTHER, password="pw", service="pppoe")
    sim.ppp_login(OTHER, caller_id=MAC2)
    result = await run_command(agent, wire.DISCONNECT, {"username": OTHER})
    assert result.ok, result.error
    assert result.result["ppp_removed"] is True
    assert result.result["session_removed"] is True  # a PPP session is a session
    assert result.result["ppp_secret_disabled"] is True
    assert result.result["user_disabled"] is False  # no hotspot user of that name
    assert result.result["sessions_found"] == 1
    assert result.result["verified_gone"] is True
    assert await ros.rows("/ppp/active") == []
    (secret,) = await ros.rows("/ppp/secret")
    assert secret["disabled"] is True
    with pytest.raises(LoginRefused):
        sim.ppp_login(OTHER, caller_id=MAC2)


async def test_disconnect_ppp_with_mac_keeps_the_secret(agent, sim, ros):
    await ros.add("/ppp/secret", name=OTHER, password="pw", service="any")
    sim.ppp_login(OTHER, caller_id=MAC1)
    keep = sim.ppp_login(OTHER, caller_id=MAC2)
    result = await run_command(agent, wire.DISCONNECT, {"username": OTHER, "mac_address": MAC1})
    assert result.ok, result.error
    assert (result.result["ppp_removed"], result.result["sessions_found"]) == (True, 1)
    assert result.result["ppp_secret_disabled"] is False
    assert [row[".id"] for row in await ros.rows("/ppp/active")] == [keep]
    (secret,) = await ros.rows("/ppp/secret")
    assert secret["disabled"] is False


async def test_ppp_client_of_the_world_does_not_come_back(tmp_path, sim):
    # Unpinned PPPoE clients of the simulated world redial within a step when they can.
    sim.populate(60)
    sim.step(1.0)
    config = make_config(tmp_path, [sim])
    async with Agent(config) as agent:
        mirror = agent.mirrors["r1"]
        await wait_for(lambda: mirror.sessions_trusted() and mirror.sessions["ppp"])
        name = next(iter(mirror.sessions["ppp"].values())).username
        result = await run_command(agent, wire.DISCONNECT, {"username": name})
        assert result.ok, result.error
        assert result.result["ppp_removed"] and result.result["ppp_secret_disabled"]
        for _ in range(30):
            sim.step(1.0)
        assert name not in [row["name"] for row in sim.rows("/ppp/active")]


async def test_disconnect_costs_at_most_three_round_trips(tmp_path, sim):
    # Prints only at start-up (long intervals, quiet listens kept open): every round trip
    # counted during the command is the disconnect's own.
    config = make_config(
        tmp_path,
        [sim],
        agent={"counters_interval": 600.0, "reconcile_interval": 600.0, "health_interval": 600.0},
        listen_timeout=600.0,
    )
    sim.add_hotspot_user(USER, password="pw")
    sim.add_hotspot_user(OTHER, password="pw")
    sim.add_ip_binding(MAC1, type="bypassed", comment=f"ispfleet:{USER}")
    box, box_mac = "+255700000004", "AA:BB:CC:DD:EE:04"  # a bypassed device, no hotspot user
    sim.add_ip_binding(box_mac, type="bypassed", comment=f"ispfleet:{box}")
    await Ros(sim).add("/ppp/secret", name="+255700000009", password="pw")
    async with Agent(config) as agent:
        mirror, link = agent.mirrors["r1"], agent.links["r1"]
        await wait_for(lambda: mirror.sessions_trusted() and mirror.config_trusted())
        sim.hotspot_login(USER, mac_address=MAC1)
        sim.mac_login(MAC1)  # the bypassed device logs in again under its MAC
        sim.hotspot_login(OTHER, mac_address=MAC3)
        sim.mac_login(box_mac)
        sim.ppp_login("+255700000009", caller_id=MAC2)
        assert box not in [row["user"] for row in sim.rows("/ip/hotspot/active")]  # its MAC
        await wait_for(lambda: len(mirror.sessions["hotspot"]) == 3 and mirror.sessions["ppp"])
        cases = [
            ({"username": USER}, 3),  # user disabled, binding removed, session removed
            ({"username": box}, 2),  # its binding and the session under its MAC
            ({"username": OTHER, "mac_address": MAC3}, 1),  # that device's session only
            ({"username": "+255700000009"}, 2),  # PPP secret disabled, PPP session removed
            ({"username": "+255799999999"}, 2),  # nobody: one print per session menu
        ]
        for args, most in cases:
            before = link.round_trips.count
            result = await run_command(agent, wire.DISCONNECT, args)
            assert result.ok, result.error
            assert result.result["verified_gone"] is True
            assert link.round_trips.count - before <= most, args
        assert sim.rows("/ip/hotspot/active") == []
        assert sim.rows("/ppp/active") == []


async def test_repeated_command_id_returns_recorded_result(agent, sim, ros):
    sim.add_hotspot_user(USER, password="pw")
    sim.hotspot_login(USER, mac_address=MAC1)
    first = await run_command(agent, wire.DISCONNECT, {"username": USER}, command_id="cmd-1")
    assert first.result["session_removed"] is True

    # The user comes back; the repeated command must not throw it off again.
    user_id = (await _user(ros, USER))[".id"]
    await ros.call("/ip/hotspot/user/set", **{".id": user_id, "disabled": "no"})
    again = sim.hotspot_login(USER, mac_address=MAC1)
    await agent.submit(wire.Command("cmd-1", wire.DISCONNECT, "r1", {"username": USER}))

    async def two_results():
        found = await events(agent, wire.COMMAND_RESULT)
        return len(found) == 2 and found

    first_event, second_event = await wait_for(two_results)
    assert first_event.data == second_event.data
    assert [row[".id"] for row in await ros.rows("/ip/hotspot/active")] == [again]
    assert agent.executor.counts[(wire.DISCONNECT, "ok")] == 1


@pytest.mark.parametrize(
    ("name", "args", "router", "error"),
    [
        (wire.DISCONNECT, {}, "r1", "username is required"),
        (wire.DISCONNECT, {"username": "  "}, "r1", "username is required"),
        (wire.DISCONNECT, {"username": USER, "mac_address": "nope"}, "r1", "not a MAC address"),
        (wire.DISCONNECT, {"username": USER}, "nowhere", "unknown router nowhere"),
        (
            wire.ROUTER_MENU,
            {"menu": "/user", "action": "print"},
            "r1",
            "menu '/user' is not allowed",
        ),
        (
            wire.ROUTER_MENU,
            {"menu": "/ppp/secret", "action": "add", "params": {"?name": "x"}},
            "r1",
            "bad parameter name",
        ),
        (wire.ROUTER_MENU, {"menu": "/ppp/secret", "action": "drop"}, "r1", "action must be"),
        (wire.PING, {"address": "example.com"}, "r1", "not an IP address"),
        (wire.PING, {"address": "127.0.0.1", "count": 500}, "r1", "count must be between"),
        (wire.GRANT_ACCESS, {"username": USER, "expires_at": "soon"}, "r1", "expires_at"),
        (
            wire.GRANT_ACCESS,
            {"username": USER, "expires_at": to_iso(utcnow()), "on_expiry": "explode"},
            "r1",
            "on_expiry",
        ),
    ],
)
async def test_bad_commands_are_refused_and_change_nothing(
    agent, sim, ros, name, args, router, error
):
    sim.add_hotspot_user(USER, password="pw")
    sid = sim.hotspot_login(USER, mac_address=MAC1)
    result = await run_command(agent, name, args, router=router)
    assert result.ok is False
    assert error in result.error
    assert [row[".id"] for row in await ros.rows("/ip/hotspot/active")] == [sid]
    assert (await _user(ros, USER))["disabled"] is False
    assert await agent.store.entitlements() == []


async def test_command_past_its_deadline_is_skipped(agent, sim, ros):
    sim.add_hotspot_user(USER, password="pw")
    sid = sim.hotspot_login(USER, mac_address=MAC1)
    deadline = to_iso(utcnow() - timedelta(seconds=1))
    result = await run_command(agent, wire.DISCONNECT, {"username": USER}, deadline=deadline)
    assert result.ok is False and "deadline" in result.error
    assert [row[".id"] for row in await ros.rows("/ip/hotspot/active")] == [sid]


async def test_router_menu_crud_on_ppp_secret(agent, ros):
    menu = "/ppp/secret"
    added = await run_command(
        agent,
        wire.ROUTER_MENU,
        {"menu": menu, "action": "add", "params": {"name": "pppoe-1", "password": "s3cret"}},
    )
    assert added.ok, added.error
    item = added.result["id"]
    assert item.startswith("*")

    duplicate = await run_command(
        agent,
        wire.ROUTER_MENU,
        {"menu": menu, "action": "add", "params": {"name": "pppoe-1", "password": "x"}},
    )
    assert duplicate.ok is False
    assert "already exists" in duplicate.error

    listed = await run_command(
        agent, wire.ROUTER_MENU, {"menu": menu, "action": "print", "params": {"name": "pppoe-1"}}
    )
    assert [row["name"] for row in listed.result["rows"]] == ["pppoe-1"]

    changed = await run_command(
        agent,
        wire.ROUTER_MENU,
        {"menu": menu, "action": "set", "params": {".id": item, "disabled": True}},
    )
    assert changed.ok, changed.error
    (row,) = await ros.rows(menu)
    assert row["disabled"] is True

    removed = await run_command(
        agent, wire.ROUTER_MENU, {"menu": menu, "action": "remove", "params": {".id": item}}
    )
    assert removed.ok, removed.error
    assert await ros.rows(menu) == []


async def test_ping_monitor_and_log(agent, sim):
    sim.ping_interval = 0.05
    ping = await run_command(agent, wire.PING, {"address": "127.0.0.1", "count": 3})
    assert ping.ok, ping.error
    assert (ping.result["sent"], ping.result["received"], ping.result["packet_loss"]) == (3, 3, 0)
    assert len(ping.result["replies"]) == 3
    assert ping.result["avg_rtt_ms"] is not None

    traffic = await run_command(agent, wire.MONITOR_TRAFFIC, {"interface": "ether1"})
    assert traffic.ok, traffic.error
    assert traffic.result["interface"] == "ether1"
    assert "rx_bits_per_second" in traffic.result

    sim.add_hotspot_user(USER, password="pw")
    sim.hotspot_login(USER, mac_address=MAC1)
    logs = await run_command(agent, wire.LOG_READ, {"limit": 5, "topics": "account"})
    assert logs.ok, logs.error
    assert 1 <= len(logs.result["entries"]) <= 5
    assert all("account" in e["topics"] for e in logs.result["entries"])
    assert any(USER in e["message"] for e in logs.result["entries"])


async def test_grant_then_revoke_access(agent, sim, ros):
    expires = to_iso(utcnow() + timedelta(hours=1))
    granted = await run_command(
        agent,
        wire.GRANT_ACCESS,
        {"username": USER, "mac_address": MAC1, "expires_at": expires, "password": "pw"},
    )
    assert granted.ok, granted.error
    assert granted.result["user"] == "created"
    assert granted.result["binding"] == "created"
    user = await _user(ros, USER)
    assert user["disabled"] is False
    binding = _by_mac(await ros.rows("/ip/hotspot/ip-binding"))[MAC1]
    assert binding["type"] == "bypassed"
    (stored,) = await agent.store.entitlements()
    assert (stored.router, stored.entitlement.username, stored.state) == ("r1", USER, "active")
    sid = sim.mac_login(MAC1)  # the bypassed binding lets the device in

    revoked = await run_command(agent, wire.REVOKE_ACCESS, {"username": USER})
    assert revoked.ok, revoked.error
    assert revoked.result["session_removed"] is True
    assert revoked.result["entitlements_replaced"] == 1
    assert sid not in [row[".id"] for row in await ros.rows("/ip/hotspot/active")]
    assert (await _user(ros, USER))["disabled"] is True
    assert await ros.rows("/ip/hotspot/ip-binding") == []
    (stored,) = await agent.store.entitlements()
    assert (stored.state, stored.entitlement.on_expiry) == ("enforced", "cut")
    with pytest.raises(LoginRefused):
        sim.mac_login(MAC1)


async def test_user_and_secret_made_by_hand_since_the_last_print_are_disabled(tmp_path, sim):
    # Config prints 10 minutes apart: the mirror has not seen these; they are named instead.
    config = make_config(tmp_path, [sim], agent={"reconcile_interval": 600.0}, listen_timeout=600.0)
    async with Agent(config) as agent:
        mirror = agent.mirrors["r1"]
        await wait_for(lambda: mirror.sessions_trusted() and mirror.config_trusted())
        ros = Ros(sim)
        sim.add_hotspot_user(USER, password="pw")
        await ros.add("/ppp/secret", name=OTHER, password="pw", service="pppoe")
        sim.hotspot_login(USER, mac_address=MAC1)
        sim.ppp_login(OTHER, caller_id=MAC2)
        await wait_for(lambda: mirror.sessions["hotspot"] and mirror.sessions["ppp"])
        assert USER not in mirror.users and OTHER not in mirror.secrets

        hotspot = await run_command(agent, wire.DISCONNECT, {"username": USER})
        ppp = await run_command(agent, wire.DISCONNECT, {"username": OTHER})

        assert hotspot.ok and ppp.ok, (hotspot.error, ppp.error)
        assert hotspot.result["user_disabled"] is True
        assert ppp.result["ppp_secret_disabled"] is True
        assert (await _user(ros, USER))["disabled"] is True
        (secret,) = await ros.rows("/ppp/secret")
        assert secret["disabled"] is True
        assert sim.rows("/ip/hotspot/active") == sim.rows("/ppp/active") == []


async def test_session_already_gone_from_the_router_is_no_error(tmp_path, sim):
    config = make_config(tmp_path, [sim], agent={"counters_interval": 600.0}, listen_timeout=600.0)
    sim.add_hotspot_user(USER, password="pw")
    async with Agent(config) as agent:
        mirror = agent.mirrors["r1"]
        await wait_for(lambda: mirror.sessions_trusted() and mirror.config_trusted())
        stale = sim.hotspot_login(USER, mac_address=MAC1)
        live = sim.hotspot_login(USER, mac_address=MAC2)
        await wait_for(lambda: {stale, live} <= set(mirror.sessions["hotspot"]))
        # The router ends one without a word on the listen (a gap the next print repairs).
        sim.world.hotspot.pop(stale).client.session = None

        result = await run_command(agent, wire.DISCONNECT, {"username": USER})

        assert result.ok, result.error
        assert result.result["errors"] == []
        assert result.result["sessions_found"] == 2
        assert (result.result["session_removed"], result.result["verified_gone"]) == (True, True)
        assert sim.rows("/ip/hotspot/active") == []
        await wait_for(lambda: mirror.sessions["hotspot"] == {})  # the resync repaired it


def _sync(digest: str, *users: str, base: str | None = None) -> dict:
    expires = to_iso(utcnow() + timedelta(hours=1))
    return {
        "digest": digest,
        "base": base,
        "entitlements": [
            {"username": u, "mac_address": None, "expires_at": expires} for u in users
        ],
    }


async def _held(agent: Agent) -> set[str]:
    return {s.entitlement.username for s in await agent.store.entitlements()}


async def test_entitlement_sync_whole_set_and_differences(agent):
    from agent.commands import ENTITLEMENTS_DIGEST

    assert (await run_command(agent, wire.ENTITLEMENTS_SYNC, _sync("t1", USER, OTHER))).ok
    assert await _held(agent) == {USER, OTHER}
    assert await agent.store.get_meta(ENTITLEMENTS_DIGEST) == "t1"

    # A difference on the token held: only what it lists changes.
    third = "+255700000003"
    assert (await run_command(agent, wire.ENTITLEMENTS_SYNC, _sync("t2", third, base="t1"))).ok
    assert await _held(agent) == {USER, OTHER, third}

    # The whole set: an unexpired entitlement it leaves out is no longer wanted.
    assert (await run_command(agent, wire.ENTITLEMENTS_SYNC, _sync("t3", USER))).ok
    assert await _held(agent) == {USER}

    # A difference computed on another token changes nothing, and the token is forgotten so
    # that the next hello asks for the whole set.
    refused = await run_command(agent, wire.ENTITLEMENTS_SYNC, _sync("t5", OTHER, base="t4"))
    assert not refused.ok and "t4" in (refused.error or "")
    assert await _held(agent) == {USER}
    assert await agent.store.get_meta(ENTITLEMENTS_DIGEST) is None


async def test_a_plans_rate_limit_comes_with_a_speed_profile(agent, ros):
    expires = to_iso(utcnow() + timedelta(hours=1))
    args = {"username": USER, "expires_at": expires, "rate_limit": "2M/5M", "profile": "default"}
    granted = await run_command(agent, wire.GRANT_ACCESS, args)
    assert granted.ok, granted.error
    assert (await _user(ros, USER))["profile"] == "ispfleet-2M-5M"
    (profile,) = [
        p for p in await ros.rows("/ip/hotspot/user/profile") if p["name"] == "ispfleet-2M-5M"
    ]
    assert profile["rate-limit"] == "2M/5M"
    # granted again: the profile is reused, not duplicated
    assert (await run_command(agent, wire.GRANT_ACCESS, args)).ok
    names = [p["name"] for p in await ros.rows("/ip/hotspot/user/profile")]
    assert names.count("ispfleet-2M-5M") == 1
    # a plan with a profile of its own keeps it
    await ros.add("/ip/hotspot/user/profile", name="plan-1h", **{"rate-limit": "1M/1M"})
    own = {**args, "username": "other-user", "profile": "plan-1h"}
    assert (await run_command(agent, wire.GRANT_ACCESS, own)).ok
    assert (await _user(ros, "other-user"))["profile"] == "plan-1h"
