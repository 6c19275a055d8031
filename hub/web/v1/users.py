"""/v1/internal/users (seed 004): a tenant's dashboard users; super admins see every tenant."""

from __future__ import annotations

from aiohttp import web

from hub.services.users import USER_NOT_FOUND
from hub.typedefs import CALLER, SERVICES
from hub.web import responses as out
from hub.web.envelope import ok
from hub.web.handlers import path_id, read_body, read_query
from hub.web.openapi import operation
from hub.web.schemas import AssignRoleBody, AssignTenantBody, PageQuery, UserBody
from hub.web.v1.access import requires, v1_scope
from hub.web.v1.auth import user_body

routes = web.RouteTableDef()
_USER_ID = r"{user_id:\d+}"


async def _scope_id(request: web.Request) -> int | None:
    tenant = await v1_scope(request)
    return tenant.id if tenant else None


@routes.post("/v1/internal/users")
@requires("users.manage")
@operation(
    "Create a user",
    body=UserBody,
    response=out.V1User,
    status=201,
    errors=(403, 404, 409),
    envelope=True,
)
async def create_user(request: web.Request) -> web.Response:
    body = await read_body(request, UserBody)
    tenant = await v1_scope(request)
    user = await request.app[SERVICES].users.create(request[CALLER], tenant, body.given())
    return ok(user_body(user), status=201)


@routes.get("/v1/internal/users/list")
@requires("users.read")
@operation(
    "Users, a page at a time",
    query=PageQuery,
    response=out.V1UserPage,
    errors=(403, 404),
    envelope=True,
)
async def list_users(request: web.Request) -> web.Response:
    query = read_query(request, PageQuery)
    scope = await _scope_id(request)
    if request[CALLER].role == "platform_admin" and query.tenant_id is not None:
        scope = query.tenant_id
    users, total = await request.app[SERVICES].users.list(
        scope, limit=query.limit, offset=query.offset
    )
    data = {"users": [user_body(user) for user in users], "total": total}
    return ok(data, total=total, limit=query.limit, offset=query.offset)


@routes.get(f"/v1/internal/users/{_USER_ID}")
@requires("users.read")
@operation("A user", response=out.V1User, errors=(403,), envelope=True)
async def get_user(request: web.Request) -> web.Response:
    user_id = path_id(request, "user_id", USER_NOT_FOUND)
    return ok(user_body(await request.app[SERVICES].users.get(await _scope_id(request), user_id)))


@routes.put(f"/v1/internal/users/{_USER_ID}")
@requires("users.manage")
@operation(
    "Change a user",
    body=UserBody,
    response=out.V1User,
    errors=(403, 409),
    envelope=True,
)
async def update_user(request: web.Request) -> web.Response:
    user_id = path_id(request, "user_id", USER_NOT_FOUND)
    body = await read_body(request, UserBody)
    user = await request.app[SERVICES].users.update(
        request[CALLER], await _scope_id(request), user_id, body.given()
    )
    return ok(user_body(user))


@routes.delete(f"/v1/internal/users/{_USER_ID}")
@requires("users.manage")
@operation("Delete a user", response=out.MessageData, errors=(403, 409), envelope=True)
async def delete_user(request: web.Request) -> web.Response:
    user_id = path_id(request, "user_id", USER_NOT_FOUND)
    await request.app[SERVICES].users.delete(request[CALLER], await _scope_id(request), user_id)
    return ok({"message": "user deleted"})


@routes.post(f"/v1/internal/users/{_USER_ID}/assign-role")
@requires("users.manage")
@operation(
    "Give a user a role",
    body=AssignRoleBody,
    response=out.V1User,
    errors=(403, 409),
    envelope=True,
)
async def assign_role(request: web.Request) -> web.Response:
    user_id = path_id(request, "user_id", USER_NOT_FOUND)
    body = await read_body(request, AssignRoleBody)
    user = await request.app[SERVICES].users.update(
        request[CALLER], await _scope_id(request), user_id, {"user_role": body.role_id}
    )
    return ok(user_body(user))


@routes.post(f"/v1/internal/users/{_USER_ID}/assign-tenant")
@requires("users.assign_tenant")
@operation(
    "Move a user into a tenant",
    body=AssignTenantBody,
    response=out.V1User,
    errors=(403, 409),
    envelope=True,
)
async def assign_tenant(request: web.Request) -> web.Response:
    user_id = path_id(request, "user_id", USER_NOT_FOUND)
    body = await read_body(request, AssignTenantBody)
    user = await request.app[SERVICES].users.assign_tenant(request[CALLER], user_id, body.tenant_id)
    return ok(user_body(user))
