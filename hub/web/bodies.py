"""JSON shapes of the portal and admin faces (seeds 000/001 where they define them).

Pure functions from domain objects to dicts, shared by both faces so they cannot drift.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

import msgspec

from common.durations import format_clock, format_duration
from common.timeutil import to_iso, utcnow
from hub.domain import ActiveSession, Router, RouterActivity, Tenant
from hub.services.access import Grant
from hub.services.portal import (
    Access,
    ActiveUsers,
    CustomerView,
    Disconnected,
    RouterOutcome,
)
from hub.services.snapshots import ActiveUsersSnapshot, FleetHealthSnapshot

UNKNOWN_USER_NOTE = "User not found in database"
_encode = msgspec.json.Encoder().encode
# RouterOS login-by values as the seed's ``login_time`` spells them.
_LOGIN_METHODS = {"mac": "macauth"}


def money(amount: Decimal) -> int | Decimal:
    """An amount as the seeds show it: 50 for a whole price, else exact (10.50), never float."""
    return int(amount) if amount == amount.to_integral_value() else amount


def timestamp() -> str:
    return to_iso(utcnow())


def _iso(dt: datetime | None) -> str | None:
    return to_iso(dt, "seconds") if dt is not None else None


def tenant_body(tenant: Tenant) -> dict[str, Any]:
    return {"id": tenant.id, "slug": tenant.slug, "name": tenant.name}


def router_ref(router: Router) -> dict[str, Any]:
    return {"id": router.id, "name": router.name}


def router_body(router: Router) -> dict[str, Any]:
    return {"id": router.id, "name": router.name, "host": router.host, "status": router.status}


def database_info(access: Access | None, now: datetime) -> dict[str, Any]:
    if access is None:
        return {
            "user_id": None,
            "is_active": False,
            "has_active_access": False,
            "access_expires_at": None,
            "time_remaining": None,
            "note": UNKNOWN_USER_NOTE,
        }
    active = access.active(now)
    remaining = None
    if active and access.expires_at is not None:
        remaining = format_clock(int((access.expires_at - now).total_seconds()))
    return {
        "user_id": access.customer.id,
        "is_active": access.customer.is_active,
        "has_active_access": active,
        "access_expires_at": _iso(access.expires_at),
        "time_remaining": remaining,
    }


def user_bytes(bytes_in: int, bytes_out: int) -> tuple[int, int]:
    """Router-side counters (in = received from the user) as the user's (downloaded, uploaded).

    Wire and storage keep RouterOS' terms (hotspot ``bytes-in``, a PPP interface's ``rx-byte``:
    what the router received from the client); seed 000's ``bytes_in`` is what the user
    downloaded, which is what the router sent. The portal swaps them here, and only here.
    """
    return bytes_out, bytes_in


def session_body(session: ActiveSession) -> dict[str, Any]:
    """One entry of ``active_users``: RouterOS-style strings, counters as decimal strings."""
    login_by = session.login_by or ""
    downloaded, uploaded = user_bytes(session.bytes_in, session.bytes_out)
    return {
        "session_id": session.session_id,
        "username": session.username,
        "mac_address": session.mac_address or "",
        "ip_address": session.ip_address or "",
        "uptime": format_duration(session.uptime_seconds),
        "bytes_in": str(downloaded),
        "bytes_out": str(uploaded),
        "idle_time": format_duration(session.idle_seconds or 0),
        "login_time": _LOGIN_METHODS.get(login_by, login_by),
    }


def active_users_body(view: ActiveUsers, *, with_tenant: bool = False) -> dict[str, Any]:
    body: dict[str, Any] = {"success": True, "router": router_body(view.router)}
    if with_tenant:
        body["tenant"] = tenant_body(view.router.tenant)
    body["active_users"] = [
        {**session_body(item.session), "database_info": database_info(item.access, view.now)}
        for item in view.sessions
    ]
    body["total_count"] = len(view.sessions)
    body["timestamp"] = timestamp()
    return body


def active_users_bytes(
    router: Router, snapshot: ActiveUsersSnapshot, now: datetime, *, with_tenant: bool = False
) -> bytes:
    """active_users_body's JSON from a ready snapshot: its entries are encoded already."""
    body: dict[str, Any] = {"success": True, "router": router_body(router)}
    if with_tenant:
        body["tenant"] = tenant_body(router.tenant)
    body["active_users"] = msgspec.Raw(snapshot.entries(now))
    body["total_count"] = snapshot.total
    body["timestamp"] = to_iso(now)
    return _encode(body)


def active_users_etag(
    router: Router, snapshot: ActiveUsersSnapshot, now: datetime, *, with_tenant: bool
) -> str:
    """Changes with the sessions, the access, an expiry passing, and the router's own fields."""
    return snapshot.etag(
        router_body(router), with_tenant and tenant_body(router.tenant), snapshot.expired_by(now)
    )


def disconnected_body(outcome: Disconnected) -> dict[str, Any]:
    return {
        "success": True,
        "message": f"User {outcome.username} disconnected from {outcome.router.name}",
        "router": router_ref(outcome.router),
        "details": outcome.details(),
    }


def customer_body(view: CustomerView) -> dict[str, Any]:
    customer = view.customer
    return {
        "success": True,
        "user": {
            "id": customer.id,
            "username": customer.username,
            "full_name": customer.full_name,
            "email": customer.email,
            "is_active": customer.is_active,
            "created_at": _iso(customer.created_at),
            **{
                k: v
                for k, v in database_info(view.access, view.now).items()
                if k in ("has_active_access", "access_expires_at", "time_remaining")
            },
        },
        "access": [
            {
                "id": e.id,
                "router_id": e.router_id,
                "mac_address": e.mac_address,
                "profile": e.profile,
                "starts_at": _iso(e.starts_at),
                "expires_at": _iso(e.expires_at),
                "active": e.expires_at > view.now,
            }
            for e in view.entitlements
        ],
        "active_sessions": [
            {"router": router_ref(router), **session_body(session)}
            for router, session in view.sessions
        ],
        "timestamp": timestamp(),
    }


NOTHING_DONE = {
    "session_removed": False,
    "binding_removed": False,
    "user_disabled": False,
    "ppp_secret_disabled": False,
}


def router_result(item: RouterOutcome) -> dict[str, Any]:
    """One router's entry of a multi-router disconnect ("Session not found" is no failure)."""
    entry: dict[str, Any] = {"router": router_ref(item.router), "success": item.error is None}
    if item.disconnected is not None:
        entry["details"] = item.disconnected.details()
    elif not item.session_found:
        entry["details"] = dict(NOTHING_DONE)
        entry["note"] = "Session not found"
    else:
        entry["error"] = item.error
        if item.details:
            entry["details"] = item.details
    return entry


def disconnect_everywhere_body(outcomes: list[RouterOutcome], user_id: int) -> dict[str, Any]:
    results = []
    for item in outcomes:
        results.append(router_result(item))
    return {
        "success": True,
        "user_id": user_id,
        "disconnected_everywhere": all(item.error is None for item in outcomes),
        "results": results,
        "timestamp": timestamp(),
    }


def last_current(router: Router) -> datetime | None:
    """When the router's reported counts were last known to be current.

    Online: its latest report. Agent silent: the agent's last contact (or the report, if
    older). Agent up, router unreachable: since the router went down (``status_since``).
    """
    health = router.health
    if health is None:
        return router.agent_last_seen_at
    if router.online:
        return health.reported_at
    if not router.agent_online:
        seen = [t for t in (router.agent_last_seen_at, health.reported_at) if t is not None]
        return min(seen) if seen else None
    return health.since or health.reported_at


def staleness(router: Router) -> dict[str, Any]:
    """``stale``: the counts shown are the last known ones, not now's (offline site or router),
    so a dashboard summing over sites can leave them out; ``last_seen``: as of when."""
    return {"stale": not router.online, "last_seen": _iso(last_current(router))}


def health_of(router: Router) -> dict[str, Any]:
    """A router's last reported health, with its status now."""
    health = router.health
    body: dict[str, Any] = {
        **router_body(router),
        "site": router.site,
        "error": None,
        "cpu_load": None,
        "free_memory": None,
        "total_memory": None,
        "memory_used_percent": None,
        "uptime": None,
        "version": None,
        "board_name": None,
        "identity": None,
        "active_users": {"hotspot": 0, "ppp": 0, "total": 0},
        "status_since": None,
        "reported_at": None,
        "agent_last_seen_at": _iso(router.agent_last_seen_at),
        **staleness(router),
    }
    if not router.agent_online:
        body["error"] = f"The site agent of {router.name} is not connected"
    if health is not None:
        hotspot, ppp = health.hotspot_active or 0, health.ppp_active or 0
        used = None
        if health.total_memory and health.free_memory is not None:
            used = round(100 * (1 - health.free_memory / health.total_memory), 1)
        body.update(
            cpu_load=health.cpu_load,
            free_memory=health.free_memory,
            total_memory=health.total_memory,
            memory_used_percent=used,
            uptime=format_duration(health.uptime_seconds)
            if health.uptime_seconds is not None
            else None,
            version=health.version,
            board_name=health.board_name,
            identity=health.identity,
            active_users={"hotspot": hotspot, "ppp": ppp, "total": hotspot + ppp},
            status_since=_iso(health.since),
            reported_at=_iso(health.reported_at),
        )
        if router.agent_online and health.status != "online":
            body["error"] = health.error or f"Cannot connect to router {router.name}"
    return body


def monitoring_body(router: Router, *, with_tenant: bool = False) -> dict[str, Any]:
    body: dict[str, Any] = {"success": True, "router": health_of(router)}
    if with_tenant:
        body["tenant"] = tenant_body(router.tenant)
    body["timestamp"] = timestamp()
    return body


def fleet_health_body(routers: list[Router]) -> dict[str, Any]:
    online = sum(1 for r in routers if r.online)
    return {
        "success": True,
        "routers": [health_of(router) for router in routers],
        "summary": {"total": len(routers), "online": online, "offline": len(routers) - online},
        "timestamp": timestamp(),
    }


def fleet_health_bytes(snapshot: FleetHealthSnapshot, now: datetime) -> bytes:
    """fleet_health_body's JSON from a ready snapshot: its routers are encoded once."""
    if snapshot.encoded is None:
        reused, parts = snapshot.parts, {}
        for router in snapshot.routers:
            part = reused.get(router)
            parts[router] = part if part is not None else _encode(health_of(router))
        snapshot.parts = parts  # only this fleet's routers: the ones that left are dropped
        snapshot.encoded = b"[" + b",".join(parts[r] for r in snapshot.routers) + b"]"
    total, online = len(snapshot.routers), snapshot.online
    body = {
        "success": True,
        "routers": msgspec.Raw(snapshot.encoded),
        "summary": {"total": total, "online": online, "offline": total - online},
        "timestamp": to_iso(now),
    }
    return _encode(body)


def grant_body(grant: Grant) -> dict[str, Any]:
    """Access stored, and how each router's agent took it ("pending": on its next connect)."""
    return {
        "success": True,
        "user_id": grant.customer.id,
        "username": grant.customer.username,
        "access_expires_at": _iso(grant.entitlement.expires_at),
        "router_id": grant.entitlement.router_id,
        "mac_address": grant.entitlement.mac_address,
        "delivery": [
            {"router": router_ref(d.router), "status": d.status, "error": d.error}
            for d in grant.deliveries
        ],
        "timestamp": timestamp(),
    }


def disconnect_anywhere_body(
    username: str, outcomes: list[RouterOutcome]
) -> tuple[int, dict[str, Any]]:
    """The admin face's disconnect over every router with a session of the user.

    Seed 001's shape, plus ``results`` (one entry per router, with its ``tenant``). Success
    (200) when every router with a session removed it: ``details`` is each flag OR-ed over the
    routers, ``router`` is there when one router was involved. Otherwise seed 001's failure:
    500 ``Failed to disconnect user from <routers>`` with the failed steps in ``details``
    (["Session not found"] when every session had gone already), 503 with the seed's message
    when the one router involved could not be reached.
    """
    done = [o for o in outcomes if o.disconnected is not None]
    failed = [o for o in outcomes if o.error is not None]
    results = [{**router_result(o), "tenant": tenant_body(o.router.tenant)} for o in outcomes]
    if done and not failed:
        body: dict[str, Any] = {
            "success": True,
            "message": f"User {username} disconnected from "
            + ", ".join(o.router.name for o in done),
        }
        if len(outcomes) == 1:
            body["router"] = router_ref(outcomes[0].router)
            body["tenant"] = tenant_body(outcomes[0].router.tenant)
        details = [o.disconnected.details() for o in done if o.disconnected is not None]
        body["details"] = {key: any(d[key] for d in details) for key in NOTHING_DONE}
        body["results"] = results
        return 200, body
    if len(failed) == 1 and not done and failed[0].details is None and len(outcomes) == 1:
        return 503, {"success": False, "error": failed[0].error, "results": results}
    bad = failed or outcomes
    steps = [d for o in failed for d in (o.details or [o.error or ""])] or ["Session not found"]
    return 500, {
        "success": False,
        "error": "Failed to disconnect user from " + ", ".join(o.router.name for o in bad),
        "details": steps,
        "results": results,
    }


CONNECTION_FAILED = "Connection failed"  # seed 002's lastActivity of an unreachable location


def location_keys(routers: list[Router]) -> list[str]:
    """Seed 002's location ids: the site's name, or ``<site>/<router>`` when a site has several
    routers (router names are unique within a site)."""
    per_site: dict[str, int] = {}
    for router in routers:
        per_site[router.site] = per_site.get(router.site, 0) + 1
    return [r.site if per_site[r.site] == 1 else f"{r.site}/{r.name}" for r in routers]


def router_status(router: Router) -> dict[str, Any]:
    health = router.health
    return {
        "isOnline": router.online,
        "uptime": format_duration(health.uptime_seconds)
        if health is not None and health.uptime_seconds is not None
        else None,
        "version": health.version if health is not None else None,
        "cpuLoad": health.cpu_load if health is not None else None,
        "freeMemory": health.free_memory if health is not None else None,
        "totalMemory": health.total_memory if health is not None else None,
    }


def location_stats(item: RouterActivity) -> dict[str, Any]:
    """One location of seed 002: bytes from the users' side; zeros and "maintenance" when the
    site cannot be reached now (the seed's fallback), with the router's last known health."""
    router = item.router
    body: dict[str, Any] = {"routerId": router.id, "name": router.name, "site": router.site}
    if router.online:
        downloaded, uploaded = user_bytes(item.bytes_in, item.bytes_out)
        health = router.health
        body.update(
            activeUsers=item.hotspot_sessions,
            totalUsers=(health.hotspot_users or 0) if health is not None else 0,
            totalBytesIn=downloaded,
            totalBytesOut=uploaded,
            lastActivity=_iso(item.last_login),
            status="active",
        )
    else:
        body.update(
            activeUsers=0,
            totalUsers=0,
            totalBytesIn=0,
            totalBytesOut=0,
            lastActivity=CONNECTION_FAILED,
            status="maintenance",
        )
    body["routerStatus"] = router_status(router)
    return body


def hotspot_stats_body(items: list[RouterActivity]) -> dict[str, Any]:
    """Seed 002's response: an object keyed by location id, as its JavaScript indexes it."""
    keys = location_keys([item.router for item in items])
    return {key: location_stats(item) for key, item in zip(keys, items, strict=True)}
