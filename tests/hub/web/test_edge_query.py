"""Query parameters go through the same edge as bodies: typed, bounded, a 400 naming the field
(a route added to the real app the way later faces add theirs)."""

from __future__ import annotations

from typing import Annotated

import msgspec
from aiohttp import web

from hub.app import create_app
from hub.typedefs import DB_POOL, TENANT_KEY
from hub.web.handlers import read_query
from hub.web.openapi import operation
from tests.hub.conftest import Seeder


class Page(msgspec.Struct):
    limit: Annotated[int, msgspec.Meta(ge=1, le=500)] = 50
    since: Annotated[str, msgspec.Meta(max_length=40)] | None = None


@operation("A probe of the query edge", query=Page)
async def probe(request: web.Request) -> web.Response:
    page = read_query(request, Page)
    tenant = request[TENANT_KEY].tenant
    return web.json_response({"success": True, "tenant": tenant.slug, "limit": page.limit})


async def test_query_parameters_are_validated_at_the_edge(hub_config, aiohttp_client):
    app = create_app(hub_config, with_link=False)
    app.router.add_get("/api/portal/probe/", probe)
    client = await aiohttp_client(app)
    acme = await Seeder(client.app[DB_POOL], hub_config).tenant("acme")
    for query, status, error in (
        ("", 200, None),
        ("?limit=10&limit=20&other=x", 200, None),
        ("?limit=abc", 400, "limit is invalid"),
        ("?limit=0", 400, "limit is invalid"),
        ("?limit=" + "9" * 5000, 400, "limit is invalid"),
        ("?since=" + "x" * 100, 400, "since is invalid"),
        ("?since=%00%ff", 200, None),
    ):
        resp = await client.get(f"/api/portal/probe{query}", headers=acme.headers)
        assert resp.status == status, (query[:40], await resp.text())
        body = await resp.json()
        if error:
            assert error in body["error"]
    resp = await client.get("/api/portal/probe?limit=7", headers=acme.headers)  # no slash too
    assert (await resp.json())["limit"] == 7


async def test_hotspot_face_takes_the_tenant_key_like_the_portal(hub_config, aiohttp_client):
    app = create_app(hub_config, with_link=False)
    app.router.add_get("/api/hotspot/probe", probe)
    client = await aiohttp_client(app)
    acme = await Seeder(client.app[DB_POOL], hub_config).tenant("acme")
    assert (await client.get("/api/hotspot/probe/")).status == 401
    resp = await client.get("/api/hotspot/probe/", headers=acme.headers)
    assert resp.status == 200 and (await resp.json())["tenant"] == "acme"
