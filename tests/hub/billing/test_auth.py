"""The billing face's credentials: dashboard login (seed 003), JWTs, API keys, roles, scope."""

from __future__ import annotations

import uuid
from datetime import timedelta

import jwt
import pytest

from hub.config import HubConfig
from hub.domain import User
from hub.errors import Unauthorized
from hub.services.auth import AuthService
from hub.services.tokens import TokenService, signing_key

PASSWORD = "correct horse battery"


async def test_login_returns_a_bearer_token_that_opens_the_billing_face(client, seed):
    owner = await seed.tenant("acme")
    await AuthService(seed.pool, seed.config).create_user("acme", "alice", PASSWORD, "viewer")
    response = await client.post(
        "/api/auth/login", json={"username": "alice", "password": PASSWORD}
    )
    assert response.status == 200
    body = await response.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 15 * 60
    plans = await client.get(
        "/api/plans", headers={"Authorization": f"Bearer {body['access_token']}"}
    )
    assert plans.status == 200
    assert await plans.json() == []
    # the username is case-insensitive; the tenant's API key works on this face too
    again = await client.post("/api/auth/login", json={"username": "ALICE", "password": PASSWORD})
    assert again.status == 200
    with_key = await client.get("/api/plans", headers=owner.headers)
    assert with_key.status == 200


@pytest.mark.parametrize(
    ("body", "status", "detail"),
    [
        (
            {"username": "alice", "password": "wrong password!"},
            401,
            "Incorrect username or password",
        ),
        ({"username": "nobody", "password": PASSWORD}, 401, "Incorrect username or password"),
        ({"username": "alice"}, 400, "username and password are required"),
        ({"username": 5, "password": PASSWORD}, 400, "username and password are required"),
        (
            {"username": "a" * 300, "password": PASSWORD},
            400,
            "username must be at most 254 characters",
        ),
    ],
)
async def test_bad_logins_are_refused_with_a_clear_detail(client, seed, body, status, detail):
    await seed.tenant("acme")
    await seed.user(await seed.tenant("other"), "alice", "viewer")
    response = await client.post("/api/auth/login", json=body)
    assert response.status == status
    assert await response.json() == {"detail": detail}


async def test_no_or_bad_credentials_get_401_in_the_seed_error_shape(client, seed):
    owner = await seed.tenant("acme")
    user = await seed.user(owner, "alice")
    assert (await client.get("/api/plans")).status == 401
    forged = jwt.encode({"sub": "1", "iss": "ispfleet"}, "x" * 40, algorithm="HS256")
    for token in (forged, user.token[:-3] + "abc", "ifk_nope"):
        response = await client.get("/api/plans", headers={"Authorization": f"Bearer {token}"})
        assert response.status == 401
        assert "detail" in await response.json()


async def test_a_disabled_user_is_out_at_once(client, seed, pool):
    user = await seed.user(await seed.tenant("acme"), "alice")
    await pool.execute("UPDATE users SET disabled_at = now() WHERE username = 'alice'")
    assert (await client.get("/api/plans", headers=user.headers)).status == 401


async def test_roles_are_ordered_and_enforced(client, seed):
    owner = await seed.tenant("acme")
    viewer = await seed.user(owner, "vera", "viewer")
    operator = await seed.user(owner, "otto", "operator")
    plan = {
        "name": "1 Hour Plan",
        "speed": "5M/2M",
        "price": 50,
        "duration_value": 1,
        "duration_unit": "HOURS",
        "connection_type": "hotspot",
    }
    refused = await client.post("/api/plans/create", json=plan, headers=viewer.headers)
    assert refused.status == 403
    assert await refused.json() == {"detail": "This needs the operator role or above"}
    created = await client.post("/api/plans/create", json=plan, headers=operator.headers)
    assert created.status == 200
    plan_id = (await created.json())["id"]
    # deleting needs admin
    assert (await client.delete(f"/api/plans/{plan_id}", headers=operator.headers)).status == 403
    assert (await client.delete(f"/api/plans/{plan_id}", headers=owner.headers)).status == 200


async def test_user_id_never_widens_a_tenant_users_scope(client, seed):
    acme, other = await seed.tenant("acme"), await seed.tenant("other")
    await seed.plan(other, "Other's plan")
    alice = await seed.user(acme, "alice", "viewer")
    response = await client.get(
        "/api/plans", params={"user_id": other.tenant.id}, headers=alice.headers
    )
    assert response.status == 200
    assert await response.json() == []


async def test_a_platform_admin_picks_the_tenant_with_user_id(client, seed, pool):
    other = await seed.tenant("other")
    await seed.plan(other, "Other's plan")
    auth = AuthService(pool, seed.config)
    await auth.create_admin("root@example.com", PASSWORD)
    token = (await auth.login("root@example.com", PASSWORD)).access_token
    headers = {"Authorization": f"Bearer {token}"}
    missing = await client.get("/api/plans", headers=headers)
    assert missing.status == 400
    assert await missing.json() == {
        "detail": "user_id (the tenant's id) is required for a platform admin"
    }
    listed = await client.get("/api/plans", params={"user_id": other.tenant.id}, headers=headers)
    assert [plan["name"] for plan in await listed.json()] == ["Other's plan"]
    unknown = await client.get("/api/plans", params={"user_id": 999999}, headers=headers)
    assert unknown.status == 404


def test_tokens_expire_and_carry_their_user(tmp_path):
    tokens = TokenService(b"k" * 32, timedelta(minutes=15))
    user = User(id=7, tenant_id=3, email=None, role="operator", username="otto")
    family = uuid.uuid4()
    token, expires_at = tokens.issue(user, family)
    claims = tokens.verify(token)
    assert (claims.user_id, claims.tenant_id, claims.role) == (7, 3, "operator")
    assert claims.family_id == family
    assert claims.expires_at == expires_at
    expired = TokenService(b"k" * 32, timedelta(seconds=-1)).issue(user, family)[0]
    with pytest.raises(Unauthorized, match="Token expired"):
        tokens.verify(expired)
    with pytest.raises(Unauthorized, match="Invalid token"):
        TokenService(b"j" * 32, timedelta(minutes=15)).verify(token)


def test_the_signing_key_is_made_once_in_the_data_dir(tmp_path):
    config = HubConfig(data_dir=str(tmp_path / "hub"))
    key = signing_key(config)
    assert len(key) >= 32
    assert signing_key(config) == key
    assert (tmp_path / "hub" / "jwt.key").stat().st_mode & 0o777 == 0o600
    assert signing_key(HubConfig(data_dir=str(tmp_path), jwt_secret="s" * 40)) == b"s" * 40
