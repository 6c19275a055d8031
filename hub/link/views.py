"""HTTP faces of the agent link: enrollment and the WebSocket upgrade.

Errors are answered here in the portal's shape ``{"success": false, "error": ...}``, so the
link does not depend on which middlewares the app has.
"""

from __future__ import annotations

import json
import logging

from aiohttp import web

from hub.errors import HubError
from hub.link import enrollment
from hub.link.keys import DISPATCHER, INSTANCE, LINK_REGISTRY
from hub.link.session import LinkSession
from hub.typedefs import CONFIG, DB_POOL, METRICS

log = logging.getLogger(__name__)


def _error(exc: HubError) -> web.Response:
    return web.json_response({"success": False, "error": exc.message}, status=exc.status)


async def enroll(request: web.Request) -> web.Response:
    """``POST /agent/v1/enroll``: a one-time token for the agent's long-lived credential."""
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        body = None
    config = request.app[CONFIG]
    try:
        enroll_request = enrollment.parse_enroll_request(body)
        reply = await enrollment.enroll(
            request.app[DB_POOL],
            config,
            enroll_request,
            hub_url=config.public_url or f"{request.scheme}://{request.host}",
        )
    except HubError as exc:
        return _error(exc)
    return web.json_response(reply)


async def link(request: web.Request) -> web.StreamResponse:
    """``GET /agent/v1/link``: the agent's WebSocket (Bearer credential)."""
    app = request.app
    try:
        agent = await enrollment.authenticate(app[DB_POOL], request.headers.get("Authorization"))
    except HubError as exc:
        return _error(exc)
    config = app[CONFIG]
    # Pinged after link_heartbeat s without traffic, dropped when no pong in half of that.
    ws = web.WebSocketResponse(heartbeat=config.link_heartbeat, max_msg_size=config.max_frame_bytes)
    if not ws.can_prepare(request).ok:
        return web.json_response(
            {"success": False, "error": "expected a WebSocket upgrade"}, status=400
        )
    await ws.prepare(request)
    session = LinkSession(
        pool=app[DB_POOL],
        registry=app[LINK_REGISTRY],
        dispatcher=app[DISPATCHER],
        metrics=app[METRICS],
        instance=app[INSTANCE],
        agent=agent,
        ws=ws,
        max_routers=config.max_routers_per_agent,
    )
    await session.run()
    return ws
