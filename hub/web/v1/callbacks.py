"""Seed 004 section 11: PPPoE callbacks from router scripts, and ``GET /v1/client/ping``.

Not authenticated by the middleware (they are in DEVICE_PATHS): a callback carries its router's
secret (``X-Callback-Secret``; see hub/services/callbacks.py), and a refused one costs the
client address a token of the pre-authentication budget, so secrets cannot be guessed at line
rate. The ping is public.
"""

from __future__ import annotations

from aiohttp import web

from common.timeutil import to_iso, utcnow
from hub.errors import InvalidInput, RateLimited, Unauthorized
from hub.services.callbacks import SECRET_HEADER, PppoeEvent
from hub.typedefs import CLIENT_LIMITER, SERVICES
from hub.web import responses as out
from hub.web.envelope import ok
from hub.web.handlers import client_address, read_body
from hub.web.openapi import operation
from hub.web.schemas import PppoeEventBody

routes = web.RouteTableDef()


async def _pppoe(request: web.Request, action: str) -> web.Response:
    limiter, client = request.app[CLIENT_LIMITER], client_address(request)
    if wait := limiter.check(client):
        raise RateLimited(wait, "Too many unauthenticated or failed requests; retry later")
    callbacks = request.app[SERVICES].callbacks
    try:
        router = await callbacks.authenticate(request.headers.get(SECRET_HEADER))
    except Unauthorized:
        limiter.take(client)
        raise
    body = await read_body(request, PppoeEventBody)
    assert body.name is not None
    if action == "up" and not body.id:
        raise InvalidInput("id is required: the session's /ppp/active id")
    event = PppoeEvent(
        action=action,
        name=body.name,
        session_id=body.id.upper() if body.id else None,
        caller_id=body.caller_id,
        interface=body.interface,
        local_address=body.local_address,
        remote_address=body.remote_address,
        service=body.service or "pppoe",
    )
    changed = await callbacks.pppoe(router, event)
    return ok({"router": router.name, "action": action, "name": body.name, "changed": changed})


_DECLARED = {
    "body": PppoeEventBody,
    "response": out.V1CallbackResult,
    "errors": (401, 409),
    "envelope": True,
    "security": ("callbackSecret",),
}


@routes.post("/v1/callbacks/pppoe/up")
@operation("A router's PPPoE on-up script: a client came up", **_DECLARED)
async def pppoe_up(request: web.Request) -> web.Response:
    return await _pppoe(request, "up")


@routes.post("/v1/callbacks/pppoe/down")
@operation("A router's PPPoE on-down script: a client went down", **_DECLARED)
async def pppoe_down(request: web.Request) -> web.Response:
    return await _pppoe(request, "down")


@routes.get("/v1/client/ping")
@operation("Liveness for routers and clients (public)", response=out.V1Ping, envelope=True,
           security=())  # fmt: skip
async def client_ping(request: web.Request) -> web.Response:
    return ok({"status": "ok", "time": to_iso(utcnow())})
