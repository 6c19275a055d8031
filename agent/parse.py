"""RouterOS rows (strings) -> the agent's values: sessions, resource figures, interfaces."""

from __future__ import annotations

import functools
from dataclasses import dataclass

from common import wire
from common.durations import parse_duration, parse_timeout
from common.mac import is_mac, normalize_mac
from common.units import parse_counter

from .routeros import Row, is_true


def _mac(text: str | None) -> str | None:
    return _cached_mac(text) if text else None


@functools.lru_cache(maxsize=16384)
def _cached_mac(text: str) -> str | None:
    """The same few thousand MACs come back every cycle: normalise each once."""
    return normalize_mac(text) if is_mac(text) else None


def _duration(text: str | None) -> int:
    return _cached_duration(text) if text else 0


@functools.lru_cache(maxsize=16384)
def _cached_duration(text: str) -> int:
    """Uptimes and idle times repeat across sessions and cycles ("0s", "1s", "2h5m"): parse
    each string once."""
    return parse_duration(text)


@functools.lru_cache(maxsize=1024)
def _cached_timeout(text: str) -> int | None:
    return parse_timeout(text)


def _counter(text: str | int) -> int:
    """A byte counter: plain ASCII digits at once, anything else through parse_counter."""
    if type(text) is str and text.isascii() and text.isdigit():
        return int(text)
    return parse_counter(text)


def hotspot_session(row: Row) -> wire.Session | None:
    """A ``/ip/hotspot/active`` row; None when the row lacks the user (a partial update)."""
    if ".id" not in row or "user" not in row:
        return None
    idle = row.get("idle-time")
    return wire.Session(
        session_id=row[".id"],
        kind="hotspot",
        username=row["user"],
        mac_address=_mac(row.get("mac-address")),
        ip_address=row.get("address") or None,
        uptime_seconds=_duration(row.get("uptime")),
        idle_seconds=_cached_timeout(idle) if idle else None,
        bytes_in=_counter(row.get("bytes-in", "0")),
        bytes_out=_counter(row.get("bytes-out", "0")),
        login_by=row.get("login-by") or None,
        server=row.get("server") or None,
    )


def ppp_session(row: Row) -> wire.Session | None:
    """A ``/ppp/active`` row; PPP reports no byte counters there (they are on its interface)."""
    if ".id" not in row or "name" not in row:
        return None
    return wire.Session(
        session_id=row[".id"],
        kind="ppp",
        username=row["name"],
        mac_address=_mac(row.get("caller-id")),
        ip_address=row.get("address") or None,
        uptime_seconds=_duration(row.get("uptime")),
        idle_seconds=None,
        bytes_in=0,
        bytes_out=0,
        login_by=row.get("service") or None,
        server=row.get("service") or None,
    )


SESSION_PARSERS = {"hotspot": hotspot_session, "ppp": ppp_session}


def hotspot_user(row: Row) -> wire.HotspotUser | None:
    """A ``/ip/hotspot/user`` row; None when it lacks its id or name (a partial update).
    ValueError for a limit-uptime that is not a RouterOS duration."""
    if not row.get(".id") or not row.get("name"):
        return None
    limit = row.get("limit-uptime")
    return wire.HotspotUser(
        name=row["name"],
        user_id=row[".id"],
        profile=row.get("profile") or None,
        disabled=is_true(row.get("disabled")),
        comment=row.get("comment") or None,
        # RouterOS prints an unset or zero limit as absent or "0s": no limit either way.
        limit_uptime_seconds=(_duration(limit) or None) if limit else None,
        mac_address=_mac(row.get("mac-address")),
    )


@dataclass(slots=True)
class Resource:
    """``/system/resource`` as numbers."""

    version: str | None
    board_name: str | None
    architecture: str | None
    cpu_load: int | None
    free_memory: int | None
    total_memory: int | None
    uptime_seconds: int | None


def _int(text: str | None) -> int | None:
    return parse_counter(text) if text not in (None, "") else None


def resource(row: Row) -> Resource:
    uptime = row.get("uptime")
    return Resource(
        version=row.get("version"),
        board_name=row.get("board-name"),
        architecture=row.get("architecture-name"),
        cpu_load=_int(row.get("cpu-load")),
        free_memory=_int(row.get("free-memory")),
        total_memory=_int(row.get("total-memory")),
        uptime_seconds=parse_duration(uptime) if uptime else None,
    )


@dataclass(slots=True)
class InterfaceCounters:
    name: str
    type: str | None
    running: bool
    rx_bytes: int
    tx_bytes: int
    dynamic: bool = False  # a per-session interface such as <pppoe-NAME>


def interface(row: Row) -> InterfaceCounters | None:
    if "name" not in row:
        return None
    return InterfaceCounters(
        name=row["name"],
        type=row.get("type"),
        running=is_true(row.get("running")),
        rx_bytes=parse_counter(row.get("rx-byte", "0")),
        tx_bytes=parse_counter(row.get("tx-byte", "0")),
        dynamic=is_true(row.get("dynamic")),
    )
