"""Seed 003's dashboard reads (billing face): overview, customers, plan performance, M-Pesa
transactions, routers.

Every handler checks the caller's role (viewer and up), takes the tenant from the caller's
credentials (``?user_id=`` only picks a tenant for a platform admin), validates its query,
calls hub.services.reports.ReportService and shapes the seed's body. Money leaves as JSON
numbers only here: prices as integers when whole (50, hub.web.bodies.money), amounts to the
cent (730.00, which clients read as 730.0): exact Decimals all the way, never float.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from aiohttp import web

from common.timeutil import to_iso, utcnow
from hub.domain import BillingCustomer, PlanRef, Router, RouterRef, Transaction
from hub.services.reports import Overview, PlanReport, TransactionSummary
from hub.storage.reports import TransactionFilter
from hub.typedefs import SERVICES
from hub.web import responses as out
from hub.web.bodies import money
from hub.web.handlers import caller_tenant, fast_json, read_query, require_role
from hub.web.openapi import operation
from hub.web.schemas import (
    CustomersQuery,
    PeriodQuery,
    TenantQuery,
    TransactionsQuery,
    TransactionSummaryQuery,
)

routes = web.RouteTableDef()
_READ_ERRORS = (403, 404)  # a viewer or better; a platform admin's unknown tenant
CENTS = Decimal("0.01")


async def _tenant_id(request: web.Request, query: TenantQuery) -> int:
    require_role(request, "viewer")
    return (await caller_tenant(request, query.user_id)).id


@routes.get("/api/dashboard/overview")
@operation(
    "Revenue, customers and sales at a glance",
    query=TenantQuery,
    response=out.Overview,
    errors=_READ_ERRORS,
)
async def overview(request: web.Request) -> web.Response:
    query = read_query(request, TenantQuery)
    tenant_id = await _tenant_id(request, query)
    return fast_json(overview_body(await request.app[SERVICES].reports.overview(tenant_id)))


@routes.get("/api/customers")
@operation(
    "Customers, a page at a time",
    query=CustomersQuery,
    response=list[out.BillingCustomer],
    errors=_READ_ERRORS,
)
async def customers(request: web.Request) -> web.Response:
    return await _customers(request, active_only=False)


@routes.get("/api/customers/active")
@operation(
    "Customers with live access",
    query=CustomersQuery,
    response=list[out.ActiveCustomer],
    errors=_READ_ERRORS,
)
async def active_customers(request: web.Request) -> web.Response:
    return await _customers(request, active_only=True)


async def _customers(request: web.Request, *, active_only: bool) -> web.Response:
    query = read_query(request, CustomersQuery)
    tenant_id = await _tenant_id(request, query)
    now = utcnow()
    found = await request.app[SERVICES].reports.customers(
        tenant_id, limit=query.limit, offset=query.offset, active_only=active_only, now=now
    )
    if active_only:
        return fast_json([active_customer_body(c, now) for c in found])
    return fast_json([customer_body(c) for c in found])


@routes.get("/api/plans/performance")
@operation(
    "Sales and revenue per plan over a period",
    query=PeriodQuery,
    response=out.PlanPerformance,
    errors=_READ_ERRORS,
)
async def plan_performance(request: web.Request) -> web.Response:
    query = read_query(request, PeriodQuery)
    tenant_id = await _tenant_id(request, query)
    report = await request.app[SERVICES].reports.plan_performance(
        tenant_id, query.start_date, query.end_date
    )
    return fast_json(plan_performance_body(report))


@routes.get("/api/mpesa/transactions")
@operation(
    "M-Pesa transactions, newest first",
    query=TransactionsQuery,
    response=list[out.TransactionItem],
    errors=_READ_ERRORS,
)
async def transactions(request: web.Request) -> web.Response:
    query = read_query(request, TransactionsQuery)
    tenant_id = await _tenant_id(request, query)
    found = await request.app[SERVICES].reports.transactions(
        tenant_id,
        TransactionFilter(query.router_id, query.status, query.start_date, query.end_date),
        limit=query.limit,
        offset=query.offset,
    )
    return fast_json([transaction_body(t) for t in found])


@routes.get("/api/mpesa/transactions/summary")
@operation(
    "M-Pesa transactions summed by status and router",
    query=TransactionSummaryQuery,
    response=out.TransactionSummary,
    errors=_READ_ERRORS,
)
async def transaction_summary(request: web.Request) -> web.Response:
    query = read_query(request, TransactionSummaryQuery)
    tenant_id = await _tenant_id(request, query)
    summary = await request.app[SERVICES].reports.transaction_summary(
        tenant_id, TransactionFilter(query.router_id, None, query.start_date, query.end_date)
    )
    return fast_json(transaction_summary_body(summary))


@routes.get("/api/routers")
@operation(
    "The tenant's routers", query=TenantQuery, response=list[out.BillingRouter], errors=_READ_ERRORS
)
async def routers(request: web.Request) -> web.Response:
    query = read_query(request, TenantQuery)
    tenant_id = await _tenant_id(request, query)
    found = await request.app[SERVICES].reports.routers(tenant_id)
    return fast_json([router_body(r) for r in found])


# --- bodies ------------------------------------------------------------------------------------


def amount(value: Decimal) -> Decimal:
    """Revenue or an amount to the cent (730.00): a JSON number with a fraction, exact."""
    return value.quantize(CENTS)


def _iso(dt: datetime | None) -> str | None:
    return to_iso(dt, "seconds") if dt is not None else None


def _plan_ref(plan: PlanRef | None) -> dict[str, Any] | None:
    return None if plan is None else {"id": plan.id, "name": plan.name, "price": money(plan.price)}


def _router_ref(router: RouterRef | None) -> dict[str, Any] | None:
    return None if router is None else {"id": router.id, "name": router.name}


def customer_body(customer: BillingCustomer) -> dict[str, Any]:
    return {
        "id": customer.id,
        "name": customer.display_name,
        "phone": customer.phone,
        "mac_address": customer.mac_address,
        "status": customer.status,
        "expiry": _iso(customer.expiry),
        "plan": _plan_ref(customer.plan),
        "router": _router_ref(customer.router),
    }


def active_customer_body(customer: BillingCustomer, now: datetime) -> dict[str, Any]:
    """``hours_remaining``: until the access ends, in hours, 2 decimals (never below 0)."""
    body = customer_body(customer)
    left = (customer.expiry - now).total_seconds() / 3600 if customer.expiry else 0.0
    return {
        **{k: body[k] for k in ("id", "name", "phone", "mac_address", "status", "expiry")},
        "hours_remaining": round(max(left, 0.0), 2),
        "plan": body["plan"],
        "router": body["router"],
    }


def overview_body(view: Overview) -> dict[str, Any]:
    revenue = view.revenue
    return {
        "revenue": {
            "today": amount(revenue.today),
            "this_week": amount(revenue.this_week),
            "this_month": amount(revenue.this_month),
            "all_time": amount(revenue.all_time),
        },
        "customers": {
            "total": view.customers_total,
            "active": view.customers_active,
            "inactive": view.customers_inactive,
        },
        "revenue_by_router": [
            {
                "router_id": item.router.id,
                "router_name": item.router.name,
                "transaction_count": item.count,
                "revenue": amount(item.amount),
            }
            for item in view.by_router
        ],
        "revenue_by_plan": [
            {
                "plan_id": item.plan.id,
                "plan_name": item.plan.name,
                "plan_price": money(item.plan.price),
                "sales_count": item.sales_count,
                "revenue": amount(item.revenue),
            }
            for item in view.by_plan
        ],
        "recent_transactions": [
            {
                "payment_id": item.id,
                "amount": amount(item.amount),
                "customer_name": item.customer_name,
                "customer_phone": item.customer_phone,
                "plan_name": item.plan_name,
                "payment_date": to_iso(item.completed_at),
                "payment_method": item.method,
            }
            for item in view.recent
        ],
        "expiring_soon": [active_customer_body(c, view.now) for c in view.expiring_soon],
        "generated_at": to_iso(view.now),
    }


def plan_performance_body(report: PlanReport) -> dict[str, Any]:
    return {
        "plans": [
            {
                "plan_id": item.plan.id,
                "plan_name": item.plan.name,
                "plan_price": money(item.plan.price),
                "duration": f"{item.plan.duration_value} {item.plan.duration_unit}",
                "total_customers": item.total_customers,
                "total_sales": item.total_sales,
                "total_revenue": amount(item.total_revenue),
                "average_revenue_per_sale": amount(item.average_revenue_per_sale),
                "active_customers": item.active_customers,
            }
            for item in report.plans
        ],
        "period": {
            "start_date": report.start_date.isoformat(),
            "end_date": report.end_date.isoformat(),
        },
    }


def transaction_body(item: Transaction) -> dict[str, Any]:
    customer, router, plan = item.customer, item.router, item.plan
    return {
        "transaction_id": item.id,
        "checkout_request_id": item.checkout_request_id,
        "phone_number": item.phone or customer.phone,
        "amount": amount(item.amount),
        "reference": item.reference,
        "lipay_tx_no": item.merchant_request_id,
        "status": item.status,
        "mpesa_receipt_number": item.receipt,
        "transaction_date": _iso(item.completed_at),
        "created_at": _iso(item.created_at),
        "customer": {
            "id": customer.id,
            "name": customer.display_name,
            "phone": customer.phone,
            "mac_address": customer.mac_address,
            "status": customer.status,
        },
        "router": None
        if router is None
        else {"id": router.id, "name": router.name, "ip_address": router.host},
        "plan": {
            "id": plan.id,
            "name": plan.name,
            "price": money(plan.price),
            "duration_value": plan.duration_value,
            "duration_unit": plan.duration_unit,
        },
    }


def transaction_summary_body(summary: TransactionSummary) -> dict[str, Any]:
    """``router_breakdown`` is keyed by router name; a name two routers share gets its id."""
    totals = summary.totals
    names = [item.router.name for item in totals.by_router]
    by_router = {}
    for item in totals.by_router:
        name = item.router.name
        key = name if names.count(name) == 1 else f"{name} (#{item.router.id})"
        by_router[key] = {
            "count": item.count,
            "amount": amount(item.amount),
            "router_id": item.router.id,
        }
    return {
        "total_transactions": totals.count,
        "total_amount": amount(totals.amount),
        "status_breakdown": {
            status: {"count": total.count, "amount": amount(total.amount)}
            for status, total in totals.by_status.items()
        },
        "router_breakdown": by_router,
        "period": {
            "start_date": summary.start_date.isoformat(),
            "end_date": summary.end_date.isoformat(),
        },
    }


def router_body(router: Router) -> dict[str, Any]:
    return {"id": router.id, "name": router.name, "ip_address": router.host, "port": router.port}
