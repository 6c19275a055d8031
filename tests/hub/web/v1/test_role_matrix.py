"""Every /v1 endpoint x every role x own / another tenant: the status the permission table says.

The walk reads the routes of the running app, so an endpoint added later is covered the day it
lands, and one without a declared permission (hub/web/v1/access.py ``requires``) fails here.
"""

from __future__ import annotations

import dataclasses
import re

import pytest

from hub.config import HubConfig
from hub.services.auth import AuthService
from hub.services.profiles import ProfileService
from hub.typedefs import SERVICES
from hub.web.middlewares import DEVICE_PATHS, PUBLIC_PATHS, V1_PREFIX
from hub.web.v1.access import ROLE_PERMISSIONS

PASSWORD = "correct horse battery"
ROLES = ("viewer", "operator", "admin", "owner", "platform_admin")
# A valid body where the route wants one: the walk is about who may, not about what is sent.
BODIES = {
    "/v1/internal/users/{user_id}/assign-role": {"role_id": "viewer"},
    "/v1/internal/users/{user_id}": {"fullname": "Renamed"},
    "/v1/internal/tenant/{tenant_id}": {"phone": "022-000000"},
    # No router is reached: a price change of a profile without customers, an item that fails.
    "/v1/internal/profile/{profile_id}": {"price": 1},
    "/v1/internal/client-upsert": [{"username": "walk"}],
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
# Router calls act on a router named by ?device_id= (the walk names the caller's own, or the
# other tenant's: a 404). The seeded sites are offline: an allowed call answers the seeds' 503.
ROUTER_PATHS = ("/v1/internal/ppp/", "/v1/internal/pool", "/v1/internal/queue")
OFFLINE = "Cannot connect to router Main Office Router. Please check router configuration."


@pytest.fixture
def hub_config(hub_config: HubConfig) -> HubConfig:
    """The walk sends every role's calls to every /v1 route: more than one caller's burst."""
    return dataclasses.replace(hub_config, rate_limit_per_minute=100_000, rate_limit_burst=10_000)


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
        routers[tenant.tenant.slug] = await seed.router(
            tenant, site=f"{tenant.tenant.slug}-hq", agent_connected=False
        )
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
    profiles = ProfileService(pool, hub_config, client.app[SERVICES].router_menu)
    profile = {"type": "pppoe", "price": 1, "rate_limit": "1M/1M"}
    # Customers without a router account (seed 003's phone customers): deleted in Postgres only.
    customer_ids = {
        whose: await seed.customer(tenant, f"+25571234567{n}")
        for n, (whose, tenant) in enumerate((("own", acme), ("other", other)))
    }
    profile_ids = {
        whose: (await profiles.create(tenant.tenant, {"name": whose, **profile}, "test")).id
        for whose, tenant in (("own", acme), ("other", other))
    }
    ids = {
        "own": {
            "user_id": await pool.fetchval("SELECT id FROM users WHERE username = 'own-target'"),
            "tenant_id": acme.tenant.id,
            "device_id": routers["acme"],
            "item": "%2A1",
            "customer_id": customer_ids["own"],
            "profile_id": profile_ids["own"],
        },
        "other": {
            "user_id": await pool.fetchval("SELECT id FROM users WHERE username = 'their-target'"),
            "tenant_id": other.tenant.id,
            "device_id": routers["other"],
            "item": "%2A1",
            "customer_id": customer_ids["other"],
            "profile_id": profile_ids["other"],
        },
    }
    assert own and theirs
    return headers, ids


async def test_every_v1_endpoint_declares_a_permission(client):
    missing = [
        (method, path)
        for method, path, handler in _v1_routes(client.app)
        if path not in PUBLIC_PATHS | DEVICE_PATHS and not hasattr(handler, "permission")
    ]
    assert missing == []


async def test_the_role_matrix(client, callers):
    headers, ids = callers
    checked = 0
    # Deletions last, so every other call still finds what it names.
    walk = sorted(_v1_routes(client.app), key=lambda route: route[0] == "DELETE")
    for method, path, handler in walk:
        if path in PUBLIC_PATHS | DEVICE_PATHS:  # no caller: a router's secret, or public
            continue
        permission = handler.permission
        for role in ROLES:
            for whose in ("own", "other"):
                url = _url(path, ids[whose])
                on_router = path.startswith(ROUTER_PATHS)
                if on_router:
                    url += f"?device_id={ids[whose]['device_id']}"
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
                if on_router:
                    # Own: the hub's reports (200, 404) or the offline router (503); 400 is a
                    # stream asked over plain HTTP. Another tenant's router does not exist.
                    expected = (404,) if whose == "other" else (200, 400, 404, 503)
                    assert status in expected, where
                    assert status != 503 or body["error"] == OFFLINE, where
                    checked += 1
                    continue
                assert status < 500, where
                names_another_tenants_thing = whose == "other" and "{" in path
                if names_another_tenants_thing and role != "platform_admin":
                    assert status == 404, where
                checked += 1
    assert checked > 20
