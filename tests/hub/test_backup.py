"""``ispfleet-hub backup`` and ``restore`` as real processes on a real Postgres: a restore
brings back exactly what was backed up, refuses while a hub runs, and no password is ever on
a command line."""

from __future__ import annotations

import asyncpg

from hub.app import create_app
from hub.backup import libpq_environment
from hub.config import HubConfig

from .test_cli import hub_cli


async def tenants(dsn: str) -> list[str]:
    conn = await asyncpg.connect(dsn)
    try:
        return [r["slug"] for r in await conn.fetch("SELECT slug FROM tenants ORDER BY slug")]
    finally:
        await conn.close()


async def test_restore_brings_back_what_was_backed_up(pg_dsn, tmp_path, aiohttp_server):
    env = {"ISPFLEET_HUB_DATA_DIR": str(tmp_path / "hub")}
    await hub_cli(pg_dsn, "create-tenant", "--slug", "acme", "--name", "Acme", **env)
    dump = tmp_path / "hub.dump"
    code, out, err = await hub_cli(pg_dsn, "backup", "--output", str(dump), **env)
    assert code == 0, err
    assert out.startswith(f"backup written: {dump} (") and "secrets.key" in out
    assert dump.stat().st_size > 0 and not (tmp_path / "hub.dump.partial").exists()

    await hub_cli(pg_dsn, "create-tenant", "--slug", "later", "--name", "Later", **env)
    assert await tenants(pg_dsn) == ["acme", "later"]

    hub = await aiohttp_server(create_app(HubConfig(database_url=pg_dsn, data_dir=str(tmp_path))))
    code, _, err = await hub_cli(pg_dsn, "restore", "--input", str(dump), **env)
    assert code == 2 and "hub process(es) are running on this database" in err
    assert await tenants(pg_dsn) == ["acme", "later"]  # refused: nothing changed
    await hub.close()

    code, out, err = await hub_cli(pg_dsn, "restore", "--input", str(dump), **env)
    assert code == 0, err
    assert await tenants(pg_dsn) == ["acme"]


async def test_a_missing_backup_file_is_a_usage_error(pg_dsn, tmp_path):
    code, _, err = await hub_cli(pg_dsn, "restore", "--input", str(tmp_path / "none.dump"))
    assert code == 2 and "no such backup file" in err and "Traceback" not in err


def test_the_connection_goes_in_the_environment():
    env = libpq_environment(
        "postgresql://hub:s%40cret@db.example.net:6432/ispfleet?sslmode=require"
    )
    assert env == {
        "PGHOST": "db.example.net",
        "PGPORT": "6432",
        "PGUSER": "hub",
        "PGPASSWORD": "s@cret",
        "PGDATABASE": "ispfleet",
        "PGSSLMODE": "require",
    }
    socket = libpq_environment("postgresql://postgres:@/ispfleet?host=/tmp/pg.sock")
    assert socket == {"PGUSER": "postgres", "PGDATABASE": "ispfleet", "PGHOST": "/tmp/pg.sock"}
