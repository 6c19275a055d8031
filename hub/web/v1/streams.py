"""Seed 004's live PPP lists over WebSocket, and the tickets that open them.

``GET /v1/internal/ppp/active/stream`` and ``/inactive/stream``: the first message is the full
list ``{type: "initial", data: [...]}``; then one ``{type: "update", data: {action: "up"|"down",
name, caller_id, interface, remote_address, service}}`` per PPP session that came or went
(on the inactive stream "up" means the secret left the list, "down" that it joined it).

What wakes a stream is the live feed (hub/live.py): every frame the router's agent stores (its
listen on /ppp/active sees a login at once) and every router callback, from any hub process.
Woken, the stream reads the router's PPP sessions again (the hub's copy, no router round trip)
and sends the difference. The inactive stream also needs the secrets: read from the router when
the stream opens and again every SECRETS_REFRESH seconds.

Authentication: a browser cannot put Authorization on a WebSocket, and a long-lived token in a
URL ends up in logs. ``POST /v1/internal/stream-ticket`` (authenticated as usual) returns a
ticket valid for 30 s and one use; the socket sends it as the subprotocol pair
``new WebSocket(url, ["ispfleet.ticket", ticket])`` (preferred: kept out of URLs and access
logs) or as ``?ticket=``. Non-browser clients may send Authorization instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import WSMsgType, web

from hub.domain import Router
from hub.errors import HubError, InvalidInput
from hub.services.router_resources import inactive, ppp_active_body
from hub.typedefs import CALLER, LIVE_FEED, SERVICES
from hub.web import responses as out
from hub.web.envelope import ok
from hub.web.middlewares import TICKET_PROTOCOL
from hub.web.openapi import operation
from hub.web.schemas import StreamQuery
from hub.web.v1.access import requires, v1_tenant
from hub.web.v1.router_crud import acting_router

log = logging.getLogger(__name__)
routes = web.RouteTableDef()

IDLE_REFRESH = 15.0  # seconds: re-read even without a wake-up (a lost notice costs no more)
SECRETS_REFRESH = 30.0  # seconds between the inactive stream's prints of /ppp/secret
HEARTBEAT = 20.0  # WebSocket ping: a browser that vanished without a close is noticed
NOT_A_WEBSOCKET = "This is a WebSocket endpoint: connect with Upgrade: websocket"

Snapshot = dict[str, dict[str, Any]]  # key -> the entry as the list shows it


@routes.post("/v1/internal/stream-ticket")
@requires("router.read")
@operation(
    "A one-use ticket (30 s) that opens a /v1 WebSocket without a token in the URL",
    response=out.V1StreamTicket,
    status=201,
    errors=(400, 403, 404),  # 400/404: a super admin's X-Tenant-ID missing or unknown
    envelope=True,
)
async def stream_ticket(request: web.Request) -> web.Response:
    tenant = await v1_tenant(request)
    ticket, lifetime = await request.app[SERVICES].auth.issue_stream_ticket(
        request.headers.get("Authorization"), request[CALLER], tenant.id
    )
    return ok({"ticket": ticket, "expires_in": lifetime}, status=201)


def _event(action: str, session: dict[str, Any]) -> dict[str, Any]:
    """Seed 004's update message for a session (an active-list entry)."""
    return {
        "type": "update",
        "data": {
            "action": action,
            "name": session["name"],
            "caller_id": session.get("caller_id"),
            "interface": session.get("interface"),
            "remote_address": session.get("address"),
            "service": session.get("service"),
        },
    }


def _session_updates(before: Snapshot, after: Snapshot) -> list[dict[str, Any]]:
    """Active sessions that went (down) and came (up), by /ppp/active id."""
    gone = [_event("down", before[key]) for key in before if key not in after]
    return gone + [_event("up", after[key]) for key in after if key not in before]


async def _open(request: web.Request) -> web.WebSocketResponse:
    """The handshake, answered only once the request has passed every check."""
    ws = web.WebSocketResponse(protocols=(TICKET_PROTOCOL,), heartbeat=HEARTBEAT)
    if not ws.can_prepare(request).ok:
        raise InvalidInput(NOT_A_WEBSOCKET)
    await ws.prepare(request)
    return ws


async def _until_closed(ws: web.WebSocketResponse) -> None:
    """Read (and ignore) what the browser sends, until it closes or goes away."""
    async for message in ws:
        if message.type == WSMsgType.ERROR:
            break


async def _serve(
    request: web.Request,
    ws: web.WebSocketResponse,
    router: Router,
    first: list[dict[str, Any]],
    sessions: Snapshot,
    on_change: Callable[[Snapshot, bool], Awaitable[list[dict[str, Any]]]],
) -> None:
    """Send the list, then the updates ``on_change(new sessions, idle)`` produces, until the
    browser leaves; the live-feed subscription is released however the loop ends."""
    service = request.app[SERVICES].router_resources
    reader = asyncio.ensure_future(_until_closed(ws))
    try:
        with request.app[LIVE_FEED].subscribe(router.tenant.id) as subscription:
            await ws.send_json({"type": "initial", "data": first})
            while not reader.done():
                waker = asyncio.ensure_future(subscription.changed(IDLE_REFRESH))
                await asyncio.wait({reader, waker}, return_when=asyncio.FIRST_COMPLETED)
                if reader.done():
                    waker.cancel()
                    break
                idle = not waker.result()
                now = {s["id"]: s for s in await service.ppp_active(router)}
                if idle and now == sessions:
                    continue
                for message in await on_change(now, idle):
                    await ws.send_json(message)
                sessions = now
    except ConnectionResetError:
        log.debug("stream viewer went away mid-send router=%s", router.id)
    finally:
        reader.cancel()
        with contextlib.suppress(Exception):
            await ws.close()


@routes.get("/v1/internal/ppp/active/stream")
@requires("router.read")
@operation(
    "WebSocket: the router's active PPP sessions, then each one that comes up or goes down",
    query=StreamQuery,
    response=list[out.V1PppActive],
    errors=(403, 404),
    envelope=True,
)
async def ppp_active_stream(request: web.Request) -> web.StreamResponse:
    router = await acting_router(request, StreamQuery)
    first = await request.app[SERVICES].router_resources.ppp_active(router)
    sessions = {s["id"]: s for s in first}
    ws = await _open(request)
    state = {"sessions": sessions}

    async def on_change(now: Snapshot, idle: bool) -> list[dict[str, Any]]:
        updates = _session_updates(state["sessions"], now)
        state["sessions"] = now
        return updates

    await _serve(request, ws, router, first, sessions, on_change)
    return ws


@routes.get("/v1/internal/ppp/inactive/stream")
@requires("router.read")
@operation(
    "WebSocket: the router's PPP secrets with no session, then each that leaves (up) or joins"
    " (down) the list",
    query=StreamQuery,
    response=list[out.V1PppSecret],
    errors=(403, 404, 503),
    envelope=True,
)
async def ppp_inactive_stream(request: web.Request) -> web.StreamResponse:
    router = await acting_router(request, StreamQuery)
    service, actor = request.app[SERVICES].router_resources, request[CALLER].actor
    secrets = await service.ppp_secrets(router, actor)  # an offline site: 503 before the upgrade
    sessions = await service.ppp_sessions(router)
    first = inactive(secrets, sessions)
    names = {s["name"] for s in secrets}
    by_name = {s.username: ppp_active_body(s) for s in sessions if s.username in names}
    ws = await _open(request)
    loop = asyncio.get_running_loop()
    state: dict[str, Any] = {"secrets": secrets, "read_at": loop.time(), "online": by_name}

    async def on_change(now: Snapshot, idle: bool) -> list[dict[str, Any]]:
        if loop.time() - state["read_at"] >= SECRETS_REFRESH:
            state["read_at"] = loop.time()
            try:
                state["secrets"] = await service.ppp_secrets(router, actor)
            except HubError as exc:  # the site went away: keep the last secrets
                log.info("inactive stream kept its secrets router=%s error=%s", router.id, exc)
        names = {s["name"] for s in state["secrets"]}
        online = {s["name"]: s for s in now.values() if s["name"] in names}
        before = state["online"]
        state["online"] = online
        came = [_event("up", online[n]) for n in online if n not in before]
        went = [_event("down", before[n]) for n in before if n not in online]
        return went + came

    await _serve(request, ws, router, first, {s["id"]: s for s in by_name.values()}, on_change)
    return ws
