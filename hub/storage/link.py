"""SQL of the agent link: presence, ingest of agent reports, commands.

Plain asyncpg with ``$n`` parameters, one method per statement, in repositories built on a
connection or the pool (``Db``, hub.storage.Executor) and returning hub.domain types; callers
that need several statements in one transaction build the repository on a connection inside
``conn.transaction()``. jsonb values travel as Python objects (the hub's pool sets the codec,
see hub.database). Enrollment and credentials live in hub.storage.agents.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg
import msgspec
from msgspec.structs import astuple

from common import wire
from hub.domain import (
    AgentPresence,
    CommandOutcome,
    QueuedCommand,
    WantedEntitlement,
    WantedRevocation,
)
from hub.storage import Executor as Db
from hub.storage import limited_by_tenant

log = logging.getLogger(__name__)

COMMAND_CHANNEL = "ispfleet_command"
RESULT_CHANNEL = "ispfleet_command_result"

# --- presence ----------------------------------------------------------------------------------

INSTANCE_LIVE = """NOT EXISTS (SELECT 1 FROM hub_instances i
                    WHERE i.name = a.hub_instance AND i.expires_at <= now())"""


SESSION_COLUMNS = (
    "session_id, kind, username, mac_address, ip_address, uptime_seconds, idle_seconds,"
    " bytes_in, bytes_out, login_by, server"
)


def session_row(session: wire.Session) -> tuple[Any, ...]:
    """A session in SESSION_COLUMNS order (which is the order of wire.Session's fields)."""
    return astuple(session)


HOTSPOT_USER_COLUMNS = (
    "name, user_id, profile, disabled, comment, limit_uptime_seconds, mac_address"
)


def hotspot_user_row(user: wire.HotspotUser) -> tuple[Any, ...]:
    """A hotspot user in HOTSPOT_USER_COLUMNS order (wire.HotspotUser's field order)."""
    return astuple(user)


HEALTH_COLUMNS = (
    "status, since, error, identity, version, board_name, cpu_load, free_memory, total_memory,"
    " uptime_seconds, hotspot_active, ppp_active, hotspot_users"
)


def health_row(health: wire.RouterHealth, since: datetime | None) -> tuple[Any, ...]:
    """Health in HEALTH_COLUMNS order (wire.RouterHealth's field order), ``since`` parsed."""
    return (health.status, since, *astuple(health)[2:])


# A command of the whole agent (routers.sync) has no router: wire.NO_ROUTER stands for it.
_CLAIMED = f"""
    SELECT c.id::text AS id, c.agent_id, c.name, c.args, c.deadline,
           COALESCE(r.name, '{wire.NO_ROUTER}') AS router
      FROM claimed c LEFT JOIN routers r ON r.id = c.router_id
     WHERE r.id IS NOT NULL OR c.name = '{wire.ROUTERS_SYNC}'
     ORDER BY c.created_at
"""


class PresenceRepository:
    """Which hub process holds which agent, and whether that process is alive."""

    def __init__(self, db: Db) -> None:
        self._db = db

    async def begin_link(
        self,
        *,
        agent_id: int,
        instance: str,
        agent_version: str | None,
        agent_last_seq: int,
    ) -> int:
        """Mark the agent connected here; returns the seq the hub has stored (the welcome's ack).

        An agent whose own sequence is behind the hub's lost its state (a re-flashed box that kept
        its credential): its numbers start again, so the hub's dedup point starts again too.
        """
        return await self._db.fetchval(
            """
            UPDATE agents
               SET connected = true, hub_instance = $2, last_seen_at = now(),
                   agent_version = coalesce($3, agent_version),
                   last_seq = CASE WHEN $4 < last_seq THEN 0 ELSE last_seq END,
                   snapshot_seq = CASE WHEN $4 < last_seq THEN 0 ELSE snapshot_seq END
             WHERE id = $1
            RETURNING last_seq
            """,
            agent_id,
            instance,
            agent_version,
            agent_last_seq,
        )

    async def end_link(self, *, agent_id: int, instance: str) -> None:
        """The agent left this process (unless it already came back through another one)."""
        await self._db.execute(
            """
            UPDATE agents SET connected = false, last_seen_at = now()
             WHERE id = $1 AND hub_instance = $2
            """,
            agent_id,
            instance,
        )

    async def touch_agents(self, *, agent_ids: Sequence[int], instance: str) -> None:
        """One presence heartbeat for every agent this process holds."""
        await self._db.execute(
            """
            UPDATE agents SET last_seen_at = now(), connected = true
             WHERE id = ANY($1::bigint[]) AND hub_instance = $2
            """,
            list(agent_ids),
            instance,
        )

    async def release_instance(self, instance: str) -> int:
        """Every agent this process held is disconnected now (shutdown)."""
        status = await self._db.execute(
            """
            UPDATE agents SET connected = false, last_seen_at = now()
             WHERE hub_instance = $1 AND connected
            """,
            instance,
        )
        return int(status.split()[-1])

    # A hub process holds presence only while its lease (hub_instances.expires_at) runs.

    async def start_instance(self, instance: str, *, lease_seconds: float) -> int:
        """A process starting under this name: presence an earlier one left behind is cleared,
        its lease begins; long-dead instances are forgotten. Returns how many agents it cleared."""
        released = await self.release_instance(instance)
        await self._db.execute(
            """
            INSERT INTO hub_instances (name, expires_at)
            VALUES ($1, now() + make_interval(secs => $2))
            ON CONFLICT (name) DO UPDATE
               SET started_at = now(), heartbeat_at = now(), expires_at = EXCLUDED.expires_at
            """,
            instance,
            lease_seconds,
        )
        await self._db.execute(
            "DELETE FROM hub_instances WHERE expires_at < now() - interval '1 day'"
        )
        return released

    async def renew_instance(self, instance: str, *, lease_seconds: float) -> None:
        await self._db.execute(
            """
            INSERT INTO hub_instances (name, expires_at)
            VALUES ($1, now() + make_interval(secs => $2))
            ON CONFLICT (name) DO UPDATE
               SET heartbeat_at = now(), expires_at = EXCLUDED.expires_at
            """,
            instance,
            lease_seconds,
        )

    async def stop_instance(self, instance: str) -> None:
        """Clean shutdown: the process holds nothing any more."""
        await self._db.execute("DELETE FROM hub_instances WHERE name = $1", instance)


@dataclass(slots=True)
class FrameWrites:
    """What one events frame changes, folded in seq order: each session's and each hotspot
    user's last state (None: ended, removed), each router's last health (or only its
    status), history rows and site events.

    IngestRepository.write_frame writes it in one statement, whatever the number of events.
    """

    sessions: dict[tuple[int, str], tuple[Any, ...] | None] = field(default_factory=dict)
    # (router id, name) -> the user's last state in HOTSPOT_USER_COLUMNS order; None: removed
    hotspot_users: dict[tuple[int, str], tuple[Any, ...] | None] = field(default_factory=dict)
    history: list[tuple[int, tuple[Any, ...], datetime]] = field(default_factory=list)
    health: dict[int, tuple[Any, ...]] = field(default_factory=dict)  # HEALTH_COLUMNS order
    status: dict[int, tuple[str, datetime, str | None]] = field(default_factory=dict)
    events: list[tuple[int, int | None, str, datetime, str]] = field(default_factory=list)
    last_seq: int | None = None

    def put_health(self, router_id: int, health: tuple[Any, ...]) -> None:
        self.health[router_id] = health
        self.status.pop(router_id, None)

    def router_status(
        self, router_id: int, *, status: str, since: datetime, error: str | None
    ) -> None:
        """Up or down: on top of a health reported earlier in the frame, else on its own."""
        health = self.health.get(router_id)
        if health is not None:
            self.health[router_id] = (status, since, error, *health[3:])
        else:
            self.status[router_id] = (status, since, error)

    def site_event(
        self, seq: int, router_id: int | None, kind: str, ts: datetime, data: Any
    ) -> None:
        self.events.append((seq, router_id, kind, ts, _json_text(data)))


def _json_text(data: Any) -> str:
    return msgspec.json.encode(data).decode()


def _columns(rows: Sequence[tuple[Any, ...]], width: int) -> list[list[Any]]:
    """Rows as ``width`` column lists (unnest's arrays)."""
    if not rows:
        return [[] for _ in range(width)]
    return [list(column) for column in zip(*rows, strict=True)]


_USER_UPDATES = (
    "user_id = EXCLUDED.user_id, profile = EXCLUDED.profile, disabled = EXCLUDED.disabled,"
    " comment = EXCLUDED.comment, limit_uptime_seconds = EXCLUDED.limit_uptime_seconds,"
    " mac_address = EXCLUDED.mac_address, updated_at = now()"
)

_WRITE_FRAME = f"""
WITH s AS (
    SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[],
                         $6::text[], $7::bigint[], $8::bigint[], $9::bigint[], $10::bigint[],
                         $11::text[], $12::text[])
        AS s(router_id, session_id, kind, username, mac_address, ip_address, uptime_seconds,
             idle_seconds, bytes_in, bytes_out, login_by, server)
), upserted AS (
    INSERT INTO current_sessions (router_id, {SESSION_COLUMNS})
    SELECT * FROM s
    ON CONFLICT (router_id, session_id) DO UPDATE
       SET kind = EXCLUDED.kind, username = EXCLUDED.username,
           mac_address = EXCLUDED.mac_address, ip_address = EXCLUDED.ip_address,
           uptime_seconds = EXCLUDED.uptime_seconds, idle_seconds = EXCLUDED.idle_seconds,
           bytes_in = EXCLUDED.bytes_in, bytes_out = EXCLUDED.bytes_out,
           login_by = EXCLUDED.login_by, server = EXCLUDED.server, updated_at = now()
    RETURNING 1
), deleted AS (
    DELETE FROM current_sessions c
     USING unnest($13::bigint[], $14::text[]) AS d(router_id, session_id)
     WHERE c.router_id = d.router_id AND c.session_id = d.session_id
    RETURNING 1
), history AS (
    INSERT INTO session_history (router_id, session_id, kind, username, mac_address,
                                 ip_address, uptime_seconds, bytes_in, bytes_out, ended_at)
    SELECT * FROM unnest($15::bigint[], $16::text[], $17::text[], $18::text[], $19::text[],
                         $20::text[], $21::bigint[], $22::bigint[], $23::bigint[],
                         $24::timestamptz[])
    RETURNING 1
), health AS (
    INSERT INTO router_health (router_id, {HEALTH_COLUMNS})
    SELECT * FROM unnest($25::bigint[], $26::text[], $27::timestamptz[], $28::text[],
                         $29::text[], $30::text[], $31::text[], $32::int[], $33::bigint[],
                         $34::bigint[], $35::bigint[], $36::int[], $37::int[], $38::int[])
    ON CONFLICT (router_id) DO UPDATE
       SET status = EXCLUDED.status, since = EXCLUDED.since, error = EXCLUDED.error,
           identity = EXCLUDED.identity, version = EXCLUDED.version,
           board_name = EXCLUDED.board_name, cpu_load = EXCLUDED.cpu_load,
           free_memory = EXCLUDED.free_memory, total_memory = EXCLUDED.total_memory,
           uptime_seconds = EXCLUDED.uptime_seconds,
           hotspot_active = EXCLUDED.hotspot_active, ppp_active = EXCLUDED.ppp_active,
           hotspot_users = EXCLUDED.hotspot_users, reported_at = now()
    RETURNING 1
), status AS (
    INSERT INTO router_health (router_id, status, since, error)
    SELECT * FROM unnest($39::bigint[], $40::text[], $41::timestamptz[], $42::text[])
    ON CONFLICT (router_id) DO UPDATE
       SET status = EXCLUDED.status, since = EXCLUDED.since, error = EXCLUDED.error,
           reported_at = now()
    RETURNING 1
), events AS (
    INSERT INTO site_events (agent_id, seq, router_id, kind, ts, data)
    SELECT $43, e.seq, e.router_id, e.kind, e.ts, e.data::jsonb
      FROM unnest($44::bigint[], $45::bigint[], $46::text[], $47::timestamptz[], $48::text[])
        AS e(seq, router_id, kind, ts, data)
    ON CONFLICT (agent_id, seq) DO NOTHING
    RETURNING 1
), seq AS (
    UPDATE agents SET last_seq = greatest(last_seq, $49), last_seen_at = now()
     WHERE id = $43 AND $49::bigint IS NOT NULL
    RETURNING 1
), users_upserted AS (
    INSERT INTO router_hotspot_users (router_id, {HOTSPOT_USER_COLUMNS})
    SELECT * FROM unnest($50::bigint[], $51::text[], $52::text[], $53::text[], $54::bool[],
                         $55::text[], $56::bigint[], $57::text[])
    ON CONFLICT (router_id, name) DO UPDATE
       SET {_USER_UPDATES}
    RETURNING 1
), users_deleted AS (
    DELETE FROM router_hotspot_users u
     USING unnest($58::bigint[], $59::text[]) AS d(router_id, name)
     WHERE u.router_id = d.router_id AND u.name = d.name
    RETURNING 1
)
SELECT (SELECT count(*) FROM upserted) + (SELECT count(*) FROM deleted)
       + (SELECT count(*) FROM history) + (SELECT count(*) FROM health)
       + (SELECT count(*) FROM status) + (SELECT count(*) FROM events)
       + (SELECT count(*) FROM seq) + (SELECT count(*) FROM users_upserted)
       + (SELECT count(*) FROM users_deleted)
"""

_UPSERT_HOTSPOT_USERS = f"""
INSERT INTO router_hotspot_users (router_id, {HOTSPOT_USER_COLUMNS})
SELECT $1, u.* FROM unnest($2::text[], $3::text[], $4::text[], $5::bool[], $6::text[],
                           $7::bigint[], $8::text[]) AS u
ON CONFLICT (router_id, name) DO UPDATE
   SET {_USER_UPDATES}
"""


class IngestRepository:
    """What an agent reports: its routers, sessions, health, events and results.

    Callers that need several statements in one transaction pass a connection inside
    ``conn.transaction()``."""

    def __init__(self, db: Db) -> None:
        self._db = db

    async def upsert_routers(
        self,
        *,
        tenant_id: int,
        agent_id: int,
        routers: Iterable[tuple[str, str, int]],
    ) -> dict[str, int]:
        """The agent's routers as its hello lists them; name -> router id.

        Listed routers are created, re-addressed or brought back; the agent's other routers are
        retired (kept with their history, their current sessions cleared): nobody watches them.
        Managed devices (created through /v1, migration 0020) are the hub's to create, change
        and retire: a hello naming one (the agent runs it, or ran it while the hub was away)
        changes nothing about it. The map holds every live router of the agent, devices too.
        """
        routers = list(routers)
        names = [name for name, _, _ in routers]
        with limited_by_tenant():  # the tenant's max_mikrotiks (migration 0018)
            await self._db.execute(
                """
                INSERT INTO routers (tenant_id, agent_id, name, host, port)
                SELECT $1, $2, r.name, r.host, r.port
                  FROM unnest($3::text[], $4::text[], $5::int[]) AS r(name, host, port)
                 WHERE NOT EXISTS (SELECT 1 FROM routers m
                                    WHERE m.agent_id = $2 AND m.name = r.name AND m.managed)
                ON CONFLICT (agent_id, name) DO UPDATE
                   SET host = EXCLUDED.host, port = EXCLUDED.port, retired_at = NULL
                """,
                tenant_id,
                agent_id,
                names,
                [host for _, host, _ in routers],
                [port for _, _, port in routers],
            )
        await self._db.execute(
            """
            WITH retired AS (
                UPDATE routers SET retired_at = now()
                 WHERE agent_id = $1 AND retired_at IS NULL AND NOT managed
                   AND NOT (name = ANY($2::text[]))
                RETURNING id
            )
            DELETE FROM current_sessions WHERE router_id IN (SELECT id FROM retired)
            """,
            agent_id,
            names,
        )
        return await self.live_routers(agent_id)

    async def live_routers(self, agent_id: int) -> dict[str, int]:
        """Name -> id of the agent's live routers (a device created since its hello too)."""
        rows = await self._db.fetch(
            "SELECT id, name FROM routers WHERE agent_id = $1 AND retired_at IS NULL", agent_id
        )
        return {row["name"]: row["id"] for row in rows}

    async def lock_agent_seqs(self, agent_id: int) -> tuple[int, int]:
        """(last_seq, snapshot_seq), the agent row locked until the transaction ends."""
        row = await self._db.fetchrow(
            "SELECT last_seq, snapshot_seq FROM agents WHERE id = $1 FOR UPDATE", agent_id
        )
        return row["last_seq"], row["snapshot_seq"]

    async def write_frame(self, agent_id: int, writes: FrameWrites) -> None:
        """An events frame's changes (FrameWrites) in one statement, one round trip."""
        upserts, deletes = [], []
        for (router_id, session_id), row in writes.sessions.items():
            if row is None:
                deletes.append((router_id, session_id))
            else:
                upserts.append((router_id, *row))
        history = [
            (router_id, *row[:6], row[7], row[8], ended_at)
            for router_id, row, ended_at in writes.history
        ]
        health = [(router_id, *row) for router_id, row in writes.health.items()]
        status = [(router_id, *row) for router_id, row in writes.status.items()]
        user_upserts, user_deletes = [], []
        for (router_id, name), row in writes.hotspot_users.items():
            if row is None:
                user_deletes.append((router_id, name))
            else:
                user_upserts.append((router_id, *row))
        await self._db.fetchval(
            _WRITE_FRAME,
            *_columns(upserts, 12),
            *_columns(deletes, 2),
            *_columns(history, 10),
            *_columns(health, 14),
            *_columns(status, 4),
            agent_id,
            *_columns(writes.events, 5),
            writes.last_seq,
            *_columns(user_upserts, 8),
            *_columns(user_deletes, 2),
        )

    async def tenant_routers_elsewhere(self, tenant_id: int, agent_id: int) -> int:
        """The tenant's live routers held by its other agents; the tenant row locked, so
        concurrent hellos of one tenant count one after another."""
        return await self._db.fetchval(
            """
            SELECT count(*) FROM routers r
             WHERE r.tenant_id = (SELECT id FROM tenants WHERE id = $1 FOR UPDATE)
               AND r.agent_id <> $2 AND r.retired_at IS NULL
            """,
            tenant_id,
            agent_id,
        )

    async def set_last_seq(self, agent_id: int, seq: int) -> None:
        await self._db.execute(
            "UPDATE agents SET last_seq = greatest(last_seq, $2), last_seen_at = now()"
            " WHERE id = $1",
            agent_id,
            seq,
        )

    async def set_snapshot_seq(self, agent_id: int, seq: int) -> None:
        await self._db.execute(
            "UPDATE agents SET snapshot_seq = $2, last_seen_at = now() WHERE id = $1", agent_id, seq
        )

    async def clear_sessions(self, router_ids: Sequence[int]) -> None:
        await self._db.execute(
            "DELETE FROM current_sessions WHERE router_id = ANY($1::bigint[])", list(router_ids)
        )

    async def replace_hotspot_users(
        self, router_id: int, users: Sequence[tuple[Any, ...]], *, keep_others: bool = False
    ) -> None:
        """A router's hotspot users (HOTSPOT_USER_COLUMNS order, one row per name) as a
        snapshot reports them: the others are deleted, unless ``keep_others`` (a snapshot part
        that continues the list)."""
        if not keep_others:
            await self._db.execute(
                "DELETE FROM router_hotspot_users WHERE router_id = $1"
                " AND NOT (name = ANY($2::text[]))",
                router_id,
                [row[0] for row in users],
            )
        if users:
            await self._db.execute(_UPSERT_HOTSPOT_USERS, router_id, *_columns(users, 7))

    async def delete_sessions_of(self, router_id: int, session_ids: Sequence[str]) -> None:
        """Make room for sessions about to be inserted (a snapshot part repeating one)."""
        await self._db.execute(
            "DELETE FROM current_sessions WHERE router_id = $1 AND session_id = ANY($2::text[])",
            router_id,
            list(session_ids),
        )

    async def insert_sessions(self, router_id: int, sessions: Sequence[tuple[Any, ...]]) -> None:
        """Rows in SESSION_COLUMNS order; the router's current sessions must be cleared first."""
        await self._db.copy_records_to_table(
            "current_sessions",
            records=[(router_id, *session) for session in sessions],
            columns=["router_id", *(c.strip() for c in SESSION_COLUMNS.split(","))],
        )

    async def upsert_session(self, router_id: int, session: tuple[Any, ...]) -> None:
        await self._db.execute(
            f"""
            INSERT INTO current_sessions (router_id, {SESSION_COLUMNS})
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
            ON CONFLICT (router_id, session_id) DO UPDATE
               SET kind = EXCLUDED.kind, username = EXCLUDED.username,
                   mac_address = EXCLUDED.mac_address, ip_address = EXCLUDED.ip_address,
                   uptime_seconds = EXCLUDED.uptime_seconds, idle_seconds = EXCLUDED.idle_seconds,
                   bytes_in = EXCLUDED.bytes_in, bytes_out = EXCLUDED.bytes_out,
                   login_by = EXCLUDED.login_by, server = EXCLUDED.server, updated_at = now()
            """,
            router_id,
            *session,
        )

    async def delete_session(self, router_id: int, session_id: str) -> None:
        await self._db.execute(
            "DELETE FROM current_sessions WHERE router_id = $1 AND session_id = $2",
            router_id,
            session_id,
        )

    async def insert_history(
        self, router_id: int, session: tuple[Any, ...], ended_at: datetime
    ) -> None:
        """A finished session; ``session`` in SESSION_COLUMNS order."""
        session_id, kind, username, mac, ip, uptime, _idle, bytes_in, bytes_out, *_ = session
        await self._db.execute(
            """
            INSERT INTO session_history (router_id, session_id, kind, username, mac_address,
                                         ip_address, uptime_seconds, bytes_in, bytes_out, ended_at)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
            """,
            router_id,
            session_id,
            kind,
            username,
            mac,
            ip,
            uptime,
            bytes_in,
            bytes_out,
            ended_at,
        )

    async def upsert_health(self, router_id: int, health: tuple[Any, ...]) -> None:
        """The router's latest health; ``health`` in HEALTH_COLUMNS order."""
        await self._db.execute(
            f"""
            INSERT INTO router_health (router_id, {HEALTH_COLUMNS})
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
            ON CONFLICT (router_id) DO UPDATE
               SET status = EXCLUDED.status, since = EXCLUDED.since, error = EXCLUDED.error,
                   identity = EXCLUDED.identity, version = EXCLUDED.version,
                   board_name = EXCLUDED.board_name, cpu_load = EXCLUDED.cpu_load,
                   free_memory = EXCLUDED.free_memory, total_memory = EXCLUDED.total_memory,
                   uptime_seconds = EXCLUDED.uptime_seconds,
                   hotspot_active = EXCLUDED.hotspot_active, ppp_active = EXCLUDED.ppp_active,
                   hotspot_users = EXCLUDED.hotspot_users, reported_at = now()
            """,
            router_id,
            *health,
        )

    async def set_router_status(
        self, router_id: int, *, status: str, since: datetime, error: str | None
    ) -> None:
        """A router went up or down; the rest of its health stays as last reported."""
        await self._db.execute(
            """
            INSERT INTO router_health (router_id, status, since, error) VALUES ($1, $2, $3, $4)
            ON CONFLICT (router_id) DO UPDATE
               SET status = EXCLUDED.status, since = EXCLUDED.since, error = EXCLUDED.error,
                   reported_at = now()
            """,
            router_id,
            status,
            since,
            error,
        )

    async def insert_site_event(
        self,
        *,
        agent_id: int,
        seq: int,
        router_id: int | None,
        kind: str,
        ts: datetime,
        data: dict[str, Any],
    ) -> None:
        await self._db.execute(
            """
            INSERT INTO site_events (agent_id, seq, router_id, kind, ts, data)
            VALUES ($1, $2, $3, $4, $5, $6)
            ON CONFLICT (agent_id, seq) DO NOTHING
            """,
            agent_id,
            seq,
            router_id,
            kind,
            ts,
            data,
        )

    async def complete_command(
        self,
        *,
        command_id: str,
        agent_id: int,
        ok: bool,
        result: dict[str, Any],
        error: str | None,
        latency_ms: float | None,
    ) -> bool:
        """Record an agent's result (the first one wins) and tell every hub process about it."""
        status = await self._db.execute(
            """
            UPDATE commands
               SET status = CASE WHEN $3 THEN 'done' ELSE 'failed' END,
                   result = $4, error = $5, latency_ms = $6, completed_at = now()
             WHERE id = $1::uuid AND agent_id = $2 AND status NOT IN ('done', 'failed')
            """,
            command_id,
            agent_id,
            ok,
            result,
            error,
            latency_ms,
        )
        if status == "UPDATE 0":
            return False
        await self._db.execute("SELECT pg_notify($1, $2)", RESULT_CHANNEL, command_id)
        return True


class CommandRepository:
    """Commands to agents, and the entitlements an agent must hold."""

    def __init__(self, db: Db) -> None:
        self._db = db

    async def command_target(
        self, *, tenant_id: int, agent_id: int, router_id: int
    ) -> AgentPresence | None:
        """The agent's presence, if the router belongs to that agent of that tenant."""
        row = await self._db.fetchrow(
            f"""
            SELECT a.connected AND {INSTANCE_LIVE} AS connected, a.last_seen_at,
                   extract(epoch FROM now() - a.last_seen_at)::float8 AS silence
              FROM agents a JOIN routers r ON r.agent_id = a.id
             WHERE a.id = $1 AND a.tenant_id = $2 AND r.id = $3 AND r.retired_at IS NULL
            """,
            agent_id,
            tenant_id,
            router_id,
        )
        if row is None:
            return None
        return AgentPresence(
            connected=bool(row["connected"]),
            last_seen_at=row["last_seen_at"],
            silence_seconds=row["silence"],
        )

    async def insert_command(
        self,
        *,
        command_id: str,
        tenant_id: int,
        agent_id: int,
        router_id: int | None,
        name: str,
        args: dict[str, Any],
        requested_by: str,
        timeout_seconds: float,
        notify: bool,
    ) -> datetime:
        """A pending command (deadline = now + timeout); ``notify`` wakes the process holding it."""
        deadline = await self._db.fetchval(
            """
            INSERT INTO commands (id, tenant_id, agent_id, router_id, name, args, requested_by,
                                  deadline)
            VALUES ($1::uuid, $2, $3, $4, $5, $6, $7, now() + make_interval(secs => $8))
            RETURNING deadline
            """,
            command_id,
            tenant_id,
            agent_id,
            router_id,
            name,
            args,
            requested_by,
            timeout_seconds,
        )
        if notify:
            await self._db.execute("SELECT pg_notify($1, $2)", COMMAND_CHANNEL, command_id)
        return deadline

    async def claim_commands(
        self, *, agent_ids: Sequence[int], command_ids: Sequence[str] | None = None
    ) -> list[QueuedCommand]:
        """Mark pending, unexpired commands of these agents sent; only one process gets each."""
        rows = await self._db.fetch(
            f"""
            WITH claimed AS (
                UPDATE commands SET status = 'sent', sent_at = now()
                 WHERE agent_id = ANY($1::bigint[]) AND status = 'pending' AND deadline > now()
                   AND ($2::uuid[] IS NULL OR id = ANY($2::uuid[]))
                RETURNING *
            ) {_CLAIMED}
            """,
            list(agent_ids),
            None if command_ids is None else list(command_ids),
        )
        return [QueuedCommand(**dict(row)) for row in rows]

    async def reclaim_agent_commands(self, agent_id: int) -> list[QueuedCommand]:
        """Everything a (re)connecting agent may not have received yet, within its deadline."""
        rows = await self._db.fetch(
            f"""
            WITH claimed AS (
                UPDATE commands SET status = 'sent', sent_at = now()
                 WHERE agent_id = $1 AND status IN ('pending', 'sent') AND deadline > now()
                RETURNING *
            ) {_CLAIMED}
            """,
            agent_id,
        )
        return [QueuedCommand(**dict(row)) for row in rows]

    async def unsend_command(self, command_id: str) -> None:
        """The socket failed under the send: leave it for the next connection to pick up."""
        await self._db.execute(
            "UPDATE commands SET status = 'pending' WHERE id = $1::uuid AND status = 'sent'",
            command_id,
        )

    async def expire_command(self, command_id: str) -> bool:
        """True if the command had no result yet and is now expired."""
        status = await self._db.execute(
            """
            UPDATE commands SET status = 'expired', completed_at = now()
             WHERE id = $1::uuid AND status IN ('pending', 'sent')
            """,
            command_id,
        )
        return status != "UPDATE 0"

    async def finished_commands(self, command_ids: Sequence[str]) -> list[CommandOutcome]:
        """Results of those commands that have one (or that were lost with their agent)."""
        rows = await self._db.fetch(
            """
            SELECT id::text AS id, name, status, result, error, latency_ms FROM commands
             WHERE id = ANY($1::uuid[]) AND status IN ('done', 'failed', 'lost')
            """,
            list(command_ids),
        )
        return [CommandOutcome(**dict(row)) for row in rows]

    async def lose_agent_commands(self, agent_id: int, reason: str) -> list[str]:
        """The agent's link ended: its unanswered commands are lost, waiters everywhere told."""
        return [
            row["id"]
            for row in await self._db.fetch(
                """
                WITH lost AS (
                    UPDATE commands SET status = 'lost', error = $2, completed_at = now()
                     WHERE agent_id = $1 AND status IN ('pending', 'sent')
                    RETURNING id::text AS id
                )
                SELECT id, pg_notify($3, id) FROM lost
                """,
                agent_id,
                reason,
                RESULT_CHANNEL,
            )
        ]

    async def entitlements_version(self, tenant_id: int, router_ids: Sequence[int]) -> int:
        """The newest entitlement version in an agent's scope (its routers' rows and the
        tenant-wide ones); 0 when there is none. Two index lookups, whatever the set's size."""
        value = await self._db.fetchval(
            """
            SELECT greatest(
                (SELECT max(version) FROM entitlements
                  WHERE tenant_id = $1 AND router_id IS NULL),
                (SELECT max(version) FROM entitlements WHERE router_id = ANY($2::bigint[])))
            """,
            tenant_id,
            list(router_ids),
        )
        return int(value or 0)

    async def active_entitlements(
        self, agent_id: int, *, changed_after: int | None = None
    ) -> list[WantedEntitlement]:
        """The newest live entitlement per (router, username, MAC) for every router of the agent;
        with ``changed_after``, only for the (customer, MAC) pairs that have a row in the
        agent's scope above that version (what changed since the agent's last sync)."""
        rows = await self._db.fetch(
            f"""
            {_CHANGED if changed_after is not None else ""}
            SELECT DISTINCT ON (r.id, c.username, coalesce(e.mac_address, ''))
                   r.name AS router, c.username, e.mac_address, e.expires_at, e.profile,
                   e.rate_limit, e.on_expiry
              FROM routers r
              JOIN entitlements e ON e.tenant_id = r.tenant_id
                                 AND (e.router_id = r.id OR e.router_id IS NULL)
              JOIN customers c ON c.id = e.customer_id
              {_JOIN_CHANGED if changed_after is not None else ""}
             WHERE r.agent_id = $1 AND r.retired_at IS NULL AND e.revoked_at IS NULL
               AND e.starts_at <= now() AND e.expires_at > now()
             ORDER BY r.id, c.username, coalesce(e.mac_address, ''), e.expires_at DESC
            """,
            agent_id,
            *(() if changed_after is None else (changed_after,)),
        )
        return [WantedEntitlement(**dict(row)) for row in rows]

    async def revoked_entitlements(
        self, agent_id: int, *, changed_after: int | None = None
    ) -> list[WantedRevocation]:
        """Revoked, otherwise still running entitlements with no live one replacing them
        (``changed_after`` as in ``active_entitlements``).

        The revoke may have happened while the agent was away; it still enforces its copy.
        """
        rows = await self._db.fetch(
            f"""
            {_CHANGED if changed_after is not None else ""}
            SELECT DISTINCT r.name AS router, c.username, e.mac_address
              FROM routers r
              JOIN entitlements e ON e.tenant_id = r.tenant_id
                                 AND (e.router_id = r.id OR e.router_id IS NULL)
              JOIN customers c ON c.id = e.customer_id
              {_JOIN_CHANGED if changed_after is not None else ""}
             WHERE r.agent_id = $1 AND r.retired_at IS NULL
               AND e.revoked_at IS NOT NULL AND e.expires_at > now()
               AND NOT EXISTS (
                   SELECT 1 FROM entitlements live
                    WHERE live.customer_id = e.customer_id
                      AND live.mac_address IS NOT DISTINCT FROM e.mac_address
                      AND (live.router_id = r.id OR live.router_id IS NULL)
                      AND live.revoked_at IS NULL AND live.expires_at > now())
            """,
            agent_id,
            *(() if changed_after is None else (changed_after,)),
        )
        return [WantedRevocation(**dict(row)) for row in rows]


# The (customer, MAC) pairs with a row in the agent's scope above version $2.
_CHANGED = """
    WITH changed AS (
        SELECT DISTINCT ch.customer_id, ch.mac_address
          FROM routers sr
          JOIN entitlements ch ON ch.tenant_id = sr.tenant_id
                              AND (ch.router_id = sr.id OR ch.router_id IS NULL)
         WHERE sr.agent_id = $1 AND sr.retired_at IS NULL AND ch.version > $2
    )
"""
_JOIN_CHANGED = """
    JOIN changed k ON k.customer_id = e.customer_id
                  AND k.mac_address IS NOT DISTINCT FROM e.mac_address
"""


LIVE_CHANNEL = "ispfleet_fleet"  # '<tenant_id>:<agent_id>': that agent's routers changed (hub.live)


async def announce_change(pool: asyncpg.Pool, tenant_id: int, agent_id: int) -> None:
    """Tell every hub process that the agent's routers changed (a stored frame, a hello, a
    departure). Best effort: a failure is logged, the frame stays stored."""
    try:
        await pool.execute("SELECT pg_notify($1, $2)", LIVE_CHANNEL, f"{tenant_id}:{agent_id}")
    except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
        log.warning("live change not announced agent=%s error=%r", agent_id, exc)
