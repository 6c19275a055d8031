"""Request plumbing shared by every face: CORS, errors, metrics, authentication, rate limits.

Order (outermost first): ``cors_middleware`` answers browser preflights and adds the
Access-Control-* headers to every /api/ answer, errors included; ``error_middleware`` turns
hub.errors and HTTP errors under /api/ into ``{"success": false, "error": ...}`` (never a
traceback; the billing face answers FastAPI's ``{"detail": ...}`` as seed 003's clients
expect); ``metrics_middleware`` times the request by route; ``auth_middleware`` authenticates
/api/portal/ and /api/hotspot/ (tenant API key, rate limited per key), /api/admin/ (admin bearer
token) and the billing face (a dashboard user's JWT or a tenant API key, see BILLING_PREFIXES).
"""

from __future__ import annotations

import logging
import math
import re
import time
import uuid
from collections.abc import MutableMapping

import asyncpg
from aiohttp import web
from aiohttp.typedefs import Handler

from hub.database import CONNECTION_ERRORS, UNAVAILABLE, from_database
from hub.errors import DatabaseError, HubError, RateLimited, Unauthorized
from hub.storage import tenant_limit
from hub.typedefs import (
    ADMIN,
    CALLER,
    CLIENT_LIMITER,
    CONFIG,
    DB_HEALTH,
    METRICS,
    RATE_LIMITER,
    REQUEST_ID,
    SERVICES,
    TENANT_KEY,
)
from hub.web.envelope import envelope
from hub.web.handlers import client_address

log = logging.getLogger(__name__)

PORTAL_PREFIX = "/api/portal/"
# Faces authenticated by a tenant API key, like the portal (seed 002's stats live here).
TENANT_KEY_PREFIXES = (PORTAL_PREFIX, "/api/hotspot/")
ADMIN_PREFIX = "/api/admin/"
# Seed 003's dashboard API and what billing adds beside it: a dashboard user's JWT or a tenant
# API key. Callbacks from payment providers carry their tenant's secret in the path instead.
BILLING_PREFIXES = (
    "/api/auth/",
    "/api/dashboard/",
    "/api/customers",
    "/api/plans",
    "/api/mpesa/",
    "/api/routers",
    "/api/vouchers",
    "/api/payments/",
)
PAYMENT_CALLBACK_PREFIX = "/api/payments/callback/"
# Seed 004's management API: the same callers as the billing face, in its own envelope.
V1_PREFIX = "/v1/"
# The operator dashboard's pages: a session cookie, checked by hub.web.dashboard itself.
DASHBOARD_PREFIX = "/dashboard/"
PUBLIC_PATHS = frozenset(
    {
        "/api/admin/login",
        "/api/auth/login",
        "/v1/auth/login",
        "/v1/auth/refresh",
        "/v1/auth/logout",  # the refresh token in the body is the credential
        "/v1/auth/register",
    }
)
# Seed 004's WebSockets: a browser cannot send Authorization on them, so a one-use ticket from
# POST /v1/internal/stream-ticket may stand in for it (?ticket= or the Sec-WebSocket-Protocol
# pair ``ispfleet.ticket, <ticket>``, see stream_ticket).
STREAM_SUFFIX = "/stream"
TICKET_PROTOCOL = "ispfleet.ticket"
# Called by routers, not users: each handler checks its own credential (a router's callback
# secret) and charges a refusal to the pre-authentication budget; the ping is public.
DEVICE_PATHS = frozenset({"/v1/callbacks/pppoe/up", "/v1/callbacks/pppoe/down", "/v1/client/ping"})
API_PREFIX = "/api/"
API_PREFIXES = (API_PREFIX, V1_PREFIX)  # CORS and JSON errors
CORS_ALLOW_HEADERS = "Authorization, Content-Type, X-Request-Id"
CORS_EXPOSE_HEADERS = "ETag, Retry-After, X-Request-Id"


def _allowed_origin(request: web.Request) -> str | None:
    """The request's Origin when the config lets its pages call the API, else None."""
    origin = request.headers.get("Origin")
    if not origin or not request.path.startswith(API_PREFIXES):
        return None
    allowed = request.app[CONFIG].cors_origins
    return origin if "*" in allowed or origin in allowed else None


def _preflight(request: web.Request, origin: str | None) -> web.StreamResponse | None:
    """The answer to a browser's preflight, or None when it is not one (or has no route)."""
    if request.method != "OPTIONS" or "Access-Control-Request-Method" not in request.headers:
        return None
    error = request.match_info.http_exception
    if error is not None and not isinstance(error, web.HTTPMethodNotAllowed):
        return None  # no such path: the 404 as usual
    route = request.match_info.route
    methods = set(error.allowed_methods) if error is not None else {route.method}
    response = web.Response(status=204)
    if origin is not None:
        response.headers["Access-Control-Allow-Methods"] = ", ".join(sorted(methods | {"OPTIONS"}))
        response.headers["Access-Control-Allow-Headers"] = CORS_ALLOW_HEADERS
        response.headers["Access-Control-Max-Age"] = str(request.app[CONFIG].cors_max_age)
    return response


def _cors_headers(headers: MutableMapping[str, str], origin: str | None) -> None:
    vary = headers.get("Vary")
    if vary is None:
        headers["Vary"] = "Origin"
    elif "origin" not in vary.lower():
        headers["Vary"] = f"{vary}, Origin"
    if origin is not None:
        headers["Access-Control-Allow-Origin"] = origin
        headers["Access-Control-Expose-Headers"] = CORS_EXPOSE_HEADERS


@web.middleware
async def cors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    if not request.path.startswith(API_PREFIXES):
        return await handler(request)
    origin = _allowed_origin(request)
    response = _preflight(request, origin)
    if response is None:
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            _cors_headers(exc.headers, origin)
            raise
    if not response.prepared:
        _cors_headers(response.headers, origin)
    return response


# A client's X-Request-Id is echoed and logged: only a short token of safe characters.
_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


def error_body(request: web.Request, message: str, **extra: object) -> dict[str, object]:
    """The face's error shape: seed 003's clients read ``detail``, seed 004's the envelope,
    the others ``{success, error}``."""
    if request.path.startswith(BILLING_PREFIXES):
        return {"detail": message, **extra}
    if request.path.startswith(V1_PREFIX):
        return envelope(None, error=message)
    return {"success": False, "error": message, **extra}


def _hub_error_response(request: web.Request, exc: HubError) -> web.Response:
    extra = {"details": exc.extra["details"]} if "details" in exc.extra else {}
    response = web.json_response(error_body(request, exc.message, **extra), status=exc.status)
    if isinstance(exc, RateLimited):
        response.headers["Retry-After"] = str(max(1, math.ceil(exc.retry_after)))
    return response


def _internal_error(request: web.Request) -> web.Response:
    """A bug: logged with its traceback (called inside an except clause), a bare 500 out."""
    log.exception(
        "unhandled error request_id=%s method=%s path=%s",
        request[REQUEST_ID],
        request.method,
        request.path,
    )
    return web.json_response(error_body(request, "Internal server error"), status=500)


def _bad_value(request: web.Request, exc: asyncpg.PostgresError) -> web.Response:
    """A value Postgres refuses (text it cannot hold, a number out of range, a key over the
    index limit) is the client's input that the edge let through: 400, and a warning."""
    log.warning(
        "input refused by the database request_id=%s path=%s error=%r",
        request[REQUEST_ID],
        request.path,
        exc,
    )
    return web.json_response(error_body(request, "invalid value in request"), status=400)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    given = request.headers.get("X-Request-Id", "")
    request[REQUEST_ID] = given if _REQUEST_ID.fullmatch(given) else uuid.uuid4().hex
    try:
        response = await handler(request)
    except HubError as exc:
        response = _hub_error_response(request, exc)
    except CONNECTION_ERRORS as exc:
        if isinstance(exc, ConnectionResetError | BrokenPipeError):
            raise  # the client went away mid-request: aiohttp's business
        if from_database(exc):
            # Postgres is down or unreachable: 503, logged once per outage (not per request).
            if DB_HEALTH in request.app:
                request.app[DB_HEALTH].lost(exc)
            response = _hub_error_response(request, DatabaseError(UNAVAILABLE))
        else:
            response = _internal_error(request)
    except asyncpg.PostgresError as exc:
        if (limit := tenant_limit(exc)) is not None:
            response = _hub_error_response(request, limit)
        elif isinstance(exc, asyncpg.DataError | asyncpg.ProgramLimitExceededError):
            response = _bad_value(request, exc)
        else:
            response = _internal_error(request)
    except web.HTTPException as exc:
        if not request.path.startswith(API_PREFIXES) or exc.status < 400:
            raise
        reason = "Not found" if exc.status == 404 else exc.reason
        response = web.json_response(error_body(request, reason), status=exc.status)
        if exc.status == 405 and "Allow" in exc.headers:
            response.headers["Allow"] = exc.headers["Allow"]
    except Exception:
        response = _internal_error(request)
    response.headers["X-Request-Id"] = request[REQUEST_ID]
    if request.content.exception() is not None:
        response.force_close()  # the body could not be read: the connection is unusable
    return response


@web.middleware
async def metrics_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except HubError as exc:
        status = exc.status
        raise
    except web.HTTPException as exc:
        status = exc.status
        raise
    finally:
        route = request.match_info.route.resource
        name = route.canonical if route is not None else "unmatched"
        request.app[METRICS].request_seconds.labels(name, request.method, str(status)).observe(
            time.perf_counter() - started
        )


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Credentials per face, behind a per-address budget for unauthenticated and failed tries.

    The budget is checked before any database or password work: a login attempt always costs a
    token, a request with credentials only when they are refused.
    """
    if request.match_info.http_exception is not None:
        return await handler(request)  # no such route: 404/405 before any credentials
    path = request.path
    portal = path.startswith(TENANT_KEY_PREFIXES)
    admin = path.startswith(ADMIN_PREFIX)
    billing = (
        path.startswith(BILLING_PREFIXES) and not path.startswith(PAYMENT_CALLBACK_PREFIX)
    ) or path.startswith(V1_PREFIX)
    if not (portal or admin or billing) or path.rstrip("/") in DEVICE_PATHS:
        return await handler(request)
    limiter = request.app[CLIENT_LIMITER]
    client = client_address(request)
    public = path.rstrip("/") in PUBLIC_PATHS
    wait = limiter.take(client) if public else limiter.check(client)
    if wait:
        log.info("throttled before authentication client=%s path=%s", client, path)
        raise RateLimited(wait, "Too many unauthenticated or failed requests; retry later")
    if public:
        return await handler(request)
    authorization = request.headers.get("Authorization")
    auth = request.app[SERVICES].auth
    try:
        if portal:
            principal = await auth.authenticate_api_key(authorization)
        elif billing and (ticket := stream_ticket(request)) is not None:
            caller = await auth.redeem_stream_ticket(ticket)
        elif billing:
            caller = await auth.authenticate_caller(authorization)
        else:
            request[ADMIN] = await auth.authenticate_admin(authorization)
    except Unauthorized:
        limiter.take(client)
        raise
    if portal:
        await _take_rate(request, f"api_key:{principal.key.id}", principal.actor)
        request[TENANT_KEY] = principal
    elif billing:
        await _take_rate(request, caller.actor, caller.actor)
        request[CALLER] = caller
    return await handler(request)


def stream_ticket(request: web.Request) -> str | None:
    """The ticket of a /v1 stream request: ``?ticket=`` or, as a browser can send it, the
    WebSocket subprotocols ``ispfleet.ticket, <ticket>``. None when neither is there."""
    if not (request.path.startswith(V1_PREFIX) and request.path.endswith(STREAM_SUFFIX)):
        return None
    if ticket := request.query.get("ticket"):
        return ticket
    offered = [p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",")]
    if TICKET_PROTOCOL in offered:
        rest = [p for p in offered if p and p != TICKET_PROTOCOL]
        return rest[0] if rest else ""
    return None


async def _take_rate(request: web.Request, key: str, who: str) -> None:
    """One request of the caller's budget, shared by every hub process; 429 when spent."""
    retry_after = await request.app[RATE_LIMITER].take(key)
    if retry_after:
        log.info("rate limited who=%s", who)
        raise RateLimited(retry_after, "Rate limit exceeded; retry later")
