"""Platform admin face: login, and the portal's router views over every tenant."""

from __future__ import annotations

from aiohttp import web

from common.timeutil import to_iso, utcnow
from hub.services.portal import ROUTER_NOT_FOUND
from hub.typedefs import ADMIN, SERVICES
from hub.web import bodies
from hub.web import responses as out
from hub.web.handlers import fast_json, json_bytes, login_attempt, path_id, read_body
from hub.web.openapi import operation
from hub.web.schemas import AdminDisconnectBody, DisconnectBody, LoginBody

routes = web.RouteTableDef()


@routes.post("/api/admin/login")
@operation("Platform admin login", body=LoginBody, response=out.AdminToken, errors=(400, 401))
async def login(request: web.Request) -> web.Response:
    body = await read_body(request, LoginBody)
    async with login_attempt(request, body.email):  # lockout after repeated failures
        token, expires_at = await request.app[SERVICES].auth.admin_login(body.email, body.password)
    return web.json_response(
        {"success": True, "token": token, "token_type": "Bearer", "expires_at": to_iso(expires_at)}
    )


@routes.get(r"/api/admin/routers/{router_id:\d+}/active-users/")
@operation("Active users of any router", response=out.ActiveUsers, etag=True)
async def active_users(request: web.Request) -> web.Response:
    router_id = path_id(request, "router_id", ROUTER_NOT_FOUND)
    router, snapshot = await request.app[SERVICES].portal.active_users_snapshot(router_id, None)
    now = utcnow()
    etag = bodies.active_users_etag(router, snapshot, now, with_tenant=True)
    body = bodies.active_users_bytes(router, snapshot, now, with_tenant=True)
    return json_bytes(request, body, etag)


@routes.post(r"/api/admin/routers/{router_id:\d+}/disconnect-user/")
@operation(
    "Disconnect a user from any router",
    body=DisconnectBody,
    response=out.Disconnected,
    errors=(400, 404),
)
async def disconnect_user(request: web.Request) -> web.Response:
    router_id = path_id(request, "router_id", ROUTER_NOT_FOUND)
    body = await read_body(request, DisconnectBody)
    outcome = await request.app[SERVICES].portal.disconnect_user(
        router_id,
        None,
        username=body.username,
        mac_address=body.mac_address,
        actor=request[ADMIN].actor,
    )
    return web.json_response(bodies.disconnected_body(outcome))


@routes.get(r"/api/admin/routers/{router_id:\d+}/monitoring/")
@operation("Any router's health", response=out.Monitoring)
async def monitoring(request: web.Request) -> web.Response:
    router_id = path_id(request, "router_id", ROUTER_NOT_FOUND)
    router = await request.app[SERVICES].portal.router(router_id, None)
    return web.json_response(bodies.monitoring_body(router, with_tenant=True))


@routes.get("/api/admin/routers/health/")
@operation("Health of every router of every tenant", response=out.FleetHealth)
async def fleet_health(request: web.Request) -> web.Response:
    routers = await request.app[SERVICES].portal.routers(None)
    body = bodies.fleet_health_body(routers)
    for entry, router in zip(body["routers"], routers, strict=True):
        entry["tenant"] = bodies.tenant_body(router.tenant)
    return fast_json(body)


@routes.post("/api/admin/mikrotik/disconnect-user/")
@operation(
    "Disconnect a user wherever they are (seed 001's admin face)",
    body=AdminDisconnectBody,
    response=out.AdminDisconnected,
    errors=(400, 404),
    responses={500: out.AdminDisconnectFailed, 503: out.AdminDisconnectFailed},
)
async def disconnect_anywhere(request: web.Request) -> web.Response:
    """Seed 001's admin face: on ``router_id`` when given, else wherever the user has a session."""
    body = await read_body(request, AdminDisconnectBody)
    actor = request[ADMIN].actor
    portal = request.app[SERVICES].portal
    if body.router_id is not None:
        outcome = await portal.disconnect_user(
            body.router_id,
            None,
            username=body.username,
            mac_address=body.mac_address,
            actor=actor,
        )
        return web.json_response(
            {
                **bodies.disconnected_body(outcome),
                "tenant": bodies.tenant_body(outcome.router.tenant),
            }
        )
    username, outcomes = await portal.disconnect_anywhere(
        username=body.username, mac_address=body.mac_address, actor=actor
    )
    status, shaped = bodies.disconnect_anywhere_body(username, outcomes)
    return web.json_response(shaped, status=status)
