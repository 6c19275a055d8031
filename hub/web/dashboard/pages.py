"""The dashboard's sign-in and its billing pages: overview, customers, plans, transactions,
vouchers, usage. Each parses its query or form, calls a service, renders a template."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from hub.errors import HubError, InvalidInput
from hub.services.plans import PLAN_NOT_FOUND
from hub.services.vouchers import BATCH_NOT_FOUND
from hub.storage.reports import PAYMENT_STATUSES, TransactionFilter
from hub.typedefs import CALLER, SERVICES
from hub.web.dashboard import session
from hub.web.dashboard.session import page, tenant_of
from hub.web.dashboard.views import bar_chart, human_bytes, local_time, money
from hub.web.handlers import login_attempt, path_id, read_form, read_query
from hub.web.i18n import LANGUAGE_COOKIE, LANGUAGES, page_language
from hub.web.openapi import operation
from hub.web.pages import render
from hub.web.schemas import (
    DashboardLoginBody,
    DashboardPageQuery,
    DashboardPlanBody,
    DashboardTransactionsQuery,
    DashboardVoucherBody,
    LanguageBody,
    UsageQuery,
)
from hub.web.voucher_sheets import render_html, render_pdf

routes = web.RouteTableDef()

PAGE_SIZE = 50
REVENUE_DAYS = 30
FORM = "application/x-www-form-urlencoded"
_PAGE_ERRORS = (303, 403)  # signed out: to the sign-in page; below the role: refused
_FORM_ERRORS = (303, 400, 403, 404, 409)
_NO_STORE = {"Cache-Control": "no-store"}  # a voucher sheet is a stack of passwords


def show(request: web.Request, template: str, status: int = 200, **context: Any) -> web.Response:
    """A signed-in page: the user, the tenant and the nav come along."""
    caller = request[CALLER]
    return render(
        request,
        template,
        {"caller": caller, "tenant": caller.tenant, "path": request.path, **context},
        language=session.language_of(request),
        status=status,
    )


def _see_other(location: str) -> web.Response:
    """303: after a form, the browser loads the next page with a GET (post/redirect/get)."""
    return web.Response(status=303, headers={"Location": location, **_NO_STORE})


# --- signing in and out, language -----------------------------------------------------------


def _login_page(request: web.Request, *, error: str = "", status: int = 200, nxt: str = ""):
    return render(
        request,
        "dashboard/login.html",
        {
            "caller": None,
            "tenant": None,
            "path": request.path,
            "error": error,
            "next": session.safe_next(nxt or request.query.get("next")),
        },
        language=page_language(request),
        status=status,
    )


@routes.get("/dashboard/login")
@operation("The dashboard's sign-in page", content_type="text/html", security=())
async def login_page(request: web.Request) -> web.Response:
    return _login_page(request)


@routes.post("/dashboard/login")
@operation(
    "Sign in to the dashboard (sets the session cookie)",
    body=DashboardLoginBody,
    body_type=FORM,
    status=303,
    content_type="text/html",
    errors=(400, 401, 403, 429),
    security=(),
)
async def login(request: web.Request) -> web.StreamResponse:
    """Username or email and password; failed tries go through the login lockout."""
    try:
        session.check_same_origin(request)
        body = await read_form(request, DashboardLoginBody)
    except HubError as exc:
        return _login_page(request, error=exc.message, status=exc.status)
    assert body.username is not None and body.password is not None  # DashboardLoginBody.check
    try:
        async with login_attempt(request, body.username):
            signed_in = await request.app[SERVICES].auth.start_session(body.username, body.password)
    except HubError as exc:  # wrong password, locked out, deactivated tenant
        return _login_page(request, error=exc.message, status=exc.status, nxt=body.next or "")
    response = _see_other(session.safe_next(body.next))
    session.set_session(response, request, signed_in.access_token)
    return response


@routes.post("/dashboard/logout")
@operation(
    "Sign out (the session is revoked, the cookie cleared)",
    status=303,
    content_type="text/html",
    errors=(403,),
)
async def logout(request: web.Request) -> web.StreamResponse:
    session.check_same_origin(request)
    await request.app[SERVICES].auth.end_session(request.cookies.get(session.SESSION_COOKIE))
    response = _see_other(session.LOGIN_PATH)
    session.clear_session(response, request)
    return response


@routes.post("/dashboard/language")
@operation(
    "Choose the pages' language (the lang cookie)",
    body=LanguageBody,
    body_type=FORM,
    status=303,
    content_type="text/html",
    errors=(400, 403),
    security=(),
)
async def choose_language(request: web.Request) -> web.StreamResponse:
    session.check_same_origin(request)
    body = await read_form(request, LanguageBody)
    if body.lang not in LANGUAGES:
        raise InvalidInput(f"lang must be one of {', '.join(LANGUAGES)}")
    response = _see_other(session.safe_next(body.next))
    response.set_cookie(
        LANGUAGE_COOKIE,
        body.lang,
        max_age=365 * 24 * 3600,
        path="/",
        samesite="Lax",
        secure=session.secure_cookie(request),
    )
    return response


# --- overview ---------------------------------------------------------------------------------


@routes.get("/dashboard/")
@page()
@operation("The dashboard's overview: revenue, customers, sales", content_type="text/html",
           errors=_PAGE_ERRORS)  # fmt: skip
async def overview(request: web.Request) -> web.Response:
    tenant = tenant_of(request)
    reports = request.app[SERVICES].reports
    view = await reports.overview(tenant.id)
    days = await reports.revenue_per_day(tenant.id, REVENUE_DAYS, view.now)
    chart = bar_chart([(d.day, float(d.amount), money(d.amount, tenant)) for d in days])
    return show(
        request,
        "dashboard/overview.html",
        overview=view,
        chart=chart,
        money=lambda amount: money(amount, tenant),
        when=lambda moment: local_time(moment, tenant),
    )


# --- customers --------------------------------------------------------------------------------


@routes.get("/dashboard/customers")
@page()
@operation("Customers and their access", query=DashboardPageQuery, content_type="text/html",
           errors=_PAGE_ERRORS)  # fmt: skip
async def customers(request: web.Request) -> web.Response:
    query = read_query(request, DashboardPageQuery)
    tenant = tenant_of(request)
    found = await request.app[SERVICES].reports.customers(
        tenant.id, limit=PAGE_SIZE + 1, offset=query.offset
    )
    return show(
        request,
        "dashboard/customers.html",
        customers=found[:PAGE_SIZE],
        offset=query.offset,
        page_size=PAGE_SIZE,
        more=len(found) > PAGE_SIZE,
        when=lambda moment: local_time(moment, tenant),
    )


# --- plans ------------------------------------------------------------------------------------


async def _plans_page(request: web.Request, *, error: str = "", status: int = 200):
    tenant = tenant_of(request)
    plans = await request.app[SERVICES].plans.list(tenant)
    return show(
        request,
        "dashboard/plans.html",
        status,
        plans=plans,
        error=error,
        money=lambda amount: money(amount, tenant),
    )


@routes.get("/dashboard/plans")
@page()
@operation("Plans", content_type="text/html", errors=_PAGE_ERRORS)
async def plans(request: web.Request) -> web.Response:
    return await _plans_page(request)


@routes.post("/dashboard/plans")
@page("operator", changes=True)
@operation("Create a plan", body=DashboardPlanBody, body_type=FORM, status=303,
           content_type="text/html", errors=_FORM_ERRORS)  # fmt: skip
async def create_plan(request: web.Request) -> web.StreamResponse:
    """As POST /api/plans/create: operators and up; a refused form shows the page again."""
    try:
        body = await read_form(request, DashboardPlanBody)
        await request.app[SERVICES].plans.create(
            tenant_of(request),
            name=body.name,
            speed=body.speed,
            price=body.price,
            duration_value=body.duration_value,
            duration_unit=body.duration_unit,
            connection_type=body.connection_type,
            router_profile=body.router_profile,
            on_expiry=body.on_expiry,
            actor=request[CALLER].actor,
        )
    except HubError as exc:
        return await _plans_page(request, error=exc.message, status=exc.status)
    return _see_other("/dashboard/plans")


@routes.post(r"/dashboard/plans/{plan_id:\d+}/delete")
@page("admin", changes=True)
@operation("Delete a plan", status=303, content_type="text/html", errors=_FORM_ERRORS)
async def delete_plan(request: web.Request) -> web.StreamResponse:
    """As DELETE /api/plans/{id}: admins and up."""
    plan_id = path_id(request, "plan_id", PLAN_NOT_FOUND)
    try:
        await request.app[SERVICES].plans.delete(tenant_of(request), plan_id, request[CALLER].actor)
    except HubError as exc:
        return await _plans_page(request, error=exc.message, status=exc.status)
    return _see_other("/dashboard/plans")


# --- transactions -----------------------------------------------------------------------------


@routes.get("/dashboard/transactions")
@page()
@operation("M-Pesa transactions, filtered", query=DashboardTransactionsQuery,
           content_type="text/html", errors=(*_PAGE_ERRORS, 404))  # fmt: skip
async def transactions(request: web.Request) -> web.Response:
    query = read_query(request, DashboardTransactionsQuery)
    tenant = tenant_of(request)
    reports = request.app[SERVICES].reports
    selected = TransactionFilter(query.router_id, query.status, query.start_date, query.end_date)
    found = await reports.transactions(
        tenant.id, selected, limit=PAGE_SIZE + 1, offset=query.offset
    )
    summary = await reports.transaction_summary(tenant.id, selected)
    return show(
        request,
        "dashboard/transactions.html",
        transactions=found[:PAGE_SIZE],
        summary=summary,
        routers=await reports.routers(tenant.id),
        statuses=PAYMENT_STATUSES,
        query=query,
        more=len(found) > PAGE_SIZE,
        page_size=PAGE_SIZE,
        money=lambda amount: money(amount, tenant),
        when=lambda moment: local_time(moment, tenant),
    )


# --- vouchers ---------------------------------------------------------------------------------


async def _vouchers_page(
    request: web.Request, offset: int = 0, *, error: str = "", status: int = 200, codes=()
):
    tenant = tenant_of(request)
    services = request.app[SERVICES]
    batches, total = await services.vouchers.batches(tenant, limit=PAGE_SIZE, offset=offset)
    return show(
        request,
        "dashboard/vouchers.html",
        status,
        batches=batches,
        total=total,
        offset=offset,
        page_size=PAGE_SIZE,
        plans=[p for p in await services.plans.list(tenant) if p.connection_type == "hotspot"],
        routers=await services.reports.routers(tenant.id),
        error=error,
        money=lambda amount: money(amount, tenant),
        when=lambda moment: local_time(moment, tenant),
    )


@routes.get("/dashboard/vouchers")
@page()
@operation("Voucher batches", query=DashboardPageQuery, content_type="text/html",
           errors=_PAGE_ERRORS)  # fmt: skip
async def vouchers(request: web.Request) -> web.Response:
    return await _vouchers_page(request, read_query(request, DashboardPageQuery).offset)


@routes.post("/dashboard/vouchers")
@page("operator", changes=True)
@operation("Generate a batch of vouchers", body=DashboardVoucherBody, body_type=FORM,
           status=303, content_type="text/html", errors=_FORM_ERRORS)  # fmt: skip
async def create_vouchers(request: web.Request) -> web.StreamResponse:
    """As POST /api/vouchers/batches: operators and up; then print its sheet."""
    try:
        body = await read_form(request, DashboardVoucherBody)
        await request.app[SERVICES].vouchers.create_batch(
            tenant_of(request),
            plan_id=body.plan_id,
            count=body.count,
            code_length=body.code_length,
            alphabet=body.alphabet,
            prefix=body.prefix,
            price=body.price,
            valid_days=body.valid_days,
            router_id=body.router_id,
            hotspot_login_url=body.hotspot_login_url,
            actor=request[CALLER].actor,
        )
    except HubError as exc:
        return await _vouchers_page(request, error=exc.message, status=exc.status)
    return _see_other("/dashboard/vouchers")


@routes.get(r"/dashboard/vouchers/{batch_id:\d+}/sheet.html")
@page("operator")
@operation("A batch's printable sheet (HTML)", content_type="text/html",
           errors=(*_PAGE_ERRORS, 404))  # fmt: skip
async def sheet_html(request: web.Request) -> web.Response:
    """The sheet of GET /api/vouchers/batches/{id}/sheet.html, for the signed-in operator."""
    batch_id = path_id(request, "batch_id", BATCH_NOT_FOUND)
    sheet = await request.app[SERVICES].vouchers.sheet(tenant_of(request), batch_id)
    text = await asyncio.to_thread(render_html, sheet)
    return web.Response(text=text, content_type="text/html", charset="utf-8", headers=_NO_STORE)


@routes.get(r"/dashboard/vouchers/{batch_id:\d+}/sheet.pdf")
@page("operator")
@operation("A batch's printable sheet (PDF)", content_type="application/pdf",
           errors=(*_PAGE_ERRORS, 404))  # fmt: skip
async def sheet_pdf(request: web.Request) -> web.Response:
    batch_id = path_id(request, "batch_id", BATCH_NOT_FOUND)
    sheet = await request.app[SERVICES].vouchers.sheet(tenant_of(request), batch_id)
    pdf = await asyncio.to_thread(render_pdf, sheet)
    return web.Response(body=pdf, content_type="application/pdf", headers=_NO_STORE)


# --- usage ------------------------------------------------------------------------------------


@routes.get("/dashboard/usage")
@page()
@operation("A router's traffic per day, from session history", query=UsageQuery,
           content_type="text/html", errors=(*_PAGE_ERRORS, 404))  # fmt: skip
async def usage(request: web.Request) -> web.Response:
    query = read_query(request, UsageQuery)
    tenant = tenant_of(request)
    reports = request.app[SERVICES].reports
    routers = await reports.routers(tenant.id)
    router_id = query.router_id or (routers[0].id if routers else None)
    days, chart = [], None
    if router_id is not None:
        days = await reports.router_usage(tenant.id, router_id, query.days)
        chart = bar_chart(
            [
                (d.day, float(d.bytes_in + d.bytes_out), human_bytes(d.bytes_in + d.bytes_out))
                for d in days
            ]
        )
    return show(
        request,
        "dashboard/usage.html",
        routers=routers,
        router_id=router_id,
        days=days,
        period=query.days,
        chart=chart,
        human_bytes=human_bytes,
    )
