"""Plans of seed 003: list, create, delete; shapes exactly as the seed's examples."""

from __future__ import annotations

from aiohttp import web

from common.timeutil import to_iso
from hub.domain import Plan
from hub.services.plans import PLAN_NOT_FOUND
from hub.typedefs import CALLER, SERVICES
from hub.web import responses as out
from hub.web.bodies import money
from hub.web.handlers import (
    caller_tenant,
    fast_json,
    path_id,
    read_body,
    read_query,
    require_role,
)
from hub.web.openapi import operation
from hub.web.schemas import PlanCreateBody, PlanListQuery, TenantQuery

routes = web.RouteTableDef()


def plan_item(plan: Plan) -> dict[str, object]:
    """A plan as GET /api/plans lists it (units in lower case, as the seed shows)."""
    return {
        "id": plan.id,
        "name": plan.name,
        "price": money(plan.price),
        "duration_value": plan.duration_value,
        "duration_unit": plan.duration_unit,
        "download_speed": plan.download_speed,
        "upload_speed": plan.upload_speed,
        "connection_type": plan.connection_type,
        "router_profile": plan.router_profile,
        "on_expiry": plan.on_expiry,
    }


@routes.get("/api/plans")
@operation(
    "The tenant's plans", query=PlanListQuery, response=list[out.PlanItem], errors=(403, 404)
)
async def list_plans(request: web.Request) -> web.Response:
    query = read_query(request, PlanListQuery)
    tenant = await caller_tenant(request, query.user_id)
    plans = await request.app[SERVICES].plans.list(tenant, query.connection_type)
    return fast_json([plan_item(plan) for plan in plans])


@routes.post("/api/plans/create")
@operation("Create a plan", body=PlanCreateBody, response=out.PlanCreated, errors=(403, 404, 409))
async def create_plan(request: web.Request) -> web.Response:
    require_role(request, "operator")
    body = await read_body(request, PlanCreateBody)
    tenant = await caller_tenant(request, body.user_id)
    plan = await request.app[SERVICES].plans.create(
        tenant,
        name=body.name,
        speed=body.speed,
        price=body.price,
        duration_value=body.duration_value,
        duration_unit=body.duration_unit,
        connection_type=body.connection_type,
        router_profile=body.router_profile,
        on_expiry=body.on_expiry,
        actor=request[CALLER].actor,
    )
    # The seed echoes the unit as it was sent (upper case) and names the owner.
    return fast_json(
        {
            "id": plan.id,
            "name": plan.name,
            "speed": plan.speed,
            "price": money(plan.price),
            "duration_value": plan.duration_value,
            "duration_unit": plan.duration_unit.upper(),
            "connection_type": plan.connection_type,
            "router_profile": plan.router_profile,
            "on_expiry": plan.on_expiry,
            "user_id": tenant.id,
            "created_at": to_iso(plan.created_at),
        }
    )


@routes.delete(r"/api/plans/{plan_id:\d+}")
@operation("Delete a plan", query=TenantQuery, response=out.Message, errors=(403, 404, 409))
async def delete_plan(request: web.Request) -> web.Response:
    require_role(request, "admin")
    plan_id = path_id(request, "plan_id", PLAN_NOT_FOUND)
    tenant = await caller_tenant(request, read_query(request, TenantQuery).user_id)
    plan = await request.app[SERVICES].plans.delete(tenant, plan_id, request[CALLER].actor)
    return fast_json({"success": True, "message": f"Plan '{plan.name}' deleted successfully"})
