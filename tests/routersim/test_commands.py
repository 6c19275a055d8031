"""routersim.commands through librouteros over TCP: print, queries, changes, streams."""

from __future__ import annotations

import librouteros
import pytest
from librouteros.exceptions import TrapError
from librouteros.query import And, Key, Or

from routersim import SimRouter
from tests.helpers import wait_for

from .conftest import RawClient, attrs, rows

NAME, PROFILE, DISABLED, ID = Key("name"), Key("profile"), Key("disabled"), Key(".id")


@pytest.fixture
async def users(router: SimRouter) -> list[str]:
    router.add_hotspot_user("+255711000001", password="a", profile="default")
    router.add_hotspot_user("+255711000002", password="b", disabled=True)
    router.state.add("/ip/hotspot/user/profile", {"name": "daily", "rate-limit": "2M/4M"})
    router.add_hotspot_user("+255711000003", password="c", profile="daily", comment="vip")
    return [row[".id"] for row in router.rows("/ip/hotspot/user")]


async def select(api, *keys, where=()) -> list[dict]:
    return [row async for row in api.path("/ip/hotspot/user").select(*keys).where(*where)]


async def test_print_rows_carry_ids_and_routeros_values(api, users) -> None:
    first = (await rows(api, "/ip/hotspot/user"))[0]
    assert first == {
        ".id": users[0],
        "name": "+255711000001",
        "password": "a",
        "profile": "default",
        "uptime": "0s",
        "bytes-in": 0,
        "bytes-out": 0,
        "packets-in": 0,
        "packets-out": 0,
        "dynamic": False,
        "disabled": False,
    }  # a fresh user has no server, limit-uptime, mac-address or comment


async def test_proplist_limits_fields(api, users) -> None:
    got = await select(api, NAME, PROFILE)
    assert got == [
        {"name": "+255711000001", "profile": "default"},
        {"name": "+255711000002", "profile": "default"},
        {"name": "+255711000003", "profile": "daily"},
    ]


async def test_queries_equality_and_not_equal(api, users) -> None:
    assert await select(api, NAME, where=[PROFILE == "daily"]) == [{"name": "+255711000003"}]
    assert await select(api, NAME, where=[DISABLED == True]) == [  # noqa: E712 (a query)
        {"name": "+255711000002"}
    ]
    assert len(await select(api, NAME, where=[PROFILE != "daily"])) == 2


async def test_queries_in_or_and(api, users) -> None:
    got = await select(api, NAME, where=[NAME.In("+255711000001", "+255711000003")])
    assert [r["name"] for r in got] == ["+255711000001", "+255711000003"]
    got = await select(api, NAME, where=[Or(PROFILE == "daily", DISABLED == True)])  # noqa: E712
    assert [r["name"] for r in got] == ["+255711000002", "+255711000003"]
    got = await select(api, NAME, where=[And(PROFILE == "default", DISABLED == False)])  # noqa: E712
    assert got == [{"name": "+255711000001"}]


async def test_raw_query_words_absence_and_comparison(api, users) -> None:
    async def names(*words: str) -> list[str]:
        return [r["name"] async for r in api.rawCmd("/ip/hotspot/user/print", *words)]

    assert await names("?-comment") == ["+255711000001", "+255711000002"]
    assert await names("?comment") == ["+255711000003"]
    assert await names(f"?>.id={users[0]}") == ["+255711000002", "+255711000003"]
    assert await names(f"?<.id={users[1]}") == ["+255711000001"]
    assert await names("?profile=daily", "?disabled=yes", "?#|!") == ["+255711000001"]


async def test_count_only(api, users) -> None:
    assert [r async for r in api.rawCmd("/ip/hotspot/user/print", "=count-only=")] == [{"ret": 3}]
    got = [r async for r in api.rawCmd("/ip/hotspot/user/print", "=count-only", "?disabled=no")]
    assert got == [{"ret": 2}]


async def test_unknown_print_argument(api) -> None:
    with pytest.raises(TrapError, match="unknown parameter"):
        await rows(api, "/ip/hotspot/user", bogus="1")


async def test_add_set_remove_round_trip(api) -> None:
    users = api.path("/ip/hotspot/user")
    item = await users.add(name="+255722000001", password="pw", **{"limit-uptime": "90m"})
    assert item.startswith("*")
    await users.update(**{".id": item, "password": "new", "mac-address": "aa-bb-cc-dd-ee-01"})
    (row,) = await rows(api, "/ip/hotspot/user")
    assert (row["password"], row["mac-address"], row["limit-uptime"]) == (
        "new",
        "AA:BB:CC:DD:EE:01",
        "1h30m",
    )
    await users.remove(item)
    assert await rows(api, "/ip/hotspot/user") == []


async def test_enable_disable_by_id_and_by_name(api, users) -> None:
    [r async for r in api("/ip/hotspot/user/disable", **{".id": users[0]})]
    [r async for r in api("/ip/hotspot/user/enable", numbers="+255711000002")]
    got = {r["name"]: r["disabled"] for r in await select(api, NAME, DISABLED)}
    assert got == {"+255711000001": True, "+255711000002": False, "+255711000003": False}


async def test_numbers_takes_print_positions_and_lists(api, users) -> None:
    [r async for r in api("/ip/hotspot/user/set", numbers="0,2", comment="batch")]
    got = [r["name"] for r in await select(api, NAME, where=[Key("comment") == "batch"])]
    assert got == ["+255711000001", "+255711000003"]


async def test_remove_several_ids_at_once(api, users) -> None:
    await api.path("/ip/hotspot/user").remove(users[0], users[2])
    assert [r["name"] for r in await select(api, NAME)] == ["+255711000002"]


async def test_remove_with_one_missing_id_changes_nothing(api, users) -> None:
    with pytest.raises(TrapError, match=r"no such item \(4\)"):
        await api.path("/ip/hotspot/user").remove(users[0], "*FFFF")
    assert len(await select(api, NAME)) == 3


async def test_unset_removes_an_optional_value(api, users) -> None:
    [r async for r in api("/ip/hotspot/user/unset", numbers=users[2], **{"value-name": "comment"})]
    assert "comment" not in (await rows(api, "/ip/hotspot/user"))[2]


async def test_errors_use_routeros_messages(api, users) -> None:
    users_path = api.path("/ip/hotspot/user")
    with pytest.raises(TrapError) as caught:
        await users_path.add(name="+255711000001")
    assert caught.value.message == "failure: already have user with this name for this server"
    with pytest.raises(TrapError, match=r"^no such item \(4\)$"):
        await users_path.update(**{".id": "*99", "password": "x"})
    with pytest.raises(TrapError) as caught:
        await users_path.add(name="+255722000009", profile="nonexistent")
    assert (caught.value.message, caught.value.category) == (
        "input does not match any value of profile",
        1,
    )
    with pytest.raises(TrapError, match="unknown parameter"):
        await users_path.add(name="+255722000010", colour="blue")
    with pytest.raises(TrapError, match="unknown parameter"):
        await users_path.update(**{".id": users[0], "bytes-in": "5"})  # read-only
    with pytest.raises(TrapError, match="invalid value for argument mac-address"):
        await users_path.add(name="+255722000011", **{"mac-address": "nope"})
    with pytest.raises(TrapError, match="input does not match any value of disabled"):
        await users_path.add(name="+255722000012", disabled="maybe")
    with pytest.raises(TrapError, match="already have user"):
        await users_path.update(**{".id": users[1], "name": "+255711000001"})
    assert len(await select(api, NAME)) == 3  # nothing half-done


async def test_profile_values_accept_unique_prefixes(api, users) -> None:
    users_path = api.path("/ip/hotspot/user")
    await users_path.add(name="+255722000020", profile="dai")
    assert (await rows(api, "/ip/hotspot/user"))[-1]["profile"] == "daily"
    await api.path("/ip/hotspot/user/profile").add(name="daily-max")
    with pytest.raises(TrapError, match="ambiguous value of profile"):
        await users_path.add(name="+255722000021", profile="dai")


async def test_renaming_a_profile_carries_its_users(api, users) -> None:
    profiles = api.path("/ip/hotspot/user/profile")
    await profiles.update(**{".id": "daily", "name": "day-pass"})
    assert (await rows(api, "/ip/hotspot/user"))[2]["profile"] == "day-pass"


async def test_default_profile_cannot_be_removed(api) -> None:
    with pytest.raises(TrapError, match="can not remove default"):
        await api.path("/ip/hotspot/user/profile").remove("*0")


async def test_ppp_secret_duplicate_message(api) -> None:
    secrets = api.path("/ppp/secret")
    await secrets.add(name="cpe-1", password="x", service="pppoe")
    with pytest.raises(TrapError, match=r"^failure: secret with the same name already exists$"):
        await secrets.add(name="cpe-1")
    with pytest.raises(TrapError, match="input does not match any value of service"):
        await secrets.add(name="cpe-2", service="carrier-pigeon")


@pytest.mark.parametrize(
    ("path", "values", "expected"),
    [
        ("/ppp/profile", {"name": "p5", "rate-limit": "5M/5M"}, {"use-encryption": "default"}),
        ("/ip/pool", {"name": "extra", "ranges": "10.9.0.2-10.9.0.9"}, {"total": 8}),
        (
            "/ip/address",
            {"address": "10.20.0.1/24", "interface": "ether4"},
            {"network": "10.20.0.0", "actual-interface": "ether4"},
        ),
        (
            "/queue/simple",
            {"target": "10.5.50.9/32", "max-limit": "1M/5M"},
            {"name": "queue1", "max-limit": "1000000/5000000"},
        ),
        (
            "/ip/hotspot/ip-binding",
            {"mac-address": "AA:BB:CC:00:00:01", "type": "blocked"},
            {"server": "all"},
        ),
    ],
)
async def test_config_menus_round_trip(api, path: str, values: dict, expected: dict) -> None:
    menu = api.path(path)
    item = await menu.add(**values)
    (row,) = [r for r in await rows(api, path) if r[".id"] == item]
    assert row.items() >= expected.items()
    if "disabled" in row:
        [r async for r in api(f"{path}/disable", **{".id": item})]
        (row,) = [r for r in await rows(api, path) if r[".id"] == item]
        assert row["disabled"] is True
    else:  # RouterOS pools and profiles cannot be disabled
        with pytest.raises(TrapError, match="no such command"):
            [r async for r in api(f"{path}/disable", **{".id": item})]
    await menu.update(**{".id": item, "comment": "edited"})
    await menu.remove(item)
    assert item not in {r[".id"] for r in await rows(api, path)}


async def test_address_needs_an_existing_interface(api) -> None:
    with pytest.raises(TrapError) as caught:
        await api.path("/ip/address").add(address="10.30.0.1/24", interface="ether99")
    assert (caught.value.message, caught.value.category) == (
        "input does not match any value of interface",
        1,
    )


async def test_identity_and_interfaces(api) -> None:
    [r async for r in api("/system/identity/set", name="renamed")]
    assert await rows(api, "/system/identity") == [{"name": "renamed"}]
    [r async for r in api("/interface/disable", numbers="ether5")]
    ether5 = next(r for r in await rows(api, "/interface") if r["name"] == "ether5")
    assert ether5["disabled"] is True and ether5["type"] == "ether"
    with pytest.raises(TrapError, match="no such command"):
        await api.path("/interface").add(name="ether9")


async def test_resource_has_the_fields_the_agent_reads(api) -> None:
    (resource,) = await rows(api, "/system/resource")
    assert resource["version"] == "7.16.2 (stable)"
    assert resource["platform"] == "MikroTik"
    assert ".id" not in resource
    for name in ("uptime", "board-name", "cpu-load", "free-memory", "total-memory"):
        assert name in resource


async def test_getall_is_print(api, users) -> None:
    assert [r async for r in api("/ip/hotspot/user/getall")] == await rows(api, "/ip/hotspot/user")


async def test_listen_streams_arrival_and_removal(router: SimRouter, api) -> None:
    router.add_hotspot_user("+255733000001", password="pw")
    await api.protocol.writeSentence("/ip/hotspot/active/listen")
    await wait_for(lambda: router.listeners("/ip/hotspot/active") == 1)
    session = router.hotspot_login("+255733000001", mac_address="AA:BB:CC:DD:EE:01")
    reply, row = await api.readSentence()
    assert reply == "!re"
    assert (row[".id"], row["user"], row["mac-address"], row["login-by"]) == (
        session,
        "+255733000001",
        "AA:BB:CC:DD:EE:01",
        "http-chap",
    )
    router.logout(session)
    assert await api.readSentence() == ("!re", {".id": session, ".dead": True})
    await api.protocol.writeSentence("/cancel")
    assert await api.readSentence() == ("!trap", {"category": 2, "message": "interrupted"})
    assert await api.readSentence() == ("!done", {})
    assert await api.readSentence() == ("!done", {})
    assert router.listeners("/ip/hotspot/active") == 0
    assert await rows(api, "/system/identity") == [{"name": "test-router"}]  # still usable


async def test_listen_sees_api_changes_from_another_connection(router: SimRouter, raw) -> None:
    await raw.send("/ip/hotspot/user/listen", "=.proplist=.id,name,disabled", ".tag=l")
    await raw.barrier()
    other = await librouteros.async_connect(router.host, "admin", "", port=router.port, timeout=5)
    try:
        users = other.path("/ip/hotspot/user")
        item = await users.add(name="+255744000001")
        [r async for r in other("/ip/hotspot/user/disable", **{".id": item})]
        await users.remove(item)
    finally:
        await other.close()
    got = [attrs(await raw.read()) for _ in range(3)]
    assert got == [
        {".tag": "l", ".id": item, "name": "+255744000001", "disabled": "false"},
        {".tag": "l", ".id": item, "name": "+255744000001", "disabled": "true"},
        {".tag": "l", ".id": item, ".dead": "yes"},
    ]


async def test_print_follow_dumps_then_streams(router: SimRouter, raw: RawClient) -> None:
    router.add_hotspot_user("+255755000001")
    await raw.send("/ip/hotspot/user/print", "=follow=", "=.proplist=name", ".tag=f")
    assert attrs(await raw.read()) == {".tag": "f", "name": "+255755000001"}
    await raw.barrier()
    router.add_hotspot_user("+255755000002")
    assert attrs(await raw.read()) == {".tag": "f", "name": "+255755000002"}
    await raw.send("/cancel", "=tag=f")
    assert (await raw.read())[0] == "!trap"


async def test_print_interval_repeats(router: SimRouter, raw: RawClient) -> None:
    await raw.send("/system/identity/print", "=interval=0.05", ".tag=i")
    for _ in range(3):
        assert attrs(await raw.read()) == {".tag": "i", "name": "test-router"}
    await raw.send("/cancel", "=tag=i", ".tag=c")
    sentences = [await raw.read() for _ in range(3)]
    assert [s[0] for s in sentences if ".tag=c" not in s][-1] == "!done"


async def test_log_print_and_follow(router: SimRouter, api, raw: RawClient) -> None:
    logs = await rows(api, "/log")
    assert any("logged in from 127.0.0.1 via api" in r["message"] for r in logs)
    await raw.send("/log/print", "=follow-only=", ".tag=f")
    await raw.barrier()
    router.add_hotspot_user("+255766000001", password="x")
    router.hotspot_login("+255766000001", mac_address="AA:BB:CC:DD:EE:66")
    entry = attrs(await raw.read())
    assert entry["topics"] == "hotspot,account,info,debug"
    assert entry["message"] == "+255766000001 (10.5.50.2): logged in"


async def test_monitor_traffic_once_and_streaming(router: SimRouter, api, raw) -> None:
    router.populate(30)
    router.step(10)
    (sample,) = [r async for r in api("/interface/monitor-traffic", interface="ether1", once=True)]
    assert sample["name"] == "ether1"
    assert sample["rx-bits-per-second"] > 0 and "tx-packets-per-second" in sample
    router.monitor_interval = 0.02
    await raw.send("/interface/monitor-traffic", "=interface=ether1,ether2", ".tag=m")
    names = [attrs(await raw.read())["name"] for _ in range(4)]
    assert names == ["ether1", "ether2", "ether1", "ether2"]
    await raw.send("/cancel", "=tag=m")
    with pytest.raises(TrapError, match="input does not match any value of interface"):
        [r async for r in api("/interface/monitor-traffic", interface="nope", once=True)]


async def test_ping_counts_and_reports_timeouts(router: SimRouter, api) -> None:
    replies = [r async for r in api("/ping", address="10.5.50.1", count=3, interval="0.01")]
    assert [r["seq"] for r in replies] == [0, 1, 2]
    assert replies[-1]["received"] == 3 and replies[-1]["packet-loss"] == 0
    assert "ms" in replies[0]["time"] or "us" in replies[0]["time"]
    lost = [r async for r in api("/ping", address="10.5.50.200", count=2, interval="0.01")]
    assert [r["status"] for r in lost] == ["timeout", "timeout"]
    assert lost[-1]["packet-loss"] == 100
    with pytest.raises(TrapError, match="invalid value for argument address"):
        [r async for r in api("/ping", address="not-an-ip", count=1)]


async def test_ping_without_count_runs_until_cancel(raw: RawClient) -> None:
    await raw.send("/ping", "=address=127.0.0.1", "=interval=0.01", ".tag=p")
    for _ in range(3):
        assert (await raw.read())[0] == "!re"
    await raw.send("/cancel", "=tag=p", ".tag=c")
    tail = []
    while ["!done", ".tag=p"] not in tail:
        tail.append(await raw.read())
    assert ["!trap", ".tag=p", "=category=2", "=message=interrupted"] in tail


async def test_same_user_name_is_allowed_on_another_server(api) -> None:
    users = api.path("/ip/hotspot/user")
    await users.add(name="+255777000001")
    with pytest.raises(TrapError, match="already have user with this name for this server"):
        await users.add(name="+255777000001", server="all")
    await users.add(name="+255777000001", server="hotspot1")
    assert [r.get("server") for r in await rows(api, "/ip/hotspot/user")] == [None, "hotspot1"]
