"""The five routes of a router resource (seed 004 sections 6, 7), written once for every menu.

``crud_routes(routes, "/v1/internal/pool", IP_POOL, IpPoolBody, V1IpPool)`` adds
``POST path``, ``GET path/list``, ``GET/PUT/DELETE path/{item}``; ``{item}`` is a RouterOS id
(``*1A``, URL-encoded ``%2A1A``) or a name. The static ``/list`` is added before ``/{item}``, so
it wins. Reads need "router.read", writes "router.manage". The router is ``v1_router``'s.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from hub.domain import Router
from hub.services.router_resources import Resource
from hub.typedefs import CALLER, SERVICES
from hub.web.envelope import ok
from hub.web.handlers import read_body, read_query
from hub.web.openapi import operation
from hub.web.schemas import Body, RouterQuery
from hub.web.v1.access import Handler, requires, v1_router

ITEM = "{item}"
ROUTER_ERRORS = (403, 404, 409, 503)  # 409: the router's "already exists"; 503: site offline


async def acting_router(request: web.Request, query: type[RouterQuery] = RouterQuery) -> Router:
    """The router of this call (``?device_id=`` or the tenant's one router), checked first."""
    read_query(request, query)
    return await v1_router(request)


def _named(handler: Handler, name: str) -> Handler:
    handler.__name__ = handler.__qualname__ = name
    return handler


def crud_routes(
    routes: web.RouteTableDef,
    path: str,
    resource: Resource,
    body: type[Body],
    answer: Any,
    slug: str,
) -> None:
    """Register create, list, get, update and delete of ``resource`` under ``path``."""
    noun = resource.noun

    @requires("router.manage")
    @operation(
        f"Create a {noun} on the router",
        body=body,
        query=RouterQuery,
        response=answer,
        status=201,
        errors=ROUTER_ERRORS,
        envelope=True,
    )
    async def create(request: web.Request) -> web.Response:
        router = await acting_router(request)
        values = (await read_body(request, body)).given()
        service = request.app[SERVICES].router_resources
        row = await service.create(router, resource, values, request[CALLER].actor)
        return ok(row, status=201)

    @requires("router.read")
    @operation(
        f"Every {noun} of the router",
        query=RouterQuery,
        response=list[answer],
        errors=(403, 404, 503),
        envelope=True,
    )
    async def list_all(request: web.Request) -> web.Response:
        router = await acting_router(request)
        service = request.app[SERVICES].router_resources
        rows = await service.list(router, resource, request[CALLER].actor)
        return ok(rows, total=len(rows))

    @requires("router.read")
    @operation(
        f"A {noun} by RouterOS id or name",
        query=RouterQuery,
        response=answer,
        errors=(403, 404, 503),
        envelope=True,
    )
    async def get_one(request: web.Request) -> web.Response:
        router = await acting_router(request)
        service = request.app[SERVICES].router_resources
        item = request.match_info["item"]
        return ok(await service.get(router, resource, item, request[CALLER].actor))

    @requires("router.manage")
    @operation(
        f"Change a {noun} (fields not given stay as they are)",
        body=body,
        query=RouterQuery,
        response=answer,
        errors=ROUTER_ERRORS,
        envelope=True,
    )
    async def update(request: web.Request) -> web.Response:
        router = await acting_router(request)
        values = (await read_body(request, body)).given()
        service = request.app[SERVICES].router_resources
        item = request.match_info["item"]
        return ok(await service.update(router, resource, item, values, request[CALLER].actor))

    @requires("router.manage")
    @operation(
        f"Remove a {noun}; answers it as it was",
        query=RouterQuery,
        response=answer,
        errors=(403, 404, 503),
        envelope=True,
    )
    async def delete(request: web.Request) -> web.Response:
        router = await acting_router(request)
        service = request.app[SERVICES].router_resources
        item = request.match_info["item"]
        return ok(await service.delete(router, resource, item, request[CALLER].actor))

    routes.post(path)(_named(create, f"create_{slug}"))
    routes.get(f"{path}/list")(_named(list_all, f"list_{slug}s"))
    routes.get(f"{path}/{ITEM}")(_named(get_one, f"get_{slug}"))
    routes.put(f"{path}/{ITEM}")(_named(update, f"update_{slug}"))
    routes.delete(f"{path}/{ITEM}")(_named(delete, f"delete_{slug}"))
