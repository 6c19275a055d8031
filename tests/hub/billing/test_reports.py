"""Seed 003's read API over HTTP: shapes as the seed's examples, scope, filters, bad input."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from hub.services.auth import AuthService
from tests.hub.billing.ledger import Ledger

# The seed's example bodies (shared/seeds/003), item by item: names, nesting and JSON types.
SEED_CUSTOMER = {
    "id": 1,
    "name": "Guest 5364",
    "phone": "254795635364",
    "mac_address": "AA:BB:CC:DD:EE:FF",
    "status": "active",
    "expiry": "2026-01-10T18:00:00",
    "plan": {"id": 2, "name": "5 Minutes Test Plan", "price": 10},
    "router": {"id": 2, "name": "Guest Hotspot Router"},
}
SEED_ACTIVE_CUSTOMER = {
    **{k: v for k, v in SEED_CUSTOMER.items() if k not in ("plan", "router")},
    "hours_remaining": 2.5,
    "plan": SEED_CUSTOMER["plan"],
    "router": SEED_CUSTOMER["router"],
}
SEED_OVERVIEW = {
    "revenue": {"today": 0.0, "this_week": 10.0, "this_month": 10.0, "all_time": 730.0},
    "customers": {"total": 10, "active": 0, "inactive": 10},
    "revenue_by_router": [
        {
            "router_id": 2,
            "router_name": "Guest Hotspot Router",
            "transaction_count": 52,
            "revenue": 730.0,
        }
    ],
    "revenue_by_plan": [
        {
            "plan_id": 1,
            "plan_name": "1 Hour Plan",
            "plan_price": 50,
            "sales_count": 5,
            "revenue": 250.0,
        }
    ],
    "recent_transactions": [
        {
            "payment_id": 52,
            "amount": 10.0,
            "customer_name": "Guest 5364",
            "customer_phone": "254795635364",
            "plan_name": "5 Minutes Test Plan",
            "payment_date": "2026-01-06T17:52:35.259434",
            "payment_method": "mobile_money",
        }
    ],
    "expiring_soon": [SEED_ACTIVE_CUSTOMER],  # "same item shape as /customers/active"
    "generated_at": "2026-01-10T15:33:29.555889",
}
SEED_PERFORMANCE = {
    "plans": [
        {
            "plan_id": 1,
            "plan_name": "1 Hour Plan",
            "plan_price": 50,
            "duration": "1 hours",
            "total_customers": 5,
            "total_sales": 10,
            "total_revenue": 500.0,
            "average_revenue_per_sale": 50.0,
            "active_customers": 2,
        }
    ],
    "period": {"start_date": "2026-01-01", "end_date": "2026-01-10"},
}
SEED_TRANSACTION = {
    "transaction_id": 52,
    "checkout_request_id": "ws_CO_123...",
    "phone_number": "254795635364",
    "amount": 10.0,
    "reference": "REF123",
    "lipay_tx_no": "LIPAY123",
    "status": "completed",
    "mpesa_receipt_number": "QJK1234ABC",
    "transaction_date": "2026-01-06T17:52:35",
    "created_at": "2026-01-06T17:52:30",
    "customer": {
        "id": 1,
        "name": "Guest 5364",
        "phone": "254795635364",
        "mac_address": "AA:BB:CC:DD:EE:FF",
        "status": "active",
    },
    "router": {"id": 2, "name": "Guest Hotspot Router", "ip_address": "192.168.1.1"},
    "plan": {
        "id": 2,
        "name": "5 Minutes Test Plan",
        "price": 10,
        "duration_value": 5,
        "duration_unit": "minutes",
    },
}
SEED_SUMMARY = {
    "total_transactions": 52,
    "total_amount": 730.0,
    "status_breakdown": {
        "completed": {"count": 50, "amount": 710.0},
        "pending": {"count": 1, "amount": 10.0},
        "failed": {"count": 1, "amount": 10.0},
        "expired": {"count": 0, "amount": 0.0},  # the seed's notes list four statuses
    },
    "router_breakdown": {"Guest Hotspot Router": {"count": 52, "amount": 730.0, "router_id": 2}},
    "period": {"start_date": "2026-01-01", "end_date": "2026-01-10"},
}
SEED_ROUTER = {"id": 2, "name": "Guest Hotspot Router", "ip_address": "192.168.1.1", "port": 8728}


def assert_shape(got: Any, example: Any, where: str = "$") -> None:
    """``got`` has the example's keys (in its order), nesting and JSON types, all the way down."""
    if isinstance(example, dict):
        assert isinstance(got, dict), f"{where}: {got!r} is not an object"
        if where.endswith("router_breakdown"):  # keyed by router name
            for key, value in got.items():
                assert_shape(value, next(iter(example.values())), f"{where}.{key}")
            return
        assert list(got) == list(example), f"{where}: keys {list(got)} != {list(example)}"
        for key, value in example.items():
            assert_shape(got[key], value, f"{where}.{key}")
    elif isinstance(example, list):
        assert isinstance(got, list), f"{where}: {got!r} is not a list"
        assert got, f"{where}: empty, nothing to compare with the seed"
        for index, item in enumerate(got):
            assert_shape(item, example[0], f"{where}[{index}]")
    elif isinstance(example, bool) or example is None:
        assert got is example or isinstance(got, type(example)), f"{where}: {got!r}"
    elif isinstance(example, float):
        assert isinstance(got, float), f"{where}: {got!r} is not a float like {example!r}"
    elif isinstance(example, int):
        assert isinstance(got, int) and not isinstance(got, bool), f"{where}: {got!r} not int"
    else:
        assert isinstance(got, type(example)), f"{where}: {got!r} is not like {example!r}"


@pytest.fixture
def ledger(pool) -> Ledger:
    return Ledger(pool)


async def get(client, path: str, headers: dict[str, str], status: int = 200) -> Any:
    resp = await client.get(path, headers=headers)
    assert resp.status == status, (path, await resp.text())
    return await resp.json()


def earlier_today(zone: str = "Africa/Nairobi", at_most: timedelta = timedelta(minutes=5)):
    """A moment of the tenant's local today at most ``at_most`` ago (today began after it
    when the test runs just past local midnight)."""
    now = datetime.now(ZoneInfo(zone))
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    return max(now - at_most, midnight + (now - midnight) / 2)


async def seeded_shop(seed, ledger: Ledger):
    """One tenant with the seed's world: a router, two plans, a paying guest, mixed payments."""
    acme = await seed.tenant("acme")
    tid = acme.tenant.id
    router = await seed.router(acme, "Guest Hotspot Router", site="guest", host="192.168.1.1")
    hour = await ledger.plan(tid, "1 Hour Plan", 50)
    test = await ledger.plan(tid, "5 Minutes Test Plan", 10, 5, "minutes")
    guest = await ledger.customer(
        tid,
        "AA:BB:CC:DD:EE:FF",
        phone="254795635364",
        mac_address="AA:BB:CC:DD:EE:FF",
        router_id=router,
        plan_id=test,
    )
    now = datetime.now(UTC)
    await ledger.access(tid, guest, expires_at=now + timedelta(hours=2.5), plan_id=test)
    paid_at = earlier_today()
    for status, plan, amount in (
        ("completed", hour, 50),
        ("completed", test, 10),
        ("pending", test, 10),
        ("failed", test, 10),
    ):
        await ledger.payment(
            tid,
            guest,
            plan,
            amount,
            status=status,
            router_id=router,
            phone="254795635364",
            created_at=paid_at,
            completed_at=paid_at if status == "completed" else None,
            checkout_request_id=f"ws_CO_{status}_{amount}",
            merchant_request_id=f"LIPAY-{status}-{amount}",
            receipt=f"QJK{amount}{status[:2].upper()}" if status == "completed" else None,
            reference="REF123",
        )
    return acme, router, guest, (hour, test)


async def test_every_read_has_the_seed_shape(client, seed, ledger):
    acme, router, guest, (hour, test) = await seeded_shop(seed, ledger)
    h = acme.headers

    overview = await get(client, "/api/dashboard/overview", h)
    assert_shape(overview, SEED_OVERVIEW)
    assert overview["revenue"] == {
        "today": 60.0,
        "this_week": 60.0,
        "this_month": 60.0,
        "all_time": 60.0,
    }
    assert overview["customers"] == {"total": 1, "active": 1, "inactive": 0}
    assert overview["revenue_by_router"] == [
        {
            "router_id": router,
            "router_name": "Guest Hotspot Router",
            "transaction_count": 2,
            "revenue": 60.0,
        }
    ]
    assert [
        (p["plan_id"], p["plan_price"], p["sales_count"]) for p in overview["revenue_by_plan"]
    ] == [
        (hour, 50, 1),
        (test, 10, 1),
    ]
    recent = overview["recent_transactions"][0]
    assert (recent["customer_name"], recent["customer_phone"], recent["payment_method"]) == (
        "Guest 5364",
        "254795635364",
        "mobile_money",
    )
    assert recent["payment_date"].endswith("Z") and overview["generated_at"].endswith("Z")
    assert [c["id"] for c in overview["expiring_soon"]] == [guest]

    customers = await get(client, "/api/customers", h)
    assert_shape(customers, [SEED_CUSTOMER])
    assert customers[0]["plan"] == {"id": test, "name": "5 Minutes Test Plan", "price": 10}
    assert customers[0]["router"] == {"id": router, "name": "Guest Hotspot Router"}
    active = await get(client, "/api/customers/active", h)
    assert_shape(active, [SEED_ACTIVE_CUSTOMER])
    assert 2.4 < active[0]["hours_remaining"] <= 2.5
    assert active[0]["hours_remaining"] == round(active[0]["hours_remaining"], 2)

    performance = await get(client, "/api/plans/performance", h)
    assert_shape(performance, SEED_PERFORMANCE)
    assert performance["plans"][0]["duration"] == "1 hours"
    assert performance["plans"][1]["duration"] == "5 minutes"

    transactions = await get(client, "/api/mpesa/transactions", h)
    assert_shape([t for t in transactions if t["status"] == "completed"], [SEED_TRANSACTION])
    completed = next(
        t for t in transactions if t["plan"]["id"] == test and t["status"] == "completed"
    )
    assert (completed["lipay_tx_no"], completed["reference"]) == ("LIPAY-completed-10", "REF123")
    assert completed["router"]["ip_address"] == "192.168.1.1"
    pending = next(t for t in transactions if t["status"] == "pending")
    assert pending["transaction_date"] is None and pending["mpesa_receipt_number"] is None

    summary = await get(client, "/api/mpesa/transactions/summary?start_date=2026-01-01", h)
    assert_shape(summary, SEED_SUMMARY)
    assert (summary["total_transactions"], summary["total_amount"]) == (4, 80.0)
    assert summary["router_breakdown"] == {
        "Guest Hotspot Router": {"count": 4, "amount": 80.0, "router_id": router}
    }
    today = earlier_today().date().isoformat()  # the period runs up to today by default
    assert summary["period"] == {"start_date": "2026-01-01", "end_date": today}
    summary = await get(client, "/api/mpesa/transactions/summary", h)
    assert summary["period"] == {"start_date": today, "end_date": today}  # from the first one

    routers = await get(client, "/api/routers", h)
    assert routers == [
        {"id": router, "name": "Guest Hotspot Router", "ip_address": "192.168.1.1", "port": 8728}
    ]
    assert_shape(routers, [SEED_ROUTER])


async def test_today_starts_at_local_midnight(client, seed, ledger):
    """Over HTTP, at the real time: a payment just before the tenant's local midnight is
    yesterday's, one just after is today's (Lima: UTC-5, so the UTC date differs at night)."""
    acme = await seed.tenant("acme")
    tid = acme.tenant.id
    await ledger.timezone(tid, "America/Lima")
    plan = await ledger.plan(tid)
    buyer = await ledger.customer(tid, "254700000001")
    now = datetime.now(ZoneInfo("America/Lima"))
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    after = midnight + min(timedelta(seconds=1), (now - midnight) / 2)
    await ledger.payment(tid, buyer, plan, 10, completed_at=midnight - timedelta(seconds=1))
    await ledger.payment(tid, buyer, plan, 20, completed_at=after)
    revenue = (await get(client, "/api/dashboard/overview", acme.headers))["revenue"]
    assert revenue["today"] == 20.0 and revenue["all_time"] == 30.0


async def test_filters_select_transactions(client, seed, ledger):
    acme, router, guest, (hour, _) = await seeded_shop(seed, ledger)
    other_router = await seed.router(acme, "Office", site="office")
    await ledger.payment(acme.tenant.id, guest, hour, 50, router_id=other_router, status="expired")
    h, url = acme.headers, "/api/mpesa/transactions"

    async def statuses(query: str) -> list[str]:
        return [t["status"] for t in await get(client, url + query, h)]

    # Newest first (the expired one is the latest), then by id, newest first.
    assert await statuses("") == ["expired", "failed", "pending", "completed", "completed"]
    assert await statuses(f"?router_id={other_router}") == ["expired"]
    assert sorted(await statuses(f"?router_id={router}&status=completed")) == ["completed"] * 2
    assert await statuses("?status=failed") == ["failed"]
    today = earlier_today().date()
    assert len(await statuses(f"?start_date={today}&end_date={today}")) == 5
    assert await statuses(f"?start_date={today + timedelta(days=1)}") == []
    assert await statuses("?end_date=2000-01-01") == []
    assert len(await statuses("?limit=2")) == 2
    assert len(await statuses("?limit=2&offset=4")) == 1
    summary = await get(client, url + f"/summary?router_id={other_router}", h)
    assert summary["total_transactions"] == 1 and summary["status_breakdown"]["expired"] == {
        "count": 1,
        "amount": 50.0,
    }
    performance = await get(
        client, "/api/plans/performance?start_date=2000-01-01&end_date=2000-01-31", h
    )
    assert performance["period"] == {"start_date": "2000-01-01", "end_date": "2000-01-31"}
    assert all(p["total_sales"] == 0 for p in performance["plans"])


@pytest.mark.parametrize(
    ("path", "error"),
    [
        ("/api/mpesa/transactions?status=paid", "status must be one of"),
        ("/api/mpesa/transactions?router_id=abc", "router_id must be an integer"),
        ("/api/mpesa/transactions?router_id=0", "router_id must be an integer"),
        ("/api/mpesa/transactions?router_id=" + "9" * 30, "router_id must be an integer"),
        ("/api/mpesa/transactions?start_date=2026-13-01", "start_date must be a date"),
        ("/api/mpesa/transactions?end_date=yesterday", "end_date must be a date"),
        ("/api/mpesa/transactions?limit=0", "limit must be an integer between 1 and 1000"),
        ("/api/mpesa/transactions?limit=1001", "limit must be an integer between 1 and 1000"),
        ("/api/mpesa/transactions?offset=-1", "offset must be an integer"),
        (
            "/api/mpesa/transactions?start_date=2026-01-02&end_date=2026-01-01",
            "start_date must be on or before end_date",
        ),
        ("/api/mpesa/transactions/summary?start_date=01/01/2026", "start_date must be a date"),
        ("/api/mpesa/transactions/summary?router_id=x", "router_id must be an integer"),
        ("/api/plans/performance?start_date=2026-02-30", "start_date must be a date"),
        (
            "/api/plans/performance?start_date=2026-02-01&end_date=2026-01-01",
            "start_date must be on or before end_date",
        ),
        ("/api/customers?limit=0", "limit must be an integer"),
        ("/api/customers/active?offset=x", "offset must be an integer"),
        ("/api/dashboard/overview?user_id=abc", "user_id must be an integer"),
        ("/api/routers?user_id=-5", "user_id must be between 1 and"),
    ],
)
async def test_bad_input_is_a_clear_400(client, seed, path, error):
    acme = await seed.tenant("acme")
    resp = await client.get(path, headers=acme.headers)
    assert resp.status == 400, await resp.text()
    assert error in await resp.text()


async def test_another_tenants_router_is_not_found(client, seed, ledger):
    acme, _, _, _ = await seeded_shop(seed, ledger)
    other = await seed.tenant("other")
    theirs = await seed.router(other, "Their Router", site="theirs")
    for path in ("/api/mpesa/transactions", "/api/mpesa/transactions/summary"):
        for router_id in (theirs, 987654):
            resp = await client.get(f"{path}?router_id={router_id}", headers=acme.headers)
            assert resp.status == 404, await resp.text()
            assert "Router not found" in await resp.text()
    # ...and their key sees none of acme's rows.
    assert await get(client, "/api/customers", other.headers) == []
    assert await get(client, "/api/mpesa/transactions", other.headers) == []
    overview = await get(client, "/api/dashboard/overview", other.headers)
    assert overview["revenue"]["all_time"] == 0.0 and overview["customers"]["total"] == 0
    routers = await get(client, "/api/routers", other.headers)
    assert [r["name"] for r in routers] == ["Their Router"]


async def test_reads_need_credentials(client):
    for path in (
        "/api/dashboard/overview",
        "/api/customers",
        "/api/customers/active",
        "/api/plans/performance",
        "/api/mpesa/transactions",
        "/api/mpesa/transactions/summary",
        "/api/routers",
    ):
        assert (await client.get(path)).status == 401, path
        resp = await client.get(path, headers={"Authorization": "Bearer ifk_forged"})
        assert resp.status == 401, path


async def test_user_id_never_widens_a_tenant_users_scope(client, seed, ledger):
    acme, _, _, _ = await seeded_shop(seed, ledger)
    other = await seed.tenant("other")
    viewer = await seed.user(other, "vic", "viewer")  # the lowest role reads every report
    for path in (
        "/api/dashboard/overview",
        "/api/customers",
        "/api/customers/active",
        "/api/plans/performance",
        "/api/mpesa/transactions",
        "/api/mpesa/transactions/summary",
        "/api/routers",
    ):
        mine = await get(client, path, viewer.headers)
        widened = await get(client, f"{path}?user_id={acme.tenant.id}", viewer.headers)
        assert widened == mine or path == "/api/dashboard/overview", path
        assert "Guest 5364" not in str(widened) and "Guest Hotspot Router" not in str(widened)
    overview = await get(
        client, f"/api/dashboard/overview?user_id={acme.tenant.id}", viewer.headers
    )
    assert overview["revenue"]["all_time"] == 0.0 and overview["customers"]["total"] == 0
    # acme's key with acme's router in the filter, but user_id naming the other tenant: acme's.
    routers = await get(client, f"/api/routers?user_id={other.tenant.id}", acme.headers)
    assert [r["name"] for r in routers] == ["Guest Hotspot Router"]


async def test_a_platform_admin_picks_the_tenant_with_user_id(client, seed, ledger, pool):
    acme, router, _, _ = await seeded_shop(seed, ledger)
    other = await seed.tenant("other")
    theirs = await seed.router(other, "Their Router", site="theirs")
    auth = AuthService(pool, seed.config)
    await auth.create_admin("root@example.com", "correct horse battery")
    token = (await auth.login("root@example.com", "correct horse battery")).access_token
    headers = {"Authorization": f"Bearer {token}"}

    resp = await client.get("/api/dashboard/overview", headers=headers)
    assert resp.status == 400
    assert await resp.json() == {
        "detail": "user_id (the tenant's id) is required for a platform admin"
    }
    acme_id = acme.tenant.id
    overview = await get(client, f"/api/dashboard/overview?user_id={acme_id}", headers)
    assert overview["revenue"]["all_time"] == 60.0
    listed = await get(client, f"/api/mpesa/transactions?user_id={acme_id}", headers)
    assert len(listed) == 4
    assert [r["id"] for r in await get(client, f"/api/routers?user_id={acme_id}", headers)] == [
        router
    ]
    # Even the platform admin's filter stays inside the tenant it picked.
    await get(client, f"/api/mpesa/transactions?user_id={acme_id}&router_id={theirs}", headers, 404)
    await get(client, "/api/customers?user_id=999999", headers, 404)


async def test_a_cash_sale_by_the_payment_service_shows_in_every_report(client, seed, ledger):
    """The real write path (POST /api/payments/cash): the reports read what it stores."""
    acme = await seed.tenant("acme", country="KE")
    router = await seed.router(acme, "Guest Hotspot Router", site="guest", host="192.168.1.1")
    plan = await ledger.plan(acme.tenant.id, "1 Hour Plan", 50)
    sale = {"plan_id": plan, "phone": "0795635364", "router_id": router}
    resp = await client.post("/api/payments/cash", json=sale, headers=acme.headers)
    assert resp.status == 201, await resp.text()

    h = acme.headers
    overview = await get(client, "/api/dashboard/overview", h)
    assert overview["revenue"]["all_time"] == 50.0
    assert overview["customers"] == {"total": 1, "active": 1, "inactive": 0}
    assert overview["revenue_by_router"][0]["router_id"] == router
    [recent] = overview["recent_transactions"]
    assert (recent["payment_method"], recent["customer_name"]) == ("cash", "Guest 5364")
    [customer] = await get(client, "/api/customers/active", h)
    assert customer["plan"] == {"id": plan, "name": "1 Hour Plan", "price": 50}
    assert customer["router"] == {"id": router, "name": "Guest Hotspot Router"}
    assert 0.9 < customer["hours_remaining"] <= 1.0
    [performance] = (await get(client, "/api/plans/performance", h))["plans"]
    assert (performance["total_sales"], performance["active_customers"]) == (1, 1)
    assert await get(client, "/api/mpesa/transactions", h) == []  # cash is not M-Pesa
