"""Sites (agents as the hub core sees them), routers, and what agents report about them.

Reads join a router with its tenant, its agent's presence and its latest health, so the
services can tell "online" without asking anyone. ReportRepository's writes (health, sessions)
run the agent link's own statements (hub.storage.link), so the core and its tests seed exactly
what the link would store.
"""

from __future__ import annotations

from collections.abc import Iterable

import asyncpg

from common import wire
from common.timeutil import parse_iso
from hub.domain import ActiveSession, Router, RouterActivity, RouterHealth
from hub.storage import Executor, conflict_on_duplicate, limited_by_tenant, link
from hub.storage.tenants import TENANT_COLUMNS_T, tenant_from_row

_ROUTER_SELECT = f"""
SELECT r.id, r.agent_id, r.name, r.host, r.port, a.site,
       {TENANT_COLUMNS_T},
       COALESCE(a.connected AND a.last_seen_at > now() - make_interval(secs => $1)
                AND {link.INSTANCE_LIVE}, false)
           AS agent_online,
       a.last_seen_at,
       h.status, h.since, h.error, h.identity, h.version, h.board_name, h.cpu_load,
       h.free_memory, h.total_memory, h.uptime_seconds, h.hotspot_active, h.ppp_active,
       h.hotspot_users, h.reported_at
FROM routers r
JOIN agents a ON a.id = r.agent_id
JOIN tenants t ON t.id = r.tenant_id
LEFT JOIN router_health h ON h.router_id = r.id
"""

# Counters bumped by statement-level triggers (migration 0009) on every write to the router's
# current sessions and to the tenant's customers and entitlements: two primary-key lookups,
# whatever the sizes. The tenant's next entitlement start (one index probe) is part of it: a
# grant that starts later changes access when it starts.
_READ_VERSION = """concat_ws(':',
    coalesce((SELECT version FROM router_read_versions WHERE router_id = r.id), 0),
    coalesce((SELECT version FROM tenant_read_versions WHERE tenant_id = r.t_id), 0),
    coalesce((SELECT extract(epoch FROM min(starts_at))::text FROM entitlements
               WHERE tenant_id = r.t_id AND starts_at > now()), '-'))"""

# What a tenant's fleet health answer is made of, at the answer's precision, in one row: per
# router its row and its health row (xmin: any committed change), its agent's site, whether it
# is online now (agent connected, heard from, its hub's lease running: time can change this
# with no write) and its last contact to the second (the answer prints seconds). Computed by
# Postgres from the rows themselves: no trigger, so ingest pays nothing for it.
_FLEET_VERSION = f"""
SELECT coalesce(md5(string_agg(concat(
           r.id, ',', r.xmin, ',', h.xmin, ',', a.site, ',',
           COALESCE(a.connected AND a.last_seen_at > now() - make_interval(secs => $1)
                    AND {link.INSTANCE_LIVE}, false), ',',
           floor(extract(epoch FROM a.last_seen_at))), ';' ORDER BY r.id)), '-')
FROM routers r
JOIN agents a ON a.id = r.agent_id
LEFT JOIN router_health h ON h.router_id = r.id
WHERE r.tenant_id = $2 AND r.retired_at IS NULL
"""

_HEALTH_FIELDS = (
    "status",
    "since",
    "error",
    "identity",
    "version",
    "board_name",
    "cpu_load",
    "free_memory",
    "total_memory",
    "uptime_seconds",
    "hotspot_active",
    "ppp_active",
    "hotspot_users",
    "reported_at",
)


def _router(row: asyncpg.Record) -> Router:
    health = None
    if row["status"] is not None:
        health = RouterHealth(**{name: row[name] for name in _HEALTH_FIELDS})
    return Router(
        id=row["id"],
        tenant=tenant_from_row(row, "t_"),
        agent_id=row["agent_id"],
        site=row["site"],
        name=row["name"],
        host=row["host"],
        port=row["port"],
        agent_online=row["agent_online"],
        agent_last_seen_at=row["last_seen_at"],
        health=health,
    )


class RouterRepository:
    """Routers, scoped to a tenant (``tenant_id``) or, for platform admins, to none (None)."""

    def __init__(self, db: Executor, *, offline_after: float) -> None:
        self._db = db
        self._offline_after = float(offline_after)

    async def get(self, router_id: int, tenant_id: int | None) -> Router | None:
        row = await self._db.fetchrow(
            _ROUTER_SELECT
            + " WHERE r.id = $2 AND ($3::bigint IS NULL OR r.tenant_id = $3)"
            + " AND r.retired_at IS NULL",
            self._offline_after,
            router_id,
            tenant_id,
        )
        return _router(row) if row else None

    async def get_versioned(
        self, router_id: int, tenant_id: int | None
    ) -> tuple[Router, str] | None:
        """The router and a version of what its active-users answer is made of: its current
        sessions and its tenant's customers and entitlements (counters the triggers of
        migration 0009 bump on any insert, update or delete by anyone), plus the tenant's next
        entitlement start (a grant starting later changes access when it starts)."""
        row = await self._db.fetchrow(
            "WITH r AS ("
            + _ROUTER_SELECT
            + " WHERE r.id = $2 AND ($3::bigint IS NULL OR r.tenant_id = $3)"
            + " AND r.retired_at IS NULL)"
            + f" SELECT r.*, {_READ_VERSION} AS read_version FROM r",
            self._offline_after,
            router_id,
            tenant_id,
        )
        return (_router(row), row["read_version"]) if row else None

    async def fleet_version(self, tenant_id: int) -> str:
        """A version of what find(tenant_id) returns, as the fleet health answer shows it: the
        same on every hub process for the same rows at the same second."""
        return await self._db.fetchval(_FLEET_VERSION, self._offline_after, tenant_id)

    async def find(self, tenant_id: int | None = None) -> list[Router]:
        """Every live router of a tenant, or of all tenants (None); retired ones left out."""
        rows = await self._db.fetch(
            _ROUTER_SELECT
            + " WHERE ($2::bigint IS NULL OR r.tenant_id = $2) AND r.retired_at IS NULL"
            + " ORDER BY r.id",
            self._offline_after,
            tenant_id,
        )
        return [_router(row) for row in rows]

    async def activity(self, tenant_id: int) -> list[RouterActivity]:
        """Every router of the tenant with its hotspot session totals, in one query."""
        rows = await self._db.fetch(
            f"WITH r AS ({_ROUTER_SELECT} WHERE r.tenant_id = $2)"
            " SELECT r.*, s.sessions, s.bytes_in, s.bytes_out, s.last_login FROM r"
            " LEFT JOIN LATERAL (SELECT count(*) AS sessions,"
            " COALESCE(sum(c.bytes_in), 0)::bigint AS bytes_in,"
            " COALESCE(sum(c.bytes_out), 0)::bigint AS bytes_out,"
            " max(c.updated_at - make_interval(secs => c.uptime_seconds)) AS last_login"
            " FROM current_sessions c WHERE c.router_id = r.id AND c.kind = 'hotspot') s ON true"
            " ORDER BY r.id",
            self._offline_after,
            tenant_id,
        )
        return [
            RouterActivity(
                router=_router(row),
                hotspot_sessions=row["sessions"],
                bytes_in=row["bytes_in"],
                bytes_out=row["bytes_out"],
                last_login=row["last_login"],
            )
            for row in rows
        ]

    async def add(self, *, tenant_id: int, agent_id: int, name: str, host: str, port: int) -> int:
        with (
            conflict_on_duplicate(f"site already has a router named {name!r}"),
            limited_by_tenant(),
        ):
            return await self._db.fetchval(
                "INSERT INTO routers (tenant_id, agent_id, name, host, port)"
                " VALUES ($1, $2, $3, $4, $5) RETURNING id",
                tenant_id,
                agent_id,
                name,
                host,
                port,
            )


class SiteRepository:
    """A tenant's sites: one agents row each (the link fills in credentials and presence)."""

    def __init__(self, db: Executor) -> None:
        self._db = db

    async def ensure(self, tenant_id: int, site: str) -> int:
        """The agent id of this site, creating the (not yet enrolled) agent row if needed."""
        return await self._db.fetchval(
            "INSERT INTO agents (tenant_id, site) VALUES ($1, $2)"
            " ON CONFLICT (tenant_id, site) DO UPDATE SET site = EXCLUDED.site RETURNING id",
            tenant_id,
            site,
        )

    async def get(self, tenant_id: int, site: str) -> int | None:
        return await self._db.fetchval(
            "SELECT id FROM agents WHERE tenant_id = $1 AND site = $2", tenant_id, site
        )

    async def set_presence(
        self, agent_id: int, *, connected: bool, hub_instance: str | None = None
    ) -> None:
        """What the link records when an agent connects, beats or leaves."""
        await self._db.execute(
            "UPDATE agents SET connected = $2, hub_instance = $3, last_seen_at = now()"
            " WHERE id = $1",
            agent_id,
            connected,
            hub_instance,
        )


class ReportRepository:
    """What agents report: latest router health and current sessions."""

    def __init__(self, db: Executor) -> None:
        self._db = db

    async def put_health(self, router_id: int, health: wire.RouterHealth) -> None:
        since = parse_iso(health.since) if health.since else None
        await link.IngestRepository(self._db).upsert_health(
            router_id, link.health_row(health, since)
        )

    async def put_sessions(self, router_id: int, sessions: Iterable[wire.Session]) -> None:
        """Upsert sessions (session.started / session.updated)."""
        for session in sessions:
            await link.IngestRepository(self._db).upsert_session(
                router_id, link.session_row(session)
            )

    async def replace_sessions(self, router_id: int, sessions: list[wire.Session]) -> None:
        """A snapshot: the router's current sessions become exactly these."""
        rows = {s.session_id: link.session_row(s) for s in sessions}
        await link.IngestRepository(self._db).clear_sessions([router_id])
        await link.IngestRepository(self._db).insert_sessions(router_id, list(rows.values()))

    async def sessions(self, router_id: int) -> list[ActiveSession]:
        rows = await self._db.fetch(
            "SELECT * FROM current_sessions WHERE router_id = $1 ORDER BY username, session_id",
            router_id,
        )
        return [ActiveSession(**dict(row)) for row in rows]

    async def sessions_of(self, tenant_id: int, username: str) -> list[ActiveSession]:
        """A user's sessions on every router of the tenant."""
        rows = await self._db.fetch(
            "SELECT s.* FROM current_sessions s JOIN routers r ON r.id = s.router_id"
            " WHERE r.tenant_id = $1 AND s.username = $2 AND r.retired_at IS NULL"
            " ORDER BY s.router_id, s.session_id",
            tenant_id,
            username,
        )
        return [ActiveSession(**dict(row)) for row in rows]

    async def routers_with_session(self, usernames: list[str]) -> dict[int, str]:
        """Router id -> the username (one of ``usernames``) it reports a session of, any tenant."""
        rows = await self._db.fetch(
            "SELECT DISTINCT ON (router_id) router_id, username FROM current_sessions"
            " WHERE username = ANY($1::text[]) ORDER BY router_id, username",
            usernames,
        )
        return {row["router_id"]: row["username"] for row in rows}

    async def session_totals(self) -> list[asyncpg.Record]:
        """Per router: session count and byte totals, for /metrics."""
        return await self._db.fetch(
            "SELECT router_id, kind, count(*) AS sessions, sum(bytes_in)::bigint AS bytes_in,"
            " sum(bytes_out)::bigint AS bytes_out FROM current_sessions GROUP BY router_id, kind"
        )
