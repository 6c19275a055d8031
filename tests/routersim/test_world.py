"""routersim.world: what removals, bindings and disabled users do, and the seeded schedule."""

from __future__ import annotations

import pytest
from librouteros.query import Key

from routersim import ControlError, LoginRefused, SimRouter

from .conftest import rows

MAC = "AA:BB:CC:DD:EE:01"
PHONE = "+255712345678"


def active(router: SimRouter) -> dict[str, dict[str, str]]:
    return {row[".id"]: row for row in router.rows("/ip/hotspot/active")}


def test_hotspot_login_creates_an_active_entry_keyed_by_ip() -> None:
    router = SimRouter()
    router.add_hotspot_user(PHONE, password="pw")
    sid = router.hotspot_login(PHONE, mac_address=MAC, ip_address="192.168.10.8")
    assert sid == "*C0A80A08"
    row = active(router)[sid]
    assert (row["user"], row["address"], row["mac-address"], row["login-by"]) == (
        PHONE,
        "192.168.10.8",
        MAC,
        "http-chap",
    )
    assert row["uptime"] == "0s" and row["bytes-in"] == "0"


def test_unknown_or_disabled_users_cannot_log_in() -> None:
    router = SimRouter()
    with pytest.raises(LoginRefused):
        router.hotspot_login(PHONE, mac_address=MAC)
    router.add_hotspot_user(PHONE, password="pw", disabled=True)
    with pytest.raises(LoginRefused):
        router.hotspot_login(PHONE, mac_address=MAC)
    assert active(router) == {}


async def test_user_disabled_over_the_api_cannot_log_in_again(router: SimRouter, api) -> None:
    router.add_hotspot_user(PHONE, password="pw")
    sid = router.hotspot_login(PHONE, mac_address=MAC)
    users = api.path("/ip/hotspot/user")
    (user,) = [u async for u in users.select(Key(".id")).where(Key("name") == PHONE)]
    [r async for r in api("/ip/hotspot/user/disable", **{".id": user[".id"]})]
    assert sid in active(router)  # RouterOS leaves a running session alone
    await api.path("/ip/hotspot/active").remove(sid)
    assert active(router) == {}
    with pytest.raises(LoginRefused):
        router.hotspot_login(PHONE, mac_address=MAC)
    router.step(60)
    assert active(router) == {}


async def test_removed_bypassed_session_comes_back_on_the_next_step(router: SimRouter, api) -> None:
    router.add_ip_binding(MAC, type="bypassed")
    sid = router.mac_login(MAC, username=PHONE)
    assert active(router)[sid]["login-by"] == "mac"
    await api.path("/ip/hotspot/active").remove(sid)
    assert await rows(api, "/ip/hotspot/active") == []
    router.step(1)
    (back,) = await rows(api, "/ip/hotspot/active")
    assert (back[".id"], back["user"], back["login-by"]) == (sid, PHONE, "mac")


async def test_removed_bypass_binding_drops_the_mac_session_for_good(
    router: SimRouter, api
) -> None:
    binding = router.add_ip_binding(MAC, type="bypassed")
    router.mac_login(MAC, username=PHONE)
    hosts = await rows(api, "/ip/hotspot/host")
    assert [(h["mac-address"], h["authorized"], h["bypassed"]) for h in hosts] == [
        (MAC, True, True)
    ]
    await api.path("/ip/hotspot/ip-binding").remove(binding)
    assert await rows(api, "/ip/hotspot/active") == []
    for _ in range(5):
        router.step(60)
    assert await rows(api, "/ip/hotspot/active") == []
    with pytest.raises(LoginRefused):
        router.mac_login(MAC)


async def test_disabling_the_binding_also_drops_it(router: SimRouter, api) -> None:
    binding = router.add_ip_binding(MAC, type="bypassed")
    router.mac_login(MAC, username=PHONE)
    [r async for r in api("/ip/hotspot/ip-binding/disable", **{".id": binding})]
    router.step(1)
    assert active(router) == {}


def test_a_user_with_the_mac_allows_mac_login() -> None:
    router = SimRouter()
    router.add_hotspot_user(PHONE, mac_address=MAC.lower())
    sid = router.mac_login(MAC)
    assert active(router)[sid]["user"] == PHONE


def test_a_user_bound_to_a_mac_cannot_log_in_from_another() -> None:
    router = SimRouter()
    router.add_hotspot_user(PHONE, password="pw", mac_address=MAC)
    with pytest.raises(LoginRefused, match="bound"):
        router.hotspot_login(PHONE, mac_address="AA:BB:CC:DD:EE:99")
    assert router.hotspot_login(PHONE, mac_address=MAC)


def test_blocked_binding_refuses_and_drops() -> None:
    router = SimRouter()
    router.add_hotspot_user(PHONE, password="pw")
    router.hotspot_login(PHONE, mac_address=MAC)
    router.add_ip_binding(MAC, type="blocked")
    assert active(router) == {}
    with pytest.raises(LoginRefused):
        router.hotspot_login(PHONE, mac_address=MAC)
    (host,) = router.rows("/ip/hotspot/host")
    assert (host["blocked"], host["authorized"]) == ("true", "false")


def test_hosts_follow_devices() -> None:
    router = SimRouter()
    router.add_hotspot_user(PHONE, password="pw")
    sid = router.hotspot_login(PHONE, mac_address=MAC)
    (host,) = router.rows("/ip/hotspot/host")
    assert (host["mac-address"], host["authorized"], host["bypassed"]) == (MAC, "true", "false")
    router.logout(sid)
    assert router.rows("/ip/hotspot/host") == []
    assert [u["uptime"] for u in router.rows("/ip/hotspot/user")] == ["0s"]


def test_traffic_grows_counters_and_lands_on_the_user_at_logout() -> None:
    router = SimRouter()
    router.add_hotspot_user(PHONE, password="pw")
    sid = router.hotspot_login(PHONE, mac_address=MAC)
    router.add_traffic(sid, bytes_in=1000, bytes_out=5000)
    router.add_traffic(sid, bytes_in=500, bytes_out=0)
    router.step(90)
    row = active(router)[sid]
    assert (row["bytes-in"], row["bytes-out"], row["uptime"], row["idle-time"]) == (
        "1500",
        "5000",
        "1m30s",
        "1m30s",
    )
    router.logout(sid)
    (user,) = router.rows("/ip/hotspot/user")
    assert (user["bytes-in"], user["bytes-out"], user["uptime"]) == ("1500", "5000", "1m30s")


def test_limit_uptime_ends_the_session_and_refuses_new_logins() -> None:
    router = SimRouter()
    router.add_hotspot_user(PHONE, password="pw", limit_uptime="2m")
    sid = router.hotspot_login(PHONE, mac_address=MAC)
    assert active(router)[sid]["session-time-left"] == "2m"
    router.step(60)
    assert active(router)[sid]["session-time-left"] == "1m"
    router.step(60)
    assert active(router) == {}
    with pytest.raises(LoginRefused, match="uptime limit"):
        router.hotspot_login(PHONE, mac_address=MAC)


def test_ppp_sessions_need_an_enabled_secret_and_show_bytes_on_their_interface() -> None:
    router = SimRouter()
    with pytest.raises(LoginRefused):
        router.ppp_login("cpe-1")
    router.add_ppp_secret("cpe-1", password="x", service="pppoe")
    pid = router.ppp_login("cpe-1", caller_id="AA:BB:CC:DD:EE:02")
    assert pid.startswith("*8000")
    (session,) = router.rows("/ppp/active")
    assert (session["name"], session["service"], session["caller-id"]) == (
        "cpe-1",
        "pppoe",
        "AA:BB:CC:DD:EE:02",
    )
    assert session["session-id"].startswith("0x81")
    router.add_traffic(pid, bytes_in=10, bytes_out=20)
    (iface,) = [i for i in router.rows("/interface") if i["name"] == "<pppoe-cpe-1>"]
    assert (iface["type"], iface["rx-byte"], iface["tx-byte"], iface["dynamic"]) == (
        "pppoe-in",
        "10",
        "20",
        "true",
    )
    router.add_ppp_secret("cpe-2", disabled=True)
    with pytest.raises(LoginRefused):
        router.ppp_login("cpe-2")
    router.add_ppp_secret("cpe-3", service="pptp")
    with pytest.raises(LoginRefused):
        router.ppp_login("cpe-3", service="pppoe")


def test_a_ppp_login_with_a_password_needs_the_secrets_password() -> None:
    router = SimRouter()
    router.add_ppp_secret("cpe-1", password="right", service="pppoe")
    with pytest.raises(LoginRefused, match="wrong password"):
        router.ppp_login("cpe-1", password="wrong")
    assert router.rows("/ppp/active") == []
    pid = router.ppp_login("cpe-1", password="right")
    assert [row[".id"] for row in router.rows("/ppp/active")] == [pid]


async def test_removing_ppp_active_drops_the_session(router: SimRouter, api) -> None:
    router.add_ppp_secret("cpe-1")
    pid = router.ppp_login("cpe-1")
    await api.path("/ppp/active").remove(pid)
    assert await rows(api, "/ppp/active") == []
    assert not [i for i in await rows(api, "/interface") if i["name"].startswith("<pppoe")]
    router.step(1)
    assert router.rows("/ppp/active") == []  # a pinned test client does not redial
    (secret,) = router.rows("/ppp/secret")
    assert secret["last-disconnect-reason"] == "admin"


def snapshot(router: SimRouter) -> tuple:
    secrets = [  # last-logged-out is wall-clock time
        {k: v for k, v in row.items() if k != "last-logged-out"}
        for row in router.rows("/ppp/secret")
    ]
    return (
        router.rows("/ip/hotspot/active"),
        router.rows("/ppp/active"),
        router.rows("/ip/hotspot/host"),
        router.rows("/ip/hotspot/user"),
        secrets,
        router.rows("/ip/hotspot/ip-binding"),
    )


def test_populate_makes_phone_users_macs_and_pool_addresses() -> None:
    router = SimRouter(seed=11)
    router.populate(50)
    users = router.rows("/ip/hotspot/user")
    secrets = router.rows("/ppp/secret")
    assert len(users) + len(secrets) == 50
    assert all(u["name"].startswith("+2557") and len(u["name"]) == 13 for u in users)
    assert router.rows("/ip/hotspot/ip-binding")  # some clients are MAC-bypassed
    sessions = router.rows("/ip/hotspot/active")
    assert sessions and all(s["address"].startswith("10.5.50.") for s in sessions)
    assert {s["login-by"] for s in sessions} == {"mac", "http-chap"}
    assert router.rows("/ppp/active")


def test_the_world_is_deterministic_for_a_seed_and_moves() -> None:
    first, second, other = SimRouter(seed=5), SimRouter(seed=5), SimRouter(seed=6)
    for router in (first, second, other):
        router.populate(40)
    arrived: set[str] = set()
    left: set[str] = set()
    for _ in range(30):
        before = set(active(first)) | {r[".id"] for r in first.rows("/ppp/active")}
        for router in (first, second, other):
            router.step(120)
        after = set(active(first)) | {r[".id"] for r in first.rows("/ppp/active")}
        arrived |= after - before
        left |= before - after
        assert snapshot(first) == snapshot(second)
    assert arrived and left
    assert snapshot(first) != snapshot(other)


def test_counters_grow_on_step() -> None:
    router = SimRouter(seed=3)
    router.populate(40)

    def total() -> int:
        return sum(int(s["bytes-out"]) for s in router.rows("/ip/hotspot/active"))

    before = total()
    router.step(5)
    assert total() > before
    wan = next(i for i in router.rows("/interface") if i["name"] == "ether1")
    assert int(wan["rx-byte"]) > 0


def test_control_api_rejects_bad_input() -> None:
    router = SimRouter()
    router.add_hotspot_user(PHONE)
    with pytest.raises(ControlError, match="already have user"):
        router.add_hotspot_user(PHONE)
    with pytest.raises(ControlError):
        router.add_traffic("*DEAD", bytes_in=1)
    with pytest.raises(ControlError):
        router.hotspot_login(PHONE, mac_address="not-a-mac")
    with pytest.raises(ControlError):
        router.hotspot_login(PHONE, login_by="telepathy")
    with pytest.raises(ControlError):
        router.step(0)
    with pytest.raises(ControlError):
        router.rows("/ip/nothing")
    with pytest.raises(ControlError):
        router.populate(-1)
    assert router.rows("/ip/hotspot/active") == []


def test_ip_addresses_are_not_shared() -> None:
    router = SimRouter()
    router.add_hotspot_user(PHONE)
    router.add_hotspot_user("+255700000009")
    router.hotspot_login(PHONE, mac_address=MAC, ip_address="10.5.50.50")
    with pytest.raises(LoginRefused, match="in use"):
        router.hotspot_login(
            "+255700000009", mac_address="AA:BB:CC:DD:EE:09", ip_address="10.5.50.50"
        )
