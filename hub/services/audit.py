"""Audit every outcome of a state-changing action, success or not, in one place.

An action whose change lives in Postgres writes its "ok" row in its own transaction
(``write_audit`` on the transaction's connection, then ``entry.recorded = True`` once committed),
so the change and its audit row commit or roll back together. Everything else (failures, and
actions whose change is on a router) is written when the ``audited`` block ends. A failed audit
write fails the action (DatabaseError, 503) instead of being only logged.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from hub.database import CONNECTION_ERRORS
from hub.errors import (
    AgentUnavailable,
    CommandFailed,
    Conflict,
    DatabaseError,
    Forbidden,
    HubError,
    InvalidInput,
    NotFound,
)
from hub.storage import Executor
from hub.storage.audit import AuditRepository

log = logging.getLogger(__name__)

AUDIT_FAILED = "The action could not be written to the audit log"

_RESULTS: tuple[tuple[type[HubError], str], ...] = (
    (InvalidInput, "invalid"),
    (NotFound, "not_found"),
    (Forbidden, "denied"),
    (Conflict, "conflict"),
    (AgentUnavailable, "unavailable"),
    (CommandFailed, "failed"),
)

_DB_ERRORS = (OSError, asyncpg.PostgresError, asyncpg.InterfaceError)


@dataclass(slots=True)
class AuditEntry:
    """Filled in while the action runs; written when it ends (or inside its transaction)."""

    actor: str
    action: str
    tenant_id: int | None = None
    router_id: int | None = None
    target: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    details: Any = None
    recorded: bool = False  # its row is committed with the change: nothing left to write


def outcome(exc: BaseException | None) -> str:
    if exc is None:
        return "ok"
    for kind, name in _RESULTS:
        if isinstance(exc, kind):
            return name
    return "error"


async def write_audit(db: Executor, entry: AuditEntry, error: BaseException | None = None) -> None:
    """Insert the entry's row on ``db``: a pool, or the connection of the action's transaction."""
    details = entry.details
    if error is not None and details is None:
        details = {"error": str(error), **getattr(error, "extra", {})}
    try:
        await AuditRepository(db).record(
            actor=entry.actor,
            action=entry.action,
            result=outcome(error),
            tenant_id=entry.tenant_id,
            router_id=entry.router_id,
            target=entry.target,
            params=entry.params,
            details=details,
        )
    except CONNECTION_ERRORS:
        raise  # an outage: the HTTP edge answers 503 and logs it once, not per request
    except _DB_ERRORS as exc:
        log.error("audit write failed action=%s actor=%s error=%r", entry.action, entry.actor, exc)
        raise DatabaseError(AUDIT_FAILED) from exc


@asynccontextmanager
async def audited(pool: asyncpg.Pool, entry: AuditEntry) -> AsyncIterator[AuditEntry]:
    """Run the block, then write its entry with the outcome unless the block recorded it.

    The block's own error passes through unchanged; when the block succeeded, a failed audit
    write raises DatabaseError so the caller never reports an unaudited success.
    """
    error: BaseException | None = None
    try:
        yield entry
    except BaseException as exc:
        error = exc
        raise
    finally:
        if not entry.recorded:
            try:
                await write_audit(pool, entry, error)
            except (DatabaseError, *CONNECTION_ERRORS):
                if error is None:
                    raise  # never report an unaudited success
                # else the action's own error goes out; the failed write is logged above
