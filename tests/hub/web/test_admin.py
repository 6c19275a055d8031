"""Platform admin face: login with argon2-hashed passwords, bearer tokens, any tenant's routers."""

from __future__ import annotations

import hashlib

import pytest

from hub.errors import Conflict, InvalidInput
from hub.services.auth import AuthService
from tests.hub.conftest import session

PASSWORD = "correct horse battery"


async def admin_headers(client, pool, config, email="root@example.com") -> dict[str, str]:
    await AuthService(pool, config).create_admin(email, PASSWORD)
    resp = await client.post("/api/admin/login", json={"email": email, "password": PASSWORD})
    assert resp.status == 200
    body = await resp.json()
    assert body["success"] is True and body["token_type"] == "Bearer"
    return {"Authorization": f"Bearer {body['token']}"}


async def test_login_issues_hashed_expiring_token(client, pool, hub_config):
    headers = await admin_headers(client, pool, hub_config)
    token = headers["Authorization"].split()[1]
    row = await pool.fetchrow("SELECT * FROM admin_tokens")
    assert bytes(row["token_hash"]) == hashlib.sha256(token.encode()).digest()
    hours = (row["expires_at"] - row["created_at"]).total_seconds() / 3600
    assert abs(hours - 12) < 0.01
    stored = await pool.fetchval("SELECT password_hash FROM users")
    assert stored.startswith("$argon2id$") and PASSWORD not in stored


async def test_login_failures(client, pool, hub_config):
    await AuthService(pool, hub_config).create_admin("root@example.com", PASSWORD)
    for payload, status in (
        ({"email": "root@example.com", "password": "wrong password"}, 401),
        ({"email": "nobody@example.com", "password": PASSWORD}, 401),
        ({"email": "root@example.com"}, 400),
        ({}, 400),
    ):
        resp = await client.post("/api/admin/login", json=payload)
        assert resp.status == status, payload
        assert (await resp.json())["success"] is False
    assert await pool.fetchval("SELECT count(*) FROM admin_tokens") == 0


async def test_admin_endpoints_need_a_valid_token(client, seed, pool):
    acme = await seed.tenant("acme")
    router_id = await seed.router(acme)
    url = f"/api/admin/routers/{router_id}/active-users/"
    assert (await client.get(url)).status == 401
    resp = await client.get(url, headers={"Authorization": "Bearer ifs_forged"})
    assert resp.status == 401
    assert await resp.json() == {"success": False, "error": "Invalid or expired token"}
    # A tenant API key is not an admin token.
    assert (await client.get(url, headers=acme.headers)).status == 401
    # An expired token stops working.
    headers = await admin_headers(client, pool, seed.config)
    assert (await client.get(url, headers=headers)).status == 200
    await pool.execute("UPDATE admin_tokens SET expires_at = now() - interval '1 second'")
    assert (await client.get(url, headers=headers)).status == 401


async def test_admin_sees_any_tenant_with_tenant_info(client, seed, pool):
    acme = await seed.tenant("acme", "Acme Hotspots")
    beta = await seed.tenant("beta")
    acme_router = await seed.router(acme)
    beta_router = await seed.router(beta, "Beta Router")
    await seed.customer(beta, "+255712345678", hours=1)
    await seed.sessions(beta_router, session("*1", "+255712345678"))
    headers = await admin_headers(client, pool, seed.config)

    body = await (
        await client.get(f"/api/admin/routers/{beta_router}/active-users/", headers=headers)
    ).json()
    assert body["tenant"] == {"id": beta.tenant.id, "slug": "beta", "name": "Beta"}
    assert body["router"]["name"] == "Beta Router" and body["total_count"] == 1
    assert body["active_users"][0]["database_info"]["has_active_access"] is True

    body = await (
        await client.get(f"/api/admin/routers/{acme_router}/monitoring/", headers=headers)
    ).json()
    assert body["tenant"]["name"] == "Acme Hotspots"

    body = await (await client.get("/api/admin/routers/health/", headers=headers)).json()
    assert {r["tenant"]["slug"] for r in body["routers"]} == {"acme", "beta"}

    resp = await client.get("/api/admin/routers/777777/active-users/", headers=headers)
    assert resp.status == 404


async def test_admin_disconnect_is_audited_as_the_admin(client, seed, pool):
    beta = await seed.tenant("beta")
    router_id = await seed.router(beta, agent_connected=False)
    await seed.customer(beta, "+255712345678", hours=1)
    headers = await admin_headers(client, pool, seed.config)
    resp = await client.post(
        f"/api/admin/routers/{router_id}/disconnect-user/",
        json={"username": "+255712345678"},
        headers=headers,
    )
    assert resp.status == 503
    row = await pool.fetchrow("SELECT * FROM audit_log WHERE action = 'disconnect_user'")
    assert row["actor"] == "user:root@example.com"
    assert row["tenant_id"] == beta.tenant.id and row["result"] == "unavailable"
    resp = await client.post(
        f"/api/admin/routers/{router_id}/disconnect-user/", json={}, headers=headers
    )
    assert resp.status == 400
    assert (await resp.json())["error"] == "username is required"


async def test_create_admin_validates(pool, hub_config):
    auth = AuthService(pool, hub_config)
    with pytest.raises(InvalidInput, match="not an email"):
        await auth.create_admin("root", PASSWORD)
    with pytest.raises(InvalidInput, match="at least 10"):
        await auth.create_admin("root@example.com", "short")
    await auth.create_admin("root@example.com", PASSWORD)
    with pytest.raises(Conflict):
        await auth.create_admin("root@example.com", PASSWORD)
