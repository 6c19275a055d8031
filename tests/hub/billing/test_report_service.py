"""ReportService over a real Postgres: the tenant's calendar, statuses, sums, filters, scope."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from hub.errors import InvalidInput, NotFound
from hub.services.reports import ReportService
from hub.storage.reports import TransactionFilter
from tests.hub.billing.ledger import Ledger


@pytest.fixture
def ledger(pool) -> Ledger:
    return Ledger(pool)


@pytest.fixture
def reports(pool, hub_config) -> ReportService:
    return ReportService(pool, hub_config)


def local(zone: str, *args: int) -> datetime:
    return datetime(*args, tzinfo=ZoneInfo(zone))


async def test_revenue_counts_by_the_tenant_local_calendar(seed, ledger, reports):
    """Lima is UTC-5: 23:30 there is 04:30 UTC the next day, and still counts for today."""
    acme = await seed.tenant("acme")
    tid = acme.tenant.id
    await ledger.timezone(tid, "America/Lima")
    plan = await ledger.plan(tid)
    buyer = await ledger.customer(tid, "254700000001")
    now = local("America/Lima", 2026, 1, 7, 23, 45)  # a Wednesday; Monday is the 5th
    for when, amount in (
        ((2026, 1, 7, 23, 30), 10),  # today, though 2026-01-08 in UTC
        ((2026, 1, 7, 0, 10), 20),  # today
        ((2026, 1, 6, 23, 59), 40),  # yesterday (2026-01-07 in UTC): this week
        ((2026, 1, 5, 0, 5), 100),  # Monday: this week
        ((2026, 1, 4, 23, 59), 80),  # Sunday: last week, this month
        ((2025, 12, 31, 23, 30), 200),  # last month (2026 in UTC)
    ):
        await ledger.payment(tid, buyer, plan, amount, completed_at=local("America/Lima", *when))
    # Not money received (yet): pending, failed, and completed after the report's instant.
    await ledger.payment(tid, buyer, plan, 1000, status="pending", created_at=now)
    await ledger.payment(tid, buyer, plan, 1000, status="failed", created_at=now)
    await ledger.payment(tid, buyer, plan, 1000, completed_at=now + timedelta(minutes=1))

    revenue = (await reports.overview(tid, now)).revenue
    assert (revenue.today, revenue.this_week, revenue.this_month, revenue.all_time) == (
        Decimal("30.00"),
        Decimal("170.00"),
        Decimal("250.00"),
        Decimal("450.00"),
    )


async def test_a_payment_before_local_midnight_is_yesterday(seed, ledger, reports):
    """Nairobi is UTC+3: just after local midnight the UTC date is still yesterday's."""
    acme = await seed.tenant("acme")
    tid = acme.tenant.id  # Africa/Nairobi: every tenant's default
    plan = await ledger.plan(tid)
    buyer = await ledger.customer(tid, "254700000001")
    await ledger.payment(
        tid, buyer, plan, 10, completed_at=local("Africa/Nairobi", 2026, 1, 7, 0, 5)
    )
    await ledger.payment(
        tid, buyer, plan, 20, completed_at=local("Africa/Nairobi", 2026, 1, 6, 23, 55)
    )
    now = local("Africa/Nairobi", 2026, 1, 7, 0, 20)  # 2026-01-06 21:20 UTC
    revenue = (await reports.overview(tid, now)).revenue
    assert (revenue.today, revenue.this_week) == (Decimal("10.00"), Decimal("30.00"))
    # A minute before local midnight, both were yesterday's and today is empty.
    revenue = (await reports.overview(tid, local("Africa/Nairobi", 2026, 1, 7, 0, 0, 0))).revenue
    assert revenue.today == Decimal("0")
    revenue = (await reports.overview(tid, local("Africa/Nairobi", 2026, 1, 6, 23, 59))).revenue
    assert revenue.today == Decimal("20.00")


async def test_statuses_come_from_entitlements(seed, ledger, reports):
    acme = await seed.tenant("acme")
    tid = acme.tenant.id
    now = datetime.now(UTC)
    plan = await ledger.plan(tid)
    active = await ledger.customer(tid, "254795635364", phone="254795635364", plan_id=plan)
    await ledger.access(tid, active, expires_at=now - timedelta(hours=3))  # an older one
    await ledger.access(tid, active, expires_at=now + timedelta(hours=2), plan_id=plan)
    expired = await ledger.customer(tid, "expired-one", full_name="Jane Doe")
    await ledger.access(tid, expired, expires_at=now - timedelta(minutes=1))
    revoked = await ledger.customer(tid, "revoked-one")
    ends = now + timedelta(hours=5)
    await ledger.access(tid, revoked, expires_at=ends, revoked_at=now - timedelta(minutes=5))
    never = await ledger.customer(tid, "never", phone="+2-5")  # too few digits for a Guest name
    later = await ledger.customer(tid, "later")  # access that starts later: none yet
    await ledger.access(
        tid, later, starts_at=now + timedelta(hours=1), expires_at=now + timedelta(hours=2)
    )
    off = await ledger.customer(tid, "switched-off", is_active=False)
    await ledger.access(tid, off, expires_at=now + timedelta(hours=2))

    listed = {c.id: c for c in await reports.customers(tid, limit=100, now=now)}
    assert {cid: c.status for cid, c in listed.items()} == {
        active: "active",
        expired: "expired",
        revoked: "expired",
        never: "inactive",
        later: "inactive",
        off: "inactive",
    }
    assert listed[active].expiry > now + timedelta(hours=1)
    assert listed[active].plan.name == "1 Hour Plan" and listed[active].router is None
    assert listed[revoked].expiry < now and listed[never].expiry is None
    assert listed[active].display_name == "Guest 5364"
    assert listed[expired].display_name == "Jane Doe"
    assert listed[never].display_name == "never"
    assert [c.id for c in await reports.customers(tid, limit=100, active_only=True)] == [active]
    assert [c.id for c in await reports.customers(tid, limit=2, offset=1)] == [expired, revoked]

    overview = await reports.overview(tid, now)
    assert (overview.customers_total, overview.customers_active) == (6, 1)
    assert overview.customers_inactive == 5


async def test_expiring_soon_is_access_ending_within_a_day(seed, ledger, reports):
    acme = await seed.tenant("acme")
    tid = acme.tenant.id
    now = datetime.now(UTC)
    soon, later, gone = [await ledger.customer(tid, name) for name in ("soon", "later", "gone")]
    await ledger.access(tid, soon, expires_at=now + timedelta(hours=23))
    await ledger.access(tid, later, expires_at=now + timedelta(hours=25))
    await ledger.access(tid, gone, expires_at=now - timedelta(hours=1))
    overview = await reports.overview(tid, now)
    assert [c.id for c in overview.expiring_soon] == [soon]


async def test_revenue_by_router_and_plan_and_recent_payments(seed, ledger, reports):
    acme = await seed.tenant("acme")
    tid = acme.tenant.id
    guest = await seed.router(acme, "Guest Hotspot Router", site="guest", host="192.168.1.1")
    office = await seed.router(acme, "Office", site="office")
    hour = await ledger.plan(tid, "1 Hour Plan", 50)
    test = await ledger.plan(tid, "5 Minutes Test Plan", 10, 5, "minutes")
    buyer = await ledger.customer(tid, "254795635364", phone="254795635364")
    base = datetime.now(UTC) - timedelta(hours=1)
    for minute, plan, amount, router, method in (
        (1, hour, 50, guest, "mobile_money"),
        (2, test, 10, guest, "mobile_money"),
        (3, test, 10, office, "cash"),
        (4, test, 10, None, "voucher"),  # a router since removed
    ):
        await ledger.payment(
            tid,
            buyer,
            plan,
            amount,
            router_id=router,
            method=method,
            completed_at=base + timedelta(minutes=minute),
        )
    await ledger.payment(tid, buyer, hour, 50, router_id=guest, status="failed")

    overview = await reports.overview(tid)
    assert [(r.router.id, r.router.name, r.count, r.amount) for r in overview.by_router] == [
        (guest, "Guest Hotspot Router", 2, Decimal("60.00")),
        (office, "Office", 1, Decimal("10.00")),
    ]
    assert [(p.plan.id, p.plan.price, p.sales_count, p.revenue) for p in overview.by_plan] == [
        (hour, Decimal("50.00"), 1, Decimal("50.00")),
        (test, Decimal("10.00"), 3, Decimal("30.00")),
    ]
    assert [(p.method, p.amount) for p in overview.recent] == [
        ("voucher", Decimal("10.00")),
        ("cash", Decimal("10.00")),
        ("mobile_money", Decimal("10.00")),
        ("mobile_money", Decimal("50.00")),
    ]
    first = overview.recent[-1]
    assert (first.customer_name, first.customer_phone, first.plan_name) == (
        "Guest 5364",
        "254795635364",
        "1 Hour Plan",
    )
    assert first.completed_at == base + timedelta(minutes=1)


async def test_plan_performance_over_local_dates(seed, ledger, reports):
    acme = await seed.tenant("acme")
    tid = acme.tenant.id
    await ledger.timezone(tid, "America/Lima")
    zone = "America/Lima"
    hour = await ledger.plan(tid, "1 Hour Plan", 50)
    day = await ledger.plan(tid, "Day Plan", "99.50", 1, "days")
    idle = await ledger.plan(tid, "Nobody buys this", 5)
    gone = await ledger.plan(tid, "Deleted, sold", 20)
    unsold = await ledger.plan(tid, "Deleted, unsold", 30)
    await ledger.pool.execute(
        "UPDATE plans SET deleted_at = now() WHERE id = ANY($1::bigint[])", [gone, unsold]
    )
    alice, bob = [await ledger.customer(tid, name) for name in ("alice", "bob")]
    for who, plan, amount, when in (
        (alice, hour, 50, (2026, 1, 1, 0, 0)),  # first instant of the period
        (alice, hour, 50, (2026, 1, 10, 23, 30)),  # last day, late (UTC: the 11th)
        (bob, hour, 50, (2026, 1, 5, 12, 0)),
        (bob, day, "99.50", (2026, 1, 5, 12, 0)),
        (bob, day, "100.50", (2026, 1, 6, 12, 0)),
        (bob, gone, 20, (2026, 1, 6, 12, 0)),
        (alice, hour, 50, (2025, 12, 31, 23, 59)),  # before
        (alice, hour, 50, (2026, 1, 11, 0, 0)),  # after
    ):
        await ledger.payment(tid, who, plan, amount, completed_at=local(zone, *when))
    now = local(zone, 2026, 1, 20, 12, 0)
    await ledger.access(tid, alice, expires_at=now + timedelta(hours=1), plan_id=hour)
    await ledger.access(tid, bob, expires_at=now + timedelta(hours=1), plan_id=hour)
    await ledger.access(tid, bob, expires_at=now - timedelta(hours=1), plan_id=day)

    report = await reports.plan_performance(tid, date(2026, 1, 1), date(2026, 1, 10), now)
    assert (report.start_date, report.end_date) == (date(2026, 1, 1), date(2026, 1, 10))
    got = {
        p.plan.id: (
            p.total_customers,
            p.total_sales,
            p.total_revenue,
            p.average_revenue_per_sale,
            p.active_customers,
        )
        for p in report.plans
    }
    assert got == {
        hour: (2, 3, Decimal("150.00"), Decimal("50.00"), 2),
        day: (1, 2, Decimal("200.00"), Decimal("100.00"), 0),
        idle: (0, 0, Decimal("0"), Decimal("0"), 0),
        gone: (1, 1, Decimal("20.00"), Decimal("20.00"), 0),
    }
    assert [p.plan.id for p in report.plans] == sorted(got)

    # Default: the 1st of this month (local) to today (local).
    report = await reports.plan_performance(tid, now=local(zone, 2026, 1, 10, 23, 50))
    assert (report.start_date, report.end_date) == (date(2026, 1, 1), date(2026, 1, 10))
    assert {p.plan.id: p.total_sales for p in report.plans}[hour] == 3
    report = await reports.plan_performance(tid, end_date=date(2025, 12, 31), now=now)
    assert (report.start_date, report.end_date) == (date(2025, 12, 1), date(2025, 12, 31))
    report = await reports.plan_performance(tid, start_date=date(2026, 1, 6), now=now)
    assert (report.start_date, report.end_date) == (date(2026, 1, 6), date(2026, 1, 20))
    with pytest.raises(InvalidInput, match="start_date must be on or before end_date"):
        await reports.plan_performance(tid, date(2026, 1, 2), date(2026, 1, 1), now)


async def test_transactions_filters_order_and_totals(seed, ledger, reports):
    acme = await seed.tenant("acme")
    tid = acme.tenant.id
    zone = "Africa/Nairobi"
    guest = await seed.router(acme, "Guest Hotspot Router", site="guest", host="192.168.1.1")
    office = await seed.router(acme, "Office", site="office")
    plan = await ledger.plan(tid, "5 Minutes Test Plan", 10, 5, "minutes")
    buyer = await ledger.customer(tid, "254795635364", phone="254795635364")
    ids = {}
    for name, router, status, when in (
        ("jan5-late", guest, "completed", (2026, 1, 5, 23, 50)),  # the 5th, 20:50 UTC
        ("jan6-early", guest, "pending", (2026, 1, 6, 0, 10)),  # the 6th, 5th in UTC
        ("jan6", office, "failed", (2026, 1, 6, 12, 0)),
        ("jan7", guest, "expired", (2026, 1, 7, 12, 0)),
        ("jan8", office, "completed", (2026, 1, 8, 0, 0)),
    ):
        ids[name] = await ledger.payment(
            tid,
            buyer,
            plan,
            10,
            status=status,
            router_id=router,
            created_at=local(zone, *when),
            checkout_request_id=f"ws_CO_{name}",
            merchant_request_id=f"mr-{name}",
        )
    await ledger.payment(tid, buyer, plan, 10, method="cash", router_id=guest)  # not M-Pesa

    async def listed(**fields) -> list[str]:
        found = await reports.transactions(tid, TransactionFilter(**fields), limit=100)
        names = {v: k for k, v in ids.items()}
        return [names[t.id] for t in found]

    everything = ["jan8", "jan7", "jan6", "jan6-early", "jan5-late"]
    assert await listed() == everything  # newest first, M-Pesa only
    assert await listed(router_id=guest) == ["jan7", "jan6-early", "jan5-late"]
    assert await listed(status="completed") == ["jan8", "jan5-late"]
    assert await listed(start_date=date(2026, 1, 6)) == everything[:4]
    assert await listed(end_date=date(2026, 1, 5)) == ["jan5-late"]
    assert await listed(start_date=date(2026, 1, 6), end_date=date(2026, 1, 6)) == [
        "jan6",
        "jan6-early",
    ]
    assert await listed(router_id=office, status="failed") == ["jan6"]
    page = await reports.transactions(tid, TransactionFilter(), limit=2, offset=1)
    assert [t.id for t in page] == [ids["jan7"], ids["jan6"]]

    one = (await reports.transactions(tid, TransactionFilter(status="completed"), limit=1))[0]
    assert (one.checkout_request_id, one.merchant_request_id, one.router.host) == (
        "ws_CO_jan8",
        "mr-jan8",
        "10.50.0.2",
    )
    assert one.plan.duration_unit == "minutes" and one.customer.status == "inactive"

    summary = await reports.transaction_summary(tid, TransactionFilter())
    totals = summary.totals
    assert (totals.count, totals.amount) == (5, Decimal("50.00"))
    assert {k: (v.count, v.amount) for k, v in totals.by_status.items()} == {
        "completed": (2, Decimal("20.00")),
        "pending": (1, Decimal("10.00")),
        "failed": (1, Decimal("10.00")),
        "expired": (1, Decimal("10.00")),
    }
    assert [(r.router.id, r.count, r.amount) for r in totals.by_router] == [
        (guest, 3, Decimal("30.00")),
        (office, 2, Decimal("20.00")),
    ]
    # The period: from the first transaction selected (local date) up to today.
    today = datetime.now(ZoneInfo(zone)).date()
    assert (summary.start_date, summary.end_date) == (date(2026, 1, 5), today)
    summary = await reports.transaction_summary(
        tid, TransactionFilter(router_id=office, start_date=date(2026, 1, 7))
    )
    assert (summary.start_date, summary.end_date) == (date(2026, 1, 7), today)
    assert (summary.totals.count, summary.totals.by_status["failed"].count) == (1, 0)
    with pytest.raises(InvalidInput):
        await reports.transactions(
            tid,
            TransactionFilter(start_date=date(2026, 1, 7), end_date=date(2026, 1, 6)),
            limit=10,
        )


async def test_another_tenants_rows_are_never_read(seed, ledger, reports):
    acme, other = await seed.tenant("acme"), await seed.tenant("other")
    theirs = await seed.router(other, "Their Router", site="theirs")
    plan = await ledger.plan(other.tenant.id, "Their Plan", 70)
    buyer = await ledger.customer(other.tenant.id, "254711111111", router_id=theirs)
    await ledger.access(
        other.tenant.id, buyer, expires_at=datetime.now(UTC) + timedelta(hours=1), plan_id=plan
    )
    await ledger.payment(other.tenant.id, buyer, plan, 70, router_id=theirs)

    tid = acme.tenant.id
    overview = await reports.overview(tid)
    assert overview.revenue.all_time == 0 and overview.customers_total == 0
    assert not (overview.by_router or overview.by_plan or overview.recent)
    assert not overview.expiring_soon
    assert await reports.customers(tid, limit=10) == []
    assert (await reports.plan_performance(tid)).plans == []
    assert await reports.transactions(tid, TransactionFilter(), limit=10) == []
    assert (await reports.transaction_summary(tid, TransactionFilter())).totals.count == 0
    assert await reports.routers(tid) == []
    for call in (
        reports.transactions(tid, TransactionFilter(router_id=theirs), limit=10),
        reports.transaction_summary(tid, TransactionFilter(router_id=theirs)),
    ):
        with pytest.raises(NotFound, match="Router not found"):
            await call


async def test_a_daylight_saving_day_has_its_own_local_midnight(seed, ledger, reports):
    """New York springs forward on 2026-03-08 (a Sunday; the week began Monday the 2nd)."""
    acme = await seed.tenant("acme")
    tid = acme.tenant.id
    zone = "America/New_York"
    await ledger.timezone(tid, zone)
    plan = await ledger.plan(tid)
    buyer = await ledger.customer(tid, "254700000001")
    for when, amount in (
        ((2026, 3, 8, 0, 30), 10),  # today (UTC-5 then)
        ((2026, 3, 8, 3, 30), 20),  # today, after the jump (UTC-4)
        ((2026, 3, 7, 23, 30), 40),  # yesterday: 04:30 UTC on the 8th
        ((2026, 3, 2, 0, 0), 80),  # Monday: this week
        ((2026, 3, 1, 23, 59), 160),  # Sunday before: last week, this month
        ((2026, 2, 28, 23, 59), 320),  # last month
    ):
        await ledger.payment(tid, buyer, plan, amount, completed_at=local(zone, *when))
    revenue = (await reports.overview(tid, local(zone, 2026, 3, 8, 22, 0))).revenue
    assert (revenue.today, revenue.this_week, revenue.this_month, revenue.all_time) == (
        Decimal("30.00"),
        Decimal("150.00"),
        Decimal("310.00"),
        Decimal("630.00"),
    )
