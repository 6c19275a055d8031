"""The captive portal's face: one public page per tenant's hotspot and its two JSON calls.

    GET  /hotspot/{tenant}?mac=&ip=&router=&link-login-only=&link-orig=   the page
    POST /hotspot/{tenant}/pay               {plan_id, phone, mac, ip, router} -> 202 {payment}
    GET  /hotspot/{tenant}/payments/{token}  -> {status, reason, expires_at}

No credentials (the caller is a device not yet online): hub/services/captive.py checks every
field and rate limits; errors of the JSON calls are the platform's ``{success, error}``. The page
answers its own errors as pages: 404 for an unknown tenant, 400 naming the field the router's
login.html passed wrong.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from aiohttp import web

from common.timeutil import to_iso
from hub.domain import Plan
from hub.errors import InvalidInput, NotFound
from hub.services.captive import login_url, origin_of, origin_url
from hub.typedefs import SERVICES
from hub.web import responses as out
from hub.web.handlers import client_address, read_body, read_query
from hub.web.i18n import LANGUAGE_NAMES, LANGUAGES, Translate, page_language, translator
from hub.web.openapi import operation
from hub.web.pages import PAGE_HEADERS, render
from hub.web.schemas import CaptivePayBody, CaptiveQuery

routes = web.RouteTableDef()

TAGS = ("captive portal",)
NO_STORE = {"Cache-Control": "no-store"}
CSP = "Content-Security-Policy"


def price_text(plan: Plan, currency: str) -> str:
    """``KES 50`` (whole prices without decimals: M-Pesa takes whole amounts)."""
    price: Decimal = plan.price
    shown = f"{price:.0f}" if price == price.to_integral_value() else f"{price:.2f}"
    return f"{currency} {shown}"


def duration_words(value: int, unit: str, t: Translate) -> str:
    """``1 hour``, ``5 minutes``, ``saa 1``: the catalogue has a one and an other form."""
    form = "one" if value == 1 else "other"
    return t(f"captive.{unit}_{form}", n=value)


def plan_view(plan: Plan, currency: str, t: Translate) -> dict[str, Any]:
    return {
        "id": plan.id,
        "name": plan.name,
        "price": price_text(plan, currency),
        "duration": duration_words(plan.duration_value, plan.duration_unit, t),
        "speed": plan.speed,
    }


@routes.get("/hotspot/{slug}")
@operation(
    "The captive portal page of a tenant's hotspot (from the router's login.html)",
    query=CaptiveQuery,
    content_type="text/html",
    errors=(400, 404),
    security=(),
    tags=TAGS,
)
async def portal_page(request: web.Request) -> web.Response:
    """Phone-first and small: the plans, M-Pesa payment, a voucher code, in the tenant's
    language. A voucher code is posted to the router's own login form."""
    captive = request.app[SERVICES].captive
    try:
        site = await captive.site(request.match_info["slug"])
    except NotFound:
        return render(request, "captive/missing.html", {}, status=404)
    tenant = site.tenant
    language = page_language(request, tenant.language)
    t = translator(language)
    try:
        query = read_query(request, CaptiveQuery)
        client = await captive.client(tenant, mac=query.mac, ip=query.ip, router_id=query.router)
        login = login_url(query.link_login_only)
    except InvalidInput as exc:
        context = {"tenant": tenant, "problem": exc.message}
        return render(request, "captive/problem.html", context, language=language, status=400)
    here = request.rel_url
    # Where the router sends the browser after a voucher login (the form's ``dst``): this page,
    # saying so. Absolute, as the router redirects to it from its own origin.
    after_login = {k: v for k, v in here.query.items() if k != "error"} | {"state": "online"}
    online_url = request.url.with_query(after_login)
    context = {
        "tenant": tenant,
        "plans": [plan_view(plan, tenant.currency, t) for plan in site.plans],
        "client": client,
        "login_url": login,
        "online_url": str(online_url),
        "original_url": origin_url(query.link_orig),
        "router_error": query.error,
        "online": query.state == "online",
        "pay_url": str(request.app.router["captive_pay"].url_for(slug=tenant.slug)),
        "status_url": str(
            request.app.router["captive_payment"].url_for(slug=tenant.slug, token="")
        ),
        "language_links": [
            (code, LANGUAGE_NAMES[code], str(here.update_query({"lang": code})))
            for code in LANGUAGES
        ],
    }
    response = render(request, "captive/portal.html", context, language=language)
    if login is not None:  # the voucher form may post to the router's login, nowhere else
        response.headers[CSP] = PAGE_HEADERS[CSP].replace(
            "form-action 'self'", f"form-action 'self' {origin_of(login)}"
        )
    return response


@routes.post("/hotspot/{slug}/pay", name="captive_pay")
@operation(
    "Pay for a hotspot plan by M-Pesa (STK push) from the captive portal",
    body=CaptivePayBody,
    response=out.CaptivePaymentStarted,
    status=202,
    errors=(400, 404, 429, 502, 503),
    security=(),
    tags=TAGS,
)
async def pay(request: web.Request) -> web.Response:
    """The prompt goes to the phone; the answer's ``payment`` token reads its state."""
    body = await read_body(request, CaptivePayBody)
    started = await request.app[SERVICES].captive.pay(
        request.match_info["slug"],
        plan_id=body.plan_id,
        phone=body.phone,
        mac=body.mac,
        ip=body.ip,
        router_id=body.router,
        address=client_address(request),
    )
    answer = {
        "payment": started.token,
        "status": started.payment.status,
        "message": started.customer_message,
    }
    return web.json_response(answer, status=202, headers=NO_STORE)


@routes.get("/hotspot/{slug}/payments/{token}", name="captive_payment")
@operation(
    "The state of one captive-portal payment, by the token its browser was given",
    response=out.CaptivePaymentState,
    errors=(404, 429),
    security=(),
    tags=TAGS,
)
async def payment_state(request: web.Request) -> web.Response:
    """pending, granting (paid, the router is being set up), online, failed, cancelled or
    timeout; a token of another tenant's portal, or none issued, is not found."""
    state = await request.app[SERVICES].captive.state(
        request.match_info["slug"],
        request.match_info["token"],
        address=client_address(request),
    )
    answer = {
        "status": state.status,
        "reason": state.reason,
        "expires_at": to_iso(state.expires_at) if state.expires_at else None,
    }
    return web.json_response(answer, headers=NO_STORE)
