"""``ispfleet-hub doctor`` as a real process: one line per finding, exit 1 only on a failure,
no traceback, and nothing changed (an unmigrated database stays unmigrated)."""

from __future__ import annotations

import asyncpg

from .test_cli import hub_cli


def lines(out: str) -> dict[str, str]:
    """check -> "STATUS detail" (the first finding of each check name)."""
    found: dict[str, str] = {}
    for line in out.splitlines():
        status, rest = line[:4].strip(), line[5:]
        name, _, detail = rest.partition(": ")
        found.setdefault(name, f"{status} {detail}")
    return found


async def test_a_healthy_hub_is_all_ok_or_warnings(pg_dsn, tmp_path):
    assert (await hub_cli(pg_dsn, "migrate", ISPFLEET_HUB_DATA_DIR=str(tmp_path)))[0] == 0
    code, out, err = await hub_cli(pg_dsn, "doctor", ISPFLEET_HUB_DATA_DIR=str(tmp_path))
    assert code == 0, out + err
    found = lines(out)
    assert found["database"].startswith("OK DATABASE_URL: PostgreSQL"), found
    assert found["migrations"].startswith("OK all "), found
    assert found["clock"].startswith("OK "), found
    assert found["fleet"].startswith("OK 0 tenant(s), 0 agent(s), 0 router(s)"), found
    assert found["jwt key"].startswith("WARN "), found  # made on first start, not by doctor
    assert found["mpesa"] == "WARN not configured: STK push answers 503"
    assert not list(tmp_path.iterdir())  # doctor wrote no key


async def test_an_unmigrated_database_fails_and_stays_unmigrated(pg_dsn, tmp_path):
    code, out, _ = await hub_cli(pg_dsn, "doctor", ISPFLEET_HUB_DATA_DIR=str(tmp_path))
    assert code == 1
    assert lines(out)["migrations"].startswith("FAIL ") and "ispfleet-hub migrate" in out
    conn = await asyncpg.connect(pg_dsn)
    try:
        assert await conn.fetchval("SELECT to_regclass('schema_migrations')") is None
    finally:
        await conn.close()


async def test_an_unreachable_database_is_one_failed_line(tmp_path):
    code, out, err = await hub_cli(
        "postgresql://nobody@127.0.0.1:1/none", "doctor", ISPFLEET_HUB_DATA_DIR=str(tmp_path)
    )
    assert code == 1
    assert lines(out)["database"].startswith("FAIL "), out
    assert "Traceback" not in out + err


async def test_a_bad_secrets_key_fails(pg_dsn, tmp_path):
    await hub_cli(pg_dsn, "migrate")
    code, out, _ = await hub_cli(
        pg_dsn, "doctor", ISPFLEET_HUB_DATA_DIR=str(tmp_path), ISPFLEET_HUB_SECRETS_KEY="short"
    )
    assert code == 1
    assert lines(out)["secrets key"] == "FAIL secrets_key must be base64 of 32 bytes"
