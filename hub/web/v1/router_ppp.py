"""/v1/internal/ppp (seed 004 section 6): PPP secrets and profiles on the router, and its PPP
sessions: active (as the site's agent reported them) and inactive (secrets with no session).

The live streams of both lists are hub/web/v1/streams.py; hub.web.routes adds that module
first, so ``/active/stream`` is matched before ``/active/{item}``.
"""

from __future__ import annotations

from aiohttp import web

from hub.services.router_resources import PPP_PROFILE, PPP_SECRET
from hub.typedefs import CALLER, SERVICES
from hub.web import responses as out
from hub.web.envelope import ok
from hub.web.openapi import operation
from hub.web.schemas import PppProfileBody, PppSecretBody, RouterQuery
from hub.web.v1.access import requires
from hub.web.v1.router_crud import acting_router, crud_routes

routes = web.RouteTableDef()
crud_routes(
    routes, "/v1/internal/ppp/secret", PPP_SECRET, PppSecretBody, out.V1PppSecret, "ppp_secret"
)
crud_routes(
    routes, "/v1/internal/ppp/profile", PPP_PROFILE, PppProfileBody, out.V1PppProfile, "ppp_profile"
)


@routes.get("/v1/internal/ppp/active/list")
@requires("router.read")
@operation(
    "The router's active PPP sessions (from its agent's reports: no router round trip)",
    query=RouterQuery,
    response=list[out.V1PppActive],
    errors=(403, 404),
    envelope=True,
)
async def list_ppp_active(request: web.Request) -> web.Response:
    router = await acting_router(request)
    sessions = await request.app[SERVICES].router_resources.ppp_active(router)
    return ok(sessions, total=len(sessions))


@routes.get("/v1/internal/ppp/inactive/list")
@requires("router.read")
@operation(
    "The router's PPP secrets with no active session",
    query=RouterQuery,
    response=list[out.V1PppSecret],
    errors=(403, 404, 503),
    envelope=True,
)
async def list_ppp_inactive(request: web.Request) -> web.Response:
    router = await acting_router(request)
    service = request.app[SERVICES].router_resources
    secrets = await service.ppp_inactive(router, request[CALLER].actor)
    return ok(secrets, total=len(secrets))


@routes.get("/v1/internal/ppp/active/{item}")
@requires("router.read")
@operation(
    "One active PPP session by /ppp/active id (*80000077) or PPP name",
    query=RouterQuery,
    response=out.V1PppActive,
    errors=(403, 404),
    envelope=True,
)
async def get_ppp_active(request: web.Request) -> web.Response:
    router = await acting_router(request)
    service = request.app[SERVICES].router_resources
    return ok(await service.ppp_active_one(router, request.match_info["item"]))
