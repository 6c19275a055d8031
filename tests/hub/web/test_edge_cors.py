"""CORS as a browser does it: preflight, then the real request, errors readable (real app)."""

from __future__ import annotations

from dataclasses import replace

from hub.app import create_app
from hub.typedefs import DB_POOL
from tests.hub.conftest import Seeder

PAGE = "https://portal.acme-wifi.example"
PREFLIGHT = {
    "Origin": PAGE,
    "Access-Control-Request-Method": "POST",
    "Access-Control-Request-Headers": "authorization,content-type",
}


async def test_preflight_then_request(client, seed):
    acme = await seed.tenant("acme")
    router_id = await seed.router(acme)
    url = f"/api/portal/router/{router_id}/disconnect-user/"
    resp = await client.options(url, headers=PREFLIGHT)
    assert resp.status == 204
    assert resp.headers["Access-Control-Allow-Origin"] == PAGE
    methods = {m.strip() for m in resp.headers["Access-Control-Allow-Methods"].split(",")}
    assert "POST" in methods
    allowed = {h.strip().lower() for h in resp.headers["Access-Control-Allow-Headers"].split(",")}
    assert {"authorization", "content-type"} <= allowed
    assert int(resp.headers["Access-Control-Max-Age"]) > 0
    assert "Origin" in resp.headers["Vary"]

    # The actual request: the page can read the answer, and its errors too.
    resp = await client.post(
        url, json={"username": "nobody"}, headers={**acme.headers, "Origin": PAGE}
    )
    assert resp.status == 404
    assert resp.headers["Access-Control-Allow-Origin"] == PAGE
    assert "Origin" in resp.headers["Vary"]
    resp = await client.get(
        f"/api/portal/router/{router_id}/active-users/", headers={"Origin": PAGE}
    )
    assert resp.status == 401
    assert resp.headers["Access-Control-Allow-Origin"] == PAGE
    # No slash, GET preflight: same.
    resp = await client.options(
        f"/api/portal/router/{router_id}/active-users",
        headers={**PREFLIGHT, "Access-Control-Request-Method": "GET"},
    )
    assert resp.status == 204 and "GET" in resp.headers["Access-Control-Allow-Methods"]


async def test_429_is_readable_by_the_page(hub_config, aiohttp_client):
    config = replace(hub_config, rate_limit_per_minute=60, rate_limit_burst=1)
    client = await aiohttp_client(create_app(config))
    seed = Seeder(client.app[DB_POOL], config)
    acme = await seed.tenant("acme")
    headers = {**acme.headers, "Origin": PAGE}
    statuses = []
    for _ in range(3):
        resp = await client.get("/api/portal/router/health/", headers=headers)
        statuses.append(resp.status)
        assert resp.headers["Access-Control-Allow-Origin"] == PAGE
    assert 429 in statuses
    exposed = resp.headers["Access-Control-Expose-Headers"]
    assert "Retry-After" in exposed and "ETag" in exposed


async def test_configured_origins_only(hub_config, aiohttp_client):
    config = replace(hub_config, cors_origins=[PAGE])
    client = await aiohttp_client(create_app(config))
    resp = await client.options("/api/portal/router/health/", headers=PREFLIGHT)
    assert resp.status == 204 and resp.headers["Access-Control-Allow-Origin"] == PAGE
    other = {**PREFLIGHT, "Origin": "https://evil.example"}
    resp = await client.options("/api/portal/router/health/", headers=other)
    assert "Access-Control-Allow-Origin" not in resp.headers
    resp = await client.get(
        "/api/portal/router/health/", headers={"Origin": "https://evil.example"}
    )
    assert resp.status == 401 and "Access-Control-Allow-Origin" not in resp.headers
    assert "Origin" in resp.headers["Vary"]
    # An unknown path stays a 404, preflight or not.
    resp = await client.options("/api/portal/nothing-here/", headers=PREFLIGHT)
    assert resp.status == 404
