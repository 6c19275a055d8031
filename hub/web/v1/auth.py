"""/v1/auth (seed 004): login by email or username, refresh with rotation, logout, profile.

The same users and logins as seed 003's /api/auth/login (hub.services.auth): one identity.
"""

from __future__ import annotations

from aiohttp import web

from common.timeutil import utcnow
from hub.domain import User
from hub.services.auth import SignedIn
from hub.typedefs import CALLER, SERVICES
from hub.web import responses as out
from hub.web.envelope import ok
from hub.web.handlers import login_attempt, read_body
from hub.web.openapi import operation
from hub.web.schemas import RefreshBody, RegisterBody, V1LoginBody
from hub.web.v1.access import requires

routes = web.RouteTableDef()


def user_body(user: User) -> dict[str, object]:
    """A user as seed 004 shows one (``user_role`` super_admin is our platform_admin)."""
    return {
        "id": user.id,
        "username": user.username,
        "email": user.email,
        "fullname": user.fullname,
        "phone": user.phone,
        "user_role": "super_admin" if user.role == "platform_admin" else user.role,
        "tenant_id": user.tenant_id,
    }


def _tokens(request: web.Request, signed_in: SignedIn) -> dict[str, object]:
    auth = request.app[SERVICES].auth
    assert signed_in.refresh_expires_at is not None
    refresh_seconds = (signed_in.refresh_expires_at - utcnow()).total_seconds()
    return {
        "access_token": signed_in.access_token,
        "token_type": "Bearer",
        "expires_in": int(auth.tokens.lifetime.total_seconds()),
        "refresh_token": signed_in.refresh_token,
        "refresh_expires_in": round(refresh_seconds),
    }


@routes.post("/v1/auth/login")
@operation(
    "Log in (email or username)",
    body=V1LoginBody,
    response=out.V1SignedIn,
    errors=(400, 401, 403),
    envelope=True,
)
async def login(request: web.Request) -> web.Response:
    body = await read_body(request, V1LoginBody)
    login_name = body.email or body.username or ""
    async with login_attempt(request, login_name):  # lockout after repeated failures
        signed_in = await request.app[SERVICES].auth.login(login_name, body.password, refresh=True)
    return ok({**_tokens(request, signed_in), "user": user_body(signed_in.user)})


@routes.post("/v1/auth/refresh")
@operation(
    "A new access token for a refresh token (rotated)",
    body=RefreshBody,
    response=out.V1Refreshed,
    errors=(400, 401, 403),
    envelope=True,
)
async def refresh(request: web.Request) -> web.Response:
    body = await read_body(request, RefreshBody)
    signed_in = await request.app[SERVICES].auth.refresh(body.refresh_token)
    return ok({**_tokens(request, signed_in), "rotation": True})


@routes.post("/v1/auth/logout")
@operation(
    "Log out (the refresh token's login)",
    body=RefreshBody,
    response=out.MessageData,
    errors=(400, 401),
    envelope=True,
)
async def logout(request: web.Request) -> web.Response:
    body = await read_body(request, RefreshBody)
    await request.app[SERVICES].auth.logout(body.refresh_token)
    return ok({"message": "logged out successfully"})


@routes.get("/v1/auth/profile")
@requires("profile.read")
@operation("The caller's profile", response=out.V1Profile, errors=(403,), envelope=True)
async def profile(request: web.Request) -> web.Response:
    caller = request[CALLER]
    if caller.user is None:  # a tenant API key: no person behind it
        tenant_id = caller.tenant.id if caller.tenant else None
        return ok({"api_key": caller.actor, "user_role": caller.role, "tenant_id": tenant_id})
    return ok(user_body(caller.user))


@routes.post("/v1/auth/register")
@operation(
    "Register a user (when the hub allows it)",
    body=RegisterBody,
    response=out.V1User,
    status=201,
    errors=(400, 403, 404, 409),
    envelope=True,
)
async def register(request: web.Request) -> web.Response:
    body = await read_body(request, RegisterBody)
    user = await request.app[SERVICES].auth.register(
        body.username, body.email, body.password, body.fullname, body.phone
    )
    return ok(user_body(user), status=201)
