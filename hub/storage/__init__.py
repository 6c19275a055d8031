"""Repositories: plain SQL with $n parameters, returning hub.domain objects.

Each repository takes a pool or a connection (inside a transaction) and nothing else.
Postgres' unique violations become hub.errors.Conflict here, at the boundary.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import asyncpg

from hub.errors import Conflict

Executor = asyncpg.Pool | asyncpg.Connection
# Raised by the tenant-limit triggers (migration 0018): max_mikrotiks, max_network_users.
TENANT_LIMIT_SQLSTATE = "IF409"


@contextmanager
def limited_by_tenant() -> Iterator[None]:
    """Turn a tenant-limit trigger's error inside the block into Conflict (409)."""
    try:
        yield
    except asyncpg.PostgresError as exc:
        if (conflict := tenant_limit(exc)) is not None:
            raise conflict from exc
        raise


def tenant_limit(exc: BaseException) -> Conflict | None:
    """The Conflict (409) a tenant-limit trigger's error means, None for any other error."""
    if isinstance(exc, asyncpg.PostgresError) and exc.sqlstate == TENANT_LIMIT_SQLSTATE:
        return Conflict(str(exc))
    return None


@contextmanager
def conflict_on_duplicate(message: str) -> Iterator[None]:
    """Turn a unique violation inside the block into Conflict(message)."""
    try:
        yield
    except asyncpg.UniqueViolationError as exc:
        raise Conflict(message) from exc
