"""The menus routersim serves: their fields, defaults, value types and allowed actions.

Field order is the order RouterOS prints them. A field whose default is ``None`` is absent
from a row until it is set (a fresh hotspot user has no ``limit-uptime`` or ``comment``).
Configuration menus keep their rows in :class:`routersim.state.Table`; dynamic menus
(sessions, hosts, log, resource) are rendered from the simulated world.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from routersim import values
from routersim.errors import Trap

CONFIG_ACTIONS = frozenset({"print", "add", "set", "remove", "enable", "disable", "unset"})
VIEW_ACTIONS = frozenset({"print", "remove"})
READ_ACTIONS = frozenset({"print"})
# Verbs that exist somewhere; a known verb that a menu lacks is "no such command".
PRINT_VERBS = frozenset({"print", "getall", "listen"})


@dataclass(frozen=True, slots=True)
class Field:
    name: str
    default: str | None = None
    kind: str = "text"  # text bool int time timeout mac ip prefix choice ref ranges rates
    read_only: bool = False
    choices: tuple[str, ...] = ()
    ref: str | None = None  # values must name a row of this menu (or be one of ``choices``)
    required: bool = False
    implied: str | None = None  # what an absent value means (not printed)


@dataclass(frozen=True)
class Menu:
    path: str
    fields: tuple[Field, ...]
    actions: frozenset[str] = CONFIG_ACTIONS
    unique: tuple[str, ...] = ()  # fields that together must be unique across rows
    duplicate: str = ""  # trap message for a duplicate
    singleton: bool = False  # one row, printed without .id (/system/identity)
    auto_name: str | None = None  # unnamed rows get "<auto_name>1", "<auto_name>2", ...
    dynamic: bool = False  # rows come from the world, not from a table
    by_name: dict[str, Field] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_name", {f.name: f for f in self.fields})

    def field(self, name: str) -> Field | None:
        return self.by_name.get(name)


def _f(name: str, default: str | None = None, kind: str = "text", **extra) -> Field:
    return Field(name, default, kind, **extra)


def _ro(name: str, default: str | None = None, kind: str = "text") -> Field:
    return Field(name, default, kind, read_only=True)


def _flag(name: str, default: str = "false") -> Field:
    return Field(name, default, "bool")


def _counters(*names: str) -> tuple[Field, ...]:
    return tuple(_ro(n, "0") for n in names)


def _pairs(*names: str) -> tuple[Field, ...]:
    return tuple(_ro(n, "0/0") for n in names)


INTERFACE = Menu(
    "/interface",
    (
        _f("name", required=True),
        _ro("default-name"),
        _ro("type", "ether"),
        _f("mtu", "1500", "int"),
        _ro("actual-mtu", "1500"),
        _ro("l2mtu", "1514"),
        _ro("max-l2mtu", "9796"),
        _ro("mac-address"),
        _ro("last-link-up-time"),
        _ro("link-downs", "0"),
        *_counters(
            "rx-byte",
            "tx-byte",
            "rx-packet",
            "tx-packet",
            "rx-drop",
            "tx-drop",
            "tx-queue-drop",
            "rx-error",
            "tx-error",
            "fp-rx-byte",
            "fp-tx-byte",
            "fp-rx-packet",
            "fp-tx-packet",
        ),
        _ro("running", "true", "bool"),
        _ro("slave", "false", "bool"),
        _ro("dynamic", "false", "bool"),
        _flag("disabled"),
        _f("comment"),
    ),
    actions=frozenset({"print", "set", "enable", "disable", "unset", "monitor-traffic"}),
    unique=("name",),
    duplicate="failure: already have interface with such name",
)

HOTSPOT_SERVER = Menu(
    "/ip/hotspot",
    (
        _f("name", required=True),
        _f("interface", kind="ref", ref="/interface", required=True),
        _f("address-pool", "none", "ref", ref="/ip/pool", choices=("none",)),
        _f("profile", "default"),
        _f("idle-timeout", "5m", "timeout"),
        _f("keepalive-timeout", "none", "timeout"),
        _f("login-timeout", "none", "timeout"),
        _f("addresses-per-mac", "2"),
        _ro("invalid", "false", "bool"),
        _ro("HTTPS", "false", "bool"),
        _flag("disabled"),
        _f("comment"),
    ),
    unique=("name",),
    duplicate="failure: already have hotspot server with such name",
)

HOTSPOT_USER = Menu(
    "/ip/hotspot/user",
    (
        # A fresh user prints no server (ROUTEROS_API.md); it means "all".
        _f("server", kind="ref", ref="/ip/hotspot", choices=("all",), implied="all"),
        _f("name", required=True),
        _f("password"),
        _f("address", kind="ip"),
        _f("mac-address", kind="mac"),
        _f("profile", "default", "ref", ref="/ip/hotspot/user/profile"),
        _f("routes"),
        _f("email"),
        _f("limit-uptime", kind="time"),
        _f("limit-bytes-in", kind="int"),
        _f("limit-bytes-out", kind="int"),
        _f("limit-bytes-total", kind="int"),
        _ro("uptime", "0s"),
        *_counters("bytes-in", "bytes-out", "packets-in", "packets-out"),
        _ro("dynamic", "false", "bool"),
        _flag("disabled"),
        _f("comment"),
    ),
    unique=("name", "server"),
    duplicate="failure: already have user with this name for this server",
)

HOTSPOT_PROFILE = Menu(
    "/ip/hotspot/user/profile",
    (
        _f("name", required=True),
        _f("address-pool", "none", "ref", ref="/ip/pool", choices=("none",)),
        _f("idle-timeout", "none", "timeout"),
        _f("keepalive-timeout", "2m", "timeout"),
        _f("status-autorefresh", "1m", "time"),
        _f("shared-users", "1"),
        _f("add-mac-cookie", "true", "bool"),
        _f("mac-cookie-timeout", "3d", "time"),
        _f("address-list", ""),
        _f("transparent-proxy", "false", "bool"),
        _f("open-status-page", "http-login", "choice", choices=("always", "http-login")),
        _f("session-timeout", kind="timeout"),
        _f("rate-limit"),
        _f("parent-queue"),
        _f("on-login"),
        _f("on-logout"),
        _ro("default", "false", "bool"),
        _f("comment"),
    ),
    unique=("name",),
    duplicate="failure: already have profile with such name",
)

IP_BINDING = Menu(
    "/ip/hotspot/ip-binding",
    (
        _f("mac-address", kind="mac"),
        _f("address", kind="ip"),
        _f("to-address", kind="ip"),
        _f("server", "all", "ref", ref="/ip/hotspot", choices=("all",)),
        _f("type", "regular", "choice", choices=("regular", "bypassed", "blocked")),
        _flag("disabled"),
        _f("comment"),
    ),
)

PPP_SECRET = Menu(
    "/ppp/secret",
    (
        _f("name", required=True),
        _f(
            "service",
            "any",
            "choice",
            choices=("any", "async", "l2tp", "ovpn", "pppoe", "pptp", "sstp"),
        ),
        _f("caller-id", ""),
        _f("password", ""),
        _f("profile", "default", "ref", ref="/ppp/profile"),
        _f("routes", ""),
        _f("limit-bytes-in", "0", "int"),
        _f("limit-bytes-out", "0", "int"),
        _f("local-address", kind="ip"),
        _f("remote-address", kind="ip"),
        _ro("last-logged-out"),
        _ro("last-caller-id"),
        _ro("last-disconnect-reason"),
        _flag("disabled"),
        _f("comment"),
    ),
    unique=("name",),
    duplicate="failure: secret with the same name already exists",
)

_PPP_CHOICE = ("default", "no", "yes")
PPP_PROFILE = Menu(
    "/ppp/profile",
    (
        _f("name", required=True),
        _f("local-address"),
        _f("remote-address"),
        _f("use-mpls", "default", "choice", choices=_PPP_CHOICE),
        _f("use-compression", "default", "choice", choices=_PPP_CHOICE),
        _f("use-encryption", "default", "choice", choices=(*_PPP_CHOICE, "required")),
        _f("only-one", "default", "choice", choices=_PPP_CHOICE),
        _f("change-tcp-mss", "default", "choice", choices=_PPP_CHOICE),
        _f("use-upnp", "default", "choice", choices=_PPP_CHOICE),
        _f("address-list", ""),
        _f("dns-server"),
        _f("rate-limit"),
        _f("session-timeout", kind="timeout"),
        _f("idle-timeout", kind="timeout"),
        _f("on-up", ""),
        _f("on-down", ""),
        _ro("default", "false", "bool"),
        _f("comment"),
    ),
    unique=("name",),
    duplicate="failure: already have profile with such name",
)

PPP_ACTIVE = Menu(
    "/ppp/active",
    (
        _ro("name"),
        _ro("service"),
        _ro("caller-id"),
        _ro("encoding", ""),
        _ro("address"),
        _ro("uptime"),
        _ro("session-id"),
        _ro("limit-bytes-in", "0"),
        _ro("limit-bytes-out", "0"),
        _ro("radius", "false", "bool"),
    ),
    actions=VIEW_ACTIONS,
    dynamic=True,
)

IP_POOL = Menu(
    "/ip/pool",
    (
        _f("name", required=True),
        _f("ranges", kind="ranges", required=True),
        _f("next-pool", "none", "ref", ref="/ip/pool", choices=("none",)),
        _f("comment"),
        _ro("total"),
        _ro("used"),
        _ro("available"),
    ),
    unique=("name",),
    duplicate="failure: pool with such name already exists",
)

IP_POOL_USED = Menu(
    "/ip/pool/used",
    (_ro("pool"), _ro("address"), _ro("owner"), _ro("info")),
    actions=READ_ACTIONS,
    dynamic=True,
)

IP_ADDRESS = Menu(
    "/ip/address",
    (
        _f("address", kind="prefix", required=True),
        _f("network", kind="ip"),
        _f("interface", kind="ref", ref="/interface", required=True),
        _ro("actual-interface"),
        _ro("invalid", "false", "bool"),
        _ro("dynamic", "false", "bool"),
        _flag("disabled"),
        _f("comment"),
    ),
)

QUEUE_SIMPLE = Menu(
    "/queue/simple",
    (
        _f("name"),
        _f("target", ""),
        _f("dst", ""),
        _f("parent", "none", "ref", ref="/queue/simple", choices=("none",)),
        _f("packet-marks", ""),
        _f("priority", "8/8"),
        _f("queue", "default-small/default-small"),
        _f("limit-at", "0/0", "rates"),
        _f("max-limit", "0/0", "rates"),
        _f("burst-limit", "0/0", "rates"),
        _f("burst-threshold", "0/0", "rates"),
        _f("burst-time", "0s/0s"),
        _f("bucket-size", "0.1/0.1"),
        *_pairs("bytes", "packets", "dropped", "rate", "packet-rate"),
        *_pairs("queued-packets", "queued-bytes"),
        *_counters("total-bytes", "total-packets", "total-dropped", "total-rate"),
        *_counters("total-packet-rate", "total-queued-packets", "total-queued-bytes"),
        _ro("invalid", "false", "bool"),
        _ro("dynamic", "false", "bool"),
        _flag("disabled"),
        _f("comment"),
    ),
    unique=("name",),
    duplicate="failure: already have queue with such name",
    auto_name="queue",
)

HOTSPOT_ACTIVE = Menu(
    "/ip/hotspot/active",
    (
        _ro("server"),
        _ro("user"),
        _ro("domain"),
        _ro("address"),
        _ro("mac-address"),
        _ro("login-by"),
        _ro("uptime"),
        _ro("session-time-left"),
        _ro("idle-time"),
        _ro("idle-timeout"),
        _ro("keepalive-timeout"),
        *_counters("bytes-in", "bytes-out", "packets-in", "packets-out"),
        _ro("limit-bytes-in"),
        _ro("limit-bytes-out"),
        _ro("limit-bytes-total"),
        _ro("radius", "false", "bool"),
        _ro("blocked", "false", "bool"),
    ),
    actions=VIEW_ACTIONS,
    dynamic=True,
)

HOTSPOT_HOST = Menu(
    "/ip/hotspot/host",
    (
        _ro("mac-address"),
        _ro("address"),
        _ro("to-address"),
        _ro("server"),
        _ro("uptime"),
        _ro("idle-time"),
        _ro("keepalive-timeout"),
        _ro("host-dead-time"),
        *_counters("bytes-in", "bytes-out", "packets-in", "packets-out"),
        _ro("found-by"),
        _ro("static", "false", "bool"),
        _ro("DHCP", "true", "bool"),
        _ro("dynamic", "true", "bool"),
        _ro("authorized", "false", "bool"),
        _ro("bypassed", "false", "bool"),
        _ro("blocked", "false", "bool"),
    ),
    actions=VIEW_ACTIONS,
    dynamic=True,
)

SYSTEM_IDENTITY = Menu(
    "/system/identity",
    (_f("name", "MikroTik"),),
    actions=frozenset({"print", "set"}),
    singleton=True,
)

SYSTEM_RESOURCE = Menu(
    "/system/resource",
    tuple(
        _ro(n)
        for n in (
            "uptime",
            "version",
            "build-time",
            "factory-software",
            "free-memory",
            "total-memory",
            "cpu",
            "cpu-count",
            "cpu-frequency",
            "cpu-load",
            "free-hdd-space",
            "total-hdd-space",
            "write-sect-since-reboot",
            "write-sect-total",
            "bad-blocks",
            "architecture-name",
            "board-name",
            "platform",
        )
    ),
    actions=READ_ACTIONS,
    singleton=True,
    dynamic=True,
)

LOG = Menu(
    "/log",
    (_ro("time"), _ro("topics"), _ro("message"), _ro("buffer")),
    actions=READ_ACTIONS,
    dynamic=True,
)

MENUS: dict[str, Menu] = {
    m.path: m
    for m in (
        INTERFACE,
        HOTSPOT_SERVER,
        HOTSPOT_USER,
        HOTSPOT_PROFILE,
        IP_BINDING,
        HOTSPOT_ACTIVE,
        HOTSPOT_HOST,
        PPP_SECRET,
        PPP_PROFILE,
        PPP_ACTIVE,
        IP_POOL,
        IP_POOL_USED,
        IP_ADDRESS,
        QUEUE_SIMPLE,
        SYSTEM_IDENTITY,
        SYSTEM_RESOURCE,
        LOG,
    )
}
# Commands that live outside any menu's verbs.
COMMANDS = frozenset({"/ping"})


def _pick(name: str, raw: str, allowed: Sequence[str]) -> str:
    """RouterOS accepts an exact value or an unambiguous prefix of one."""
    if raw in allowed:
        return raw
    matches = [value for value in allowed if value.startswith(raw)] if raw else []
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        raise Trap(f"ambiguous value of {name}, more than one possible value matches input", 1)
    raise Trap(f"input does not match any value of {name}", 1)


def normalize(spec: Field, raw: str, allowed: Sequence[str] = ()) -> str:
    """The stored RouterOS form of ``raw`` for ``spec``; a category-1 Trap if it is not valid.

    ``allowed`` lists the valid values of ``ref`` fields (names of the referenced rows).
    """
    kind, name = spec.kind, spec.name
    if kind == "bool":
        truth = {"yes": "true", "true": "true", "no": "false", "false": "false"}
        if raw.lower() not in truth:
            raise Trap(f"input does not match any value of {name}", 1)
        return truth[raw.lower()]
    if kind == "choice":
        return _pick(name, raw, spec.choices)
    if kind == "ref":
        return _pick(name, raw, (*spec.choices, *allowed))
    if kind == "timeout" and raw == "none":
        return raw
    try:
        if kind == "int":
            if not raw.isdigit():
                raise ValueError(raw)
            return str(int(raw))
        if kind in ("time", "timeout"):
            return values.format_duration(values.parse_duration(raw))
        if kind == "mac":
            return values.normalize_mac(raw)
        if kind == "ip":
            return values.normalize_ip(raw)
        if kind == "prefix":
            return values.normalize_prefix(raw)[0]
        if kind == "ranges":
            values.parse_ranges(raw)
            return raw.replace(" ", "")
        if kind == "rates":
            return values.normalize_rate_pair(raw)
    except ValueError as exc:
        raise Trap(f"invalid value for argument {name}", 1) from exc
    return raw
