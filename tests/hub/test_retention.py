"""Retention on a real Postgres: session_history drops whole old months as partitions and gets
its next months ahead; site_events, commands and audit_log lose rows past their policy."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from common.timeutil import utcnow
from hub.app import create_app
from hub.retention import RetentionService
from hub.storage.retention import add_months, month_start
from hub.typedefs import DB_POOL, SUPERVISOR
from tests.helpers import wait_for

# Relative to the real month: the migration made partitions for it and the next 2.
THIS_MONTH = month_start(utcnow())
NOW = THIS_MONTH + timedelta(days=1, hours=5)


def part(month: datetime) -> str:
    return f"session_history_{month:%Y%m}"


async def _history(pool, router_id: int, ended_at: datetime) -> None:
    await pool.execute(
        "INSERT INTO session_history (router_id, session_id, kind, username, uptime_seconds,"
        " bytes_in, bytes_out, ended_at) VALUES ($1, '*1', 'hotspot', 'u', 1, 2, 3, $2)",
        router_id,
        ended_at,
    )


async def _where(pool) -> dict[str, int]:
    rows = await pool.fetch(
        "SELECT tableoid::regclass::text AS part, count(*) AS n FROM session_history GROUP BY 1"
    )
    return {r["part"]: r["n"] for r in rows}


async def test_retention_drops_old_months_and_prunes_tables(pool, seed, hub_config):
    acme = await seed.tenant("acme")
    router_id = await seed.router(acme)
    agent_id = await pool.fetchval("SELECT agent_id FROM routers WHERE id = $1", router_id)
    # History: long ago, 10 months ago, the last minute of last month, now, 5 months ahead.
    ancient = add_months(THIS_MONTH, -80)
    recent = add_months(THIS_MONTH, -10) + timedelta(days=9)
    last_month = THIS_MONTH - timedelta(minutes=1)
    ahead = add_months(THIS_MONTH, 5) + timedelta(days=2)
    for ended in (ancient, recent, last_month, NOW, ahead):
        await _history(pool, router_id, ended)
    # The test's clock is fixed; the months around it get partitions as the task would.
    config = replace(
        hub_config,
        session_history_retention_days=365,
        session_history_months_ahead=6,
        site_events_retention_days=30,
        commands_retention_days=7,
        audit_log_retention_days=90,
    )
    for age_days, seq in ((40, 1), (10, 2)):
        await pool.execute(
            "INSERT INTO site_events (agent_id, seq, router_id, kind, ts, data)"
            " VALUES ($1, $2, $3, 'router.down', $4, '{}')",
            agent_id,
            seq,
            router_id,
            NOW - timedelta(days=age_days),
        )
    for age_days, status in ((8, "done"), (8, "pending"), (1, "failed")):
        done = NOW - timedelta(days=age_days)
        await pool.execute(
            "INSERT INTO commands (id, tenant_id, agent_id, router_id, name, args, status,"
            " requested_by, created_at, completed_at, deadline)"
            " VALUES ($1, $2, $3, $4, 'disconnect', '{}', $5, 'test', $6, $7, $6)",
            uuid.uuid4(),
            acme.tenant.id,
            agent_id,
            router_id,
            status,
            done,
            done if status != "pending" else None,
        )
    for age_days in (100, 5):
        await pool.execute(
            "INSERT INTO audit_log (at, actor, action, result) VALUES ($1, 'test', 'x', 'ok')",
            NOW - timedelta(days=age_days),
        )

    before = await _where(pool)
    assert before == {part(THIS_MONTH): 1, "session_history_default": 4}

    report = await RetentionService(pool, config, clock=lambda: NOW).run_once()

    # Up to 6 months ahead; the migration made this month and the next 2.
    assert report.partitions_created == [f"{add_months(THIS_MONTH, n):%Y-%m}" for n in (3, 4, 5, 6)]
    assert await _where(pool) == {
        part(THIS_MONTH): 1,
        part(add_months(THIS_MONTH, 5)): 1,  # moved out of the default partition
        "session_history_default": 2,  # 10 months ago and last month: kept where they were
    }
    assert report.deleted["session_history_default"] == 1  # the ancient one
    assert await pool.fetchval("SELECT array_agg(seq) FROM site_events") == [2]
    statuses = await pool.fetchval("SELECT array_agg(status ORDER BY status) FROM commands")
    assert statuses == ["failed", "pending"]
    assert await pool.fetchval("SELECT count(*) FROM audit_log") == 1

    # A year and two months later this month is dropped whole, as a partition.
    later = NOW + timedelta(days=365 + 62)
    report = await RetentionService(pool, config, clock=lambda: later).run_once()
    assert part(THIS_MONTH) in report.partitions_dropped
    assert part(THIS_MONTH) not in await _where(pool)
    gone = await pool.fetch("SELECT relname FROM pg_class WHERE relname = $1", part(THIS_MONTH))
    assert gone == []
    assert report.deleted["session_history_default"] == 2
    # New rows still land in their month.
    await _history(pool, router_id, later)
    assert (await _where(pool))[part(later)] == 1


async def test_zero_keeps_forever_and_one_hub_at_a_time(pool, seed, hub_config):
    acme = await seed.tenant("acme")
    router_id = await seed.router(acme)
    await _history(pool, router_id, datetime(2001, 1, 1, tzinfo=UTC))
    await pool.execute(
        "INSERT INTO audit_log (at, actor, action, result) VALUES ('2001-01-01', 'a', 'x', 'ok')"
    )
    keep = replace(
        hub_config,
        session_history_retention_days=0,
        audit_log_retention_days=0,
        site_events_retention_days=0,
        commands_retention_days=0,
    )
    report = await RetentionService(pool, keep, clock=lambda: NOW).run_once()
    assert (
        report.partitions_dropped == []
        and await pool.fetchval("SELECT count(*) FROM audit_log") == 1
    )
    assert await pool.fetchval("SELECT count(*) FROM session_history") == 1
    async with pool.acquire() as other:
        await other.execute("SELECT pg_advisory_lock(x'15F1EE8'::int)")
        report = await RetentionService(pool, keep, clock=lambda: NOW).run_once()
        assert report.skipped
        await other.execute("SELECT pg_advisory_unlock(x'15F1EE8'::int)")


async def test_migration_keeps_existing_history(pg_dsn):
    """0006 converts a populated session_history, keeping rows and ids."""
    import asyncpg

    from hub.database import load_migrations, migrate

    conn = await asyncpg.connect(pg_dsn)
    try:
        migrations = load_migrations()
        await migrate(conn, [m for m in migrations if m.version < "0006"])
        await conn.execute("INSERT INTO tenants (slug, name) VALUES ('acme', 'Acme')")
        await conn.execute("INSERT INTO agents (tenant_id, site) VALUES (1, 'hq')")
        await conn.execute(
            "INSERT INTO routers (tenant_id, agent_id, name, host) VALUES (1, 1, 'r', 'h')"
        )
        last_month = THIS_MONTH - timedelta(seconds=1)
        for ended in ("2024-01-15", last_month.isoformat(), "1990-01-01"):
            await conn.execute(
                "INSERT INTO session_history (router_id, session_id, kind, username,"
                " uptime_seconds, bytes_in, bytes_out, ended_at)"
                " VALUES (1, '*1', 'hotspot', 'u', 1, 2, 3, $1::text::timestamptz)",
                ended,
            )
        await migrate(conn)
        rows = await conn.fetch(
            "SELECT id, tableoid::regclass::text AS part FROM session_history ORDER BY id"
        )
        assert [(r["id"], r["part"]) for r in rows] == [
            (1, "session_history_202401"),
            (2, part(month_start(last_month))),
            (3, "session_history_default"),
        ]
        kind = await conn.fetchval("SELECT relkind FROM pg_class WHERE relname = 'session_history'")
        assert kind == b"p"
        new_id = await conn.fetchval(
            "INSERT INTO session_history (router_id, session_id, kind, username, uptime_seconds,"
            " bytes_in, bytes_out, ended_at) VALUES (1, '*2', 'ppp', 'v', 1, 2, 3, now())"
            " RETURNING id"
        )
        assert new_id == 4
    finally:
        await conn.close()


async def test_the_app_runs_retention_under_its_supervisor(hub_config, aiohttp_client):
    config = replace(hub_config, session_history_months_ahead=4)
    client = await aiohttp_client(create_app(config, with_link=False))
    assert "retention" in client.app[SUPERVISOR].tasks
    pool = client.app[DB_POOL]

    async def ahead() -> bool:
        count = await pool.fetchval(
            "SELECT count(*) FROM pg_inherits WHERE inhparent = 'session_history'::regclass"
        )
        return count == 1 + 5  # default + this month and 4 ahead

    await wait_for(ahead)
