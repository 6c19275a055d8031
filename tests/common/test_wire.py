"""The hub <-> agent wire schema v1: every message and dataclass survives encode/decode, and
anything else is refused with WireError."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from msgspec.structs import asdict

from common import wire
from common.wire import (
    Command,
    CommandResult,
    Entitlement,
    Event,
    RouterHealth,
    RouterInfo,
    RouterSnapshot,
    Session,
    WireError,
    decode,
    encode,
    parse_command,
    parse_entitlement,
    parse_event,
    parse_health,
    parse_result,
    parse_router_info,
    parse_session,
    parse_snapshot,
)

# NUL is replaced on decode (Postgres cannot store it): see the test near the end.
# Lone surrogates are not text (no UTF-8 for them): the encoder refuses them.
chars = st.characters(exclude_characters="\x00", exclude_categories=("Cs",))
text = st.text(chars, max_size=20)
name = st.text(chars, min_size=1, max_size=20)
maybe_text = st.none() | text
count = st.integers(min_value=0, max_value=2**53)
maybe_count = st.none() | count
finite = st.floats(allow_nan=False, allow_infinity=False)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | finite | text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
    max_leaves=10,
)
json_objects = st.dictionaries(text, json_values, max_size=4)

router_infos = st.builds(RouterInfo, name=name, host=text, port=st.integers(1, 65535))
sessions = st.builds(
    Session,
    session_id=name,
    kind=st.sampled_from(["hotspot", "ppp"]),
    username=text,
    mac_address=maybe_text,
    ip_address=maybe_text,
    uptime_seconds=count,
    idle_seconds=maybe_count,
    bytes_in=count,
    bytes_out=count,
    login_by=maybe_text,
    server=maybe_text,
)
healths = st.builds(
    RouterHealth,
    status=st.sampled_from(["online", "offline"]),
    since=text,
    error=maybe_text,
    identity=maybe_text,
    version=maybe_text,
    board_name=maybe_text,
    cpu_load=st.none() | st.integers(0, 100),
    free_memory=maybe_count,
    total_memory=maybe_count,
    uptime_seconds=maybe_count,
    hotspot_active=st.none() | st.integers(0, 2**31 - 1),
    ppp_active=st.none() | st.integers(0, 2**31 - 1),
)
snapshots = st.builds(
    RouterSnapshot, router=name, health=healths, sessions=st.lists(sessions, max_size=3)
)
events = st.builds(
    Event,
    seq=st.integers(min_value=1, max_value=2**63 - 1),
    ts=text,
    kind=text,
    router=st.none() | name,
    data=json_objects,
)
commands = st.builds(
    Command,
    id=text,
    name=st.sampled_from(sorted(wire.COMMAND_NAMES)),
    router=name,
    args=json_objects,
    deadline=maybe_text,
)
results = st.builds(
    CommandResult,
    command_id=text,
    name=text,
    ok=st.booleans(),
    result=json_objects,
    error=maybe_text,
    latency_ms=st.none() | finite,
)
entitlements = st.builds(
    Entitlement,
    username=text,
    mac_address=maybe_text,
    expires_at=text,
    profile=maybe_text,
    rate_limit=maybe_text,
    on_expiry=st.sampled_from(["cut", "throttle"]),
    expired_profile=text,
    password=maybe_text,
)


def envelope(frame: str, message_type: str) -> dict[str, Any]:
    body = decode(frame)
    assert body["type"] == message_type
    assert body["v"] == wire.VERSION
    return body


@given(text, count, st.lists(router_infos, max_size=4))
def test_hello_round_trip(version: str, last_seq: int, routers: list[RouterInfo]) -> None:
    body = envelope(
        encode("hello", agent_version=version, last_seq=last_seq, routers=routers), "hello"
    )
    assert body["agent_version"] == version
    assert body["last_seq"] == last_seq
    assert [parse_router_info(r) for r in body["routers"]] == routers


@given(text, count)
def test_welcome_and_ack_round_trip(agent_id: str, seq: int) -> None:
    body = envelope(encode("welcome", agent_id=agent_id, acked_seq=seq), "welcome")
    assert (body["agent_id"], body["acked_seq"]) == (agent_id, seq)
    assert envelope(encode("ack", seq=seq), "ack")["seq"] == seq


@given(count, st.lists(snapshots, max_size=3))
def test_snapshot_round_trip(as_of_seq: int, routers: list[RouterSnapshot]) -> None:
    body = envelope(encode("snapshot", as_of_seq=as_of_seq, routers=routers), "snapshot")
    assert body["as_of_seq"] == as_of_seq
    assert [parse_snapshot(r) for r in body["routers"]] == routers


@given(st.lists(events, max_size=4))
def test_events_round_trip(batch: list[Event]) -> None:
    body = envelope(encode("events", events=batch), "events")
    assert [parse_event(e) for e in body["events"]] == batch


@given(commands)
def test_command_round_trip(command: Command) -> None:
    body = envelope(encode("command", command=command), "command")
    assert parse_command(body["command"]) == command


@given(sessions, healths, results, entitlements)
def test_payload_dataclasses_round_trip_inside_events_and_commands(
    session: Session, health: RouterHealth, result: CommandResult, entitlement: Entitlement
) -> None:
    batch = [
        Event(1, "2026-01-15T12:44:15.123456Z", wire.SESSION_STARTED, "site-1", asdict(session)),
        Event(2, "2026-01-15T12:44:16.000000Z", wire.ROUTER_HEALTH, "site-1", asdict(health)),
        Event(3, "2026-01-15T12:44:17.000000Z", wire.COMMAND_RESULT, None, asdict(result)),
    ]
    body = decode(encode("events", events=batch).encode())  # frames may arrive as bytes
    started, healthy, finished = (parse_event(e) for e in body["events"])
    assert parse_session(started.data) == session
    assert parse_health(healthy.data) == health
    assert parse_result(finished.data) == result

    grant = Command("c-1", wire.GRANT_ACCESS, "site-1", asdict(entitlement))
    sent = parse_command(decode(encode("command", command=grant))["command"])
    assert parse_entitlement(sent.args) == entitlement


def test_dataclasses_nested_in_event_data_are_encoded() -> None:
    session = Session("*C0A80A08", "hotspot", "+255712345678", None, None, 5, None, 1, 2, "mac")
    event = Event(7, "2026-01-15T12:44:15.123456Z", wire.SESSION_ENDED, "r1", {"s": session})
    (decoded,) = decode(encode("events", events=[event]))["events"]
    assert parse_session(parse_event(decoded).data["s"]) == session


def test_frame_is_compact_json_with_type_and_version_first() -> None:
    frame = encode("ack", seq=3)
    assert frame == '{"type":"ack","v":1,"seq":3}'


def test_unknown_message_types_pass_the_envelope() -> None:
    # Either side may be upgraded first: unknown types are ignored by the caller, not refused.
    assert decode('{"type":"future.thing","v":1,"x":1}')["type"] == "future.thing"


def test_unknown_fields_are_ignored_for_forward_compatibility() -> None:
    info = {"name": "r1", "host": "127.0.0.1", "port": 8728, "added_in_v1_1": True}
    assert parse_router_info(info) == RouterInfo("r1", "127.0.0.1", 8728)


@pytest.mark.parametrize("version", [2, 0, "1", None, [1]])
def test_other_versions_are_refused(version: Any) -> None:
    with pytest.raises(WireError, match="unsupported wire version"):
        decode(json.dumps({"type": "hello", "v": version}))
    with pytest.raises(WireError, match="unsupported wire version"):
        decode('{"type": "hello"}')


@pytest.mark.parametrize(
    "frame",
    ["", "not json", "{", b"\xff\xfe\x00", "[]", "42", '"hello"', "null", "{}", '{"type":5,"v":1}'],
)
def test_garbage_frames_are_refused(frame: str | bytes) -> None:
    with pytest.raises(WireError):
        decode(frame)


@given(st.text() | st.binary())
def test_decode_never_raises_anything_but_wire_error(frame: str | bytes) -> None:
    try:
        body = decode(frame)
    except WireError:
        return
    assert isinstance(body, dict) and isinstance(body["type"], str)


GOOD_EVENT = {"seq": 1, "ts": "t", "kind": "k", "router": "r", "data": {}}


@pytest.mark.parametrize(
    "change",
    [
        {"seq": 0},
        {"seq": -1},
        {"seq": "1"},
        {"seq": True},
        {"seq": 1.0},
        {"ts": 5},
        {"kind": None},
        {"router": 5},
        {"data": []},
        {"seq": ...},
        {"seq": 2**63},  # beyond Postgres bigint
    ],
)
def test_bad_events_are_refused(change: dict[str, Any]) -> None:
    obj = {**GOOD_EVENT, **change}
    obj = {k: v for k, v in obj.items() if v is not ...}
    with pytest.raises(WireError):
        parse_event(obj)


def test_event_router_may_be_absent() -> None:
    obj = {k: v for k, v in GOOD_EVENT.items() if k != "router"}
    assert parse_event(obj).router is None


GOOD_COMMAND = {"id": "c1", "name": wire.PING, "router": "r", "args": {"address": "127.0.0.1"}}


@pytest.mark.parametrize(
    "change",
    [
        {"name": "format_disk"},
        {"name": 5},
        {"id": 5},
        {"router": None},
        {"args": "address=1"},
        {"deadline": 5},
        {"id": ...},
        {"args": ...},
    ],
)
def test_bad_commands_are_refused(change: dict[str, Any]) -> None:
    obj = {**GOOD_COMMAND, **change}
    obj = {k: v for k, v in obj.items() if v is not ...}
    with pytest.raises(WireError):
        parse_command(obj)


def test_unknown_command_is_named() -> None:
    with pytest.raises(WireError, match="unknown command 'format_disk'"):
        parse_command({**GOOD_COMMAND, "name": "format_disk"})


@pytest.mark.parametrize(
    ("parse", "obj"),
    [
        (parse_event, []),
        (parse_command, "ping"),
        (parse_session, None),
        (parse_session, {"session_id": "*1"}),
        (parse_health, {"since": "t"}),
        (parse_result, {"command_id": "c", "name": "ping"}),
        (parse_entitlement, {"username": "u"}),
        (parse_router_info, ["r1", "h", 1]),
        (parse_snapshot, {"router": "r", "health": {"status": "online", "since": "t"}}),
        (parse_snapshot, {"router": "r", "health": "ok", "sessions": []}),
        (parse_snapshot, {"router": 1, "health": {"status": "o", "since": "t"}, "sessions": []}),
        (parse_snapshot, {"router": "r", "health": {"status": "o", "since": "t"}, "sessions": [1]}),
    ],
)
def test_malformed_bodies_are_refused(parse: Any, obj: Any) -> None:
    with pytest.raises(WireError):
        parse(obj)


# Frames that once slipped through: a boolean version, wrongly typed fields, deep nesting.


def test_boolean_version_is_refused() -> None:
    with pytest.raises(WireError):
        decode('{"type":"hello","v":true}')


def test_wrongly_typed_fields_are_refused() -> None:
    with pytest.raises(WireError):
        parse_router_info({"name": "r1", "host": "127.0.0.1", "port": "not a port"})


def test_deeply_nested_frame_is_refused() -> None:
    with pytest.raises(WireError):
        decode("[" * 100_000)


@pytest.mark.parametrize("as_bytes", [False, True])
def test_nul_characters_are_replaced_so_the_hub_can_store_every_frame(as_bytes: bool) -> None:
    frame = encode("events", events=[{"seq": 1, "data": {"comment\x00": "a\x00b", "n": [0]}}])
    assert "\\u0000" in frame
    body = decode(frame.encode() if as_bytes else frame)
    assert body["events"][0]["data"] == {"comment\ufffd": "a\ufffdb", "n": [0]}


def test_escaped_backslash_u0000_text_survives_when_no_nul_is_present() -> None:
    body = decode(encode("hello", note="\\u0000 is how JSON spells NUL"))
    assert body["note"] == "\\u0000 is how JSON spells NUL"


def test_event_data_may_be_absent() -> None:
    obj = {k: v for k, v in GOOD_EVENT.items() if k != "data"}
    assert parse_event(obj).data == {}


SESSION = {
    "session_id": "*1",
    "kind": "hotspot",
    "username": "u",
    "mac_address": None,
    "ip_address": None,
    "uptime_seconds": 1,
    "idle_seconds": None,
    "bytes_in": 1,
    "bytes_out": 1,
    "login_by": None,
}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"username": "x" * 1_000_000}, "username"),
        ({"bytes_in": 2**63}, "bytes_in"),
        ({"uptime_seconds": -1}, "uptime_seconds"),
        ({"session_id": ""}, "session_id"),
        ({"kind": "telnet"}, "kind"),
        ({"bytes_out": True}, "bytes_out"),
    ],
)
def test_session_bounds_name_the_field(change: dict[str, Any], field: str) -> None:
    with pytest.raises(WireError, match=field):
        parse_session({**SESSION, **change})


def test_typed_decoders_check_bounds_and_replace_nul() -> None:
    raw = encode("events", events=[{"seq": 1, "ts": "t", "kind": "k", "data": {"a": "\x00"}}])
    (event,) = wire.decode_as(raw, wire.RAW_EVENTS).events
    decoded = wire.decode_as(event, wire.RAW_EVENT)
    assert wire.decode_as(decoded.data, wire.ANY_OBJECT) == {"a": "\ufffd"}
    with pytest.raises(WireError, match="cpu_load"):
        wire.decode_as(b'{"status":"online","since":"t","cpu_load":101}', wire.HEALTH)


def test_frames_encode_with_type_and_version_first() -> None:
    assert wire.encode_frame(wire.Ack(seq=3)) == b'{"type":"ack","v":1,"seq":3,"rejected":[]}'
    assert wire.frame_type(wire.encode_frame(wire.Welcome(agent_id=1, acked_seq=0))) == "welcome"


def test_a_big_snapshot_is_split_into_frames_under_the_bound() -> None:
    sessions_ = [
        Session(f"*{i:X}", "hotspot", f"+2557{i:08d}", "AA:BB:CC:DD:EE:01", "10.5.50.2",
                i, 0, i * 10, i * 20, "http-chap", "hotspot1")
        for i in range(5000)
    ]  # fmt: skip
    health = RouterHealth("online", "2026-01-15T12:00:00Z", cpu_load=5)
    routers = [RouterSnapshot("r1", health, sessions_[:4000]), RouterSnapshot("r2", health, [])]
    routers.append(RouterSnapshot("r3", health, sessions_[4000:]))
    whole = len(wire.encode_frame(wire.Snapshot(as_of_seq=9, routers=routers)))
    assert whole < 8 * 1024 * 1024  # 5,000 sessions fit the hub's default bound
    parts = wire.split_snapshot(9, routers, 256 * 1024)
    assert len(parts) > 1
    assert all(len(wire.encode_frame(p)) <= 256 * 1024 for p in parts)
    assert [p.part for p in parts] == list(range(len(parts)))
    assert [p.last for p in parts] == [False] * (len(parts) - 1) + [True]
    seen = [(r.router, s.session_id) for p in parts for r in p.routers for s in r.sessions]
    assert seen == [("r1", s.session_id) for s in sessions_[:4000]] + [
        ("r3", s.session_id) for s in sessions_[4000:]
    ]
    assert {r.router for p in parts for r in p.routers} == {"r1", "r2", "r3"}
    assert wire.split_snapshot(0, [], 1024) == [wire.Snapshot(as_of_seq=0, routers=[])]


def _voucher(code: str = "K7QX2M", **changes: Any) -> dict[str, Any]:
    return {
        "code": code,
        "batch_id": 3,
        "valid_until": "2026-12-31T00:00:00.000000Z",
        "duration_seconds": 3600,
        **changes,
    }


def test_vouchers_sync_is_bounded() -> None:
    sync = wire.parse_vouchers_sync({"version": 4, "base": 2, "vouchers": [_voucher()]})
    assert (sync.version, sync.base, sync.last, sync.vouchers[0].routers) == (4, 2, True, None)
    too_many = [_voucher(f"C{n:05d}") for n in range(wire.MAX_VOUCHERS_PER_SYNC + 1)]
    for bad in (
        {"version": 1, "vouchers": too_many},
        {"version": -1},
        {"version": 1, "vouchers": [_voucher("")]},
        {"version": 1, "vouchers": [_voucher(duration_seconds=0)]},
        {"version": 1, "vouchers": [_voucher(on_expiry="later")]},
    ):
        with pytest.raises(wire.WireError):
            wire.parse_vouchers_sync(bad)


def test_an_older_agents_hello_has_no_vouchers_version() -> None:
    hello = wire.decode_as(wire.encode("hello", routers=[]), wire.HELLO)
    assert hello.vouchers_version is None


def test_voucher_redeemed_data() -> None:
    data = {
        "router": "r1",
        "code": "K7QX2M",
        "mac_address": "AA:BB:CC:DD:EE:01",
        "redeemed_at": "2026-12-02T10:00:00.000000Z",
        "expires_at": "2026-12-02T11:00:00.000000Z",
    }
    assert wire.decode_as(json.dumps(data), wire.VOUCHER_REDEEMED_DATA).code == "K7QX2M"
    with pytest.raises(wire.WireError):
        wire.decode_as(json.dumps({**data, "code": "x" * 65}), wire.VOUCHER_REDEEMED_DATA)
