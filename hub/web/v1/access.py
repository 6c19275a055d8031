"""Who may call each /v1 endpoint: every handler declares one permission, granted by role here.

The role-matrix test walks every /v1 route, reads the permission its handler declares, and checks
each role's answer against this table: an endpoint without a declaration fails that test.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable

from aiohttp import web

from hub.domain import Router, Tenant
from hub.errors import Forbidden, InvalidInput, NotFound
from hub.typedefs import CALLER, SERVICES
from hub.web.handlers import acting_tenant

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

PERMISSIONS = {
    "profile.read": "Read one's own profile",
    "tenants.manage": "Create, read, change and delete every tenant (super admin only)",
    "users.read": "List and read the users of one's tenant",
    "users.manage": "Create, change, delete users of one's tenant and give them roles",
    "users.assign_tenant": "Move a user into a tenant (super admin only)",
    "router.read": "Read a router's PPP secrets, profiles, sessions, pools and queues, live too",
    "router.manage": "Create, change, delete PPP secrets, profiles, pools and queues on a router",
    "profiles.read": "List and read the tenant's billing profiles",
    "profiles.manage": "Create, change and delete billing profiles (and so router profiles)",
    "customers.read": "List, find and read the tenant's customers",
    "customers.manage": "Create, change and delete customers and their PPP secrets / hotspot users",
    "devices.read": "List and read the tenant's devices (routers); pick one's own active device",
    "devices.manage": "Create, change, (de)activate and delete the tenant's devices",
}
_VIEWER = frozenset(
    {"profile.read", "router.read", "profiles.read", "customers.read", "devices.read"}
)
_OPERATOR = _VIEWER | {"router.manage", "customers.manage"}
_ADMIN = _OPERATOR | {"users.read", "users.manage", "profiles.manage", "devices.manage"}
ROLE_PERMISSIONS: dict[str, frozenset[str]] = {
    "viewer": _VIEWER,
    "operator": _OPERATOR,
    "admin": _ADMIN,
    "owner": _ADMIN,
    "platform_admin": frozenset(PERMISSIONS),
}
MAX_TENANT_HEADER = 19


def requires(permission: str) -> Callable[[Handler], Handler]:
    """Declare (and enforce) the permission a /v1 handler needs: 403 without it."""
    assert permission in PERMISSIONS, permission

    def decorate(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def guarded(request: web.Request) -> web.StreamResponse:
            caller = request[CALLER]
            if permission not in ROLE_PERMISSIONS.get(caller.role, frozenset()):
                raise Forbidden(f"Your role ({caller.role}) may not do this ({permission})")
            return await handler(request)

        guarded.permission = permission  # type: ignore[attr-defined]
        return guarded

    return decorate


def _tenant_header(request: web.Request) -> int | None:
    header = request.headers.get("X-Tenant-ID", "").strip()
    if not header:
        return None
    too_long = len(header) > MAX_TENANT_HEADER
    if not (header.isascii() and header.isdigit()) or too_long or int(header) >= 2**63:
        raise InvalidInput("X-Tenant-ID must be a tenant id")
    return int(header)


async def v1_scope(request: web.Request) -> Tenant | None:
    """Like v1_tenant, but a super admin without X-Tenant-ID acts across every tenant (None)."""
    caller = request[CALLER]
    if caller.role == "platform_admin" and _tenant_header(request) is None:
        return None
    return await v1_tenant(request)


async def v1_tenant(request: web.Request) -> Tenant:
    """The tenant a /v1 request acts on: the caller's own; a super admin names it with
    ``X-Tenant-ID`` (ignored for everyone else, so it can never widen a tenant user's scope)."""
    named = _tenant_header(request) if request[CALLER].tenant is None else None
    return await acting_tenant(request, named, "X-Tenant-ID")


MAX_DEVICE_ID = MAX_TENANT_HEADER


async def v1_router(request: web.Request) -> Router:
    """The router a /v1 router call acts on (seed 004 sections 6, 7, 10).

    ``?device_id=`` when given; else the caller's activated device
    (``PATCH /v1/internal/mikrotik/:id/activate``, while it exists); else the tenant's only
    router. A router of another tenant is a 404, as if it did not exist.
    """
    tenant = await v1_tenant(request)
    services = request.app[SERVICES]
    portal = services.portal
    text = request.query.get("device_id", "").strip()
    if text:
        if not (text.isascii() and text.isdigit()) or len(text) > MAX_DEVICE_ID:
            raise InvalidInput("device_id must be a device id")
        return await portal.router(int(text), tenant.id)
    user_id = request[CALLER].user_id
    if user_id is not None and (active := await services.devices.activated(user_id, tenant)):
        return await portal.router(active, tenant.id)
    routers = await portal.routers(tenant.id)
    if len(routers) == 1:
        return routers[0]
    if not routers:
        raise NotFound("This tenant has no router yet: add one with POST /v1/internal/mikrotik")
    raise InvalidInput("device_id is required: this tenant has several routers")
