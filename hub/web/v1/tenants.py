"""/v1/internal/tenant (seed 004): the platform's tenants, for super admins only."""

from __future__ import annotations

from aiohttp import web

from common.timeutil import to_iso
from hub.domain import TenantDetails
from hub.errors import InvalidInput
from hub.services.tenants import TENANT_NOT_FOUND
from hub.typedefs import CALLER, SERVICES
from hub.web import responses as out
from hub.web.bodies import money
from hub.web.envelope import ok
from hub.web.handlers import path_id, read_body, read_query
from hub.web.openapi import operation
from hub.web.schemas import TenantBody, TenantListQuery
from hub.web.v1.access import requires

routes = web.RouteTableDef()
_TENANT_ID = r"{tenant_id:\d+}"


def tenant_body(details: TenantDetails) -> dict[str, object]:
    tenant = details.tenant
    return {
        "id": tenant.id,
        "name": tenant.name,
        "subdomain": tenant.slug,
        "company_name": details.company_name,
        "phone": details.phone,
        "timezone": tenant.timezone,
        "currency": tenant.currency,
        "language": tenant.language,
        "country": tenant.default_country,
        "max_mikrotiks": details.max_mikrotiks,
        "max_network_users": details.max_network_users,
        "features": details.features,
        "is_active": details.is_active,
        "status": "active" if details.is_active else "inactive",
        "created_at": to_iso(details.created_at),
        "updated_at": to_iso(details.updated_at),
    }


@routes.post("/v1/internal/tenant")
@requires("tenants.manage")
@operation(
    "Create a tenant",
    body=TenantBody,
    response=out.V1Tenant,
    status=201,
    errors=(403, 409),
    envelope=True,
)
async def create_tenant(request: web.Request) -> web.Response:
    body = await read_body(request, TenantBody)
    if not isinstance(body.subdomain, str):
        raise InvalidInput("subdomain is required")
    details = await request.app[SERVICES].tenants.create_managed(
        body.subdomain, body.values(), request[CALLER].actor
    )
    return ok(tenant_body(details), status=201)


@routes.get("/v1/internal/tenant/list")
@requires("tenants.manage")
@operation(
    "Tenants, a page at a time",
    query=TenantListQuery,
    response=list[out.V1Tenant],
    errors=(403,),
    envelope=True,
)
async def list_tenants(request: web.Request) -> web.Response:
    query = read_query(request, TenantListQuery)
    is_active = query.is_active
    if query.status is not None:
        is_active = query.status == "active"
    page, total = await request.app[SERVICES].tenants.list_managed(
        is_active=is_active, search=query.search, limit=query.limit, offset=query.offset
    )
    return ok(
        [tenant_body(details) for details in page],
        total=total,
        limit=query.limit,
        offset=query.offset,
    )


@routes.get(f"/v1/internal/tenant/{_TENANT_ID}")
@requires("tenants.manage")
@operation("A tenant", response=out.V1Tenant, errors=(403,), envelope=True)
async def get_tenant(request: web.Request) -> web.Response:
    tenant_id = path_id(request, "tenant_id", TENANT_NOT_FOUND)
    return ok(tenant_body(await request.app[SERVICES].tenants.details(tenant_id)))


@routes.put(f"/v1/internal/tenant/{_TENANT_ID}")
@requires("tenants.manage")
@operation(
    "Change a tenant",
    body=TenantBody,
    response=out.V1Tenant,
    errors=(403, 409),
    envelope=True,
)
async def update_tenant(request: web.Request) -> web.Response:
    tenant_id = path_id(request, "tenant_id", TENANT_NOT_FOUND)
    body = await read_body(request, TenantBody)
    details = await request.app[SERVICES].tenants.update_managed(
        tenant_id, body.values(), request[CALLER].actor
    )
    return ok(tenant_body(details))


@routes.delete(f"/v1/internal/tenant/{_TENANT_ID}")
@requires("tenants.manage")
@operation("Delete a tenant", response=out.MessageData, errors=(403, 409), envelope=True)
async def delete_tenant(request: web.Request) -> web.Response:
    tenant_id = path_id(request, "tenant_id", TENANT_NOT_FOUND)
    await request.app[SERVICES].tenants.delete_managed(tenant_id, request[CALLER].actor)
    return ok({"message": "tenant deleted"})


@routes.get(f"/v1/internal/tenant/{_TENANT_ID}/stats")
@requires("tenants.manage")
@operation("A tenant's counts", response=out.V1TenantStats, errors=(403,), envelope=True)
async def tenant_stats(request: web.Request) -> web.Response:
    tenant_id = path_id(request, "tenant_id", TENANT_NOT_FOUND)
    stats = await request.app[SERVICES].tenants.stats(tenant_id)
    return ok(
        {
            "tenant_id": tenant_id,
            "routers": stats.routers,
            "sites": stats.sites,
            "sites_online": stats.sites_online,
            "active_sessions": stats.active_sessions,
            "customers": stats.customers,
            "revenue_this_month": money(stats.revenue_this_month),
        }
    )
