"""Retention: partitions of session_history by month, and deleting old rows of other tables.

Partitions are named ``session_history_YYYYMM`` and hold that UTC month of ``ended_at``; rows of
months without a partition sit in ``session_history_default``.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

import asyncpg

from hub.storage import Executor

PARTITION = re.compile(r"^session_history_(\d{4})(\d{2})$")
DEFAULT_PARTITION = "session_history_default"
_BATCH = 5000  # rows per DELETE, so no statement holds locks for long
# Whoever holds it is the one hub process doing retention right now.
RETENTION_LOCK_ID = 0x15F1EE8


def month_start(dt: datetime) -> datetime:
    return datetime(dt.year, dt.month, 1, tzinfo=UTC)


def add_months(month: datetime, n: int) -> datetime:
    index = month.year * 12 + month.month - 1 + n
    return datetime(index // 12, index % 12 + 1, 1, tzinfo=UTC)


def partition_name(month: datetime) -> str:
    return f"session_history_{month.year:04d}{month.month:02d}"


class RetentionRepository:
    def __init__(self, db: Executor) -> None:
        self._db = db

    async def try_lock(self) -> bool:
        """Session advisory lock (``db`` must be one connection); False: another hub has it."""
        return bool(await self._db.fetchval("SELECT pg_try_advisory_lock($1)", RETENTION_LOCK_ID))

    async def unlock(self) -> None:
        await self._db.execute("SELECT pg_advisory_unlock($1)", RETENTION_LOCK_ID)

    async def partitions(self) -> dict[str, datetime]:
        """The monthly partitions of session_history, by name, with their month."""
        rows = await self._db.fetch(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
            " WHERE i.inhparent = 'session_history'::regclass"
        )
        found = {}
        for row in rows:
            if match := PARTITION.match(row["relname"]):
                found[row["relname"]] = datetime(int(match[1]), int(match[2]), 1, tzinfo=UTC)
        return found

    async def create_partition(self, conn: asyncpg.Connection, month: datetime) -> None:
        """The month's partition, taking over the rows of that month from the default one."""
        name, start, end = partition_name(month), month, add_months(month, 1)
        async with conn.transaction():
            await conn.execute(
                f'CREATE TABLE "{name}" (LIKE session_history INCLUDING DEFAULTS'
                " INCLUDING CONSTRAINTS)"
            )
            await conn.execute(
                f'WITH moved AS (DELETE FROM "{DEFAULT_PARTITION}" WHERE ended_at >= $1'
                f' AND ended_at < $2 RETURNING *) INSERT INTO "{name}" SELECT * FROM moved',
                start,
                end,
            )
            await conn.execute(
                f'ALTER TABLE session_history ATTACH PARTITION "{name}"'
                f" FOR VALUES FROM ('{start.isoformat()}') TO ('{end.isoformat()}')"
            )

    async def drop_partition(self, name: str) -> None:
        if not PARTITION.match(name):
            raise ValueError(f"not a monthly partition: {name!r}")
        await self._db.execute(f'DROP TABLE "{name}"')

    async def delete_default_before(self, cutoff: datetime) -> int:
        return await self._delete_batched(DEFAULT_PARTITION, "ended_at", cutoff)

    async def delete_site_events_before(self, cutoff: datetime) -> int:
        return await self._delete_batched("site_events", "ts", cutoff)

    async def delete_commands_before(self, cutoff: datetime) -> int:
        """Finished commands only (pending and sent ones are the dispatcher's)."""
        return await self._delete_batched("commands", "completed_at", cutoff)

    async def delete_audit_before(self, cutoff: datetime) -> int:
        return await self._delete_batched("audit_log", "at", cutoff)

    async def _delete_batched(self, table: str, column: str, cutoff: datetime) -> int:
        total = 0
        while True:
            status = await self._db.execute(
                f'DELETE FROM "{table}" WHERE ctid = ANY(ARRAY(SELECT ctid FROM "{table}"'
                f' WHERE "{column}" < $1 LIMIT {_BATCH}))',
                cutoff,
            )
            deleted = int(status.split()[-1])
            total += deleted
            if deleted < _BATCH:
                return total
