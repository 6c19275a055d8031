"""The SQLite layer: schema at open, atomic transactions, version check."""

from __future__ import annotations

import sqlite3

import pytest

from agent.store import SCHEMA_VERSION, Store
from common import wire


def _session(sid: str) -> wire.Session:
    return wire.Session(sid, "hotspot", "+255700000001", None, None, 5, 0, 10, 20, "mac")


async def test_schema_created_once_and_reopened(tmp_path):
    path = tmp_path / "state" / "agent.db"
    store = await Store.open(path)
    async with store.transaction() as tx:
        await tx.put_sessions("r1", "hotspot", [_session("*1")])
    await store.close()
    store = await Store.open(path)
    assert [(r, k, s.session_id) for r, k, s in await store.sessions()] == [("r1", "hotspot", "*1")]
    await store.close()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


async def test_newer_schema_refused(tmp_path):
    path = tmp_path / "agent.db"
    with sqlite3.connect(path) as db:
        db.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    with pytest.raises(RuntimeError, match="newer than this agent"):
        await Store.open(path)


async def test_session_diff_and_events_commit_together(tmp_path):
    store = await Store.open(tmp_path / "agent.db")
    with pytest.raises(KeyError):
        async with store.transaction() as tx:
            await tx.put_sessions("r1", "hotspot", [_session("*1")])
            await tx.append_event(wire.SESSION_STARTED, "r1", {"session_id": "*1"})
            raise KeyError("boom")
    assert await store.sessions() == []
    assert await store.fetchall("SELECT COUNT(*) FROM outbox") == [(0,)]
    await store.close()
