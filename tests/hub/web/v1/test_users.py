"""/v1/internal/users (seed 004): tenant-scoped users, roles never above one's own."""

from __future__ import annotations

import pytest

from hub.services.auth import AuthService

PASSWORD = "correct horse battery"
SEED_USER = {
    "username": "tenant_admin",
    "email": "admin@isp.com",
    "password": "securePass123!",
    "fullname": "Tenant Administrator",
    "phone": "08123456789",
    "user_role": "admin",
}


@pytest.fixture
async def root(pool, hub_config, client) -> dict[str, str]:
    auth = AuthService(pool, hub_config)
    await auth.create_admin("root@example.com", PASSWORD)
    token = (await auth.login("root@example.com", PASSWORD)).access_token
    return {"Authorization": f"Bearer {token}"}


async def test_an_owner_creates_lists_changes_and_deletes_users(client, seed):
    acme = await seed.tenant("acme")
    owner = await seed.user(acme, "olga", "owner")
    created = await client.post("/v1/internal/users", json=SEED_USER, headers=owner.headers)
    assert created.status == 201
    user = (await created.json())["data"]
    assert user == {
        "id": user["id"],
        "username": "tenant_admin",
        "email": "admin@isp.com",
        "fullname": "Tenant Administrator",
        "phone": "08123456789",
        "user_role": "admin",
        "tenant_id": acme.tenant.id,
    }
    listed = await (await client.get("/v1/internal/users/list", headers=owner.headers)).json()
    assert listed["data"]["total"] == 2 == listed["metadata"]["total"]
    assert [u["username"] for u in listed["data"]["users"]] == ["olga", "tenant_admin"]
    changed = await client.put(
        f"/v1/internal/users/{user['id']}",
        json={"fullname": "Renamed", "user_role": "operator"},
        headers=owner.headers,
    )
    after = (await changed.json())["data"]
    assert (after["fullname"], after["user_role"]) == ("Renamed", "operator")
    login = await client.post(
        "/v1/auth/login", json={"username": "tenant_admin", "password": "securePass123!"}
    )
    assert login.status == 200
    gone = await client.delete(f"/v1/internal/users/{user['id']}", headers=owner.headers)
    assert gone.status == 200
    assert (
        await client.get(f"/v1/internal/users/{user['id']}", headers=owner.headers)
    ).status == 404


async def test_nobody_grants_a_role_above_their_own(client, seed):
    acme = await seed.tenant("acme")
    admin = await seed.user(acme, "adam", "admin")
    owner = await seed.user(acme, "olga", "owner")
    for role in ("owner", "super_admin"):
        response = await client.post(
            "/v1/internal/users", json={**SEED_USER, "user_role": role}, headers=admin.headers
        )
        assert response.status == 403
        assert (await response.json())["error"] == "You cannot grant a role above your own (admin)"
    owner_id = (await (await client.get("/v1/auth/profile", headers=owner.headers)).json())["data"][
        "id"
    ]
    demote = await client.put(
        f"/v1/internal/users/{owner_id}", json={"user_role": "viewer"}, headers=admin.headers
    )
    assert demote.status == 403
    assert (
        await client.delete(f"/v1/internal/users/{owner_id}", headers=admin.headers)
    ).status == 403
    admin_id = (await (await client.get("/v1/auth/profile", headers=admin.headers)).json())["data"][
        "id"
    ]
    itself = await client.delete(f"/v1/internal/users/{admin_id}", headers=admin.headers)
    assert itself.status == 400
    assert (await itself.json())["error"] == "You cannot delete your own account"


async def test_bad_users_are_400_or_409(client, seed):
    acme = await seed.tenant("acme")
    owner = await seed.user(acme, "olga", "owner")
    cases = [
        ({**SEED_USER, "username": "Bad Name!"}, 400, "username must be 2-64 characters"),
        ({**SEED_USER, "password": "short"}, 400, "password must have at least 10 characters"),
        ({**SEED_USER, "email": "nope"}, 400, "not an email address: 'nope'"),
        ({**SEED_USER, "user_role": "god"}, 400, "user_role must be one of"),
        ({**SEED_USER, "username": "olga"}, 409, "a user 'olga' already exists"),
        ({"password": PASSWORD}, 400, "username is required"),
    ]
    for body, status, error in cases:
        response = await client.post("/v1/internal/users", json=body, headers=owner.headers)
        assert response.status == status, body
        assert (await response.json())["error"].startswith(error), body


async def test_another_tenants_users_are_not_found_and_x_tenant_id_is_ignored(client, seed):
    acme, other = await seed.tenant("acme"), await seed.tenant("other")
    owner = await seed.user(acme, "olga", "owner")
    await seed.user(other, "theirs", "viewer")
    headers = {**owner.headers, "X-Tenant-ID": str(other.tenant.id)}
    listed = await (await client.get("/v1/internal/users/list", headers=headers)).json()
    assert [u["username"] for u in listed["data"]["users"]] == ["olga"]


async def test_a_super_admin_sees_every_tenant_and_assigns_tenants(client, seed, root, pool):
    acme = await seed.tenant("acme")
    await seed.user(acme, "olga", "owner")
    everyone = await (await client.get("/v1/internal/users/list", headers=root)).json()
    assert {u["username"] for u in everyone["data"]["users"]} == {"olga", None}
    waiting = await AuthService(pool, seed.config).create_user(None, "newbie", PASSWORD, "viewer")
    assigned = await client.post(
        f"/v1/internal/users/{waiting.id}/assign-tenant",
        json={"tenant_id": acme.tenant.id, "is_primary": True},
        headers=root,
    )
    assert (await assigned.json())["data"]["tenant_id"] == acme.tenant.id
    scoped = await client.get(
        "/v1/internal/users/list", params={"tenant_id": acme.tenant.id}, headers=root
    )
    assert {u["username"] for u in (await scoped.json())["data"]["users"]} == {"olga", "newbie"}
    in_tenant = await client.post(
        "/v1/internal/users",
        json={**SEED_USER, "username": "made-by-root"},
        headers={**root, "X-Tenant-ID": str(acme.tenant.id)},
    )
    assert (await in_tenant.json())["data"]["tenant_id"] == acme.tenant.id
