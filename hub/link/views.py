"""HTTP faces of the agent link: enrollment and the WebSocket upgrade.

Errors are answered here in the portal's shape ``{"success": false, "error": ...}``, so the
link does not depend on which middlewares the app has.
"""

from __future__ import annotations

import logging

from aiohttp import web

from hub.errors import HubError, Unauthorized
from hub.link import enrollment
from hub.link.keys import CREDENTIAL_WATCH, DISPATCHER, INSTANCE, LINK_REGISTRY
from hub.link.session import LinkSession
from hub.services.agents import CREDENTIAL_REJECTED
from hub.typedefs import CONFIG, DB_POOL, METRICS, SERVICES
from hub.web import responses as out
from hub.web.handlers import read_body
from hub.web.openapi import operation
from hub.web.schemas import EnrollBody

log = logging.getLogger(__name__)


def _error(exc: HubError) -> web.Response:
    return web.json_response({"success": False, "error": exc.message}, status=exc.status)


@operation(
    "Trade a one-time enrollment token for the agent's credential",
    body=EnrollBody,
    response=out.Enrolled,
    errors=(400, 401, 409),
)
async def enroll(request: web.Request) -> web.Response:
    """``POST /agent/v1/enroll``: a one-time token for the agent's long-lived credential."""
    try:
        body = await read_body(request, EnrollBody)
        enroll_request = enrollment.parse_enroll_request(body)
        enrolled = await request.app[SERVICES].agents.enroll(enroll_request)
    except HubError as exc:
        return _error(exc)
    return web.json_response(enrollment.enrollment_reply(enrolled))


@operation(
    "The agent's WebSocket (upgrade; frames in common/wire.py)",
    status=101,
    errors=(400, 401),
    security=("agentCredential",),
)
async def link(request: web.Request) -> web.StreamResponse:
    """``GET /agent/v1/link``: the agent's WebSocket (Bearer credential)."""
    app = request.app
    try:
        agent = await app[SERVICES].agents.authenticate(request.headers.get("Authorization"))
    except HubError as exc:
        return _error(exc)
    config = app[CONFIG]
    # Pinged after link_heartbeat s without traffic, dropped when no pong in half of that.
    ws = web.WebSocketResponse(heartbeat=config.link_heartbeat, max_msg_size=config.max_frame_bytes)
    if not ws.can_prepare(request).ok:
        return web.json_response(
            {"success": False, "error": "expected a WebSocket upgrade"}, status=400
        )
    watch = app[CREDENTIAL_WATCH]
    with watch.watching(agent, ws) as watched:
        if not await watch.still_valid(agent):
            return _error(Unauthorized(CREDENTIAL_REJECTED))  # revoked while we looked
        await ws.prepare(request)
        if not watch.opened(watched):
            await ws.close(code=enrollment.CLOSE_REVOKED, message=b"credential revoked")
            return ws
        session = LinkSession(
            pool=app[DB_POOL],
            registry=app[LINK_REGISTRY],
            dispatcher=app[DISPATCHER],
            metrics=app[METRICS],
            instance=app[INSTANCE],
            agent=agent,
            ws=ws,
            max_routers=config.max_routers_per_agent,
            max_tenant_routers=config.max_routers_per_tenant,
            secrets=app[SERVICES].secrets,
        )
        await session.run()
    return ws
