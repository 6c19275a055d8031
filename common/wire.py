"""The hub <-> agent wire schema, version 1.

One WebSocket per agent, dialled by the agent to ``GET /agent/v1/link`` with
``Authorization: Bearer <agent credential>``. Every frame is one JSON text
message with a ``type``. The conversation:

    agent -> hub   hello      {agent_version, last_seq, routers: [RouterInfo]}
    hub   -> agent welcome    {agent_id, acked_seq}        agent drops outbox rows <= acked_seq
    agent -> hub   snapshot   {as_of_seq, routers: [RouterSnapshot]}   after every welcome
    agent -> hub   events     {events: [Event]}            outbox rows in seq order, batched
    hub   -> agent ack        {seq}                        highest seq the hub has stored
    hub   -> agent command    {command: Command}           idempotent by command id
    (the agent answers a command with a ``command.result`` Event through its outbox)

Events are delivered at least once; the hub deduplicates by ``(agent, seq)``.
Sessions in a snapshot replace the hub's current sessions of that router;
events with ``seq <= as_of_seq`` are history only (the snapshot already holds
their effect). Unknown message types and unknown event kinds are ignored by
both sides so either can be upgraded first; a different ``v`` is refused.
"""

from __future__ import annotations

import json
import types
import typing
from dataclasses import asdict, dataclass, field
from functools import cache
from typing import Any

VERSION = 1
LINK_PATH = "/agent/v1/link"
ENROLL_PATH = "/agent/v1/enroll"

# Event kinds (agent -> hub), each with the shape of its ``data``.
SESSION_STARTED = "session.started"  # Session
SESSION_UPDATED = "session.updated"  # Session
SESSION_ENDED = "session.ended"  # Session (final counters and uptime)
ROUTER_HEALTH = "router.health"  # RouterHealth
ROUTER_UP = "router.up"  # {"since": iso}
ROUTER_DOWN = "router.down"  # {"since": iso, "error": str}
COMMAND_RESULT = "command.result"  # CommandResult
ENTITLEMENT_ENFORCED = "entitlement.enforced"  # {"username", "mac_address", "action", "errors"}
DRIFT_REPAIRED = "drift.repaired"  # {"username", "mac_address", "what": str}
OUTBOX_THINNED = "outbox.thinned"  # {"dropped": int, "kinds": [str]}

# Only these kinds may be thinned when the outbox is over its bound.
THINNABLE_KINDS = frozenset({ROUTER_HEALTH, SESSION_UPDATED})

# Command names (hub -> agent) and their ``args``.
DISCONNECT = "disconnect"  # {"username": str, "mac_address": str | None}
GRANT_ACCESS = "grant_access"  # Entitlement fields; also stores the entitlement
REVOKE_ACCESS = "revoke_access"  # {"username": str, "mac_address": str | None}
ENTITLEMENT_PUT = "entitlement.put"  # Entitlement
ENTITLEMENT_DELETE = "entitlement.delete"  # {"username": str, "mac_address": str | None}
ROUTER_MENU = "router.menu"  # {"menu": str, "action": "print|add|set|remove", "params": {}}
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
        ROUTER_MENU,
        PING,
        MONITOR_TRAFFIC,
        LOG_READ,
    }
)

# Menus ``router.menu`` may touch; anything else is refused by the agent.
MENU_ALLOWLIST = frozenset({"/ppp/secret", "/ppp/profile", "/ip/pool", "/queue/simple"})


class WireError(ValueError):
    """A frame that is not valid JSON of the expected shape or version."""


@dataclass(slots=True)
class RouterInfo:
    """A router the agent is configured for, as it introduces itself."""

    name: str
    host: str
    port: int


@dataclass(slots=True)
class Session:
    """One active hotspot or PPP session, values already parsed from RouterOS strings."""

    session_id: str  # RouterOS .id, e.g. "*C0A80A08" (hotspot) or "*80000077" (ppp)
    kind: str  # "hotspot" | "ppp"
    username: str
    mac_address: str | None  # canonical AA:BB:CC:DD:EE:FF (ppp: caller-id when it is a MAC)
    ip_address: str | None
    uptime_seconds: int
    idle_seconds: int | None
    bytes_in: int
    bytes_out: int
    login_by: str | None  # hotspot "mac", "http-chap", ...; ppp: service ("pppoe")
    server: str | None = None  # hotspot server or ppp service


@dataclass(slots=True)
class RouterHealth:
    status: str  # "online" | "offline"
    since: str  # ISO 8601 UTC of the last status change
    error: str | None = None
    identity: str | None = None
    version: str | None = None  # "7.16.2 (stable)"
    board_name: str | None = None
    cpu_load: int | None = None  # percent
    free_memory: int | None = None  # bytes
    total_memory: int | None = None
    uptime_seconds: int | None = None
    hotspot_active: int | None = None
    ppp_active: int | None = None
    hotspot_users: int | None = None  # hotspot users configured on the router (seed 002 totalUsers)


@dataclass(slots=True)
class RouterSnapshot:
    router: str
    health: RouterHealth
    sessions: list[Session]


@dataclass(slots=True)
class Event:
    seq: int
    ts: str  # ISO 8601 UTC when the agent observed it
    kind: str
    router: str | None
    data: dict[str, Any]


@dataclass(slots=True)
class Command:
    id: str  # uuid chosen by the hub; repeating it returns the recorded result
    name: str
    router: str
    args: dict[str, Any]
    deadline: str | None = None  # ISO 8601 UTC; the agent skips a command past it


@dataclass(slots=True)
class CommandResult:
    command_id: str
    name: str
    ok: bool
    result: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    latency_ms: float | None = None


@dataclass(slots=True)
class Entitlement:
    """Paid access the agent enforces locally, with or without the hub."""

    username: str
    mac_address: str | None
    expires_at: str  # ISO 8601 UTC
    profile: str | None = None  # hotspot user profile while entitled
    rate_limit: str | None = None  # "1M/5M"; informational when a profile is given
    on_expiry: str = "cut"  # "cut" | "throttle"
    expired_profile: str = "expired"  # profile used by "throttle"
    password: str | None = None  # hotspot user password; None keeps what the router has


def _require(obj: dict[str, Any], key: str, kind: type | tuple[type, ...]) -> Any:
    if key not in obj:
        raise WireError(f"missing field {key!r}")
    value = obj[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise WireError(f"field {key!r} has the wrong type")
    return value


def encode(message_type: str, **payload: Any) -> str:
    """One frame: dataclasses inside ``payload`` become plain JSON objects."""

    def plain(value: Any) -> Any:
        if hasattr(value, "__dataclass_fields__"):
            return asdict(value)
        if isinstance(value, list):
            return [plain(v) for v in value]
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        return value

    if "type" in payload or "v" in payload:
        raise WireError("the payload may not override the envelope fields 'type' and 'v'")
    body = {"type": message_type, "v": VERSION}
    body.update({k: plain(v) for k, v in payload.items()})
    try:
        return json.dumps(body, separators=(",", ":"), allow_nan=False, default=plain)
    except ValueError as exc:
        raise WireError(f"not encodable as strict JSON: {exc}") from exc


def decode(text: str | bytes) -> dict[str, Any]:
    """Parse a frame and check its envelope; the body is checked by the parse_* helpers."""
    try:
        body = json.loads(text)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise WireError(f"not JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise WireError("a frame must be a JSON object")
    # JSON must escape NUL as \u0000; Postgres text and jsonb refuse it, and a frame the hub
    # cannot store would be resent forever. Walk the frame only when one is there.
    if ("\\u0000" if isinstance(text, str) else b"\\u0000") in text:
        body = _without_nul(body)
    _require(body, "type", str)
    version = body.get("v")
    if type(version) is not int or version != VERSION:
        raise WireError(f"unsupported wire version {body.get('v')!r}, expected {VERSION}")
    return body


def _without_nul(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, list):
        return [_without_nul(v) for v in value]
    if isinstance(value, dict):
        return {_without_nul(k): _without_nul(v) for k, v in value.items()}
    return value


def parse_event(obj: Any) -> Event:
    if not isinstance(obj, dict):
        raise WireError("an event must be an object")
    seq = _require(obj, "seq", int)
    if seq < 1:
        raise WireError("seq must be >= 1")
    router = obj.get("router")
    if router is not None and not isinstance(router, str):
        raise WireError("field 'router' has the wrong type")
    return Event(
        seq=seq,
        ts=_require(obj, "ts", str),
        kind=_require(obj, "kind", str),
        router=router,
        data=_require(obj, "data", dict),
    )


def parse_command(obj: Any) -> Command:
    if not isinstance(obj, dict):
        raise WireError("a command must be an object")
    name = _require(obj, "name", str)
    if name not in COMMAND_NAMES:
        raise WireError(f"unknown command {name!r}")
    deadline = obj.get("deadline")
    if deadline is not None and not isinstance(deadline, str):
        raise WireError("field 'deadline' has the wrong type")
    return Command(
        id=_require(obj, "id", str),
        name=name,
        router=_require(obj, "router", str),
        args=_require(obj, "args", dict),
        deadline=deadline,
    )


def _matches(value: Any, annotation: Any) -> bool:
    """Whether a JSON value fits a field annotation (str, int, float, bool, unions, list, dict)."""
    if annotation is Any:
        return True
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return any(_matches(value, arm) for arm in typing.get_args(annotation))
    if annotation is type(None):
        return value is None
    if annotation is bool:
        return isinstance(value, bool)
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if annotation is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if origin is list:
        (item,) = typing.get_args(annotation)
        return isinstance(value, list) and all(_matches(v, item) for v in value)
    if origin is dict or annotation is dict:
        return isinstance(value, dict)
    return isinstance(value, annotation)


@cache
def _field_types(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _from_fields(cls: type, obj: Any, what: str) -> Any:
    """A dataclass from a JSON object: unknown keys ignored (newer peers), types checked."""
    if not isinstance(obj, dict):
        raise WireError(f"{what} must be an object")
    hints = _field_types(cls)
    values = {k: v for k, v in obj.items() if k in hints}
    for key, value in values.items():
        if not _matches(value, hints[key]):
            raise WireError(f"bad {what}: field {key!r} has the wrong type")
    try:
        return cls(**values)
    except TypeError as exc:
        raise WireError(f"bad {what}: {exc}") from exc


def parse_session(obj: Any) -> Session:
    return _from_fields(Session, obj, "session")


def parse_health(obj: Any) -> RouterHealth:
    return _from_fields(RouterHealth, obj, "router health")


def parse_result(obj: Any) -> CommandResult:
    return _from_fields(CommandResult, obj, "command result")


def parse_entitlement(obj: Any) -> Entitlement:
    return _from_fields(Entitlement, obj, "entitlement")


def parse_snapshot(obj: Any) -> RouterSnapshot:
    if not isinstance(obj, dict):
        raise WireError("a router snapshot must be an object")
    sessions = _require(obj, "sessions", list)
    return RouterSnapshot(
        router=_require(obj, "router", str),
        health=parse_health(_require(obj, "health", dict)),
        sessions=[parse_session(s) for s in sessions],
    )


def parse_router_info(obj: Any) -> RouterInfo:
    return _from_fields(RouterInfo, obj, "router info")
