"""Dashboard login (seed 003): a user's username and password for a short-lived access token."""

from __future__ import annotations

from aiohttp import web

from hub.typedefs import SERVICES
from hub.web import responses as out
from hub.web.handlers import fast_json, login_attempt, read_body
from hub.web.openapi import operation
from hub.web.schemas import UserLoginBody

routes = web.RouteTableDef()


@routes.post("/api/auth/login")
@operation(
    "Dashboard user login (seed 003)",
    body=UserLoginBody,
    response=out.AccessToken,
    errors=(400, 401, 403),
)
async def login(request: web.Request) -> web.Response:
    body = await read_body(request, UserLoginBody)
    auth = request.app[SERVICES].auth
    async with login_attempt(request, body.username):  # lockout after repeated failures
        signed_in = await auth.login(body.username, body.password)
    return fast_json(
        {
            "access_token": signed_in.access_token,
            "token_type": "bearer",
            "expires_in": int(auth.tokens.lifetime.total_seconds()),
        }
    )
