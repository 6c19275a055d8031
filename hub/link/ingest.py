"""What an agent reports, written to Postgres: hello, snapshots and events.

Frames are decoded with the wire schema (common.wire, msgspec): the frame first, then each
event and each snapshot session on its own, so one bad event or session is refused (reported
back, recorded) while the rest of its frame is applied. Each frame is one transaction with the
agent row locked, so two sockets of one agent (an old one being replaced) cannot interleave.
Events are deduplicated by ``(agent, seq)``: anything at or below ``agents.last_seq`` was
stored before. Events at or below ``agents.snapshot_seq`` are history only: the snapshot
already holds their effect on current state.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime

import asyncpg

from common import wire
from common.mac import normalize_mac
from common.timeutil import parse_iso, utcnow
from common.wire import WireError
from hub.errors import Conflict
from hub.storage import link as storage
from hub.storage.redemptions import RedemptionError, RedemptionRepository

log = logging.getLogger(__name__)


@dataclass(slots=True)
class EventsOutcome:
    acked_seq: int  # highest seq dealt with (stored or refused) for the agent after this frame
    stored: int = 0  # events of this frame not seen before (stored, or refused and recorded)
    results: list[wire.CommandResult] = field(default_factory=list)  # newly recorded results
    rejected: list[wire.Rejected] = field(default_factory=list)
    # Batches with a voucher redeemed in this frame: the tenant's other agents retire it.
    redeemed_batches: set[int] = field(default_factory=set)


class Ingest:
    """Writes one agent's frames; ``routers`` maps its router names to ids (from hello)."""

    def __init__(
        self, pool: asyncpg.Pool, *, agent_id: int, tenant_id: int, max_tenant_routers: int = 0
    ) -> None:
        self._pool = pool
        self.agent_id = agent_id
        self.tenant_id = tenant_id
        self.max_tenant_routers = max_tenant_routers  # 0: no limit
        self.routers: dict[str, int] = {}

    async def hello(self, hello: wire.Hello, *, instance: str) -> int:
        """Register the agent's routers and its presence here; returns the acked seq.

        WireError (the link closes, nothing stored) when the tenant would hold more routers
        than ``max_tenant_routers``.
        """
        routers = {r.name: r for r in hello.routers}  # a name given twice: the last one wins
        async with self._pool.acquire() as conn, conn.transaction():
            repo = storage.IngestRepository(conn)
            await repo.lock_agent_seqs(self.agent_id)
            if self.max_tenant_routers:
                elsewhere = await repo.tenant_routers_elsewhere(self.tenant_id, self.agent_id)
                if elsewhere + len(routers) > self.max_tenant_routers:
                    raise WireError(
                        f"the tenant would have {elsewhere + len(routers)} routers; this hub "
                        f"allows {self.max_tenant_routers} per tenant"
                    )
            try:
                routers_now = await repo.upsert_routers(
                    tenant_id=self.tenant_id,
                    agent_id=self.agent_id,
                    routers=[(r.name, r.host, r.port) for r in routers.values()],
                )
            except Conflict as exc:  # the tenant's max_mikrotiks: refused like the hub's limit
                raise WireError(exc.message) from None
            self.routers.clear()  # in place: a connection's ``routers`` is this dict
            self.routers.update(routers_now)
            return await storage.PresenceRepository(conn).begin_link(
                agent_id=self.agent_id,
                instance=instance,
                agent_version=hello.agent_version,
                agent_last_seq=hello.last_seq,
            )

    async def _learn_routers(self, names: set[str]) -> None:
        """A router named that the hello did not map may be a device created through /v1
        since (hub/link/devices.py): the map is read again (in place: the connection's
        ``routers`` is the same dict). Still unknown after that: refused as before."""
        if names - self.routers.keys() - {wire.NO_ROUTER}:
            live = await storage.IngestRepository(self._pool).live_routers(self.agent_id)
            self.routers.clear()
            self.routers.update(live)

    async def snapshot(self, data: bytes) -> tuple[int, list[wire.Rejected]]:
        """Replace the current sessions and health of the agent's routers.

        Returns (as_of_seq, what was skipped): a router named twice or unknown, a session or a
        health report that fails the schema. Everything else is applied.
        """
        frame = wire.decode_as(data, wire.RAW_SNAPSHOT)
        rejected: list[wire.Rejected] = []
        prepared: dict[int, tuple[tuple | None, list[tuple]]] = {}
        users: dict[int, tuple[list[tuple], bool]] = {}  # router id -> (rows, continued)
        for raw in frame.routers:
            try:
                snap = wire.decode_as(raw, wire.RAW_ROUTER_SNAPSHOT)
            except WireError as exc:
                rejected.append(wire.Rejected(reason=f"router snapshot: {exc}"))
                continue
            if snap.router not in self.routers:
                await self._learn_routers({snap.router})
            router_id = self.routers.get(snap.router)
            if router_id is None:
                rejected.append(wire.Rejected(reason="unknown router", router=snap.router))
                continue
            if router_id in prepared:
                reason = "router named twice in one snapshot"
                rejected.append(wire.Rejected(reason=reason, router=snap.router))
                continue
            try:
                health: tuple | None = health_values(wire.decode_as(snap.health, wire.HEALTH))
            except WireError as exc:
                health = None
                rejected.append(wire.Rejected(reason=f"health: {exc}", router=snap.router))
            sessions: dict[str, tuple] = {}
            for raw_session in snap.sessions:
                try:
                    s = wire.decode_as(raw_session, wire.SESSION)
                except WireError as exc:
                    rejected.append(wire.Rejected(reason=f"session: {exc}", router=snap.router))
                    continue
                sessions[s.session_id] = storage.session_row(s)
            prepared[router_id] = (health, list(sessions.values()))
            if snap.hotspot_users is not None:
                rows = self._snapshot_users(snap.router, snap.hotspot_users, rejected)
                users[router_id] = (rows, snap.users_continued)
        async with self._pool.acquire() as conn, conn.transaction():
            repo = storage.IngestRepository(conn)
            await repo.lock_agent_seqs(self.agent_id)
            if frame.part == 0:
                await repo.clear_sessions(list(self.routers.values()))
            for router_id, (health, sessions) in prepared.items():
                if frame.part > 0:  # a router spanning parts: its sessions so far stay
                    await repo.delete_sessions_of(router_id, [s[0] for s in sessions])
                await repo.insert_sessions(router_id, sessions)
                if health is not None:
                    await repo.upsert_health(router_id, health)
            for router_id, (rows, continued) in users.items():  # after health: counted
                await repo.replace_hotspot_users(router_id, rows, keep_others=continued)
            if frame.last:
                await repo.set_snapshot_seq(self.agent_id, frame.as_of_seq)
        log.info(
            "snapshot stored agent=%s as_of_seq=%s part=%s last=%s routers=%s sessions=%s"
            " rejected=%s",
            self.agent_id,
            frame.as_of_seq,
            frame.part,
            frame.last,
            len(prepared),
            sum(len(s) for _, s in prepared.values()),
            len(rejected),
        )
        for item in rejected:
            log.warning(
                "snapshot part refused agent=%s router=%s reason=%s",
                self.agent_id,
                item.router,
                item.reason,
            )
        return frame.as_of_seq, rejected

    @staticmethod
    def _snapshot_users(
        router: str, raw_users: list[wire.Raw], rejected: list[wire.Rejected]
    ) -> list[tuple]:
        """A snapshot's hotspot users as rows, one per name (the last wins); bad ones refused."""
        rows: dict[str, tuple] = {}
        for raw in raw_users:
            try:
                user = wire.decode_as(raw, wire.HOTSPOT_USER)
            except WireError as exc:
                rejected.append(wire.Rejected(reason=f"hotspot user: {exc}", router=router))
                continue
            rows[user.name] = storage.hotspot_user_row(user)
        return list(rows.values())

    async def events(self, data: bytes) -> EventsOutcome:
        """Store new events (duplicates skipped, bad ones refused) and say what to acknowledge.

        Events are folded in seq order into one FrameWrites (a session's last state, a router's
        last health, history rows, site events) and written in one statement: the round trips
        per frame do not grow with its events. Command results are recorded as they come.
        """
        frame = wire.decode_as(data, wire.RAW_EVENTS)
        outcome = EventsOutcome(acked_seq=0)
        good: dict[int, wire.RawEvent] = {}
        refused: dict[int, str] = {}  # seq -> reason, for events whose seq we can store
        for raw in frame.events:
            try:
                event = wire.decode_as(raw, wire.RAW_EVENT)
            except WireError as exc:
                seq = wire.event_seq(raw)
                if seq is None:
                    raise WireError(f"an event without an integer seq: {exc}") from None
                if 1 <= seq <= wire.BIGINT_MAX:
                    refused.setdefault(seq, str(exc))
                else:
                    outcome.rejected.append(wire.Rejected(reason=str(exc), seq=seq))
                continue
            good.setdefault(event.seq, event)
        await self._learn_routers({e.router for e in good.values() if e.router})
        seqs = sorted(good.keys() | refused.keys()) if refused else sorted(good)
        self._redeemed_batches: set[int] = set()
        async with self._pool.acquire() as conn, conn.transaction():
            repo = storage.IngestRepository(conn)
            last_seq, snapshot_seq = await repo.lock_agent_seqs(self.agent_id)
            fresh = [seq for seq in seqs if seq > last_seq]
            writes = storage.FrameWrites()
            for seq in fresh:
                reason = refused.get(seq)
                event = good.get(seq)
                if reason is None and event is not None:
                    try:
                        result = await self._apply(
                            repo, writes, event, history_only=seq <= snapshot_seq, conn=conn
                        )
                    except WireError as exc:
                        reason = str(exc)
                    else:
                        if result is not None:
                            outcome.results.append(result)
                        continue
                self._refuse(writes, seq, event, reason or "refused")
                outcome.rejected.append(wire.Rejected(reason=reason or "refused", seq=seq))
            if fresh:
                writes.last_seq = fresh[-1]
                await repo.write_frame(self.agent_id, writes)
            outcome.acked_seq = max(last_seq, fresh[-1] if fresh else 0)
            outcome.stored = len(fresh)
        outcome.redeemed_batches = self._redeemed_batches  # committed now
        if len(fresh) < len(seqs):
            log.info(
                "duplicate events ignored agent=%s count=%s",
                self.agent_id,
                len(seqs) - len(fresh),
            )
        return outcome

    def _refuse(
        self, writes: storage.FrameWrites, seq: int, event: wire.RawEvent | None, reason: str
    ) -> None:
        """Keep a refused event where operators look (site_events), with the reason."""
        log.warning("event refused agent=%s seq=%s reason=%s", self.agent_id, seq, reason)
        router_id = self.routers.get(event.router) if event and event.router else None
        writes.site_event(
            seq,
            router_id,
            wire.EVENT_REJECTED,
            utcnow(),
            {"kind": event.kind if event else None, "reason": reason},
        )

    async def _apply(
        self,
        repo: storage.IngestRepository,
        writes: storage.FrameWrites,
        event: wire.RawEvent,
        *,
        history_only: bool,
        conn: asyncpg.Connection,
    ) -> wire.CommandResult | None:
        """One event folded into ``writes``; returns a command result recorded for the first
        time (results are written at once: their waiters are told on commit)."""
        ts = _parse_ts(event.ts)
        router_id = self.routers.get(event.router) if event.router else None
        kind = event.kind
        if kind in wire.SESSION_EVENT_KINDS:
            if router_id is None:
                raise WireError(f"session event for unknown router {event.router!r}")
            session = storage.session_row(wire.decode_as(event.data, wire.SESSION))
            if kind == wire.SESSION_ENDED:
                writes.history.append((router_id, session, ts))
                if not history_only:
                    writes.sessions[(router_id, session[0])] = None
            elif not history_only:
                writes.sessions[(router_id, session[0])] = session
            return None
        if kind in wire.HOTSPOT_USER_EVENT_KINDS:
            if router_id is None:
                raise WireError(f"hotspot user event for unknown router {event.router!r}")
            if kind == wire.HOTSPOT_USER_PUT:
                user = wire.decode_as(event.data, wire.HOTSPOT_USER)
                row: tuple | None = storage.hotspot_user_row(user)
                name = user.name
            else:
                name = wire.decode_as(event.data, wire.HOTSPOT_USER_REMOVED_DATA).name
                row = None
            if not history_only:
                writes.hotspot_users[(router_id, name)] = row
            return None
        if kind == wire.ROUTER_HEALTH:
            if router_id is None:
                raise WireError(f"health of unknown router {event.router!r}")
            health = health_values(wire.decode_as(event.data, wire.HEALTH))
            if not history_only:
                writes.put_health(router_id, health)
            return None
        if kind == wire.COMMAND_RESULT:
            result = wire.decode_as(event.data, wire.RESULT)
            if not _is_uuid_text(result.command_id):
                raise WireError(f"command id {result.command_id!r} is not one the hub issued")
            recorded = await repo.complete_command(
                command_id=result.command_id,
                agent_id=self.agent_id,
                ok=result.ok,
                result=result.result,
                error=result.error,
                latency_ms=result.latency_ms,
            )
            return result if recorded else None
        if kind == wire.VOUCHER_REDEEMED:
            # Not history only: a snapshot carries sessions, never redemptions.
            await self._redeem(conn, wire.decode_as(event.data, wire.VOUCHER_REDEEMED_DATA))
        data = wire.decode_as(event.data, wire.ANY_OBJECT)
        if kind in (wire.ROUTER_UP, wire.ROUTER_DOWN) and router_id is not None:
            status = wire.decode_as(event.data, wire.ROUTER_STATUS)
            if not history_only:
                writes.router_status(
                    router_id,
                    status="online" if kind == wire.ROUTER_UP else "offline",
                    since=_parse_ts(status.since) if status.since else ts,
                    error=status.error if kind == wire.ROUTER_DOWN else None,
                )
        writes.site_event(event.seq, router_id, kind, ts, data)
        return None

    async def _redeem(self, conn: asyncpg.Connection, report: wire.VoucherRedeemed) -> None:
        """A voucher's first login: voucher, customer, entitlement and sale, in a savepoint of
        the frame's transaction (a refused one leaves the rest of the frame standing)."""
        router_id = self.routers.get(report.router)
        if router_id is None:
            raise WireError(f"voucher redeemed on unknown router {report.router!r}")
        try:
            mac = normalize_mac(report.mac_address) if report.mac_address else None
        except ValueError:
            raise WireError(f"not a MAC address: {report.mac_address!r}") from None
        try:
            async with conn.transaction():
                redemption = await RedemptionRepository(conn).redeem(
                    tenant_id=self.tenant_id,
                    router_id=router_id,
                    code=report.code,
                    mac_address=mac,
                    redeemed_at=_parse_ts(report.redeemed_at),
                    expires_at=_parse_ts(report.expires_at),
                    recorded_by=f"agent:{self.agent_id}",
                )
        except (RedemptionError, Conflict) as exc:  # Conflict: the tenant's max_network_users
            raise WireError(str(exc)) from None
        if redemption.recorded:
            self._redeemed_batches.add(redemption.batch_id)
            log.info(  # codes are cash: not logged
                "voucher redeemed agent=%s router=%s voucher=%s payment=%s",
                self.agent_id,
                report.router,
                redemption.voucher_id,
                redemption.payment_id,
            )


def health_values(health: wire.RouterHealth) -> tuple:
    """A wire RouterHealth as a row in storage.HEALTH_COLUMNS order; WireError if malformed."""
    return storage.health_row(health, _parse_ts(health.since))


def _is_uuid_text(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def _parse_ts(text: str) -> datetime:
    try:
        return parse_iso(text)
    except (TypeError, ValueError) as exc:
        raise WireError(f"not an ISO 8601 time: {text!r}") from exc
