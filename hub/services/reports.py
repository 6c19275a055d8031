"""Seed 003's dashboard reads: overview, customers, plan performance, transactions, routers.

Every method takes the caller's tenant id (hub.web.handlers.caller_tenant decided it from the
credentials) and reads only that tenant's rows; a router of another tenant named in a filter
is "not found". ``now`` defaults to the current instant; one report reads one snapshot (a
read-only repeatable-read transaction), so its parts add up.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import asyncpg

from common.timeutil import utcnow
from hub.config import HubConfig
from hub.domain import (
    BillingCustomer,
    DayRevenue,
    DayUsage,
    PlanPerformance,
    PlanRevenue,
    RecentPayment,
    Revenue,
    Router,
    RouterRevenue,
    Transaction,
    TransactionTotals,
)
from hub.errors import InvalidInput, NotFound
from hub.services.portal import ROUTER_NOT_FOUND
from hub.storage.reports import BillingReportRepository, TransactionFilter
from hub.storage.routers import RouterRepository

RECENT_TRANSACTIONS = 10  # the overview's recent_transactions
EXPIRING_WITHIN = timedelta(hours=24)  # the overview's expiring_soon: access ends within
EXPIRING_LIMIT = 100  # at most this many of them, soonest first
MAX_CHART_DAYS = 366  # the longest per-day series a chart asks for


@dataclass(frozen=True, slots=True)
class Overview:
    revenue: Revenue
    customers_total: int
    customers_active: int
    by_router: list[RouterRevenue]
    by_plan: list[PlanRevenue]
    recent: list[RecentPayment]
    expiring_soon: list[BillingCustomer]
    now: datetime

    @property
    def customers_inactive(self) -> int:
        """Everyone without live access now (expired ones too), as the seed counts them."""
        return self.customers_total - self.customers_active


@dataclass(frozen=True, slots=True)
class PlanReport:
    plans: list[PlanPerformance]
    start_date: date
    end_date: date


@dataclass(frozen=True, slots=True)
class TransactionSummary:
    """Totals of a filter, over the period it covers: its dates, else from the first
    transaction selected (today without any) up to today, in the tenant's calendar."""

    totals: TransactionTotals
    start_date: date
    end_date: date


class ReportService:
    def __init__(self, pool: asyncpg.Pool, config: HubConfig) -> None:
        self._pool = pool
        self._config = config

    @asynccontextmanager
    async def _snapshot(self) -> AsyncIterator[BillingReportRepository]:
        async with self._pool.acquire() as conn:
            async with conn.transaction(isolation="repeatable_read", readonly=True):
                yield BillingReportRepository(conn)

    async def overview(self, tenant_id: int, now: datetime | None = None) -> Overview:
        now = now or utcnow()
        async with self._snapshot() as reports:
            revenue = await reports.revenue(tenant_id, now)
            total, active = await reports.customer_counts(tenant_id, now)
            by_router = await reports.revenue_by_router(tenant_id, now)
            by_plan = await reports.revenue_by_plan(tenant_id, now)
            recent = await reports.recent_payments(tenant_id, now, RECENT_TRANSACTIONS)
            expiring = await reports.expiring(tenant_id, now, now + EXPIRING_WITHIN, EXPIRING_LIMIT)
        return Overview(revenue, total, active, by_router, by_plan, recent, expiring, now)

    async def revenue_per_day(
        self, tenant_id: int, days: int = 30, now: datetime | None = None
    ) -> list[DayRevenue]:
        """Revenue of each of the last ``days`` local days (today included), oldest first."""
        _check_days(days)
        return await BillingReportRepository(self._pool).revenue_per_day(
            tenant_id, now or utcnow(), days
        )

    async def router_usage(
        self, tenant_id: int, router_id: int, days: int = 30, now: datetime | None = None
    ) -> list[DayUsage]:
        """A router's finished sessions per local day, from session history; another
        tenant's router is "not found"."""
        _check_days(days)
        if await self._routers().get(router_id, tenant_id) is None:
            raise NotFound(ROUTER_NOT_FOUND)
        return await BillingReportRepository(self._pool).usage_per_day(
            tenant_id, router_id, now or utcnow(), days
        )

    async def customers(
        self,
        tenant_id: int,
        *,
        limit: int,
        offset: int = 0,
        active_only: bool = False,
        now: datetime | None = None,
    ) -> list[BillingCustomer]:
        return await BillingReportRepository(self._pool).customers(
            tenant_id, now or utcnow(), limit=limit, offset=offset, active_only=active_only
        )

    async def plan_performance(
        self,
        tenant_id: int,
        start_date: date | None = None,
        end_date: date | None = None,
        now: datetime | None = None,
    ) -> PlanReport:
        """Sales between two local dates, both included; by default this month up to today
        (only an end: from the 1st of its month; only a start: up to today)."""
        now = now or utcnow()
        async with self._snapshot() as reports:
            today = await reports.local_date(tenant_id, now)
            if today is None:
                raise NotFound("Tenant not found")
            end = end_date or max(today, start_date or today)
            start = start_date or end.replace(day=1)
            _check_period(start, end)
            plans = await reports.plan_performance(tenant_id, now, start, end)
        return PlanReport(plans, start, end)

    async def transactions(
        self,
        tenant_id: int,
        selected: TransactionFilter,
        *,
        limit: int,
        offset: int = 0,
        now: datetime | None = None,
    ) -> list[Transaction]:
        await self._check_filter(tenant_id, selected)
        return await BillingReportRepository(self._pool).transactions(
            tenant_id, now or utcnow(), selected, limit=limit, offset=offset
        )

    async def transaction_summary(
        self, tenant_id: int, selected: TransactionFilter, now: datetime | None = None
    ) -> TransactionSummary:
        await self._check_filter(tenant_id, selected)
        now = now or utcnow()
        async with self._snapshot() as reports:
            today = await reports.local_date(tenant_id, now)
            if today is None:
                raise NotFound("Tenant not found")
            totals = await reports.transaction_totals(tenant_id, now, selected)
        end = selected.end_date or max(today, selected.start_date or today)
        start = selected.start_date or min(totals.first_date or end, end)
        return TransactionSummary(totals, start, end)

    async def routers(self, tenant_id: int) -> list[Router]:
        """The tenant's live routers, by id."""
        return await self._routers().find(tenant_id)

    def _routers(self) -> RouterRepository:
        return RouterRepository(self._pool, offline_after=self._config.agent_offline_after)

    async def _check_filter(self, tenant_id: int, selected: TransactionFilter) -> None:
        """A router of another tenant (or none) is "not found"; a period must run forwards."""
        if selected.start_date and selected.end_date:
            _check_period(selected.start_date, selected.end_date)
        if selected.router_id is not None:
            if await self._routers().get(selected.router_id, tenant_id) is None:
                raise NotFound(ROUTER_NOT_FOUND)


def _check_days(days: int) -> None:
    if not 1 <= days <= MAX_CHART_DAYS:
        raise InvalidInput(f"days must be between 1 and {MAX_CHART_DAYS}")


def _check_period(start: date, end: date) -> None:
    if start > end:
        raise InvalidInput("start_date must be on or before end_date")
