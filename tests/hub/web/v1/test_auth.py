"""/v1/auth (seed 004): login, refresh rotation and reuse detection, logout, profile, register."""

from __future__ import annotations

import dataclasses

import pytest

from hub.app import create_app

PASSWORD = "correct horse battery"
ENVELOPE_KEYS = {"success", "data", "metadata", "error"}


async def _login(client, **body):
    response = await client.post("/v1/auth/login", json={"password": PASSWORD, **body})
    return response.status, await response.json()


async def test_login_by_username_or_email_in_the_envelope(client, seed):
    owner = await seed.tenant("acme")
    await seed.user(owner, "alice", "operator")
    await seed.pool.execute("UPDATE users SET email = 'alice@acme.test' WHERE username = 'alice'")
    for body in ({"username": "alice"}, {"email": "alice@acme.test"}):
        status, answer = await _login(client, **body)
        assert status == 200
        assert set(answer) == ENVELOPE_KEYS
        assert answer["success"] is True and answer["error"] is None
        data = answer["data"]
        assert data["token_type"] == "Bearer"
        assert (data["expires_in"], data["refresh_expires_in"]) == (900, 2592000)
        assert data["user"] == {
            "id": data["user"]["id"],
            "username": "alice",
            "email": "alice@acme.test",
            "fullname": None,
            "phone": None,
            "user_role": "operator",
            "tenant_id": owner.tenant.id,
        }
        profile = await client.get(
            "/v1/auth/profile", headers={"Authorization": f"Bearer {data['access_token']}"}
        )
        assert (await profile.json())["data"]["username"] == "alice"


async def test_errors_are_in_the_envelope_too(client, seed):
    await seed.user(await seed.tenant("acme"), "alice")
    status, answer = await _login(client, username="alice", password="wrong password!")
    assert status == 401
    assert answer == {
        "success": False,
        "data": None,
        "metadata": {"total": 0, "limit": 0, "offset": 0},
        "error": "Incorrect username or password",
    }
    missing = await client.post("/v1/auth/login", json={"password": PASSWORD})
    assert missing.status == 400
    assert (await missing.json())["error"] == "email or username is required"
    assert (await client.get("/v1/auth/profile")).status == 401
    nowhere = await client.get("/v1/no/such/thing")
    assert nowhere.status == 404
    assert set(await nowhere.json()) == ENVELOPE_KEYS


async def test_refresh_rotates_and_reuse_revokes_the_whole_login(client, seed, pool):
    await seed.user(await seed.tenant("acme"), "alice")
    _, first = await _login(client, username="alice")
    first_token = first["data"]["refresh_token"]
    response = await client.post("/v1/auth/refresh", json={"refresh_token": first_token})
    assert response.status == 200
    second = (await response.json())["data"]
    assert second["rotation"] is True
    assert second["refresh_token"] != first_token
    access = {"Authorization": f"Bearer {second['access_token']}"}
    assert (await client.get("/v1/auth/profile", headers=access)).status == 200

    # The spent token again: someone else holds a copy. Every token of this login dies.
    reused = await client.post("/v1/auth/refresh", json={"refresh_token": first_token})
    assert reused.status == 401
    assert "already used" in (await reused.json())["error"]
    newest = await client.post("/v1/auth/refresh", json={"refresh_token": second["refresh_token"]})
    assert newest.status == 401
    assert (await client.get("/v1/auth/profile", headers=access)).status == 401
    audit = await pool.fetchrow("SELECT action, result FROM audit_log ORDER BY id DESC LIMIT 1")
    assert tuple(audit) == ("refresh_token_reuse", "error")

    # Another login of the same user is not touched.
    _, other = await _login(client, username="alice")
    other_refresh = {"refresh_token": other["data"]["refresh_token"]}
    assert (await client.post("/v1/auth/refresh", json=other_refresh)).status == 200


async def test_logout_revokes_the_refresh_token_and_its_access_tokens(client, seed):
    owner = await seed.tenant("acme")
    await seed.user(owner, "alice")
    _, login = await _login(client, username="alice")
    data = login["data"]
    access = {"Authorization": f"Bearer {data['access_token']}"}
    out = await client.post("/v1/auth/logout", json={"refresh_token": data["refresh_token"]})
    assert (await out.json())["data"] == {"message": "logged out successfully"}
    assert (await client.get("/v1/auth/profile", headers=access)).status == 401
    assert (await client.get("/api/plans", headers=access)).status == 401
    again = await client.post("/v1/auth/refresh", json={"refresh_token": data["refresh_token"]})
    assert again.status == 401
    bogus = await client.post("/v1/auth/logout", json={"refresh_token": "x" * 36})
    assert bogus.status == 401


async def test_seed_003_and_seed_004_logins_are_one_identity(client, seed):
    await seed.user(await seed.tenant("acme"), "alice", "viewer")
    dashboard = await client.post(
        "/api/auth/login", json={"username": "alice", "password": PASSWORD}
    )
    token = (await dashboard.json())["access_token"]
    profile = await client.get("/v1/auth/profile", headers={"Authorization": f"Bearer {token}"})
    assert (await profile.json())["data"]["user_role"] == "viewer"


async def test_register_is_off_by_default(client):
    body = {"username": "newuser", "email": "new@example.com", "password": PASSWORD}
    response = await client.post("/v1/auth/register", json=body)
    assert response.status == 403
    assert (await response.json())["error"] == "Registration is disabled on this hub"


@pytest.fixture
async def open_client(hub_config, aiohttp_client):
    config = dataclasses.replace(hub_config, registration_enabled=True)
    return await aiohttp_client(create_app(config))


async def test_a_registered_user_is_a_viewer_of_no_tenant_who_sees_nothing(open_client):
    body = {
        "username": "newuser",
        "email": "new@example.com",
        "password": PASSWORD,
        "fullname": "New User",
        "phone": "08123456789",
    }
    response = await open_client.post("/v1/auth/register", json=body)
    assert response.status == 201
    user = (await response.json())["data"]
    assert (user["user_role"], user["tenant_id"], user["fullname"]) == ("viewer", None, "New User")
    duplicate = await open_client.post("/v1/auth/register", json=body)
    assert duplicate.status == 409
    _, login = await _login(open_client, username="newuser")
    access = {"Authorization": f"Bearer {login['data']['access_token']}"}
    plans = await open_client.get("/api/plans", headers=access)
    assert plans.status == 403
    assert await plans.json() == {"detail": "Your account is not assigned to a tenant yet"}
