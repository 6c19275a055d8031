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


@contextmanager
def conflict_on_duplicate(message: str) -> Iterator[None]:
    """Turn a unique violation inside the block into Conflict(message)."""
    try:
        yield
    except asyncpg.UniqueViolationError as exc:
        raise Conflict(message) from exc
