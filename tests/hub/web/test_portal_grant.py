"""Grants against the real app and Postgres: the audit row commits with the entitlement, and
concurrent grants for one customer queue on the customer's row lock."""

from __future__ import annotations

import asyncio
import itertools
from datetime import timedelta

from common.timeutil import parse_iso, utcnow

REFUSE_AUDIT = """
CREATE FUNCTION refuse_audit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'audit log refuses writes'; END $$;
CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_log FOR EACH ROW EXECUTE FUNCTION refuse_audit();
"""


async def test_a_grant_whose_audit_row_fails_stores_nothing(client, seed, pool):
    """Entitlement and audit row share one transaction: no audit, no access (and a 503)."""
    acme = await seed.tenant("acme")
    await seed.router(acme, agent_connected=False)
    await pool.execute(REFUSE_AUDIT)  # a real failure of the audit insert, inside Postgres
    resp = await client.post(
        "/api/portal/users/grant-access/",
        json={"username": "+255712345678", "hours": 2},
        headers=acme.headers,
    )
    assert resp.status == 503
    assert await resp.json() == {
        "success": False,
        "error": "The action could not be written to the audit log",
    }
    assert await pool.fetchval("SELECT count(*) FROM entitlements") == 0
    assert await pool.fetchval("SELECT count(*) FROM customers") == 0

    await pool.execute("DROP TRIGGER refuse_audit ON audit_log")
    resp = await client.post(
        "/api/portal/users/grant-access/",
        json={"username": "+255712345678", "hours": 2},
        headers=acme.headers,
    )
    assert resp.status == 200
    row = await pool.fetchrow("SELECT * FROM audit_log WHERE action = 'grant_access'")
    entitlement_id = await pool.fetchval("SELECT id FROM entitlements")
    assert row["result"] == "ok" and row["details"]["entitlement_id"] == entitlement_id
    assert row["details"]["routers"] == ["Main Office Router"]


async def test_twenty_concurrent_grants_extend_one_after_another(client, seed, pool):
    acme = await seed.tenant("acme")
    await seed.router(acme, agent_connected=False)
    before = utcnow()

    async def grant() -> int:
        resp = await client.post(
            "/api/portal/users/grant-access/",
            json={"username": "+255712345678", "hours": 1},
            headers=acme.headers,
        )
        return resp.status

    statuses = await asyncio.gather(*(grant() for _ in range(20)))
    assert statuses == [200] * 20
    rows = await pool.fetch("SELECT starts_at, expires_at FROM entitlements ORDER BY expires_at")
    assert len(rows) == 20
    first_start = min(r["starts_at"] for r in rows)
    latest = rows[-1]["expires_at"]
    # Exactly 20 hours after the first grant began: each grant extended the one before it.
    assert abs((latest - (first_start + timedelta(hours=20))).total_seconds()) < 1
    assert first_start >= before - timedelta(seconds=1)
    ends = [r["expires_at"] for r in rows]
    assert all(
        abs((b - a) - timedelta(hours=1)) < timedelta(seconds=1)
        for a, b in itertools.pairwise(ends)
    )
    resp = await client.get("/api/portal/router/health/", headers=acme.headers)
    assert resp.status == 200
    body = await client.post(
        "/api/portal/users/grant-access/",
        json={"username": "+255712345678", "hours": 1},
        headers=acme.headers,
    )
    assert parse_iso((await body.json())["access_expires_at"]) > latest
