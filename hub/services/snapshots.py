"""Ready answers for the portal's active-users reads (one per router) and fleet health reads
(one per tenant), kept per hub process.

A snapshot holds a router's current sessions already shaped as seed 000's entries (RouterOS
strings, the user's side of the counters) with each session's access, and is keyed by a version
that Postgres reads in one indexed lookup per request (hub.storage.routers.RouterRepository.
get_versioned: counters that statement-level triggers bump on every write to the router's
sessions and to the tenant's customers and entitlements, migration 0009). Any write by any
hub process (ingest, a grant, a revoke) changes the version, so every process serves what the
database holds now, never an older frame. Entries are encoded with
msgspec once per snapshot and second (``time_remaining`` counts seconds), not per request.

A fleet health snapshot holds a tenant's routers as RouterRepository.find returned them, under
RouterRepository.fleet_version (computed by Postgres from those rows, the agents' presence now
and their last contact to the second); the web layer encodes its routers once per snapshot.
"""

from __future__ import annotations

import bisect
import hashlib
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Generic, Protocol, TypeVar

import msgspec

from common.durations import format_clock, format_duration
from common.timeutil import to_iso
from hub.domain import ActiveSession, Router

UNKNOWN_USER_NOTE = "User not found in database"
_LOGIN_METHODS = {"mac": "macauth"}  # RouterOS login-by values as the seed spells them
_encode = msgspec.json.Encoder().encode


class DatabaseInfo(msgspec.Struct, omit_defaults=True):
    user_id: int | None
    is_active: bool
    has_active_access: bool
    access_expires_at: str | None
    time_remaining: str | None
    note: str | None = None  # only for a username that is no customer


class SessionEntry(msgspec.Struct):
    """One entry of seed 000's ``active_users``, in its key order."""

    session_id: str
    username: str
    mac_address: str
    ip_address: str
    uptime: str
    bytes_in: str  # what the user downloaded (the router's bytes-out)
    bytes_out: str
    idle_time: str
    login_time: str
    database_info: DatabaseInfo


_UNKNOWN = DatabaseInfo(None, False, False, None, None, UNKNOWN_USER_NOTE)


@dataclass(frozen=True, slots=True)
class SessionAccess:
    """The customer behind a session and the latest expiry covering it (None: no access)."""

    user_id: int
    is_active: bool
    expires_at: datetime | None
    expires_text: str | None = None  # expires_at as the seed prints it, computed once

    def __post_init__(self) -> None:
        if self.expires_at is not None and self.expires_text is None:
            object.__setattr__(self, "expires_text", to_iso(self.expires_at, "seconds"))


@dataclass(slots=True)
class ActiveUsersSnapshot:
    version: str
    sessions: list[ActiveSession]
    access: list[SessionAccess | None]  # per session, in the same order
    _expiries: list[datetime] = field(default_factory=list)  # sorted, for the ETag
    _rendered: tuple[int, bytes] | None = None  # (unix second, encoded entries)
    _entries: list[SessionEntry] | None = None  # built once; only access is redone per second

    def __post_init__(self) -> None:
        self._expiries = sorted(a.expires_at for a in self.access if a and a.expires_at)

    @property
    def total(self) -> int:
        return len(self.sessions)

    def etag(self, *extra: object) -> str:
        """Weak: the same sessions and access (and ``extra``) at a later clock are the same
        answer; an access running out in between changes it."""
        return f'W/"{self.tag(*extra)}"'

    def tag(self, *extra: object) -> str:
        """The version plus how many expiries lie behind us (now changes ``has_active_access``)."""
        return hashlib.blake2b(repr((self.version, extra)).encode(), digest_size=12).hexdigest()

    def entries(self, now: datetime) -> bytes:
        """The encoded ``active_users`` list as of ``now`` (to the second)."""
        second = int(now.timestamp())
        if self._rendered is not None and self._rendered[0] == second:
            return self._rendered[1]
        if self._entries is None:
            self._entries = [
                session_entry(session, access, now)
                for session, access in zip(self.sessions, self.access, strict=True)
            ]
        else:  # a later second: only what depends on the clock
            for entry, access in zip(self._entries, self.access, strict=True):
                if access is not None and access.expires_at is not None:
                    entry.database_info = database_info(access, now)
        encoded = _encode(self._entries)
        self._rendered = (second, encoded)
        return encoded

    def expired_by(self, now: datetime) -> int:
        return bisect.bisect_left(self._expiries, now)


def database_info(access: SessionAccess | None, now: datetime) -> DatabaseInfo:
    if access is None:
        return _UNKNOWN
    expires = access.expires_at
    active = expires is not None and expires > now
    return DatabaseInfo(
        access.user_id,
        access.is_active,
        active,
        access.expires_text,
        format_clock(int((expires - now).total_seconds())) if active and expires else None,
    )


def session_entry(s: ActiveSession, access: SessionAccess | None, now: datetime) -> SessionEntry:
    login_by = s.login_by or ""
    return SessionEntry(
        session_id=s.session_id,
        username=s.username,
        mac_address=s.mac_address or "",
        ip_address=s.ip_address or "",
        uptime=format_duration(s.uptime_seconds),
        bytes_in=str(s.bytes_out),  # the router sent it: the user downloaded it
        bytes_out=str(s.bytes_in),
        idle_time=format_duration(s.idle_seconds or 0),
        login_time=_LOGIN_METHODS.get(login_by, login_by),
        database_info=database_info(access, now),
    )


@dataclass(slots=True)
class FleetHealthSnapshot:
    """A tenant's routers for the fleet health answer, and that answer's encoded routers list
    (``encoded``, filled once by the web layer, which owns the shape). ``parts`` holds each
    router's encoded entry by its value: a rebuild hands them on, so only the routers that
    changed are encoded again."""

    version: str
    routers: list[Router]
    encoded: bytes | None = None
    parts: dict[Router, bytes] = field(default_factory=dict)

    @property
    def online(self) -> int:
        return sum(1 for router in self.routers if router.online)

    def etag(self) -> str:
        """Weak: the same routers at a later clock (only ``timestamp`` differs) are the same."""
        return f'W/"{self.version}"'


class _Versioned(Protocol):
    @property
    def version(self) -> str: ...


S = TypeVar("S", bound=_Versioned)


class SnapshotCache(Generic[S]):
    """The last snapshot of each key (router, tenant) this process answered for (bounded,
    oldest dropped)."""

    def __init__(self, size: int = 1024) -> None:
        self._size = size
        self._items: OrderedDict[int, S] = OrderedDict()

    def get(self, key: int, version: str | None) -> S | None:
        """The key's snapshot if it has this version (None: whatever version it has)."""
        snapshot = self._items.get(key)
        if snapshot is None or (version is not None and snapshot.version != version):
            return None
        self._items.move_to_end(key)
        return snapshot

    def put(self, key: int, snapshot: S) -> None:
        self._items[key] = snapshot
        self._items.move_to_end(key)
        while len(self._items) > self._size:
            self._items.popitem(last=False)
