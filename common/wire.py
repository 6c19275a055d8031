"""The hub <-> agent wire schema, version 1, declared once (msgspec) for both programs.

One WebSocket per agent, dialled by the agent to ``GET /agent/v1/link`` with
``Authorization: Bearer <agent credential>``. Every frame is one JSON text message with a
``type`` (the tag of the ``Frame`` union below) and ``v``. The conversation:

    agent -> hub   hello      {agent_version, last_seq, routers: [RouterInfo], entitlements_digest}
    hub   -> agent welcome    {agent_id, acked_seq}        agent drops outbox rows <= acked_seq
    agent -> hub   snapshot   {as_of_seq, routers: [RouterSnapshot]}   after every welcome
    hub   -> agent snapshot.rejected {as_of_seq, rejected: [Rejected]}  sessions it skipped
    agent -> hub   events     {events: [Event]}            outbox rows in seq order, batched
    hub   -> agent ack        {seq, rejected: [Rejected]}  highest seq the hub has dealt with
    hub   -> agent command    {command: Command}           idempotent by command id
    (the agent answers a command with a ``command.result`` Event through its outbox)

Events are delivered at least once; the hub deduplicates by ``(agent, seq)``. An event the hub
cannot accept (out of range, malformed data) is acknowledged all the same and listed in the
ack's ``rejected`` with the reason, so one bad event never blocks the ones behind it; only a
frame that cannot be parsed at all closes the link (1008). Sessions in a snapshot replace the
hub's current sessions of that router; events with ``seq <= as_of_seq`` are history only.
Unknown message types and unknown event kinds are ignored by both sides so either can be
upgraded first; a different ``v`` is refused. NUL in any decoded string becomes U+FFFD
(Postgres cannot store it, and a frame the hub cannot store would be resent forever).
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta, Raw, Struct

VERSION = 1
LINK_PATH = "/agent/v1/link"
ENROLL_PATH = "/agent/v1/enroll"

# Event kinds (agent -> hub), each with the shape of its ``data``.
SESSION_STARTED = "session.started"  # Session
SESSION_UPDATED = "session.updated"  # Session
SESSION_ENDED = "session.ended"  # Session (final counters and uptime)
ROUTER_HEALTH = "router.health"  # RouterHealth
ROUTER_UP = "router.up"  # RouterStatus {"since": iso}
ROUTER_DOWN = "router.down"  # RouterStatus {"since": iso, "error": str}
COMMAND_RESULT = "command.result"  # CommandResult
ENTITLEMENT_ENFORCED = "entitlement.enforced"  # {"username", "mac_address", "action", "errors"}
DRIFT_REPAIRED = "drift.repaired"  # {"username", "mac_address", "what": str}
OUTBOX_THINNED = "outbox.thinned"  # {"dropped": int, "kinds": [str]}
# A voucher's first login at the site (its MAC locked, its time started): VoucherRedeemed.
VOUCHER_REDEEMED = "voucher_redeemed"
# An unpaid hotspot session cut on a billing-managed router: {"username", "mac_address",
# "session_id"}.
BILLING_CUT = "billing.cut"
EVENT_REJECTED = "event.rejected"  # hub-side site event: {"kind", "reason"} of a refused event
HOTSPOT_USER_PUT = "hotspot_user.put"  # HotspotUser: a configured user added or changed
HOTSPOT_USER_REMOVED = "hotspot_user.removed"  # HotspotUserRemoved: no user of that name left

SESSION_EVENT_KINDS = frozenset({SESSION_STARTED, SESSION_UPDATED, SESSION_ENDED})
HOTSPOT_USER_EVENT_KINDS = frozenset({HOTSPOT_USER_PUT, HOTSPOT_USER_REMOVED})

# Only these kinds may be thinned when the outbox is over its bound.
THINNABLE_KINDS = frozenset({ROUTER_HEALTH, SESSION_UPDATED})

# Command names (hub -> agent) and their ``args``.
DISCONNECT = "disconnect"  # {"username": str, "mac_address": str | None}
GRANT_ACCESS = "grant_access"  # Entitlement fields; also stores the entitlement
REVOKE_ACCESS = "revoke_access"  # {"username": str, "mac_address": str | None}
ENTITLEMENT_PUT = "entitlement.put"  # Entitlement
ENTITLEMENT_DELETE = "entitlement.delete"  # {"username": str, "mac_address": str | None}
# The entitlements the hub wants on the agent, sent on (re)connect when the hello's token (the
# digest field) is not current: the whole set, or (base = the token held) what changed since:
# {"digest": str, "base": str | None, "entitlements": [SyncedEntitlement],
#  "revoked": [SyncedRevocation]}
ENTITLEMENTS_SYNC = "entitlements.sync"
# Vouchers the agent creates as hotspot users (VouchersSync): on connect when the hello's
# vouchers_version is not the scope's, and when a batch is created.
VOUCHERS_SYNC = "vouchers.sync"
ROUTER_MENU = "router.menu"  # {"menu": str, "action": "print|add|set|remove", "params": {}}
# The routers the hub manages for the agent (devices created through /v1): RoutersSync, the
# whole set, sent on every connect of an agent that has devices and after every change; the
# agent starts, restarts and stops its links to match. A command of the whole agent: its
# ``router`` is NO_ROUTER.
ROUTERS_SYNC = "routers.sync"
NO_ROUTER = "*"
PING = "ping"  # {"address": str, "count": int}
MONITOR_TRAFFIC = "monitor_traffic"  # {"interface": str}
LOG_READ = "log.read"  # {"limit": int, "topics": str | None}

COMMAND_NAMES = frozenset(
    {
        DISCONNECT,
        GRANT_ACCESS,
        REVOKE_ACCESS,
        ENTITLEMENT_PUT,
        ENTITLEMENT_DELETE,
        ENTITLEMENTS_SYNC,
        VOUCHERS_SYNC,
        ROUTERS_SYNC,
        ROUTER_MENU,
        PING,
        MONITOR_TRAFFIC,
        LOG_READ,
    }
)

# Menus ``router.menu`` may touch; anything else is refused by the agent.
MENU_ALLOWLIST = frozenset(
    {
        "/ppp/secret",
        "/ppp/profile",
        "/ip/pool",
        "/queue/simple",
        "/ip/hotspot/user",  # customers on hotspot (seed 004 section 9)
        "/ip/hotspot/user/profile",  # their billing profiles
    }
)

# --- bounds: what Postgres columns hold and what a real agent sends ---------------------------

BIGINT_MAX = 2**63 - 1
INTEGER_MAX = 2**31 - 1
MAX_EVENTS_PER_FRAME = 10_000
MAX_ROUTERS_PER_FRAME = 1_000  # the hub's own per-agent limit (HubConfig) is lower
MAX_SESSIONS_PER_ROUTER = 50_000
MAX_HOTSPOT_USERS_PER_ROUTER = 100_000  # voucher batches make big user lists
MAX_VOUCHERS_PER_SYNC = 5_000  # a batch holds at most 5,000 (voucher_batches.count)

Seq = Annotated[int, Meta(ge=1, le=BIGINT_MAX)]
SeqOrZero = Annotated[int, Meta(ge=0, le=BIGINT_MAX)]
Count = Annotated[int, Meta(ge=0, le=BIGINT_MAX)]
SmallCount = Annotated[int, Meta(ge=0, le=INTEGER_MAX)]
Percent = Annotated[int, Meta(ge=0, le=100)]
Port = Annotated[int, Meta(ge=1, le=65535)]
Name = Annotated[str, Meta(min_length=1, max_length=128)]  # a router's name in agent.toml
Text = Annotated[str, Meta(max_length=256)]  # usernames, addresses, identities, profiles
LongText = Annotated[str, Meta(max_length=4096)]  # error messages
Time = Annotated[str, Meta(max_length=64)]  # ISO 8601 UTC
SessionId = Annotated[str, Meta(min_length=1, max_length=64)]
UserName = Annotated[str, Meta(min_length=1, max_length=256)]  # a hotspot user's name


class WireError(ValueError):
    """A frame that is not valid JSON of the expected shape or version."""


# --- payloads -----------------------------------------------------------------------------------


class RouterInfo(Struct):
    """A router the agent is configured for, as it introduces itself."""

    name: Name
    host: Text
    port: Port


class Session(Struct):
    """One active hotspot or PPP session, values already parsed from RouterOS strings.

    Mutable: the mirror updates counters in place."""

    session_id: SessionId  # RouterOS .id, e.g. "*C0A80A08" (hotspot) or "*80000077" (ppp)
    kind: Literal["hotspot", "ppp"]
    username: Text
    mac_address: Text | None  # canonical AA:BB:CC:DD:EE:FF (ppp: caller-id when it is a MAC)
    ip_address: Text | None
    uptime_seconds: Count
    idle_seconds: Count | None
    bytes_in: Count
    bytes_out: Count
    login_by: Text | None  # hotspot "mac", "http-chap", ...; ppp: service ("pppoe")
    server: Text | None = None  # hotspot server or ppp service


class HotspotUser(Struct, gc=False):
    """One configured ``/ip/hotspot/user``, by name (the hub's key): when several servers have
    a user of that name, the one with the lowest ``.id``. Values parsed from RouterOS.
    ``gc=False``: scalars only, and an agent holds thousands."""

    name: UserName
    user_id: SessionId  # RouterOS .id, e.g. "*1A"
    profile: Text | None = None
    disabled: bool = False
    comment: LongText | None = None
    limit_uptime_seconds: Count | None = None  # None: no limit-uptime set
    mac_address: Text | None = None  # canonical AA:BB:CC:DD:EE:FF


class HotspotUserRemoved(Struct):
    """``data`` of hotspot_user.removed."""

    name: UserName


class RouterHealth(Struct):
    status: Literal["online", "offline"]
    since: Time  # ISO 8601 UTC of the last status change
    error: LongText | None = None
    identity: Text | None = None
    version: Text | None = None  # "7.16.2 (stable)"
    board_name: Text | None = None
    cpu_load: Percent | None = None
    free_memory: Count | None = None  # bytes
    total_memory: Count | None = None
    uptime_seconds: Count | None = None
    hotspot_active: SmallCount | None = None
    ppp_active: SmallCount | None = None
    hotspot_users: SmallCount | None = None  # hotspot users configured (seed 002 totalUsers)


class RouterStatus(Struct):
    """``data`` of router.up / router.down."""

    since: Time | None = None
    error: LongText | None = None


HotspotUsers = Annotated[list[HotspotUser], Meta(max_length=MAX_HOTSPOT_USERS_PER_ROUTER)]


class RouterSnapshot(Struct):
    """A router's current state. ``hotspot_users`` None: not known yet (the hub keeps what it
    has); a list replaces the hub's users of the router, unless ``users_continued`` says it
    adds to the list an earlier part began (a router's users may span parts)."""

    router: Name
    health: RouterHealth
    sessions: Annotated[list[Session], Meta(max_length=MAX_SESSIONS_PER_ROUTER)]
    hotspot_users: HotspotUsers | None = None
    users_continued: bool = False


class Event(Struct):
    seq: Seq
    ts: Time  # ISO 8601 UTC when the agent observed it
    kind: Text
    router: Name | None = None
    data: dict[str, Any] = {}


class RawEvent(Struct):
    """An Event whose ``data`` is still JSON: the agent sends outbox bytes as stored, and the
    hub decodes ``data`` into the type its kind names (``event_data``)."""

    seq: Seq
    ts: Time
    kind: Text
    router: Name | None = None
    data: Raw = Raw(b"{}")


class Command(Struct):
    id: Text  # uuid chosen by the hub; repeating it returns the recorded result
    name: Text
    router: Name
    args: dict[str, Any]
    deadline: Time | None = None  # ISO 8601 UTC; the agent skips a command past it


class CommandResult(Struct):
    command_id: Text
    name: Text
    ok: bool
    result: dict[str, Any] = {}
    error: LongText | None = None
    latency_ms: float | None = None


class Entitlement(Struct):
    """Paid access the agent enforces locally, with or without the hub."""

    username: Text
    mac_address: Text | None
    expires_at: Time  # ISO 8601 UTC
    profile: Text | None = None  # hotspot user profile while entitled
    rate_limit: Text | None = None  # "1M/5M"; informational when a profile is given
    on_expiry: Literal["cut", "throttle"] = "cut"
    expired_profile: Text = "expired"  # profile used by "throttle"
    password: Text | None = None  # hotspot user password; None keeps what the router has


class SyncedEntitlement(Entitlement, kw_only=True):
    """One entry of entitlements.sync: on these routers, or every router of the agent (None)."""

    routers: list[Name] | None = None


class SyncedRevocation(Struct, kw_only=True):
    username: Text
    mac_address: Text | None = None
    routers: list[Name] | None = None


class EntitlementsSync(Struct, kw_only=True):
    """Entitlements the hub wants on the agent. ``digest`` is the token the agent echoes in its
    hello (``entitlements_digest``) once it applied this. ``base`` None: the whole set (an
    unexpired entitlement held but not listed is dropped); else only what changed since the
    token ``base``, which the agent must hold for it to apply."""

    digest: Text
    base: Text | None = None
    entitlements: list[SyncedEntitlement] = []
    revoked: list[SyncedRevocation] = []


class SyncedVoucher(Struct, kw_only=True):
    """One voucher the agent creates as a hotspot user (name and password = ``code``) on these
    routers (None: every router of the agent); its time (``duration_seconds``) starts at the
    first login, which must come before ``valid_until``."""

    code: Annotated[str, Meta(min_length=1, max_length=64)]
    batch_id: Annotated[int, Meta(ge=1, le=BIGINT_MAX)]
    valid_until: Time  # ISO 8601 UTC
    duration_seconds: Annotated[int, Meta(ge=1, le=INTEGER_MAX)]
    profile: Text | None = None  # the plan's router profile; None: the router's default
    rate_limit: Text | None = None  # "2M/5M" (upload/download, the router's rx/tx)
    on_expiry: Literal["cut", "throttle"] = "cut"
    routers: list[Name] | None = None
    # Not "unused": redeemed (elsewhere, or here and reported) or expired at the hub: an agent
    # holding it unused removes it from its routers; one that redeemed it keeps its own.
    status: Literal["unused", "active", "expired"] = "unused"


class VouchersSync(Struct, kw_only=True):
    """Vouchers the hub wants on the agent. ``version`` is what the agent echoes in its hello
    (``vouchers_version``) once it applied this; ``base`` None: everything of its scope, else
    only what came after ``base``, which the agent must hold for the version to count (the
    vouchers are added either way: adding one twice changes nothing). A set larger than one
    command is sent in parts; only the ``last`` moves the agent's version."""

    version: Annotated[int, Meta(ge=0, le=BIGINT_MAX)]
    base: Annotated[int, Meta(ge=0, le=BIGINT_MAX)] | None = None
    vouchers: Annotated[list[SyncedVoucher], Meta(max_length=MAX_VOUCHERS_PER_SYNC)] = []
    last: bool = True


class ManagedRouter(Struct, kw_only=True):
    """A router the hub manages for the agent: how to reach it and log in (API password in
    clear: the link is the agent's own authenticated WebSocket). Never log one."""

    name: Name
    host: Text
    port: Port
    username: Annotated[str, Meta(min_length=1, max_length=128)]
    password: Annotated[str, Meta(max_length=256)]
    tls: bool = False


class RoutersSync(Struct, kw_only=True):
    """``args`` of routers.sync: every router the hub wants the agent to run for it (active
    devices); a managed router the agent runs and this does not list is stopped."""

    routers: Annotated[list[ManagedRouter], Meta(max_length=MAX_ROUTERS_PER_FRAME)] = []


class VoucherRedeemed(Struct, kw_only=True):
    """``data`` of voucher_redeemed: the first device that logged in with ``code`` on
    ``router``, when, and when its time ends (first login + the plan's duration)."""

    router: Name
    code: Annotated[str, Meta(min_length=1, max_length=64)]
    mac_address: Text | None
    redeemed_at: Time
    expires_at: Time


class Rejected(Struct):
    """An event (by seq) or a snapshot part (by router, session) the hub refused, and why."""

    reason: LongText
    seq: int | None = None
    router: str | None = None
    session_id: str | None = None


# --- frames -------------------------------------------------------------------------------------


class Frame(Struct, tag_field="type", kw_only=True):
    v: int = VERSION


class Hello(Frame, tag="hello", kw_only=True):
    agent_version: Text | None = None
    last_seq: SeqOrZero = 0
    routers: Annotated[list[RouterInfo], Meta(max_length=MAX_ROUTERS_PER_FRAME)]
    entitlements_digest: Text | None = None  # digest of the entitlements the agent holds
    vouchers_version: Annotated[int, Meta(ge=0, le=BIGINT_MAX)] | None = None  # VouchersSync


class Welcome(Frame, tag="welcome", kw_only=True):
    agent_id: int
    acked_seq: SeqOrZero


class Snapshot(Frame, tag="snapshot", kw_only=True):
    """Current state, possibly in parts (each under the frame bound): part 0 replaces the
    hub's sessions of every router of the agent, later parts add to them, the last one
    (``last``) makes ``as_of_seq`` the agent's snapshot point. A router may span parts."""

    as_of_seq: SeqOrZero
    routers: Annotated[list[RouterSnapshot], Meta(max_length=MAX_ROUTERS_PER_FRAME)]
    part: SmallCount = 0
    last: bool = True


class RawSnapshot(Struct, kw_only=True):
    """A snapshot as the hub reads it: every router and session checked on its own."""

    v: int = VERSION
    as_of_seq: SeqOrZero
    routers: Annotated[list[Raw], Meta(max_length=MAX_ROUTERS_PER_FRAME)]
    part: SmallCount = 0
    last: bool = True


class RawRouterSnapshot(Struct):
    router: Name
    health: Raw
    sessions: Annotated[list[Raw], Meta(max_length=MAX_SESSIONS_PER_ROUTER)]
    hotspot_users: Annotated[list[Raw], Meta(max_length=MAX_HOTSPOT_USERS_PER_ROUTER)] | None = None
    users_continued: bool = False


class SnapshotRejected(Frame, tag="snapshot.rejected", kw_only=True):
    as_of_seq: int
    rejected: list[Rejected]


class Events(Frame, tag="events", kw_only=True):
    events: list[Any]  # Event or RawEvent (encode only; the hub reads RawEvents)


class RawEvents(Struct, kw_only=True):
    """An events frame as the hub reads it: each event checked on its own."""

    v: int = VERSION
    events: Annotated[list[Raw], Meta(max_length=MAX_EVENTS_PER_FRAME)]


class Ack(Frame, tag="ack", kw_only=True):
    seq: SeqOrZero
    rejected: list[Rejected] = []


class CommandFrame(Frame, tag="command", kw_only=True):
    command: Command


class RawCommandFrame(Struct, kw_only=True):
    v: int = VERSION
    command: Raw


class Unknown(Struct, kw_only=True):
    """A frame of a type this side does not know (a newer peer): ignored."""

    type: str
    v: int = VERSION


class _Envelope(Struct):
    type: str
    v: Any = None


class _SeqOnly(Struct):
    seq: int


# --- encoding and decoding ----------------------------------------------------------------------

_encoder = msgspec.json.Encoder()
_envelope = msgspec.json.Decoder(_Envelope)
_seq_only = msgspec.json.Decoder(_SeqOnly)
# JSON must escape NUL as \u0000: an odd number of backslashes before "u0000" is one.
_NUL = re.compile(rb"(?<!\\)((?:\\\\)*)\\u0000")


def _without_nul(data: bytes) -> bytes:
    if b"\\u0000" not in data:
        return data
    return _NUL.sub(rb"\1\\ufffd", data)


def _bytes(data: str | bytes | Raw) -> bytes:
    if isinstance(data, str):
        try:
            return data.encode()
        except UnicodeEncodeError as exc:  # lone surrogates
            raise WireError(f"not JSON: {exc}") from exc
    return bytes(data)


def encode_frame(frame: Frame) -> bytes:
    """One frame as compact JSON (``type`` first, then ``v``)."""
    try:
        return _encoder.encode(frame)
    except (TypeError, ValueError, OverflowError) as exc:
        raise WireError(f"not encodable as strict JSON: {exc}") from exc


def encode_frame_part(value: Any) -> bytes:
    """Any wire value (Structs, lists, dicts) as compact JSON, e.g. for a digest."""
    return _encoder.encode(value)


FRAME_OVERHEAD = 512  # envelope and per-router fields, generously


def split_snapshot(as_of_seq: int, routers: list[RouterSnapshot], max_bytes: int) -> list[Snapshot]:
    """The snapshot as frames of at most about ``max_bytes`` each (at least one frame)."""
    parts: list[list[RouterSnapshot]] = [[]]
    size = FRAME_OVERHEAD
    for snap in routers:
        health_size = len(_encoder.encode(snap.health)) + FRAME_OVERHEAD
        current = RouterSnapshot(snap.router, snap.health, [])
        if size + health_size > max_bytes and parts[-1]:
            parts.append([])
            size = FRAME_OVERHEAD
        parts[-1].append(current)
        size += health_size
        for session in snap.sessions:
            item = len(_encoder.encode(session)) + 1
            if size + item > max_bytes and current.sessions:
                current = RouterSnapshot(snap.router, snap.health, [])
                parts.append([current])
                size = FRAME_OVERHEAD + health_size
            current.sessions.append(session)
            size += item
        if snap.hotspot_users is None:
            continue
        current.hotspot_users = []
        for user in snap.hotspot_users:
            item = len(_encoder.encode(user)) + 1
            if size + item > max_bytes and current.hotspot_users:
                current = RouterSnapshot(
                    snap.router, snap.health, [], hotspot_users=[], users_continued=True
                )
                parts.append([current])
                size = FRAME_OVERHEAD + health_size
            current.hotspot_users.append(user)
            size += item
    return [
        Snapshot(as_of_seq=as_of_seq, routers=part, part=index, last=index == len(parts) - 1)
        for index, part in enumerate(parts)
    ]


def encoded_size(frame: Frame) -> int:
    return len(encode_frame(frame))


def decode_as(data: str | bytes | Raw, decoder: msgspec.json.Decoder) -> Any:
    """``data`` through one of this module's decoders; WireError naming the field if not."""
    try:
        return decoder.decode(_without_nul(_bytes(data)))
    except msgspec.ValidationError as exc:
        raise WireError(str(exc)) from exc
    except (msgspec.DecodeError, RecursionError, UnicodeDecodeError) as exc:
        raise WireError(f"not JSON: {exc}") from exc


def frame_type(data: str | bytes) -> str:
    """The ``type`` of a frame, after checking its envelope and version."""
    envelope = decode_as(data, _envelope)
    if type(envelope.v) is not int or envelope.v != VERSION:
        raise WireError(f"unsupported wire version {envelope.v!r}, expected {VERSION}")
    return envelope.type


def event_seq(data: Raw) -> int | None:
    """The seq of an event that failed its schema, if it has an integer one."""
    try:
        seq = _seq_only.decode(bytes(data)).seq
    except (msgspec.ValidationError, msgspec.DecodeError, RecursionError):
        return None
    return seq


def decoder(kind: Any) -> msgspec.json.Decoder:
    return msgspec.json.Decoder(kind)


# Typed decoders both programs use.
HELLO = decoder(Hello)
WELCOME = decoder(Welcome)
RAW_SNAPSHOT = decoder(RawSnapshot)
RAW_ROUTER_SNAPSHOT = decoder(RawRouterSnapshot)
RAW_EVENTS = decoder(RawEvents)
RAW_EVENT = decoder(RawEvent)
ACK = decoder(Ack)
SNAPSHOT_REJECTED = decoder(SnapshotRejected)
RAW_COMMAND_FRAME = decoder(RawCommandFrame)
SESSION = decoder(Session)
HEALTH = decoder(RouterHealth)
HOTSPOT_USER = decoder(HotspotUser)
HOTSPOT_USER_REMOVED_DATA = decoder(HotspotUserRemoved)
ROUTER_STATUS = decoder(RouterStatus)
RESULT = decoder(CommandResult)
COMMAND = decoder(Command)
VOUCHER_REDEEMED_DATA = decoder(VoucherRedeemed)
ANY_OBJECT = decoder(dict[str, Any])

# --- the generic helpers (tests, tools): frames as plain dicts ---------------------------------


def encode(message_type: str, **payload: Any) -> str:
    """One frame from keyword fields; Structs (and dataclasses) inside become JSON objects."""
    if "type" in payload or "v" in payload:
        raise WireError("the payload may not override the envelope fields 'type' and 'v'")
    body = {"type": message_type, "v": VERSION, **payload}
    try:
        return _encoder.encode(body).decode()
    except (TypeError, ValueError, OverflowError) as exc:
        raise WireError(f"not encodable as strict JSON: {exc}") from exc


def decode(text: str | bytes) -> dict[str, Any]:
    """Parse a frame into a dict and check its envelope (type, version)."""
    frame_type(text)
    return decode_as(text, ANY_OBJECT)


def _convert(obj: Any, kind: type, what: str) -> Any:
    try:
        return msgspec.convert(obj, kind)
    except msgspec.ValidationError as exc:
        raise WireError(f"bad {what}: {exc}") from exc


def parse_command(obj: Any) -> Command:
    command = _convert(obj, Command, "command")
    if command.name not in COMMAND_NAMES:
        raise WireError(f"unknown command {command.name!r}")
    return command


def parse_event(obj: Any) -> Event:
    return _convert(obj, Event, "event")


def parse_session(obj: Any) -> Session:
    return _convert(obj, Session, "session")


def parse_health(obj: Any) -> RouterHealth:
    return _convert(obj, RouterHealth, "router health")


def parse_result(obj: Any) -> CommandResult:
    return _convert(obj, CommandResult, "command result")


def parse_entitlement(obj: Any) -> Entitlement:
    return _convert(obj, Entitlement, "entitlement")


def parse_snapshot(obj: Any) -> RouterSnapshot:
    return _convert(obj, RouterSnapshot, "router snapshot")


def parse_entitlements_sync(obj: Any) -> EntitlementsSync:
    return _convert(obj, EntitlementsSync, "entitlements.sync")


def parse_vouchers_sync(obj: Any) -> VouchersSync:
    return _convert(obj, VouchersSync, "vouchers.sync")


def parse_routers_sync(obj: Any) -> RoutersSync:
    return _convert(obj, RoutersSync, "routers.sync")


def parse_router_info(obj: Any) -> RouterInfo:
    return _convert(obj, RouterInfo, "router info")


def as_dict(record: Struct) -> dict[str, Any]:
    """A flat Struct as a dict (shallow: a session diff converts thousands)."""
    return {name: getattr(record, name) for name in record.__struct_fields__}
