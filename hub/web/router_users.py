"""Seed 003 GET /api/routers/{router_id}/users (billing face, any role from viewer up): the
router's configured hotspot users with their live sessions, as its agent mirrors them."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from aiohttp import web

from common.durations import format_clock, format_duration
from common.timeutil import to_iso, utcnow
from hub.domain import RouterHotspotUser, RouterUsers
from hub.services.portal import ROUTER_NOT_FOUND
from hub.typedefs import SERVICES
from hub.web import responses as out
from hub.web.bodies import user_bytes
from hub.web.handlers import caller_tenant, fast_json, path_id, read_query, require_role
from hub.web.openapi import operation
from hub.web.schemas import TenantQuery

routes = web.RouteTableDef()


@routes.get(r"/api/routers/{router_id:\d+}/users")
@operation(
    "A router's hotspot users and their sessions (seed 003)",
    query=TenantQuery,
    response=out.RouterUsers,
    errors=(403, 404),
)
async def router_users(request: web.Request) -> web.Response:
    require_role(request, "viewer")
    query = read_query(request, TenantQuery)
    router_id = path_id(request, "router_id", ROUTER_NOT_FOUND)
    tenant = await caller_tenant(request, query.user_id)
    view = await request.app[SERVICES].router_users.router_users(router_id, tenant.id)
    return fast_json(router_users_body(view, utcnow()))


def _user_body(user: RouterHotspotUser, now: datetime) -> dict[str, Any]:
    session = user.session
    session_body = None
    if session is not None:
        downloaded, uploaded = user_bytes(session.bytes_in, session.bytes_out)
        # The agent reports a session again only when its traffic or address moves, not its
        # ever-growing uptime: the login time (stored uptime back from when it was stored)
        # stays right, and the uptime is counted from it.
        login = session.updated_at - timedelta(seconds=session.uptime_seconds)
        uptime = max(session.uptime_seconds, int((now - login).total_seconds()))
        session_body = {
            "address": session.ip_address or "",
            "login_time": to_iso(login, "seconds"),
            "uptime": format_clock(uptime).zfill(8),  # "00:30:00"
            "bytes_in": str(downloaded),
            "bytes_out": str(uploaded),
        }
    limit = user.limit_uptime_seconds
    return {
        "username": user.name,
        "profile": user.profile or "default",
        "disabled": user.disabled,
        "comment": user.comment or "",
        "uptime_limit": format_duration(limit) if limit else None,  # "1h"; None: no limit
        "active": session is not None,
        "session": session_body,
    }


def router_users_body(view: RouterUsers, now: datetime) -> dict[str, Any]:
    """The seed's shape: users by name, ``active_sessions`` = the listed users online."""
    return {
        "router_id": view.router.id,
        "router_name": view.router.name,
        "users": [_user_body(user, now) for user in view.users],
        "total_users": len(view.users),
        "active_sessions": view.active_sessions,
    }
