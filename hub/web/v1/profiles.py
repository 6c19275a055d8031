"""/v1/internal/profile (seed 004 section 8): billing profiles, put on routers on demand."""

from __future__ import annotations

from aiohttp import web

from hub.services.profiles import PROFILE_NOT_FOUND
from hub.typedefs import CALLER, SERVICES
from hub.web.envelope import ok
from hub.web.handlers import path_id, read_body, read_query
from hub.web.openapi import operation
from hub.web.schemas import ProfileBody, V1Page
from hub.web.v1.access import requires, v1_tenant
from hub.web.v1.answers import Message, ProfileList, ProfileOut, profile_out

routes = web.RouteTableDef()
_PROFILE_ID = r"{profile_id:\d+}"
_TAGS = ("Billing profiles",)


@routes.post("/v1/internal/profile")
@requires("profiles.manage")
@operation(
    "Create a billing profile",
    body=ProfileBody,
    response=ProfileOut,
    status=201,
    errors=(400, 401, 403, 409),
    envelope=True,
    tags=_TAGS,
)
async def create_profile(request: web.Request) -> web.Response:
    """Stored only: the profile reaches a router with its first customer there."""
    body = await read_body(request, ProfileBody)
    tenant = await v1_tenant(request)
    profiles = request.app[SERVICES].profiles
    profile = await profiles.create(tenant, body.given(), request[CALLER].actor)
    return ok(profile_out(profile, tenant), status=201)


@routes.get("/v1/internal/profile/list")
@requires("profiles.read")
@operation(
    "List billing profiles",
    query=V1Page,
    response=ProfileList,
    errors=(400, 401, 403),
    envelope=True,
    tags=_TAGS,
)
async def list_profiles(request: web.Request) -> web.Response:
    query = read_query(request, V1Page)
    tenant = await v1_tenant(request)
    found, total = await request.app[SERVICES].profiles.page(
        tenant, limit=query.limit, offset=query.offset
    )
    data = ProfileList(profiles=[profile_out(p, tenant) for p in found], total=total)
    return ok(data, total=total, limit=query.limit, offset=query.offset)


@routes.get(f"/v1/internal/profile/{_PROFILE_ID}")
@requires("profiles.read")
@operation(
    "Read a billing profile", response=ProfileOut, errors=(401, 403, 404), envelope=True, tags=_TAGS
)
async def get_profile(request: web.Request) -> web.Response:
    profile_id = path_id(request, "profile_id", PROFILE_NOT_FOUND)
    tenant = await v1_tenant(request)
    return ok(profile_out(await request.app[SERVICES].profiles.get(tenant, profile_id), tenant))


@routes.put(f"/v1/internal/profile/{_PROFILE_ID}")
@requires("profiles.manage")
@operation(
    "Change a billing profile",
    body=ProfileBody,
    response=ProfileOut,
    errors=(400, 401, 403, 404, 409),
    envelope=True,
    tags=_TAGS,
)
async def update_profile(request: web.Request) -> web.Response:
    """Re-applied first to every router holding its customers; an offline one (503) or a
    refusal leaves all of them, and the profile, unchanged."""
    profile_id = path_id(request, "profile_id", PROFILE_NOT_FOUND)
    body = await read_body(request, ProfileBody)
    tenant = await v1_tenant(request)
    profile = await request.app[SERVICES].profiles.update(
        tenant, profile_id, body.given(), request[CALLER].actor
    )
    return ok(profile_out(profile, tenant))


@routes.delete(f"/v1/internal/profile/{_PROFILE_ID}")
@requires("profiles.manage")
@operation(
    "Delete a billing profile",
    response=Message,
    errors=(401, 403, 404, 409),
    envelope=True,
    tags=_TAGS,
)
async def delete_profile(request: web.Request) -> web.Response:
    """Refused (409) while customers use it."""
    profile_id = path_id(request, "profile_id", PROFILE_NOT_FOUND)
    tenant = await v1_tenant(request)
    profile = await request.app[SERVICES].profiles.delete(tenant, profile_id, request[CALLER].actor)
    return ok(Message(message=f"billing profile {profile.name!r} deleted"))
