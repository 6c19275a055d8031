"""Audit every outcome of a state-changing action, success or not, in one place."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from hub.errors import (
    AgentUnavailable,
    CommandFailed,
    Conflict,
    Forbidden,
    HubError,
    InvalidInput,
    NotFound,
)
from hub.storage.audit import AuditRepository

log = logging.getLogger(__name__)

_RESULTS: tuple[tuple[type[HubError], str], ...] = (
    (InvalidInput, "invalid"),
    (NotFound, "not_found"),
    (Forbidden, "denied"),
    (Conflict, "conflict"),
    (AgentUnavailable, "unavailable"),
    (CommandFailed, "failed"),
)


@dataclass(slots=True)
class AuditEntry:
    """Filled in while the action runs; written when it ends."""

    actor: str
    action: str
    tenant_id: int | None = None
    router_id: int | None = None
    target: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    details: Any = None


def outcome(exc: BaseException | None) -> str:
    if exc is None:
        return "ok"
    for kind, name in _RESULTS:
        if isinstance(exc, kind):
            return name
    return "error"


@asynccontextmanager
async def audited(pool: asyncpg.Pool, entry: AuditEntry) -> AsyncIterator[AuditEntry]:
    """Run the block, then write its entry with the outcome; errors pass through unchanged."""
    error: BaseException | None = None
    try:
        yield entry
    except BaseException as exc:
        error = exc
        raise
    finally:
        details = entry.details
        if error is not None and details is None:
            details = {"error": str(error), **getattr(error, "extra", {})}
        try:
            await AuditRepository(pool).record(
                actor=entry.actor,
                action=entry.action,
                result=outcome(error),
                tenant_id=entry.tenant_id,
                router_id=entry.router_id,
                target=entry.target,
                params=entry.params,
                details=details,
            )
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
            log.exception("audit write failed action=%s actor=%s", entry.action, entry.actor)
