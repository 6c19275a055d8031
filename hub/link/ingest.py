"""What an agent reports, written to Postgres: hello, snapshots and events.

Each frame is one transaction with the agent row locked, so two sockets of one agent (an old one
being replaced) cannot interleave. Events are deduplicated by ``(agent, seq)``: anything at or
below ``agents.last_seq`` was stored before. Events at or below ``agents.snapshot_seq`` are
history only: the snapshot already holds their effect on current state.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

import asyncpg

from common import wire
from common.timeutil import parse_iso
from common.wire import WireError
from hub.storage import link as storage

log = logging.getLogger(__name__)

SESSION_KINDS = frozenset({"hotspot", "ppp"})
ROUTER_STATUSES = frozenset({"online", "offline"})
# Postgres bigint and integer: anything larger is not a real counter.
_BIGINT_MAX = 2**63 - 1
_INTEGER_MAX = 2**31 - 1


@dataclass(slots=True)
class Hello:
    agent_version: str | None
    last_seq: int
    routers: list[wire.RouterInfo]


@dataclass(slots=True)
class EventsOutcome:
    acked_seq: int  # highest seq stored for the agent after this frame
    results: list[wire.CommandResult] = field(default_factory=list)  # newly recorded results


def parse_hello(frame: dict[str, Any]) -> Hello:
    """The body of a ``hello`` frame; WireError when it is not one."""
    version = frame.get("agent_version")
    if version is not None and not isinstance(version, str):
        raise WireError("field 'agent_version' has the wrong type")
    last_seq = frame.get("last_seq", 0)
    if not _is_int(last_seq) or last_seq < 0:
        raise WireError("field 'last_seq' must be a non-negative integer")
    routers = frame.get("routers")
    if not isinstance(routers, list):
        raise WireError("field 'routers' must be a list")
    infos = [wire.parse_router_info(r) for r in routers]
    for info in infos:
        if not isinstance(info.name, str) or not info.name or not isinstance(info.host, str):
            raise WireError("a router needs a name and a host")
        if not _is_int(info.port) or not 0 < info.port < 65536:
            raise WireError(f"router {info.name!r}: port must be 1-65535")
    return Hello(agent_version=version, last_seq=last_seq, routers=infos)


class Ingest:
    """Writes one agent's frames; ``routers`` maps its router names to ids (from hello)."""

    def __init__(self, pool: asyncpg.Pool, *, agent_id: int, tenant_id: int) -> None:
        self._pool = pool
        self.agent_id = agent_id
        self.tenant_id = tenant_id
        self.routers: dict[str, int] = {}

    async def hello(self, hello: Hello, *, instance: str) -> int:
        """Register the agent's routers and its presence here; returns the acked seq."""
        async with self._pool.acquire() as conn, conn.transaction():
            await storage.lock_agent_seqs(conn, self.agent_id)
            self.routers = await storage.upsert_routers(
                conn,
                tenant_id=self.tenant_id,
                agent_id=self.agent_id,
                routers=[(r.name, r.host, r.port) for r in hello.routers],
            )
            return await storage.begin_link(
                conn,
                agent_id=self.agent_id,
                instance=instance,
                agent_version=hello.agent_version,
                agent_last_seq=hello.last_seq,
            )

    async def snapshot(self, frame: dict[str, Any]) -> None:
        """Replace the current sessions and health of the agent's routers."""
        as_of_seq = frame.get("as_of_seq")
        if not _is_int(as_of_seq) or as_of_seq < 0:
            raise WireError("field 'as_of_seq' must be a non-negative integer")
        routers = frame.get("routers")
        if not isinstance(routers, list):
            raise WireError("field 'routers' must be a list")
        snapshots = [wire.parse_snapshot(r) for r in routers]
        prepared: list[tuple[int, tuple[Any, ...], list[tuple[Any, ...]]]] = []
        for snap in snapshots:
            router_id = self.routers.get(snap.router)
            if router_id is None:
                log.warning(
                    "snapshot of unknown router agent=%s router=%s", self.agent_id, snap.router
                )
                continue
            sessions = {s.session_id: session_values(asdict(s)) for s in snap.sessions}
            prepared.append(
                (router_id, health_values(asdict(snap.health)), list(sessions.values()))
            )
        async with self._pool.acquire() as conn, conn.transaction():
            await storage.lock_agent_seqs(conn, self.agent_id)
            await storage.clear_sessions(conn, list(self.routers.values()))
            for router_id, health, sessions in prepared:
                await storage.insert_sessions(conn, router_id, sessions)
                await storage.upsert_health(conn, router_id, health)
            await storage.set_snapshot_seq(conn, self.agent_id, as_of_seq)
        log.info(
            "snapshot stored agent=%s as_of_seq=%s routers=%s sessions=%s",
            self.agent_id,
            as_of_seq,
            len(prepared),
            sum(len(s) for _, _, s in prepared),
        )

    async def events(self, frame: dict[str, Any]) -> EventsOutcome:
        """Store new events (duplicates skipped) and return what to acknowledge."""
        raw = frame.get("events")
        if not isinstance(raw, list):
            raise WireError("field 'events' must be a list")
        by_seq = {event.seq: event for event in reversed([wire.parse_event(e) for e in raw])}
        events = sorted(by_seq.values(), key=lambda e: e.seq)
        outcome = EventsOutcome(acked_seq=0)
        async with self._pool.acquire() as conn, conn.transaction():
            last_seq, snapshot_seq = await storage.lock_agent_seqs(conn, self.agent_id)
            fresh = [e for e in events if e.seq > last_seq]
            for event in fresh:
                try:
                    result = await self._apply(conn, event, history_only=event.seq <= snapshot_seq)
                except WireError as exc:
                    log.warning(
                        "event skipped agent=%s seq=%s kind=%s error=%s",
                        self.agent_id,
                        event.seq,
                        event.kind,
                        exc,
                    )
                    continue
                if result is not None:
                    outcome.results.append(result)
            if fresh:
                await storage.set_last_seq(conn, self.agent_id, fresh[-1].seq)
            outcome.acked_seq = max(last_seq, fresh[-1].seq if fresh else 0)
        if len(fresh) < len(events):
            log.info(
                "duplicate events ignored agent=%s count=%s",
                self.agent_id,
                len(events) - len(fresh),
            )
        return outcome

    async def _apply(
        self, conn: asyncpg.Connection, event: wire.Event, *, history_only: bool
    ) -> wire.CommandResult | None:
        """One event; returns a command result this frame recorded for the first time."""
        ts = _parse_ts(event.ts)
        router_id = self.routers.get(event.router) if event.router else None
        kind = event.kind
        if kind == wire.COMMAND_RESULT:
            result = wire.parse_result(event.data)
            if not _is_uuid_text(result.command_id):
                raise WireError(f"command id {result.command_id!r} is not one the hub issued")
            recorded = await storage.complete_command(
                conn,
                command_id=result.command_id,
                agent_id=self.agent_id,
                ok=bool(result.ok),
                result=result.result if isinstance(result.result, dict) else {},
                error=result.error if isinstance(result.error, str) else None,
                latency_ms=result.latency_ms if _is_number(result.latency_ms) else None,
            )
            return result if recorded else None
        if kind in (wire.SESSION_STARTED, wire.SESSION_UPDATED, wire.SESSION_ENDED):
            if router_id is None:
                raise WireError(f"session event for unknown router {event.router!r}")
            session = session_values(event.data)
            if kind == wire.SESSION_ENDED:
                await storage.insert_history(conn, router_id, session, ts)
                if not history_only:
                    await storage.delete_session(conn, router_id, session[0])
            elif not history_only:
                await storage.upsert_session(conn, router_id, session)
            return None
        if kind == wire.ROUTER_HEALTH:
            if router_id is None:
                raise WireError(f"health of unknown router {event.router!r}")
            health = health_values(event.data)
            if not history_only:
                await storage.upsert_health(conn, router_id, health)
            return None
        if (
            kind in (wire.ROUTER_UP, wire.ROUTER_DOWN)
            and router_id is not None
            and not history_only
        ):
            since = event.data.get("since")
            error = event.data.get("error")
            await storage.set_router_status(
                conn,
                router_id,
                status="online" if kind == wire.ROUTER_UP else "offline",
                since=_parse_ts(since) if isinstance(since, str) else ts,
                error=error if isinstance(error, str) and kind == wire.ROUTER_DOWN else None,
            )
        await storage.insert_site_event(
            conn,
            agent_id=self.agent_id,
            seq=event.seq,
            router_id=router_id,
            kind=kind,
            ts=ts,
            data=event.data,
        )
        return None


def session_values(data: dict[str, Any]) -> tuple[Any, ...]:
    """A wire Session as a row in storage.SESSION_COLUMNS order; WireError if malformed."""
    s = wire.parse_session(data)
    if not isinstance(s.session_id, str) or not s.session_id:
        raise WireError("session_id must be a non-empty string")
    if s.kind not in SESSION_KINDS:
        raise WireError(f"session kind must be hotspot or ppp, not {s.kind!r}")
    if not isinstance(s.username, str):
        raise WireError("username must be a string")
    for name in ("mac_address", "ip_address", "login_by", "server"):
        if getattr(s, name) is not None and not isinstance(getattr(s, name), str):
            raise WireError(f"{name} must be a string or null")
    for name in ("uptime_seconds", "bytes_in", "bytes_out"):
        _check_count(name, getattr(s, name))
    if s.idle_seconds is not None:
        _check_count("idle_seconds", s.idle_seconds)
    return storage.session_row(s)


def health_values(data: dict[str, Any]) -> tuple[Any, ...]:
    """A wire RouterHealth as a row in storage.HEALTH_COLUMNS order; WireError if malformed."""
    h = wire.parse_health(data)
    if h.status not in ROUTER_STATUSES:
        raise WireError(f"router status must be online or offline, not {h.status!r}")
    if not isinstance(h.since, str):
        raise WireError("since must be an ISO 8601 time")
    for name in ("error", "identity", "version", "board_name"):
        if getattr(h, name) is not None and not isinstance(getattr(h, name), str):
            raise WireError(f"{name} must be a string or null")
    for name, maximum in (
        ("cpu_load", _INTEGER_MAX),
        ("free_memory", _BIGINT_MAX),
        ("total_memory", _BIGINT_MAX),
        ("uptime_seconds", _BIGINT_MAX),
        ("hotspot_active", _INTEGER_MAX),
        ("ppp_active", _INTEGER_MAX),
        ("hotspot_users", _INTEGER_MAX),
    ):
        if getattr(h, name) is not None:
            _check_count(name, getattr(h, name), maximum)
    return storage.health_row(h, _parse_ts(h.since))


def _check_count(name: str, value: Any, maximum: int = _BIGINT_MAX) -> None:
    if not _is_int(value) or not 0 <= value <= maximum:
        raise WireError(f"{name} must be a non-negative integer")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_uuid_text(value: Any) -> bool:
    try:
        uuid.UUID(value)
    except (TypeError, ValueError, AttributeError):
        return False
    return True


def _parse_ts(text: str) -> datetime:
    try:
        return parse_iso(text)
    except (TypeError, ValueError) as exc:
        raise WireError(f"not an ISO 8601 time: {text!r}") from exc
