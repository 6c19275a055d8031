"""Router callbacks (their per-router secrets and the PPPoE events they reported) and the
one-use tickets of the live streams (migration 0023)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from common import wire
from hub.storage import Executor
from hub.storage.link import SESSION_COLUMNS, IngestRepository, session_row


class CallbackRepository:
    def __init__(self, db: Executor) -> None:
        self._db = db

    async def set_secret(self, router_id: int, secret_hash: bytes) -> None:
        """The router's callback secret (a new one replaces the old: the old stops working)."""
        await self._db.execute(
            "INSERT INTO router_callback_secrets (router_id, secret_hash) VALUES ($1, $2)"
            " ON CONFLICT (router_id) DO UPDATE"
            " SET secret_hash = EXCLUDED.secret_hash, created_at = now()",
            router_id,
            secret_hash,
        )

    async def router_of(self, secret_hash: bytes) -> int | None:
        """The (unretired) router whose callback secret this is."""
        return await self._db.fetchval(
            "SELECT s.router_id FROM router_callback_secrets s JOIN routers r ON r.id = s.router_id"
            " WHERE s.secret_hash = $1 AND r.retired_at IS NULL",
            secret_hash,
        )

    async def record_event(self, router_id: int, session_id: str, action: str, name: str) -> bool:
        """Record one callback event; False when the same one was recorded before."""
        inserted = await self._db.fetchval(
            "INSERT INTO ppp_callback_events (router_id, session_id, action, username)"
            " VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING RETURNING true",
            router_id,
            session_id,
            action,
            name,
        )
        return bool(inserted)

    async def has_event(self, router_id: int, session_id: str, action: str) -> bool:
        return bool(
            await self._db.fetchval(
                "SELECT true FROM ppp_callback_events"
                " WHERE router_id = $1 AND session_id = $2 AND action = $3",
                router_id,
                session_id,
                action,
            )
        )

    async def session_up(self, router_id: int, session: wire.Session) -> None:
        """The session as the callback saw it; the agent's own report of it, if already
        stored, is newer (it has counters) and is kept."""
        await self._db.execute(
            f"INSERT INTO current_sessions (router_id, {SESSION_COLUMNS})"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
            " ON CONFLICT (router_id, session_id) DO NOTHING",
            router_id,
            *session_row(session),
        )

    async def session_down(self, router_id: int, session_id: str) -> None:
        await IngestRepository(self._db).delete_sessions_of(router_id, [session_id])


@dataclass(frozen=True, slots=True)
class StreamTicket:
    """Who a redeemed ticket speaks for: a user's login (user_id, family_id) or an API key."""

    user_id: int | None
    family_id: uuid.UUID | None
    api_key_prefix: str | None
    tenant_id: int | None


class StreamTicketRepository:
    def __init__(self, db: Executor) -> None:
        self._db = db

    async def create(self, ticket_hash: bytes, ticket: StreamTicket, expires_at: datetime) -> None:
        """Store a ticket (and drop the expired ones: they are few and indexed)."""
        await self._db.execute("DELETE FROM stream_tickets WHERE expires_at < now()")
        await self._db.execute(
            "INSERT INTO stream_tickets"
            " (ticket_hash, user_id, family_id, api_key_prefix, tenant_id, expires_at)"
            " VALUES ($1, $2, $3, $4, $5, $6)",
            ticket_hash,
            ticket.user_id,
            ticket.family_id,
            ticket.api_key_prefix,
            ticket.tenant_id,
            expires_at,
        )

    async def take(self, ticket_hash: bytes) -> StreamTicket | None:
        """Spend a ticket: the unexpired one with this hash, deleted as it is read (one use,
        whichever hub process redeems it)."""
        row = await self._db.fetchrow(
            "DELETE FROM stream_tickets WHERE ticket_hash = $1"
            " RETURNING user_id, family_id, api_key_prefix, tenant_id, expires_at > now() AS live",
            ticket_hash,
        )
        if row is None or not row["live"]:
            return None
        return StreamTicket(
            row["user_id"], row["family_id"], row["api_key_prefix"], row["tenant_id"]
        )
