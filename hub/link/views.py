"""HTTP faces of the agent link: enrollment and the WebSocket upgrade.

Errors are answered here in the portal's shape ``{"success": false, "error": ...}``, so the
link does not depend on which middlewares the app has.
"""

from __future__ import annotations

import logging

from aiohttp import web

from hub.errors import HubError
from hub.link import enrollment
from hub.link.keys import DISPATCHER, INSTANCE, LINK_REGISTRY
from hub.link.session import LinkSession
from hub.typedefs import CONFIG, DB_POOL, METRICS
from hub.web.handlers import json_object

log = logging.getLogger(__name__)

MAX_FRAME_BYTES = 64 * 1024 * 1024  # a snapshot of a few thousand sessions is a few MB


def _error(exc: HubError) -> web.Response:
    return web.json_response({"success": False, "error": exc.message}, status=exc.status)


async def enroll(request: web.Request) -> web.Response:
    """``POST /agent/v1/enroll``: a one-time token for the agent's long-lived credential."""
    config = request.app[CONFIG]
    try:
        body = await json_object(request, not_json="request body must be a JSON object")
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
    ws = web.WebSocketResponse(heartbeat=app[CONFIG].agent_heartbeat, max_msg_size=MAX_FRAME_BYTES)
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
    )
    await session.run()
    return ws
