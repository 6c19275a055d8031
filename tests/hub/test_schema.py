"""hub/schema.sql is exactly the schema the migrations produce (after procrastinate's
test_migration): migrations into one fresh database, schema.sql into another, catalogs equal."""

from __future__ import annotations

import asyncpg

from hub.database import migrate, scratch_database
from hub.schema import MONTHLY_PARTITION, REGENERATE, SCHEMA_FILE

# Every user object of the public schema, in a form that does not depend on OIDs or order.
CATALOG = {
    "relations": """
        SELECT c.relname, c.relkind::text, c.relpersistence::text,
               pg_get_partkeydef(c.oid) AS partition_key,
               pg_get_expr(c.relpartbound, c.oid) AS partition_bound
          FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'S', 'v', 'm')
    """,
    "columns": """
        SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
               pg_get_expr(d.adbin, d.adrelid) AS default, a.attnum
          FROM pg_attribute a
          JOIN pg_class c ON c.oid = a.attrelid
          JOIN pg_namespace n ON n.oid = c.relnamespace
          LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
         WHERE n.nspname = 'public' AND a.attnum > 0 AND NOT a.attisdropped
           AND c.relkind IN ('r', 'p', 'v', 'm')
    """,
    "constraints": """
        SELECT c.relname, k.conname, k.contype::text, pg_get_constraintdef(k.oid)
          FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid
          JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = 'public'
    """,
    "indexes": """
        SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'
    """,
    "functions": """
        SELECT p.proname, pg_get_functiondef(p.oid)
          FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
         WHERE n.nspname = 'public'
    """,
    "triggers": """
        SELECT c.relname, t.tgname, pg_get_triggerdef(t.oid)
          FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
          JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = 'public' AND NOT t.tgisinternal
    """,
}


async def catalog(dsn: str) -> dict[str, list[tuple]]:
    conn = await asyncpg.connect(dsn)
    try:
        snapshot = {}
        for name, query in CATALOG.items():
            rows = [tuple(r) for r in await conn.fetch(query)]
            # The monthly partitions follow the calendar, not the schema.
            snapshot[name] = sorted(
                (r for r in rows if not any(MONTHLY_PARTITION.search(str(v)) for v in r[:2])),
                key=repr,
            )
        return snapshot
    finally:
        await conn.close()


async def test_schema_sql_is_what_the_migrations_produce(pg_server_dsn):
    async with (
        scratch_database(pg_server_dsn) as migrated,
        scratch_database(pg_server_dsn) as from_file,
    ):
        conn = await asyncpg.connect(migrated)
        try:
            await migrate(conn)
        finally:
            await conn.close()
        conn = await asyncpg.connect(from_file)
        try:
            await conn.execute(SCHEMA_FILE.read_text(encoding="utf-8"))
        finally:
            await conn.close()
        want, got = await catalog(migrated), await catalog(from_file)
    for part in CATALOG:
        missing = [r for r in want[part] if r not in got[part]]
        extra = [r for r in got[part] if r not in want[part]]
        assert not missing and not extra, (
            f"hub/schema.sql differs from the migrations ({part}): "
            f"only in the migrations {missing}, only in schema.sql {extra}. "
            f"Regenerate it: {REGENERATE}"
        )
