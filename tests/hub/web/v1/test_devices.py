"""/v1/internal/mikrotik (seed 004 section 5): the tenant's devices, passwords never answered."""

from __future__ import annotations

import pytest
from aiohttp import web

from hub.app import create_app
from hub.config import HubConfig
from hub.storage.routers import SiteRepository
from hub.web.envelope import ok
from hub.web.v1.access import requires, v1_router

PASSWORD = "s3cret-router-pass"
DEVICE = {
    "name": "Router-01",
    "host": "103.11.22.33",
    "port": 8728,
    "api_username": "billing",
    "api_password": PASSWORD,
    "location": "IDC Cyber",
}


class Calls:
    """A client that checks every answer: the envelope, and never the password."""

    def __init__(self, client, headers):
        self.client, self.headers = client, headers

    async def __call__(self, method: str, path: str, json=None, headers=None):
        response = await self.client.request(
            method, path, json=json, headers={**self.headers, **(headers or {})}
        )
        text = await response.text()
        assert PASSWORD not in text, (method, path)
        body = await response.json()
        assert "api_password" not in str(body["data"]), (method, path)  # not even its length
        assert set(body) == {"success", "data", "metadata", "error"}
        return response.status, body


PROBE = "/v1/internal/probe/router"


@requires("devices.read")
async def _probe(request: web.Request) -> web.Response:
    """Which router a /v1 router call would act on (v1_router)."""
    return ok((await v1_router(request)).id)


@pytest.fixture
async def app(hub_config: HubConfig) -> web.Application:
    """The hub's app with one probe route that answers v1_router's choice."""
    app = create_app(hub_config)
    app.router.add_get(PROBE, _probe)
    return app


@pytest.fixture
async def acme(seed, pool):
    tenant = await seed.tenant("acme")
    await SiteRepository(pool).ensure(tenant.tenant.id, "hq")
    return tenant


@pytest.fixture
async def admin(client, seed, acme):
    return Calls(client, (await seed.user(acme, "ada", "admin")).headers)


async def test_create_read_change_list_and_delete(admin, pool):
    status, body = await admin("POST", "/v1/internal/mikrotik", DEVICE)
    assert status == 201, body
    device = body["data"]
    assert device == {
        **{k: v for k, v in DEVICE.items() if k != "api_password"},
        "id": device["id"],
        "status": "active",
        "managed": True,
        "tls": False,
        "agent_id": device["agent_id"],
        "site": "hq",
        "online": False,
        "last_seen": None,
        "created_at": device["created_at"],
        "updated_at": device["updated_at"],
    }
    sealed = await pool.fetchval(
        "SELECT api_password_sealed FROM routers WHERE id = $1", device["id"]
    )
    assert PASSWORD.encode() not in sealed  # sealed at rest
    status, body = await admin("GET", f"/v1/internal/mikrotik/{device['id']}")
    assert (status, body["data"]["name"]) == (200, "Router-01")
    status, body = await admin(
        "PUT",
        f"/v1/internal/mikrotik/{device['id']}",
        {"location": "Rack 2", "api_password": "new-pass"},
    )
    assert (status, body["data"]["location"], body["data"]["host"]) == (
        200,
        "Rack 2",
        "103.11.22.33",
    )
    status, body = await admin("POST", "/v1/internal/mikrotik/list", {})
    assert (status, body["metadata"]["total"], len(body["data"])) == (200, 1, 1)
    status, body = await admin("DELETE", f"/v1/internal/mikrotik/{device['id']}")
    assert status == 200
    status, body = await admin("GET", f"/v1/internal/mikrotik/{device['id']}")
    assert (status, body["error"]) == (404, "Device not found")
    # Created again: the retired row comes back (its history with it), same id.
    status, body = await admin("POST", "/v1/internal/mikrotik", DEVICE)
    assert (status, body["data"]["id"]) == (201, device["id"])


async def test_list_pages_and_filters(admin):
    for index in range(5):
        name = f"R{index}"
        status, _ = await admin("POST", "/v1/internal/mikrotik", {**DEVICE, "name": name})
        assert status == 201
    status, body = await admin("POST", "/v1/internal/mikrotik/list", {"limit": 2, "offset": 2})
    assert status == 200
    assert [d["name"] for d in body["data"]] == ["R2", "R3"]
    assert body["metadata"] == {"total": 5, "limit": 2, "offset": 2}
    _, past = await admin("POST", "/v1/internal/mikrotik/list", {"limit": 2, "offset": 10})
    assert (past["data"], past["metadata"]["total"]) == ([], 5)
    _, found = await admin("POST", "/v1/internal/mikrotik/list", {"search": "r4"})
    assert [d["name"] for d in found["data"]] == ["R4"]
    _, none = await admin("POST", "/v1/internal/mikrotik/list", {"status": "inactive"})
    assert none["metadata"]["total"] == 0


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"name": None}, "name is required"),
        ({"name": "  "}, "name is required"),
        ({"name": "x" * 129}, "name must be at most 128 characters"),
        ({"host": None}, "host is required"),
        ({"host": "bad host!"}, "host must be a host name or an IP address"),
        ({"port": 70000}, "port must be from 1 to 65535"),
        ({"api_username": None}, "api_username is required"),
        ({"api_password": None}, "api_password is required"),
        ({"api_password": "p" * 257}, "api_password must be at most 256 characters"),
        ({"agent_id": 999999}, "agent_id does not name a site agent of this tenant"),
        ({"site": "nowhere"}, "site does not name a site of this tenant"),
    ],
)
async def test_bad_input_is_a_400_naming_the_field(admin, pool, change, error):
    body = {k: v for k, v in {**DEVICE, **change}.items() if v is not None}
    status, answer = await admin("POST", "/v1/internal/mikrotik", body)
    assert (status, answer["error"]) == (400, error)
    assert await pool.fetchval("SELECT count(*) FROM routers") == 0


async def test_several_sites_need_the_agent_named(admin, acme, pool):
    await SiteRepository(pool).ensure(acme.tenant.id, "branch")
    status, body = await admin("POST", "/v1/internal/mikrotik", DEVICE)
    assert (status, body["error"]) == (
        400,
        "agent_id (or site) is required: this tenant has several sites",
    )
    status, body = await admin("POST", "/v1/internal/mikrotik", {**DEVICE, "site": "branch"})
    assert (status, body["data"]["site"]) == (201, "branch")


async def test_another_tenants_device_is_not_found(client, seed, admin):
    other = await seed.tenant("other")
    theirs = await seed.router(other, "Their Router", site="far")
    for method, path, body in (
        ("GET", f"/v1/internal/mikrotik/{theirs}", None),
        ("PUT", f"/v1/internal/mikrotik/{theirs}", {"location": "x"}),
        ("DELETE", f"/v1/internal/mikrotik/{theirs}", None),
        ("PATCH", f"/v1/internal/mikrotik/{theirs}/status", {"status": "inactive"}),
        ("PATCH", f"/v1/internal/mikrotik/{theirs}/activate", None),
    ):
        status, answer = await admin(method, path, body)
        assert (status, answer["error"]) == (404, "Device not found"), (method, path)


async def test_agent_toml_routers_are_listed_read_only(admin, seed, acme):
    configured = await seed.router(acme, "Main Office Router", site="hq")
    _, listed = await admin("POST", "/v1/internal/mikrotik/list", {})
    (entry,) = listed["data"]
    assert (entry["id"], entry["managed"], entry["online"]) == (configured, False, True)
    for method, path, body in (
        ("PUT", f"/v1/internal/mikrotik/{configured}", {"location": "x"}),
        ("DELETE", f"/v1/internal/mikrotik/{configured}", None),
        ("PATCH", f"/v1/internal/mikrotik/{configured}/status", {"status": "inactive"}),
    ):
        status, answer = await admin(method, path, body)
        assert status == 409, (method, answer)
        assert "agent.toml" in answer["error"]
    # Its name is taken at that site: a device of the same name is refused.
    status, answer = await admin(
        "POST", "/v1/internal/mikrotik", {**DEVICE, "name": "Main Office Router"}
    )
    assert status == 409 and "agent.toml" in answer["error"]


async def test_the_tenant_limit_is_a_clear_409(admin, acme, pool):
    await pool.execute("UPDATE tenants SET max_mikrotiks = 1 WHERE id = $1", acme.tenant.id)
    status, _ = await admin("POST", "/v1/internal/mikrotik", DEVICE)
    assert status == 201
    status, body = await admin("POST", "/v1/internal/mikrotik", {**DEVICE, "name": "Router-02"})
    assert (status, body["error"]) == (
        409,
        "Tenant limit reached: at most 1 router(s) (max_mikrotiks)",
    )
    assert await pool.fetchval("SELECT count(*) FROM routers") == 1


async def test_a_deleted_device_created_again_counts_against_the_limit(admin, acme, pool):
    _, body = await admin("POST", "/v1/internal/mikrotik", DEVICE)
    await admin("DELETE", f"/v1/internal/mikrotik/{body['data']['id']}")
    await admin("POST", "/v1/internal/mikrotik", {**DEVICE, "name": "Router-02"})
    await pool.execute("UPDATE tenants SET max_mikrotiks = 1 WHERE id = $1", acme.tenant.id)
    status, answer = await admin("POST", "/v1/internal/mikrotik", DEVICE)
    assert (status, answer["error"]) == (
        409,
        "Tenant limit reached: at most 1 router(s) (max_mikrotiks)",
    )


async def test_status_and_activate(admin, client, seed, acme):
    _, first = await admin("POST", "/v1/internal/mikrotik", DEVICE)
    _, second = await admin("POST", "/v1/internal/mikrotik", {**DEVICE, "name": "Router-02"})
    first_id, second_id = first["data"]["id"], second["data"]["id"]
    status, body = await admin(
        "PATCH", f"/v1/internal/mikrotik/{first_id}/status", {"status": "inactive"}
    )
    assert (status, body["data"]["status"], body["data"]["online"]) == (200, "inactive", False)
    status, body = await admin("PATCH", f"/v1/internal/mikrotik/{first_id}/status", {})
    assert (status, body["error"]) == (400, "status is required")
    status, body = await admin(
        "PATCH", f"/v1/internal/mikrotik/{first_id}/status", {"status": "paused"}
    )
    assert (status, body["error"]) == (400, "status must be active or inactive")
    _, inactive = await admin("POST", "/v1/internal/mikrotik/list", {"status": "inactive"})
    assert [d["id"] for d in inactive["data"]] == [first_id]

    viewer = Calls(client, (await seed.user(acme, "vera", "viewer")).headers)
    # Two routers: a router call names one, or the caller's activated device is taken.
    status, body = await viewer("GET", PROBE)
    assert (status, body["error"]) == (
        400,
        "device_id is required: this tenant has several routers",
    )
    status, body = await viewer("PATCH", f"/v1/internal/mikrotik/{second_id}/activate")
    assert (status, body["data"]["id"]) == (200, second_id)
    assert (await viewer("GET", PROBE))[1]["data"] == second_id
    assert (await viewer("GET", f"{PROBE}?device_id={first_id}"))[1]["data"] == first_id
    assert (await admin("GET", PROBE))[0] == 400  # activated per user: not the admin's
    await admin("DELETE", f"/v1/internal/mikrotik/{second_id}")
    # The activated device is gone: the tenant's only router again.
    assert (await viewer("GET", PROBE))[1]["data"] == first_id
    status, _ = await viewer("DELETE", f"/v1/internal/mikrotik/{first_id}")
    assert status == 403  # viewers read and pick; admins manage
