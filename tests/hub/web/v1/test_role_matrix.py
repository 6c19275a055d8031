"""Every /v1 endpoint x every role x own / another tenant: the status the permission table says.

The walk reads the routes of the running app, so an endpoint added later is covered the day it
lands, and one without a declared permission (hub/web/v1/access.py ``requires``) fails here.
"""

from __future__ import annotations

import re

import pytest

from hub.services.auth import AuthService
from hub.web.middlewares import PUBLIC_PATHS, V1_PREFIX
from hub.web.v1.access import ROLE_PERMISSIONS

PASSWORD = "correct horse battery"
ROLES = ("viewer", "operator", "admin", "owner", "platform_admin")
# A valid body where the route wants one: the walk is about who may, not about what is sent.
BODIES = {
    "/v1/internal/users/{user_id}/assign-role": {"role_id": "viewer"},
    "/v1/internal/users/{user_id}": {"fullname": "Renamed"},
    "/v1/internal/tenant/{tenant_id}": {"phone": "022-000000"},
    "/v1/internal/mikrotik": {
        "name": "Walked Router",
        "host": "10.9.9.9",
        "api_username": "api",
        "api_password": "walk-secret",
        "site": "acme-hq",
    },
    "/v1/internal/mikrotik/{device_id}": {"location": "Rack 9"},
    "/v1/internal/mikrotik/{device_id}/status": {"status": "active"},
}


def _v1_routes(app):
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource else {}
        path = info.get("path") or info.get("formatter", "")
        if path.startswith(V1_PREFIX) and route.method != "HEAD" and not path.endswith("/"):
            yield route.method, path, route.handler


def _url(path: str, ids: dict[str, int]) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: str(ids[m[1]]), path)


@pytest.fixture
async def callers(client, seed, pool, hub_config):
    acme, other = await seed.tenant("acme"), await seed.tenant("other")
    routers = {}
    for tenant in (acme, other):  # a tenant with a router cannot be deleted by the walk
        routers[tenant.tenant.slug] = await seed.router(tenant, site=f"{tenant.tenant.slug}-hq")
    headers = {}
    for role in ROLES[:-1]:
        headers[role] = (await seed.user(acme, f"{role}-user", role)).headers
    auth = AuthService(pool, hub_config)
    await auth.create_admin("root@example.com", PASSWORD)
    root = (await auth.login("root@example.com", PASSWORD)).access_token
    headers["platform_admin"] = {
        "Authorization": f"Bearer {root}",
        "X-Tenant-ID": str(acme.tenant.id),
    }
    own = await seed.user(acme, "own-target", "viewer")
    theirs = await seed.user(other, "their-target", "viewer")
    ids = {
        "own": {
            "user_id": await pool.fetchval("SELECT id FROM users WHERE username = 'own-target'"),
            "tenant_id": acme.tenant.id,
            "device_id": routers["acme"],
        },
        "other": {
            "user_id": await pool.fetchval("SELECT id FROM users WHERE username = 'their-target'"),
            "tenant_id": other.tenant.id,
            "device_id": routers["other"],
        },
    }
    assert own and theirs
    return headers, ids


async def test_every_v1_endpoint_declares_a_permission(client):
    missing = [
        (method, path)
        for method, path, handler in _v1_routes(client.app)
        if path not in PUBLIC_PATHS and not hasattr(handler, "permission")
    ]
    assert missing == []


async def test_the_role_matrix(client, callers):
    headers, ids = callers
    checked = 0
    # Deletions last, so every other call still finds what it names.
    walk = sorted(_v1_routes(client.app), key=lambda route: route[0] == "DELETE")
    for method, path, handler in walk:
        if path in PUBLIC_PATHS:
            continue
        permission = handler.permission
        for role in ROLES:
            for whose in ("own", "other"):
                url = _url(path, ids[whose])
                body = BODIES.get(path, {}) if method in ("POST", "PUT", "PATCH") else None
                response = await client.request(method, url, json=body, headers=headers[role])
                status = response.status
                body = await response.json()
                assert set(body) == {"success", "data", "metadata", "error"}, url
                allowed = permission in ROLE_PERMISSIONS[role]
                where = (method, url, role, whose, status, body["error"])
                if not allowed:
                    assert status == 403, where
                    continue
                assert status != 403 or "above your own" in body["error"], where
                assert status < 500, where
                names_another_tenants_thing = whose == "other" and "{" in path
                if names_another_tenants_thing and role != "platform_admin":
                    assert status == 404, where
                checked += 1
    assert checked > 20
