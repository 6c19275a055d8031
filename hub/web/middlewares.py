"""Request plumbing shared by every face: errors, metrics, authentication, rate limits.

Order (outermost first): ``error_middleware`` turns hub.errors and HTTP errors under /api/ into
``{"success": false, "error": ...}`` (never a traceback), ``metrics_middleware`` times the
request by route, ``auth_middleware`` authenticates /api/portal/ (tenant API key, rate
limited per key) and /api/admin/ (admin bearer token).
"""

from __future__ import annotations

import logging
import math
import time
import uuid

import asyncpg
from aiohttp import web
from aiohttp.typedefs import Handler

from hub.errors import HubError, RateLimited
from hub.typedefs import ADMIN, METRICS, RATE_LIMITER, REQUEST_ID, SERVICES, TENANT_KEY

log = logging.getLogger(__name__)

PORTAL_PREFIX = "/api/portal/"
ADMIN_PREFIX = "/api/admin/"
PUBLIC_PATHS = frozenset({"/api/admin/login"})


def error_body(message: str, **extra: object) -> dict[str, object]:
    return {"success": False, "error": message, **extra}


def _hub_error_response(exc: HubError) -> web.Response:
    extra = {"details": exc.extra["details"]} if "details" in exc.extra else {}
    response = web.json_response(error_body(exc.message, **extra), status=exc.status)
    if isinstance(exc, RateLimited):
        response.headers["Retry-After"] = str(max(1, math.ceil(exc.retry_after)))
    return response


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    request[REQUEST_ID] = request.headers.get("X-Request-Id") or uuid.uuid4().hex
    try:
        response = await handler(request)
    except HubError as exc:
        response = _hub_error_response(exc)
    except (asyncpg.DataError, asyncpg.ProgramLimitExceededError) as exc:
        # A value Postgres refuses (text it cannot hold, a number out of range, a key over the
        # index limit) is the client's input that the edge let through: 400, and a warning.
        log.warning(
            "input refused by the database request_id=%s path=%s error=%r",
            request[REQUEST_ID],
            request.path,
            exc,
        )
        response = web.json_response(error_body("invalid value in request"), status=400)
    except web.HTTPException as exc:
        if not request.path.startswith("/api/") or exc.status < 400:
            raise
        reason = "Not found" if exc.status == 404 else exc.reason
        response = web.json_response(error_body(reason), status=exc.status)
        if exc.status == 405 and "Allow" in exc.headers:
            response.headers["Allow"] = exc.headers["Allow"]
    except Exception:
        log.exception(
            "unhandled error request_id=%s method=%s path=%s",
            request[REQUEST_ID],
            request.method,
            request.path,
        )
        response = web.json_response(error_body("Internal server error"), status=500)
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
    if request.match_info.http_exception is not None:
        return await handler(request)  # no such route: 404/405 before any credentials
    path = request.path
    authorization = request.headers.get("Authorization")
    if path.startswith(PORTAL_PREFIX):
        principal = await request.app[SERVICES].auth.authenticate_api_key(authorization)
        retry_after = request.app[RATE_LIMITER].take(principal.key.id)
        if retry_after:
            log.info("rate limited key=%s", principal.key.prefix)
            raise RateLimited(retry_after, "Rate limit exceeded; retry later")
        request[TENANT_KEY] = principal
    elif path.startswith(ADMIN_PREFIX) and path.rstrip("/") not in PUBLIC_PATHS:
        request[ADMIN] = await request.app[SERVICES].auth.authenticate_admin(authorization)
    return await handler(request)
