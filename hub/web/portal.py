"""Tenant portal handlers (Bearer tenant API key): seeds 000, 001 and the APIs they name."""

from __future__ import annotations

from aiohttp import web
from prometheus_client.aiohttp import make_aiohttp_handler

from common.timeutil import utcnow
from hub.services.portal import ROUTER_NOT_FOUND, USER_NOT_FOUND
from hub.typedefs import METRICS, SERVICES, TENANT_KEY
from hub.web import bodies
from hub.web import responses as out
from hub.web.handlers import json_bytes, path_id, read_body
from hub.web.openapi import operation
from hub.web.schemas import DisconnectBody, GrantBody

routes = web.RouteTableDef()


@routes.get(r"/api/portal/router/{router_id:\d+}/active-users/")
@operation("Active users of a router (seed 000)", response=out.ActiveUsers, etag=True)
async def active_users(request: web.Request) -> web.Response:
    tenant = request[TENANT_KEY].tenant
    router_id = path_id(request, "router_id", ROUTER_NOT_FOUND)
    router, snapshot = await request.app[SERVICES].portal.active_users_snapshot(
        router_id, tenant.id
    )
    now = utcnow()
    etag = bodies.active_users_etag(router, snapshot, now, with_tenant=False)
    return json_bytes(request, bodies.active_users_bytes(router, snapshot, now), etag)


@routes.post(r"/api/portal/router/{router_id:\d+}/disconnect-user/")
@operation(
    "Disconnect a user from a router (seed 001)",
    body=DisconnectBody,
    response=out.Disconnected,
    errors=(400, 404),
)
async def disconnect_user(request: web.Request) -> web.Response:
    principal = request[TENANT_KEY]
    router_id = path_id(request, "router_id", ROUTER_NOT_FOUND)
    body = await read_body(request, DisconnectBody)
    outcome = await request.app[SERVICES].portal.disconnect_user(
        router_id,
        principal.tenant.id,
        username=body.username,
        mac_address=body.mac_address,
        actor=principal.actor,
    )
    return web.json_response(bodies.disconnected_body(outcome))


@routes.get(r"/api/portal/router/{router_id:\d+}/monitoring/")
@operation("A router's health", response=out.Monitoring)
async def monitoring(request: web.Request) -> web.Response:
    tenant = request[TENANT_KEY].tenant
    router_id = path_id(request, "router_id", ROUTER_NOT_FOUND)
    router = await request.app[SERVICES].portal.router(router_id, tenant.id)
    return web.json_response(bodies.monitoring_body(router))


@routes.get("/api/portal/router/health/")
@operation("Health of every router of the tenant", response=out.FleetHealth, etag=True)
async def fleet_health(request: web.Request) -> web.Response:
    tenant = request[TENANT_KEY].tenant
    snapshot = await request.app[SERVICES].portal.fleet_health(tenant.id)
    return json_bytes(request, bodies.fleet_health_bytes(snapshot, utcnow()), snapshot.etag())


@routes.get(r"/api/portal/users/{user_id:\d+}/")
@operation("A customer, their access and live sessions", response=out.Customer)
async def user_details(request: web.Request) -> web.Response:
    tenant = request[TENANT_KEY].tenant
    user_id = path_id(request, "user_id", USER_NOT_FOUND)
    view = await request.app[SERVICES].portal.customer(user_id, tenant.id)
    return web.json_response(bodies.customer_body(view))


@routes.post(r"/api/portal/users/{user_id:\d+}/disconnect/")
@operation("Disconnect a customer from every router", response=out.DisconnectedEverywhere)
async def disconnect_everywhere(request: web.Request) -> web.Response:
    principal = request[TENANT_KEY]
    user_id = path_id(request, "user_id", USER_NOT_FOUND)
    _, outcomes = await request.app[SERVICES].portal.disconnect_customer(
        user_id, principal.tenant.id, actor=principal.actor
    )
    return web.json_response(bodies.disconnect_everywhere_body(outcomes, user_id))


@routes.post("/api/portal/users/grant-access/")
@operation(
    "Grant a user access for some hours", body=GrantBody, response=out.Granted, errors=(404, 409)
)
async def grant_access(request: web.Request) -> web.Response:
    principal = request[TENANT_KEY]
    body = await read_body(request, GrantBody)
    grant = await request.app[SERVICES].access.grant(
        principal.tenant,
        username=body.username,
        hours=body.hours,
        mac_address=body.mac_address,
        router_id=body.router_id,
        actor=principal.actor,
    )
    return web.json_response(bodies.grant_body(grant))


@routes.get("/api/hotspot/stats")
@operation("Per-location hotspot stats (seed 002)", response=out.HotspotStats)
async def hotspot_stats(request: web.Request) -> web.Response:
    """Seed 002: per-location stats of the caller's tenant, from what its agents reported."""
    tenant = request[TENANT_KEY].tenant
    items = await request.app[SERVICES].portal.hotspot_stats(tenant.id)
    return web.json_response(bodies.hotspot_stats_body(items))


@routes.get("/api/portal/metrics")
@operation("The tenant's own Prometheus metrics", content_type="text/plain")
async def tenant_metrics(request: web.Request) -> web.Response:
    """The tenant's own Prometheus scrape target: only its routers' series."""
    tenant = request[TENANT_KEY].tenant
    registry = request.app[METRICS].tenant_registry(tenant.id)
    return await make_aiohttp_handler(registry)(request)
