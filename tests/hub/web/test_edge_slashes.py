"""Both spellings of every route, with and without the trailing slash (real app and Postgres)."""

from __future__ import annotations

import re

from aiohttp.web_urldispatcher import DynamicResource, PlainResource

from hub.services.auth import AuthService
from hub.web.slashes import SlashAlias, other_spelling

PASSWORD = "correct horse battery"


def _fill(canonical: str) -> str:
    return re.sub(r"\{\w+\}", "424242", canonical)


async def test_every_route_answers_both_spellings(client):
    """Walk the route table: the other spelling reaches the same route (never 404, never 405)."""
    resources = [
        r for r in client.app.router.resources() if isinstance(r, PlainResource | DynamicResource)
    ]
    assert len(resources) > 10
    aliases = {r.target for r in client.app.router.resources() if isinstance(r, SlashAlias)}
    for resource in resources:
        if resource.canonical == "/":
            continue
        assert resource in aliases or any(
            other.canonical == other_spelling(resource.canonical) for other in resources
        ), resource.canonical
        for route in resource:
            if route.method == "HEAD":
                continue
            for path in (resource.canonical, other_spelling(resource.canonical)):
                resp = await client.request(route.method, _fill(path))
                # Without credentials: 401, or the handler's own 4xx (a page's own 404 page,
                # the captive portal's unknown tenant); the route was found.
                assert resp.status not in (404, 405) or (
                    resp.status == 404
                    and (
                        resp.content_type == "text/html"
                        or (await resp.json()).get("error") != "Not found"
                    )
                ), (route.method, path, resp.status)


async def test_post_without_slash_keeps_its_body(client, seed, pool):
    acme = await seed.tenant("acme")
    await seed.router(acme)
    resp = await client.post(
        "/api/portal/users/grant-access",
        json={"username": "+255712345678", "hours": 2},
        headers=acme.headers,
    )
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["username"] == "+255712345678"
    assert await pool.fetchval("SELECT count(*) FROM entitlements") == 1


async def test_seed_spellings(client, seed, pool, hub_config):
    acme = await seed.tenant("acme")
    router_id = await seed.router(acme)
    resp = await client.get(f"/api/portal/router/{router_id}/active-users", headers=acme.headers)
    assert resp.status == 200 and (await resp.json())["router"]["id"] == router_id
    await AuthService(pool, hub_config).create_admin("root@example.com", PASSWORD)
    resp = await client.post(
        "/api/admin/login/", json={"email": "root@example.com", "password": PASSWORD}
    )
    assert resp.status == 200 and (await resp.json())["token"].startswith("ifs_")
    # The wrong method on the other spelling is still a 405, not a 404.
    resp = await client.post(f"/api/portal/router/{router_id}/active-users", headers=acme.headers)
    assert resp.status == 405
