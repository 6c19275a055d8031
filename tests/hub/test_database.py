"""Migrations and the embedded Postgres, on real servers."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import asyncpg

from hub.config import HubConfig
from hub.database import embedded_postgres, load_migrations, migrate, open_database

ROOT = Path(__file__).resolve().parents[2]
TABLES = {
    "tenants",
    "api_keys",
    "users",
    "agents",
    "routers",
    "router_health",
    "current_sessions",
    "session_history",
    "site_events",
    "customers",
    "entitlements",
    "commands",
    "audit_log",
    "admin_tokens",
    "schema_migrations",
}


async def tables(conn: asyncpg.Connection) -> set[str]:
    rows = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    return {r["tablename"] for r in rows}


async def test_migrations_apply_once_in_order(pg_dsn):
    versions = [m.version for m in load_migrations()]
    assert versions == sorted(versions) and versions[0] == "0001_initial"
    conn = await asyncpg.connect(pg_dsn)
    try:
        assert await migrate(conn) == versions
        assert TABLES <= await tables(conn)
        assert await migrate(conn) == []
        recorded = await conn.fetch("SELECT version FROM schema_migrations ORDER BY version")
        assert [r["version"] for r in recorded] == versions
    finally:
        await conn.close()


async def test_concurrent_migrations_do_not_race(pg_dsn):
    conns = [await asyncpg.connect(pg_dsn) for _ in range(4)]
    try:
        results = await asyncio.gather(*(migrate(c) for c in conns))
        applied = [v for result in results for v in result]
        assert sorted(applied) == [m.version for m in load_migrations()]
    finally:
        for conn in conns:
            await conn.close()


async def test_a_failing_migration_rolls_back_and_is_not_recorded(pg_dsn, tmp_path):
    (tmp_path / "0001_ok.sql").write_text("CREATE TABLE a (id int);")
    (tmp_path / "0002_bad.sql").write_text("CREATE TABLE b (id int); SELECT nonsense_fn();")
    conn = await asyncpg.connect(pg_dsn)
    try:
        try:
            await migrate(conn, load_migrations(tmp_path))
        except asyncpg.UndefinedFunctionError:
            pass
        else:
            raise AssertionError("the bad migration must fail")
        assert {"a", "schema_migrations"} <= await tables(conn)
        assert "b" not in await tables(conn)
        assert await conn.fetchval("SELECT count(*) FROM schema_migrations") == 1
    finally:
        await conn.close()


async def test_open_database_gives_a_migrated_pool(pg_dsn):
    async with open_database(HubConfig(database_url=pg_dsn)) as pool:
        assert TABLES <= await tables(pool)
        assert await pool.fetchval("SELECT $1::jsonb", {"a": [1]}) == {"a": [1]}


async def test_embedded_server_is_shared_and_outlives_other_users(tmp_path):
    """Another process joining and leaving the data dir must not stop the server under us."""
    data_dir = tmp_path / "hub"
    async with embedded_postgres(data_dir) as dsn:
        conn = await asyncpg.connect(dsn)
        try:
            env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
            env["ISPFLEET_HUB_DATA_DIR"] = str(data_dir)
            proc = await asyncio.to_thread(
                subprocess.run,
                [sys.executable, "-m", "hub.cli", "create-tenant", "--slug", "acme", "--name", "A"],
                cwd=ROOT,
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert proc.returncode == 0, proc.stderr
            # Same server, still up, and it holds what the other process wrote.
            assert await conn.fetchval("SELECT slug FROM tenants") == "acme"
        finally:
            await conn.close()
        # A second handle in this process (a second app) shares the server too.
        async with embedded_postgres(data_dir) as again:
            assert again == dsn
        conn = await asyncpg.connect(dsn)
        assert await conn.fetchval("SELECT 1") == 1
        await conn.close()
    # The last user left: the server is stopped.
    try:
        await asyncpg.connect(dsn, timeout=5)
    except (OSError, asyncpg.PostgresError):
        pass
    else:
        raise AssertionError("the embedded server should stop with its last user")
