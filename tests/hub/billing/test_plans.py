"""Plans of seed 003: shapes as the seed's examples, validation, delete guarded by customers."""

from __future__ import annotations

from datetime import timedelta

import pytest

from common.timeutil import utcnow
from hub.storage.customers import CustomerRepository, EntitlementRepository

SEED_PLAN = {
    "name": "1 Hour Plan",
    "speed": "5M/2M",
    "price": 50,
    "duration_value": 1,
    "duration_unit": "HOURS",
    "connection_type": "hotspot",
    "router_profile": "default",
    "user_id": 1,
}


async def test_create_and_list_as_the_seed_shows(client, seed):
    owner = await seed.tenant("acme")
    response = await client.post("/api/plans/create", json=SEED_PLAN, headers=owner.headers)
    assert response.status == 200
    created = await response.json()
    assert created.pop("created_at").endswith("Z")
    assert created == {
        "id": created["id"],
        "name": "1 Hour Plan",
        "speed": "5M/2M",
        "price": 50,
        "duration_value": 1,
        "duration_unit": "HOURS",
        "connection_type": "hotspot",
        "router_profile": "default",
        "on_expiry": "cut",
        "user_id": owner.tenant.id,  # the caller's tenant, whatever user_id said
    }
    listed = await (await client.get("/api/plans", headers=owner.headers)).json()
    assert listed == [
        {
            "id": created["id"],
            "name": "1 Hour Plan",
            "price": 50,
            "duration_value": 1,
            "duration_unit": "hours",
            "download_speed": "5M",
            "upload_speed": "2M",
            "connection_type": "hotspot",
            "router_profile": "default",
            "on_expiry": "cut",
        }
    ]


async def test_connection_type_filter(client, seed):
    owner = await seed.tenant("acme")
    await seed.plan(owner, "Hotspot day", duration_unit="DAYS")
    await seed.plan(owner, "PPPoE month", connection_type="pppoe", duration_value=30)
    pppoe = await client.get(
        "/api/plans", params={"connection_type": "pppoe"}, headers=owner.headers
    )
    assert [plan["name"] for plan in await pppoe.json()] == ["PPPoE month"]
    bad = await client.get("/api/plans", params={"connection_type": "fiber"}, headers=owner.headers)
    assert bad.status == 400
    assert await bad.json() == {"detail": "connection_type must be hotspot or pppoe"}


@pytest.mark.parametrize(
    ("change", "detail"),
    [
        ({"speed": "fast"}, "invalid speed 'fast': expected download/upload like 5M/2M or 512k/1M"),
        (
            {"speed": "0M/2M"},
            "invalid speed '0M/2M': expected download/upload like 5M/2M or 512k/1M",
        ),
        ({"speed": None}, "speed is required, like 5M/2M (download/upload)"),
        ({"price": 0}, "price must be a positive integer of at most 1000000000"),
        ({"price": 9.5}, "price must be a positive integer"),
        ({"price": "50"}, "price must be a positive integer"),
        ({"duration_value": 0}, "duration_value must be an integer of at least 1"),
        (
            {"duration_value": 400, "duration_unit": "DAYS"},
            "duration_value must be at most 366 days",
        ),
        ({"duration_unit": "WEEKS"}, "duration_unit must be HOURS, DAYS or MINUTES"),
        ({"connection_type": "fiber"}, "connection_type must be hotspot or pppoe"),
        ({"name": "  "}, "name is required"),
        ({"name": "x" * 101}, "name must be at most 100 characters"),
        ({"on_expiry": "sometimes"}, "on_expiry must be cut or throttle"),
    ],
)
async def test_bad_plans_are_400_and_store_nothing(client, seed, pool, change, detail):
    owner = await seed.tenant("acme")
    body = {**SEED_PLAN, **change}
    response = await client.post("/api/plans/create", json=body, headers=owner.headers)
    assert response.status == 400
    assert await response.json() == {"detail": detail}
    assert await pool.fetchval("SELECT count(*) FROM plans") == 0


async def test_speeds_and_units_are_normalised(client, seed):
    owner = await seed.tenant("acme")
    body = {**SEED_PLAN, "speed": "512K/1m", "duration_unit": "minutes", "duration_value": 5}
    created = await (
        await client.post("/api/plans/create", json=body, headers=owner.headers)
    ).json()
    assert (created["speed"], created["duration_unit"]) == ("512k/1M", "MINUTES")
    plan = await seed.plan(owner, "Night", speed="1.5M/512k")
    assert plan.rate_limit == "512k/1.5M"  # the router's rx/tx: the customer's upload first
    assert plan.duration == timedelta(hours=1)


async def test_delete_is_refused_while_customers_use_the_plan(client, seed, pool):
    owner = await seed.tenant("acme")
    plan = await seed.plan(owner)
    now = utcnow()
    for phone, hours in (("255712000001", 1), ("255712000002", 2), ("255712000003", -1)):
        customer = await CustomerRepository(pool).ensure(owner.tenant.id, phone, None)
        await EntitlementRepository(pool).add(
            tenant_id=owner.tenant.id,
            customer_id=customer.id,
            router_id=None,
            mac_address=None,
            profile=None,
            starts_at=now - timedelta(hours=3),
            expires_at=now + timedelta(hours=hours),
            plan_id=plan.id,
        )
    refused = await client.delete(f"/api/plans/{plan.id}", headers=owner.headers)
    assert refused.status == 400
    assert await refused.json() == {
        "detail": "Cannot delete plan. 2 active customer(s) are using this plan"
    }
    await pool.execute("UPDATE entitlements SET expires_at = now() - interval '1 s'")
    deleted = await client.delete(f"/api/plans/{plan.id}", headers=owner.headers)
    assert await deleted.json() == {
        "success": True,
        "message": "Plan '1 Hour Plan' deleted successfully",
    }
    assert await (await client.get("/api/plans", headers=owner.headers)).json() == []
    again = await client.delete(f"/api/plans/{plan.id}", headers=owner.headers)
    assert again.status == 404


async def test_another_tenants_plan_is_not_found(client, seed):
    owner, other = await seed.tenant("acme"), await seed.tenant("other")
    plan = await seed.plan(other)
    response = await client.delete(f"/api/plans/{plan.id}", headers=owner.headers)
    assert response.status == 404
    assert await response.json() == {"detail": "Plan not found"}
