"""The live screens (seed 002): every location as a card, and each router's active users,
pushed to the open page over server-sent events as agents report; and the disconnect buttons.

A stream re-reads what its page shows whenever the tenant's agents report (hub.live: frames,
arrivals, departures from any hub process) and at least every IDLE_REFRESH seconds (which also
catches an agent whose lease ran out, announced by nobody), and sends the region's new HTML
only when it changed. A comment line otherwise keeps the connection honest: a browser that went
away makes the write fail, and the stream ends and unsubscribes.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from hub.database import CONNECTION_ERRORS
from hub.domain import Router, Tenant
from hub.errors import AgentUnavailable, HubError
from hub.services.portal import ROUTER_NOT_FOUND
from hub.typedefs import CALLER, LIVE_FEED, SERVICES
from hub.web import responses as out
from hub.web.dashboard import session
from hub.web.dashboard.session import api, page, tenant_of
from hub.web.dashboard.views import fleet, user_rows
from hub.web.handlers import fast_json, path_id, read_body
from hub.web.i18n import translator
from hub.web.openapi import operation
from hub.web.pages import render, render_fragment
from hub.web.schemas import DisconnectBody

log = logging.getLogger(__name__)
routes = web.RouteTableDef()

IDLE_REFRESH = 2.0  # seconds between re-reads with no agent report
RECONNECT_MS = 2000  # EventSource's retry after the stream ended
_PAGE_ERRORS = (303, 403)
_STREAM_GONE = (ConnectionResetError, BrokenPipeError)


def _show(request: web.Request, template: str, **context: object) -> web.Response:
    caller = request[CALLER]
    return render(
        request,
        template,
        {"caller": caller, "tenant": caller.tenant, "path": request.path, **context},
        language=session.language_of(request),
    )


# --- what the live regions show ---------------------------------------------------------------


async def sites_context(request: web.Request, tenant: Tenant) -> dict[str, object]:
    activity = await request.app[SERVICES].portal.hotspot_stats(tenant.id)
    return {"fleet": fleet(activity, tenant)}


async def users_context(request: web.Request, router: Router) -> dict[str, object]:
    """The router's sessions, or that it cannot be reached now (not an error of the page)."""
    portal = request.app[SERVICES].portal
    try:
        active = await portal.active_users(router.id, router.tenant.id)
    except AgentUnavailable as exc:
        return {"router": router, "rows": [], "unreachable": exc.message}
    return {"router": router, "rows": user_rows(active), "unreachable": ""}


def _fragment_context(request: web.Request, context: dict[str, object]) -> dict[str, object]:
    caller = request[CALLER]
    return {"caller": caller, "tenant": caller.tenant, **context}


# --- pages ------------------------------------------------------------------------------------


@routes.get("/dashboard/sites")
@page()
@operation("Every location, live", content_type="text/html", errors=_PAGE_ERRORS)
async def sites(request: web.Request) -> web.Response:
    return _show(
        request, "dashboard/sites.html", **await sites_context(request, tenant_of(request))
    )


@routes.get("/dashboard/users")
@page()
@operation("Active users: the first router's", content_type="text/html", status=303,
           errors=(403,))  # fmt: skip
async def users_home(request: web.Request) -> web.Response:
    routers = await request.app[SERVICES].portal.routers(tenant_of(request).id)
    if not routers:
        return _show(request, "dashboard/users.html", router=None, routers=[], rows=[],
                     unreachable="")  # fmt: skip
    location = f"/dashboard/routers/{routers[0].id}/users"
    return web.Response(status=303, headers={"Location": location})


async def _router(request: web.Request) -> Router:
    router_id = path_id(request, "router_id", ROUTER_NOT_FOUND)
    return await request.app[SERVICES].portal.router(router_id, tenant_of(request).id)


@routes.get(r"/dashboard/routers/{router_id:\d+}/users")
@page()
@operation("A router's active users, live", content_type="text/html",
           errors=(*_PAGE_ERRORS, 404))  # fmt: skip
async def router_users(request: web.Request) -> web.Response:
    router = await _router(request)
    routers = await request.app[SERVICES].portal.routers(router.tenant.id)
    return _show(
        request, "dashboard/users.html", routers=routers, **await users_context(request, router)
    )


# --- the streams ------------------------------------------------------------------------------


def _event(html: str) -> bytes:
    """One server-sent event whose data is the region's HTML (one data line per line)."""
    lines = "".join(f"data: {line}\n" for line in html.splitlines() or [""])
    return f"{lines}\n".encode()


async def _stream(
    request: web.Request, tenant: Tenant, region: Callable[[], Awaitable[str]]
) -> web.StreamResponse:
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-store",
            "X-Accel-Buffering": "no",  # a proxy in front must not hold events back
        }
    )
    with request.app[LIVE_FEED].subscribe(tenant.id) as subscription:
        await response.prepare(request)
        sent = None
        try:
            await response.write(f"retry: {RECONNECT_MS}\n\n".encode())
            while not subscription.closed:
                html = await region()
                await response.write(_event(html) if html != sent else b": idle\n\n")
                sent = html
                await subscription.changed(IDLE_REFRESH)
        except _STREAM_GONE:
            log.debug("live stream closed by the browser path=%s", request.path)
        except (HubError, *CONNECTION_ERRORS) as exc:
            # Headers are sent: no error answer is possible. End the stream; the browser's
            # EventSource comes back after RECONNECT_MS and gets a proper answer then.
            log.warning("live stream ended path=%s error=%r", request.path, exc)
    return response


@routes.get("/dashboard/live/sites")
@api()
@operation("Server-sent events: the site cards' HTML whenever it changes",
           content_type="text/event-stream", errors=(403,))  # fmt: skip
async def sites_stream(request: web.Request) -> web.StreamResponse:
    tenant, lang = tenant_of(request), session.language_of(request)

    async def region() -> str:
        context = _fragment_context(request, await sites_context(request, tenant))
        return render_fragment(request, "dashboard/_sites.html", context, language=lang)

    return await _stream(request, tenant, region)


@routes.get(r"/dashboard/live/routers/{router_id:\d+}/users")
@api()
@operation("Server-sent events: a router's active users' HTML whenever it changes",
           content_type="text/event-stream", errors=(403, 404))  # fmt: skip
async def users_stream(request: web.Request) -> web.StreamResponse:
    router, lang = await _router(request), session.language_of(request)

    async def region() -> str:
        context = _fragment_context(request, await users_context(request, router))
        return render_fragment(request, "dashboard/_users.html", context, language=lang)

    return await _stream(request, router.tenant, region)


# --- the buttons ------------------------------------------------------------------------------


@routes.post(r"/dashboard/api/routers/{router_id:\d+}/disconnect")
@api("operator", changes=True)
@operation("Disconnect one user from a router", body=DisconnectBody,
           response=out.DashboardActionResult, errors=(400, 403, 404, 503))  # fmt: skip
async def disconnect(request: web.Request) -> web.Response:
    """As seed 001's disconnect (through the site's agent), for operators and up."""
    router = await _router(request)
    body = await read_body(request, DisconnectBody)
    t = translator(session.language_of(request))
    outcome = await request.app[SERVICES].portal.disconnect_user(
        router.id,
        router.tenant.id,
        username=body.username,
        mac_address=body.mac_address,
        actor=request[CALLER].actor,
    )
    message = t("dashboard.disconnected", user=outcome.username, router=router.name)
    return fast_json({"ok": True, "message": message})


@routes.post(r"/dashboard/api/routers/{router_id:\d+}/disconnect-expired")
@api("operator", changes=True)
@operation("Disconnect every user of a router whose paid access ended",
           response=out.DashboardActionResult, errors=(403, 404, 503))  # fmt: skip
async def disconnect_expired(request: web.Request) -> web.Response:
    router = await _router(request)
    t = translator(session.language_of(request))
    portal = request.app[SERVICES].portal
    active = await portal.active_users(router.id, router.tenant.id)
    expired = [row for row in user_rows(active) if row.state == "expired"]
    done = failed = 0
    for row in expired:
        try:
            await portal.disconnect_user(
                router.id,
                router.tenant.id,
                username=row.username,
                mac_address=row.mac_address or None,
                actor=request[CALLER].actor,
            )
            done += 1
        except HubError as exc:
            log.info("disconnect of an expired user failed router=%s: %s", router.id, exc.message)
            failed += 1
    message = t("dashboard.disconnected_expired", count=done, failed=failed)
    return fast_json(
        {"ok": failed == 0, "message": message, "disconnected": done, "failed": failed}
    )
