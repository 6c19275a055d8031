"""Billing reports (seed 003): revenue, customers' status, plan performance, transactions.

Every aggregation is one SQL statement; every calendar boundary is computed in Postgres with
``AT TIME ZONE`` the tenant's own ``timezone``, so a payment at 23:30 local time counts for that
local day wherever the hub runs. ``now`` is a parameter (not Postgres' ``now()``): one request
sees one instant throughout, and tests can stand at any local time.

Scope: every statement takes the tenant's id as ``$1`` and reads only that tenant's rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

import asyncpg

from hub.domain import (
    BillingCustomer,
    DayRevenue,
    DayUsage,
    PlanPerformance,
    PlanRef,
    PlanRevenue,
    RecentPayment,
    Revenue,
    RouterRef,
    RouterRevenue,
    StatusTotal,
    Transaction,
    TransactionTotals,
    guest_name,
)
from hub.storage import Executor

PAYMENT_STATUSES = ("completed", "pending", "failed", "expired")  # the seed's order

# A customer's access: the latest end of an entitlement that has started (a revoked one ends
# when it was revoked). After it: the status, one spelling for every report ($2 is now).
_ACCESS = """
LEFT JOIN LATERAL (
    SELECT max(LEAST(e.expires_at, COALESCE(e.revoked_at, e.expires_at))) AS ends_at
    FROM entitlements e WHERE e.customer_id = c.id AND e.starts_at <= $2
) a ON true"""
_STATUS = (
    "CASE WHEN NOT c.is_active THEN 'inactive' WHEN a.ends_at > $2 THEN 'active'"
    " WHEN a.ends_at IS NOT NULL THEN 'expired' ELSE 'inactive' END"
)
_CUSTOMER_COLUMNS = f"""
    c.id AS c_id, c.username AS c_username, c.full_name AS c_full_name, c.phone AS c_phone,
    c.mac_address AS c_mac_address, a.ends_at AS c_expiry, {_STATUS} AS c_status"""
_PLAN_COLUMNS = """
    pl.id AS pl_id, pl.name AS pl_name, pl.price AS pl_price,
    pl.duration_value AS pl_duration_value, pl.duration_unit AS pl_duration_unit"""
_ROUTER_COLUMNS = "r.id AS r_id, r.name AS r_name, r.host AS r_host"

# The customer's last plan and router, of their own tenant only.
_CUSTOMER_SELECT = f"""
SELECT {_CUSTOMER_COLUMNS}, {_PLAN_COLUMNS}, {_ROUTER_COLUMNS}
FROM customers c {_ACCESS}
LEFT JOIN plans pl ON pl.id = c.plan_id AND pl.tenant_id = c.tenant_id
LEFT JOIN routers r ON r.id = c.router_id AND r.tenant_id = c.tenant_id
WHERE c.tenant_id = $1"""

_COMPLETED = "p.tenant_id = $1 AND p.status = 'completed' AND p.completed_at <= $2"

# Local midnight of today, this week's Monday and the 1st of this month, as instants.
# MATERIALIZED: the time zone arithmetic runs once, not once per payment row.
_REVENUE = f"""
WITH b AS MATERIALIZED (
    SELECT date_trunc('day', $2 AT TIME ZONE t.timezone) AT TIME ZONE t.timezone AS day,
           date_trunc('week', $2 AT TIME ZONE t.timezone) AT TIME ZONE t.timezone AS week,
           date_trunc('month', $2 AT TIME ZONE t.timezone) AT TIME ZONE t.timezone AS month
    FROM tenants t WHERE t.id = $1
)
SELECT COALESCE(sum(p.amount) FILTER (WHERE p.completed_at >= b.day), 0) AS today,
       COALESCE(sum(p.amount) FILTER (WHERE p.completed_at >= b.week), 0) AS this_week,
       COALESCE(sum(p.amount) FILTER (WHERE p.completed_at >= b.month), 0) AS this_month,
       COALESCE(sum(p.amount), 0) AS all_time
FROM b LEFT JOIN payments p ON {_COMPLETED}
GROUP BY b.day, b.week, b.month"""

_CUSTOMER_COUNTS = """
SELECT count(*) AS total,
       count(*) FILTER (WHERE c.is_active AND EXISTS (
           SELECT 1 FROM entitlements e WHERE e.customer_id = c.id AND e.revoked_at IS NULL
           AND e.starts_at <= $2 AND e.expires_at > $2)) AS active
FROM customers c WHERE c.tenant_id = $1"""

_REVENUE_BY_ROUTER = f"""
SELECT {_ROUTER_COLUMNS}, count(*) AS count, sum(p.amount) AS amount
FROM payments p JOIN routers r ON r.id = p.router_id
WHERE {_COMPLETED}
GROUP BY r.id ORDER BY r.id"""

_REVENUE_BY_PLAN = f"""
SELECT {_PLAN_COLUMNS}, count(*) AS count, sum(p.amount) AS amount
FROM payments p JOIN plans pl ON pl.id = p.plan_id
WHERE {_COMPLETED}
GROUP BY pl.id ORDER BY pl.id"""

_RECENT_PAYMENTS = f"""
SELECT p.id, p.amount, p.method, p.completed_at, COALESCE(c.phone, p.phone) AS phone,
       c.full_name, c.username, pl.name AS plan_name
FROM payments p JOIN customers c ON c.id = p.customer_id JOIN plans pl ON pl.id = p.plan_id
WHERE {_COMPLETED}
ORDER BY p.completed_at DESC, p.id DESC LIMIT $3"""

# Sales of [start, end] (local dates, both included) and the live access of each plan now.
_PLAN_PERFORMANCE = f"""
WITH b AS MATERIALIZED (
    SELECT $3::date::timestamp AT TIME ZONE t.timezone AS lo,
           ($4::date + 1)::timestamp AT TIME ZONE t.timezone AS hi
    FROM tenants t WHERE t.id = $1
), sales AS (
    SELECT p.plan_id, count(*) AS sales, count(DISTINCT p.customer_id) AS customers,
           sum(p.amount) AS revenue
    FROM payments p, b
    WHERE {_COMPLETED} AND p.completed_at >= b.lo AND p.completed_at < b.hi
    GROUP BY p.plan_id
), live AS (
    SELECT e.plan_id, count(DISTINCT e.customer_id) AS active
    FROM entitlements e JOIN customers c ON c.id = e.customer_id AND c.is_active
    WHERE e.tenant_id = $1 AND e.plan_id IS NOT NULL AND e.revoked_at IS NULL
      AND e.starts_at <= $2 AND e.expires_at > $2
    GROUP BY e.plan_id
)
SELECT {_PLAN_COLUMNS},
       COALESCE(s.customers, 0) AS total_customers, COALESCE(s.sales, 0) AS total_sales,
       COALESCE(s.revenue, 0) AS total_revenue,
       COALESCE(round(s.revenue / s.sales, 2), 0) AS average_revenue_per_sale,
       COALESCE(l.active, 0) AS active_customers
FROM plans pl LEFT JOIN sales s ON s.plan_id = pl.id LEFT JOIN live l ON l.plan_id = pl.id
WHERE pl.tenant_id = $1 AND (pl.deleted_at IS NULL OR s.plan_id IS NOT NULL)
ORDER BY pl.id"""

# Mobile-money payments a filter selects ($3 router, $4 status, $5/$6 local dates of
# created_at, both included), created by $2 (now, also the customer's status). The dates
# become instants once (b), not once per row.
_TRANSACTIONS_BOUNDS = """
WITH b AS MATERIALIZED (
    SELECT t.timezone AS tz,
           $5::date::timestamp AT TIME ZONE t.timezone AS lo,
           ($6::date + 1)::timestamp AT TIME ZONE t.timezone AS hi
    FROM tenants t WHERE t.id = $1
)"""
_TRANSACTIONS_WHERE = """
WHERE p.tenant_id = $1 AND p.method = 'mobile_money' AND p.created_at <= $2
  AND ($3::bigint IS NULL OR p.router_id = $3)
  AND ($4::text IS NULL OR p.status = $4)
  AND (b.lo IS NULL OR p.created_at >= b.lo)
  AND (b.hi IS NULL OR p.created_at < b.hi)"""

_TRANSACTIONS = f"""{_TRANSACTIONS_BOUNDS}
SELECT p.id, p.checkout_request_id, p.merchant_request_id, p.phone, p.amount, p.reference,
       p.status, p.receipt, p.completed_at, p.created_at,
       {_CUSTOMER_COLUMNS}, {_PLAN_COLUMNS}, {_ROUTER_COLUMNS}
FROM b JOIN payments p ON true
JOIN customers c ON c.id = p.customer_id
JOIN plans pl ON pl.id = p.plan_id
LEFT JOIN routers r ON r.id = p.router_id {_ACCESS}
{_TRANSACTIONS_WHERE}
ORDER BY p.created_at DESC, p.id DESC LIMIT $7 OFFSET $8"""

# One pass: the overall total, per status, per router (router NULL: payments whose router is
# gone, counted in the totals only). GROUPING(x) is 1 in the sets that leave x out.
_TRANSACTION_TOTALS = f"""{_TRANSACTIONS_BOUNDS}
SELECT GROUPING(p.status) AS no_status, GROUPING(r.id) AS no_router,
       p.status, {_ROUTER_COLUMNS}, count(*) AS count, COALESCE(sum(p.amount), 0) AS amount,
       (min(p.created_at) AT TIME ZONE min(b.tz))::date AS first_date
FROM b JOIN payments p ON true LEFT JOIN routers r ON r.id = p.router_id
{_TRANSACTIONS_WHERE}
GROUP BY GROUPING SETS ((), (p.status), (r.id, r.name, r.host))"""


# The last $3 local days up to $2's (today included), each with its completed payments.
_REVENUE_PER_DAY = f"""
WITH b AS MATERIALIZED (
    SELECT t.timezone AS tz, ($2::timestamptz AT TIME ZONE t.timezone)::date AS today
    FROM tenants t WHERE t.id = $1
), days AS (
    SELECT d::date AS day, d AT TIME ZONE b.tz AS lo, (d + interval '1 day') AT TIME ZONE b.tz AS hi
    FROM b, generate_series(b.today - ($3::int - 1), b.today, interval '1 day') d
)
SELECT days.day, COALESCE(sum(p.amount), 0) AS amount, count(p.id) AS count
FROM days LEFT JOIN payments p
  ON {_COMPLETED} AND p.completed_at >= days.lo AND p.completed_at < days.hi
GROUP BY days.day ORDER BY days.day"""

# Sessions of router $4 (of tenant $1) that ended on each of the last $3 local days up to $2's.
_USAGE_PER_DAY = """
WITH b AS MATERIALIZED (
    SELECT t.timezone AS tz, ($2::timestamptz AT TIME ZONE t.timezone)::date AS today
    FROM tenants t WHERE t.id = $1
), days AS (
    SELECT d::date AS day, d AT TIME ZONE b.tz AS lo, (d + interval '1 day') AT TIME ZONE b.tz AS hi
    FROM b, generate_series(b.today - ($3::int - 1), b.today, interval '1 day') d
)
SELECT days.day, count(h.id) AS sessions, COALESCE(sum(h.bytes_in), 0)::bigint AS bytes_in,
       COALESCE(sum(h.bytes_out), 0)::bigint AS bytes_out
FROM days LEFT JOIN session_history h
  ON h.router_id = $4 AND h.ended_at >= days.lo AND h.ended_at < days.hi AND h.ended_at <= $2
  AND EXISTS (SELECT 1 FROM routers r WHERE r.id = $4 AND r.tenant_id = $1)
GROUP BY days.day ORDER BY days.day"""


@dataclass(frozen=True, slots=True)
class TransactionFilter:
    """What /api/mpesa/transactions(/summary) select: all None is every transaction."""

    router_id: int | None = None
    status: str | None = None
    start_date: date | None = None  # the tenant's local dates, both included
    end_date: date | None = None


def _plan(row: asyncpg.Record) -> PlanRef | None:
    if row["pl_id"] is None:
        return None
    return PlanRef(
        id=row["pl_id"],
        name=row["pl_name"],
        price=row["pl_price"],
        duration_value=row["pl_duration_value"],
        duration_unit=row["pl_duration_unit"],
    )


def _router(row: asyncpg.Record) -> RouterRef | None:
    if row["r_id"] is None:
        return None
    return RouterRef(id=row["r_id"], name=row["r_name"], host=row["r_host"])


def _customer(row: asyncpg.Record) -> BillingCustomer:
    return BillingCustomer(
        id=row["c_id"],
        username=row["c_username"],
        full_name=row["c_full_name"],
        phone=row["c_phone"],
        mac_address=row["c_mac_address"],
        status=row["c_status"],
        expiry=row["c_expiry"],
        plan=_plan(row),
        router=_router(row),
    )


class BillingReportRepository:
    """The reads behind seed 003's dashboard, each scoped to one tenant."""

    def __init__(self, db: Executor) -> None:
        self._db = db

    async def local_date(self, tenant_id: int, now: datetime) -> date | None:
        """``now``'s date in the tenant's time zone (None: no such tenant)."""
        return await self._db.fetchval(
            "SELECT ($2::timestamptz AT TIME ZONE timezone)::date FROM tenants WHERE id = $1",
            tenant_id,
            now,
        )

    async def revenue(self, tenant_id: int, now: datetime) -> Revenue:
        row = await self._db.fetchrow(_REVENUE, tenant_id, now)
        if row is None:  # no such tenant: nothing earned
            return Revenue(*(Decimal(0),) * 4)
        return Revenue(
            today=row["today"],
            this_week=row["this_week"],
            this_month=row["this_month"],
            all_time=row["all_time"],
        )

    async def customer_counts(self, tenant_id: int, now: datetime) -> tuple[int, int]:
        """(all customers, customers with a live entitlement now)."""
        row = await self._db.fetchrow(_CUSTOMER_COUNTS, tenant_id, now)
        return row["total"], row["active"]

    async def revenue_by_router(self, tenant_id: int, now: datetime) -> list[RouterRevenue]:
        rows = await self._db.fetch(_REVENUE_BY_ROUTER, tenant_id, now)
        return [RouterRevenue(_router(row), row["count"], row["amount"]) for row in rows]

    async def revenue_by_plan(self, tenant_id: int, now: datetime) -> list[PlanRevenue]:
        rows = await self._db.fetch(_REVENUE_BY_PLAN, tenant_id, now)
        return [PlanRevenue(_plan(row), row["count"], row["amount"]) for row in rows]

    async def revenue_per_day(self, tenant_id: int, now: datetime, days: int) -> list[DayRevenue]:
        """The last ``days`` local days up to today, oldest first, zeros included."""
        rows = await self._db.fetch(_REVENUE_PER_DAY, tenant_id, now, days)
        return [DayRevenue(row["day"], row["amount"], row["count"]) for row in rows]

    async def usage_per_day(
        self, tenant_id: int, router_id: int, now: datetime, days: int
    ) -> list[DayUsage]:
        """Finished sessions of a router of the tenant per local day (session_history),
        oldest first, zeros included; another tenant's router reads as no traffic."""
        rows = await self._db.fetch(_USAGE_PER_DAY, tenant_id, now, days, router_id)
        return [
            DayUsage(row["day"], row["sessions"], row["bytes_in"], row["bytes_out"]) for row in rows
        ]

    async def recent_payments(
        self, tenant_id: int, now: datetime, limit: int
    ) -> list[RecentPayment]:
        rows = await self._db.fetch(_RECENT_PAYMENTS, tenant_id, now, limit)
        return [
            RecentPayment(
                id=row["id"],
                amount=row["amount"],
                method=row["method"],
                completed_at=row["completed_at"],
                customer_name=guest_name(row["full_name"], row["phone"], row["username"]),
                customer_phone=row["phone"],
                plan_name=row["plan_name"],
            )
            for row in rows
        ]

    async def customers(
        self,
        tenant_id: int,
        now: datetime,
        *,
        limit: int,
        offset: int = 0,
        active_only: bool = False,
    ) -> list[BillingCustomer]:
        """The tenant's customers by id; ``active_only``: those with a live entitlement now."""
        where = " AND c.is_active AND a.ends_at > $2" if active_only else ""
        rows = await self._db.fetch(
            _CUSTOMER_SELECT + where + " ORDER BY c.id LIMIT $3 OFFSET $4",
            tenant_id,
            now,
            limit,
            offset,
        )
        return [_customer(row) for row in rows]

    async def expiring(
        self, tenant_id: int, now: datetime, until: datetime, limit: int
    ) -> list[BillingCustomer]:
        """Active customers whose access ends by ``until``, soonest first."""
        rows = await self._db.fetch(
            _CUSTOMER_SELECT
            + " AND c.is_active AND a.ends_at > $2 AND a.ends_at <= $3"
            + " ORDER BY a.ends_at, c.id LIMIT $4",
            tenant_id,
            now,
            until,
            limit,
        )
        return [_customer(row) for row in rows]

    async def plan_performance(
        self, tenant_id: int, now: datetime, start: date, end: date
    ) -> list[PlanPerformance]:
        """Each live plan (and each deleted one that sold in the period), by id."""
        rows = await self._db.fetch(_PLAN_PERFORMANCE, tenant_id, now, start, end)
        return [
            PlanPerformance(
                plan=_plan(row),
                total_customers=row["total_customers"],
                total_sales=row["total_sales"],
                total_revenue=row["total_revenue"],
                average_revenue_per_sale=row["average_revenue_per_sale"],
                active_customers=row["active_customers"],
            )
            for row in rows
        ]

    async def transactions(
        self,
        tenant_id: int,
        now: datetime,
        selected: TransactionFilter,
        *,
        limit: int,
        offset: int = 0,
    ) -> list[Transaction]:
        """Mobile-money payments, newest first."""
        rows = await self._db.fetch(
            _TRANSACTIONS, tenant_id, now, *_filter_args(selected), limit, offset
        )
        return [
            Transaction(
                id=row["id"],
                checkout_request_id=row["checkout_request_id"],
                merchant_request_id=row["merchant_request_id"],
                phone=row["phone"],
                amount=row["amount"],
                reference=row["reference"],
                status=row["status"],
                receipt=row["receipt"],
                completed_at=row["completed_at"],
                created_at=row["created_at"],
                customer=_customer(row),
                router=_router(row),
                plan=_plan(row),
            )
            for row in rows
        ]

    async def transaction_totals(
        self, tenant_id: int, now: datetime, selected: TransactionFilter
    ) -> TransactionTotals:
        """Count and sum overall, per status (every status, zeros too) and per router, and the
        local date of the first transaction selected."""
        rows = await self._db.fetch(_TRANSACTION_TOTALS, tenant_id, now, *_filter_args(selected))
        count, amount, first = 0, Decimal(0), None
        by_status = {status: StatusTotal(0, Decimal(0)) for status in PAYMENT_STATUSES}
        by_router = []
        for row in rows:
            if row["no_status"] and row["no_router"]:
                count, amount, first = row["count"], row["amount"], row["first_date"]
            elif row["no_status"]:
                if row["r_id"] is not None:
                    by_router.append(RouterRevenue(_router(row), row["count"], row["amount"]))
            else:
                by_status[row["status"]] = StatusTotal(row["count"], row["amount"])
        by_router.sort(key=lambda item: item.router.id)
        return TransactionTotals(count, amount, by_status, by_router, first)


def _filter_args(selected: TransactionFilter) -> tuple[object, ...]:
    return (selected.router_id, selected.status, selected.start_date, selected.end_date)
