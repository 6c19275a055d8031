"""/v1/internal/tenant (seed 004): super admins manage tenants; limits hold on every path."""

from __future__ import annotations

import pytest

from hub.errors import Conflict
from hub.services.auth import AuthService
from hub.services.tenants import TenantService

PASSWORD = "correct horse battery"
SEED_TENANT = {
    "name": "ISP Bandung",
    "subdomain": "ispbdg",
    "company_name": "PT ISP Digital",
    "phone": "022-123456",
    "timezone": "Asia/Jakarta",
    "max_mikrotiks": 10,
    "max_network_users": 5000,
    "features": {"api_access": True},
}


@pytest.fixture
async def root(client, pool, hub_config) -> dict[str, str]:
    auth = AuthService(pool, hub_config)
    await auth.create_admin("root@example.com", PASSWORD)
    token = (await auth.login("root@example.com", PASSWORD)).access_token
    return {"Authorization": f"Bearer {token}"}


async def _create(client, root, **change):
    response = await client.post(
        "/v1/internal/tenant", json={**SEED_TENANT, **change}, headers=root
    )
    return response.status, await response.json()


async def test_create_get_update_as_the_seed_shows(client, root):
    status, created = await _create(client, root)
    assert status == 201
    tenant = created["data"]
    assert {key: tenant[key] for key in SEED_TENANT if key != "subdomain"} == {
        key: value for key, value in SEED_TENANT.items() if key != "subdomain"
    }
    assert (tenant["subdomain"], tenant["status"], tenant["is_active"]) == (
        "ispbdg",
        "active",
        True,
    )
    got = await client.get(f"/v1/internal/tenant/{tenant['id']}", headers=root)
    assert (await got.json())["data"] == tenant
    changed = await client.put(
        f"/v1/internal/tenant/{tenant['id']}",
        json={"max_mikrotiks": None, "is_active": False, "language": "sw"},
        headers=root,
    )
    after = (await changed.json())["data"]
    assert (after["max_mikrotiks"], after["status"], after["name"], after["language"]) == (
        None,
        "inactive",
        "ISP Bandung",
        "sw",
    )


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"subdomain": "Not A Slug"}, "invalid slug 'Not A Slug'"),
        ({"timezone": "Mars/Olympus"}, "unknown timezone 'Mars/Olympus': expected an IANA name"),
        ({"timezone": "Africa"}, "unknown timezone 'Africa': expected an IANA name"),
        ({"timezone": "localtime"}, "unknown timezone 'localtime': expected an IANA name"),
        ({"max_mikrotiks": -1}, "max_mikrotiks must be an integer from 0 to 10000000, or null"),
        ({"name": ""}, "name is required"),
        ({"features": {f"f{i}": True for i in range(65)}}, "features may have at most 64 entries"),
        ({"features": {"x": {"nested": 1}}}, "features"),
        ({"currency": "K1"}, "currency must be an ISO 4217 code like KES"),
        ({"language": "fr"}, "language"),
    ],
)
async def test_bad_tenants_are_400(client, root, pool, change, error):
    before = await pool.fetchval("SELECT count(*) FROM tenants")
    status, answer = await _create(client, root, **change)
    assert status == 400
    assert answer["success"] is False and error in answer["error"]
    assert await pool.fetchval("SELECT count(*) FROM tenants") == before


async def test_duplicate_subdomain_is_409(client, root):
    await _create(client, root)
    status, answer = await _create(client, root)
    assert status == 409
    assert answer["error"] == "a tenant with subdomain 'ispbdg' already exists"


async def test_list_filters_search_and_paginates(client, root):
    for index, name in enumerate(("Alpha Net", "Beta Net", "Gamma Wifi")):
        await _create(client, root, name=name, subdomain=f"t{index}")
    await client.put("/v1/internal/tenant/3", json={"is_active": False}, headers=root)
    page = await client.get("/v1/internal/tenant/list", params={"limit": 2}, headers=root)
    body = await page.json()
    assert body["metadata"] == {"total": 3, "limit": 2, "offset": 0}
    assert len(body["data"]) == 2
    found = await client.get("/v1/internal/tenant/list", params={"search": "net"}, headers=root)
    assert [t["name"] for t in (await found.json())["data"]] == ["Alpha Net", "Beta Net"]
    literal = await client.get("/v1/internal/tenant/list", params={"search": "%"}, headers=root)
    assert (await literal.json())["metadata"]["total"] == 0
    inactive = await client.get(
        "/v1/internal/tenant/list", params={"status": "inactive"}, headers=root
    )
    assert [t["name"] for t in (await inactive.json())["data"]] == ["Gamma Wifi"]
    bad = await client.get("/v1/internal/tenant/list", params={"limit": 0}, headers=root)
    assert bad.status == 400


async def test_delete_refuses_a_tenant_with_routers(client, root, seed):
    busy = await seed.tenant("busy")
    await seed.router(busy)
    refused = await client.delete(f"/v1/internal/tenant/{busy.tenant.id}", headers=root)
    assert refused.status == 409
    assert "deactivate it instead" in (await refused.json())["error"]
    quiet = await seed.tenant("quiet")
    await seed.customer(quiet, "+255712345678")
    holding = await client.delete(f"/v1/internal/tenant/{quiet.tenant.id}", headers=root)
    assert holding.status == 409
    assert "1 customers" in (await holding.json())["error"]
    _, empty = await _create(client, root)
    gone = await client.delete(f"/v1/internal/tenant/{empty['data']['id']}", headers=root)
    assert gone.status == 200
    missing = await client.get(f"/v1/internal/tenant/{empty['data']['id']}", headers=root)
    assert missing.status == 404


async def test_stats(client, root, seed):
    owner = await seed.tenant("acme")
    router_id = await seed.router(owner)
    await seed.customer(owner, "+255712345678", hours=2)
    from tests.hub.conftest import session

    await seed.sessions(router_id, session("*1", "+255712345678"))
    response = await client.get(f"/v1/internal/tenant/{owner.tenant.id}/stats", headers=root)
    assert (await response.json())["data"] == {
        "tenant_id": owner.tenant.id,
        "routers": 1,
        "sites": 1,
        "sites_online": 1,
        "active_sessions": 1,
        "customers": 1,
        "revenue_this_month": 0,
    }


async def test_only_super_admins_manage_tenants(client, seed):
    owner = await seed.tenant("acme")
    admin = await seed.user(owner, "alice", "owner")
    for headers in (admin.headers, owner.headers):
        response = await client.get("/v1/internal/tenant/list", headers=headers)
        assert response.status == 403
        assert "tenants.manage" in (await response.json())["error"]


async def test_limits_hold_on_every_path(client, root, seed, pool, hub_config):
    owner = await seed.tenant("acme")
    await client.put(
        f"/v1/internal/tenant/{owner.tenant.id}",
        json={"max_mikrotiks": 1, "max_network_users": 1},
        headers=root,
    )
    tenants = TenantService(pool, hub_config)
    await tenants.add_router("acme", site="hq", name="r1", host="10.0.0.1")
    with pytest.raises(Conflict, match=r"at most 1 router\(s\) \(max_mikrotiks\)"):
        await tenants.add_router("acme", site="hq", name="r2", host="10.0.0.2")
    await tenants.add_customer("acme", "+255712345678")
    with pytest.raises(Conflict, match=r"at most 1 customer\(s\) \(max_network_users\)"):
        await tenants.add_customer("acme", "+255712345679")
    # the existing customer is still found (an upsert adds nothing)
    await seed.customer(owner, "+255712345678", hours=1)


async def test_a_deactivated_tenant_is_refused(client, root, seed):
    owner = await seed.tenant("acme")
    user = await seed.user(owner, "alice")
    await client.put(
        f"/v1/internal/tenant/{owner.tenant.id}", json={"is_active": False}, headers=root
    )
    for headers in (owner.headers, user.headers):
        response = await client.get("/api/plans", headers=headers)
        assert response.status == 403
        assert await response.json() == {"detail": "This tenant is deactivated"}
    login = await client.post("/v1/auth/login", json={"username": "alice", "password": PASSWORD})
    assert login.status == 403
