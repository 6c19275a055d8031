"""Who is using the dashboard: the session cookie, same-origin checks, and the page guards.

A sign-in is a login family (hub.services.auth ``start_session``): the cookie carries its
session token (a JWT of kind "session", signed with the hub's key), HttpOnly so no script
reads it, SameSite=Strict so no other site's page sends it, Secure when the hub is reached
over https. Every request reads the family in Postgres, so signing out (the family revoked)
ends the session everywhere at once. State-changing requests must also come from a page of
this hub (Origin, else Referer): the cookie's SameSite and this check each stop a forged post.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from urllib.parse import quote, urlsplit

from aiohttp import web

from hub.config import public_url
from hub.domain import Caller, Tenant
from hub.errors import Forbidden, HubError, Unauthorized
from hub.typedefs import CALLER, CONFIG, SERVICES
from hub.web.i18n import page_language
from hub.web.pages import render

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

SESSION_COOKIE = "ispfleet_session"
COOKIE_PATH = "/dashboard"
LOGIN_PATH = "/dashboard/login"
HOME_PATH = "/dashboard/"
CROSS_SITE = "Cross-site request refused: use the dashboard's own pages"
NO_TENANT = "Your account is not assigned to a tenant yet"


def secure_cookie(request: web.Request) -> bool:
    """Secure when the browser reaches the hub over https (directly or by its public URL)."""
    configured = request.app[CONFIG].public_url or ""
    return request.secure or configured.lower().startswith("https://")


def set_session(response: web.StreamResponse, request: web.Request, token: str) -> None:
    lifetime = request.app[SERVICES].auth.session_lifetime
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int(lifetime.total_seconds()),
        path=COOKIE_PATH,
        httponly=True,
        samesite="Strict",
        secure=secure_cookie(request),
    )


def clear_session(response: web.StreamResponse, request: web.Request) -> None:
    response.del_cookie(
        SESSION_COOKIE,
        path=COOKIE_PATH,
        httponly=True,
        samesite="Strict",
        secure=secure_cookie(request),
    )


def _origin(url: str) -> str | None:
    parts = urlsplit(url)
    if not parts.scheme or not parts.netloc:
        return None
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}"


def same_origin(request: web.Request) -> bool:
    """The request comes from a page of this hub: its Origin (else its Referer) is the hub's
    own, as the browser addressed it or as public_url names it. Neither header: refused."""
    given = request.headers.get("Origin") or request.headers.get("Referer")
    if not given or given == "null":
        return False
    allowed = {
        f"{request.scheme}://{request.host}".lower(),
        _origin(public_url(request.app[CONFIG])),
    }
    return _origin(given) in allowed


def check_same_origin(request: web.Request) -> None:
    if not same_origin(request):
        raise Forbidden(CROSS_SITE)


def safe_next(target: str | None) -> str:
    """Where to go after signing in: a dashboard path only (never another site)."""
    if target and target.startswith(HOME_PATH) and not target.startswith("//"):
        if "\\" not in target and urlsplit(target).netloc == "":
            return target
    return HOME_PATH


async def session_caller(request: web.Request) -> Caller:
    """The signed-in user of this request (request[CALLER] set); Unauthorized otherwise."""
    caller = await request.app[SERVICES].auth.authenticate_session(
        request.cookies.get(SESSION_COOKIE)
    )
    request[CALLER] = caller
    return caller


def tenant_of(request: web.Request) -> Tenant:
    """The signed-in user's tenant: the dashboard shows one tenant, the user's own."""
    tenant = request[CALLER].tenant
    if tenant is None:
        raise Forbidden(NO_TENANT)
    return tenant


def language_of(request: web.Request) -> str:
    tenant = request[CALLER].tenant if CALLER in request else None
    return page_language(request, tenant.language if tenant is not None else None)


def _require(request: web.Request, role: str) -> None:
    caller = request[CALLER]
    tenant_of(request)
    if not caller.may(role):
        raise Forbidden(f"This needs the {role} role or above")


def error_page(request: web.Request, exc: HubError) -> web.Response:
    caller = request.get(CALLER)
    return render(
        request,
        "dashboard/error.html",
        {
            "status": exc.status,
            "message": exc.message,
            "caller": caller,
            "tenant": caller.tenant if caller is not None else None,
            "path": request.path,
        },
        language=language_of(request),
        status=exc.status,
    )


def page(role: str = "viewer", *, changes: bool = False) -> Callable[[Handler], Handler]:
    """A dashboard page (or a form post when ``changes``): signed out, to the sign-in page;
    a refusal or another hub error, an error page in the user's language."""

    def decorate(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def guarded(request: web.Request) -> web.StreamResponse:
            try:
                if changes:
                    check_same_origin(request)
                try:
                    await session_caller(request)
                except Unauthorized:
                    back = request.path_qs if request.method == "GET" else HOME_PATH
                    raise web.HTTPSeeOther(f"{LOGIN_PATH}?next={quote(back, safe='')}") from None
                _require(request, role)
                return await handler(request)
            except HubError as exc:
                return error_page(request, exc)

        return guarded

    return decorate


def api(role: str = "viewer", *, changes: bool = False) -> Callable[[Handler], Handler]:
    """A dashboard JSON or event-stream endpoint: 401 signed out, 403 below ``role`` or from
    another site (hub errors are shaped as JSON by the error middleware)."""

    def decorate(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def guarded(request: web.Request) -> web.StreamResponse:
            if changes:
                check_same_origin(request)
            await session_caller(request)
            _require(request, role)
            return await handler(request)

        return guarded

    return decorate
