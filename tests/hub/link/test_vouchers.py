"""Vouchers over the real link: delivered by version on connect and when a batch is created,
and the agent's voucher_redeemed ingested once (voucher, customer, entitlement, sale)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import aiohttp
import asyncpg
from aiohttp.test_utils import TestServer

from common import wire
from common.timeutil import to_iso, utcnow
from hub.link.vouchers import push_batch

from .conftest import ROUTERS, FakeAgent, enrolled_agent, event, health, wait_for

MAC = "AA:BB:CC:DD:EE:42"


async def make_batch(
    pool: asyncpg.Pool,
    tenant_id: int,
    codes: list[str],
    *,
    router_id: int | None = None,
    price: str = "50",
) -> int:
    """A plan (1 hour, 5M down / 2M up) and a batch of these codes, as the voucher service
    writes them."""
    plan_id = await pool.fetchval(
        "INSERT INTO plans (tenant_id, name, price, duration_value, duration_unit,"
        " download_speed, upload_speed, connection_type, router_profile, created_by)"
        " VALUES ($1, '1 hour', 50, 1, 'hours', '5M', '2M', 'hotspot', 'hs-1h', 'test')"
        " RETURNING id",
        tenant_id,
    )
    batch_id = await pool.fetchval(
        "INSERT INTO voucher_batches (tenant_id, plan_id, router_id, count, code_length,"
        " alphabet, price, valid_until, created_by)"
        " VALUES ($1, $2, $3, $4, 6, 'ABCDEFGHJKLMNPQRSTUVWXYZ23456789', $5,"
        " now() + interval '30 days', 'test') RETURNING id",
        tenant_id,
        plan_id,
        router_id,
        len(codes),
        Decimal(price),
    )
    await pool.executemany(
        "INSERT INTO vouchers (tenant_id, batch_id, code) VALUES ($1, $2, $3)",
        [(tenant_id, batch_id, code) for code in codes],
    )
    return batch_id


def redeemed(seq: int, code: str, *, minutes: int = 60) -> wire.Event:
    at = utcnow() - timedelta(seconds=5)
    data = wire.VoucherRedeemed(
        router="r1",
        code=code,
        mac_address=MAC,
        redeemed_at=to_iso(at),
        expires_at=to_iso(at + timedelta(minutes=minutes)),
    )
    return event(seq, wire.VOUCHER_REDEEMED, data)


async def test_connect_sends_the_vouchers_once_per_version(
    agent: FakeAgent,
    pool: asyncpg.Pool,
    tenant_id: int,
    http: aiohttp.ClientSession,
    hub: TestServer,
):
    await agent.connect()  # registers r1
    router_id = await pool.fetchval("SELECT id FROM routers WHERE name = 'r1'")
    other_agent, _ = await enrolled_agent(http, hub, tenant_id, site="site-b")
    other = await pool.fetchval(
        "INSERT INTO routers (tenant_id, agent_id, name, host)"
        " VALUES ($1, $2, 'elsewhere', '10.0.0.9') RETURNING id",
        tenant_id,
        other_agent,
    )
    everywhere = await make_batch(pool, tenant_id, ["ALL001", "ALL002"])
    mine = await make_batch(pool, tenant_id, ["R1X001"], router_id=router_id)
    await make_batch(pool, tenant_id, ["NOTME1"], router_id=other)
    await agent.close()

    await agent.connect()
    command = await agent.command()
    assert command.name == wire.VOUCHERS_SYNC
    sync = wire.parse_vouchers_sync(command.args)
    assert (sync.base, sync.last) == (None, True)
    assert sync.version >= mine > everywhere
    by_code = {v.code: v for v in sync.vouchers}
    assert sorted(by_code) == ["ALL001", "ALL002", "R1X001"]
    assert by_code["ALL001"].routers is None and by_code["R1X001"].routers == ["r1"]
    first = by_code["R1X001"]
    assert (first.duration_seconds, first.profile, first.rate_limit) == (3600, "hs-1h", "2M/5M")
    await agent.close()

    # The agent holds that version: nothing again. One batch later: only that batch.
    await agent.connect(vouchers_version=sync.version)
    newer = await make_batch(pool, tenant_id, ["NEW001"])
    await agent.close()
    await agent.connect(vouchers_version=sync.version)
    diff = wire.parse_vouchers_sync((await agent.command()).args)
    assert (diff.base, diff.version) == (sync.version, newer)
    assert [v.code for v in diff.vouchers] == ["NEW001"]


async def test_a_new_batch_reaches_the_connected_agent(
    agent: FakeAgent, pool: asyncpg.Pool, tenant_id: int
):
    await agent.connect()
    # Acked: the hub's connect-time push is done (it comes before any frame is read).
    await agent.send_events(event(1, wire.ROUTER_HEALTH, health()))
    batch_id = await make_batch(pool, tenant_id, ["PUSH01", "PUSH02"])
    assert await push_batch(pool, tenant_id=tenant_id, batch_id=batch_id) == 1
    command = await agent.command()
    sync = wire.parse_vouchers_sync(command.args)
    assert (sync.version, sync.base) == (batch_id, 0)
    assert sorted(v.code for v in sync.vouchers) == ["PUSH01", "PUSH02"]
    # Pushed twice (a retried request): the same command, not a second one.
    assert await push_batch(pool, tenant_id=tenant_id, batch_id=batch_id) == 0


async def test_redemption_is_ingested_once(agent: FakeAgent, pool: asyncpg.Pool, tenant_id: int):
    await agent.connect()
    await make_batch(pool, tenant_id, ["SOLD01"], price="50")
    report = redeemed(1, "SOLD01")
    assert await agent.send_events(report) == 1

    voucher = await pool.fetchrow("SELECT * FROM vouchers WHERE code = 'SOLD01'")
    router_id = await pool.fetchval("SELECT id FROM routers WHERE name = 'r1'")
    assert (voucher["status"], voucher["mac_address"], voucher["router_id"]) == (
        "active",
        MAC,
        router_id,
    )
    assert to_iso(voucher["redeemed_at"]) == report.data["redeemed_at"]
    assert to_iso(voucher["expires_at"]) == report.data["expires_at"]
    customer = await pool.fetchrow("SELECT * FROM customers WHERE id = $1", voucher["customer_id"])
    assert (customer["username"], customer["mac_address"]) == ("SOLD01", MAC)
    ent = await pool.fetchrow("SELECT * FROM entitlements WHERE customer_id = $1", customer["id"])
    assert to_iso(ent["expires_at"]) == report.data["expires_at"]
    assert (ent["router_id"], ent["rate_limit"], ent["profile"]) == (router_id, "2M/5M", "hs-1h")
    assert ent["plan_id"] is not None
    payment = await pool.fetchrow("SELECT * FROM payments WHERE voucher_id = $1", voucher["id"])
    assert (payment["method"], payment["status"], payment["amount"]) == (
        "voucher",
        "completed",
        Decimal("50.00"),
    )
    assert payment["entitlement_id"] == ent["id"]

    # The same report again under a new seq (an agent restored from a backup, say) and the
    # same seq again (a resend): nothing changes.
    await agent.send_events(report, redeemed(2, "SOLD01", minutes=600))
    assert await pool.fetchval("SELECT count(*) FROM payments") == 1
    assert await pool.fetchval("SELECT count(*) FROM entitlements") == 1
    again = await pool.fetchrow("SELECT * FROM vouchers WHERE code = 'SOLD01'")
    assert again["expires_at"] == voucher["expires_at"]


async def test_a_bad_redemption_is_refused_and_the_rest_of_the_frame_stands(
    agent: FakeAgent, pool: asyncpg.Pool, tenant_id: int
):
    await agent.connect()
    await make_batch(pool, tenant_id, ["GOOD01"])
    await agent.send(
        "events",
        events=[redeemed(1, "NOSUCH"), redeemed(2, "GOOD01")],
    )
    ack = await agent.expect("ack")
    assert ack["seq"] == 2
    assert [r["seq"] for r in ack["rejected"]] == [1]
    assert "no voucher" in ack["rejected"][0]["reason"]
    await wait_for(lambda: pool.fetchval("SELECT status = 'active' FROM vouchers"))
    assert await pool.fetchval("SELECT count(*) FROM payments") == 1
    assert ROUTERS[0].name == "r1"


async def test_a_redemption_on_the_wrong_router_or_too_late_is_refused(
    agent: FakeAgent,
    pool: asyncpg.Pool,
    tenant_id: int,
    http: aiohttp.ClientSession,
    hub: TestServer,
):
    await agent.connect()
    other_agent, _ = await enrolled_agent(http, hub, tenant_id, site="site-b")
    other = await pool.fetchval(
        "INSERT INTO routers (tenant_id, agent_id, name, host)"
        " VALUES ($1, $2, 'elsewhere', '10.0.0.9') RETURNING id",
        tenant_id,
        other_agent,
    )
    await make_batch(pool, tenant_id, ["THERE1"], router_id=other)
    late = await make_batch(pool, tenant_id, ["LATE01"])
    await pool.execute(
        "UPDATE voucher_batches SET valid_until = now() - interval '1 day' WHERE id = $1", late
    )
    await agent.send("events", events=[redeemed(1, "THERE1"), redeemed(2, "LATE01")])
    ack = await agent.expect("ack")
    reasons = {r["seq"]: r["reason"] for r in ack["rejected"]}
    assert "not for this router" in reasons[1]
    assert "after its valid_until" in reasons[2]
    assert await pool.fetchval("SELECT count(*) FROM vouchers WHERE status = 'unused'") == 2
    assert await pool.fetchval("SELECT count(*) FROM payments") == 0
    assert await pool.fetchval("SELECT count(*) FROM customers") == 0


async def test_redemptions_the_hub_does_not_believe_are_refused(
    agent: FakeAgent, pool: asyncpg.Pool, tenant_id: int
):
    await agent.connect()
    await make_batch(pool, tenant_id, ["LONG01", "TWICE1", "FULL01", "OK0001"])
    await agent.send("events", events=[redeemed(1, "LONG01", minutes=600), redeemed(2, "TWICE1")])
    ack = await agent.expect("ack")
    reasons = {r["seq"]: r["reason"] for r in ack["rejected"]}
    assert "past its plan's duration" in reasons[1]  # a 1-hour voucher reported as 10 hours
    assert 2 not in reasons
    # The same code from another device: no second sale, and the agent hears why.
    other_device = redeemed(3, "TWICE1")
    other_device.data["mac_address"] = "AA:BB:CC:DD:EE:99"
    await agent.send("events", events=[other_device])
    ack = await agent.expect("ack")
    assert "already redeemed elsewhere" in ack["rejected"][0]["reason"]
    # A tenant at its customer limit: that redemption is refused, the frame's others stand.
    customers = await pool.fetchval(
        "SELECT count(*) FROM customers WHERE tenant_id = $1", tenant_id
    )
    await pool.execute(
        "UPDATE tenants SET max_network_users = $2 WHERE id = $1", tenant_id, customers
    )
    await agent.send(
        "events", events=[redeemed(4, "FULL01"), event(5, wire.ROUTER_HEALTH, health())]
    )
    ack = await agent.expect("ack")
    assert ack["seq"] == 5
    assert [r["seq"] for r in ack["rejected"]] == [4]
    assert "max_network_users" in ack["rejected"][0]["reason"]
    assert await pool.fetchval("SELECT count(*) FROM payments") == 1


async def test_a_redemption_reaches_the_tenants_other_agents_at_once(
    agent: FakeAgent,
    pool: asyncpg.Pool,
    tenant_id: int,
    http: aiohttp.ClientSession,
    hub: TestServer,
):
    _, credential = await enrolled_agent(http, hub, tenant_id, site="site-b")
    other = FakeAgent(http, hub, credential)
    await make_batch(pool, tenant_id, ["SHARED"])  # every router of the tenant
    await agent.connect()
    await other.connect(routers=[wire.RouterInfo(name="rb", host="10.0.0.8", port=8728)])
    held = wire.parse_vouchers_sync((await other.command()).args)
    assert [v.code for v in held.vouchers] == ["SHARED"]
    await agent.command()  # its own copy

    assert await agent.send_events(redeemed(1, "SHARED")) == 1
    retired = wire.parse_vouchers_sync((await other.command()).args)
    assert retired.base is not None and retired.base <= held.version < retired.version
    assert [(v.code, v.status) for v in retired.vouchers] == [("SHARED", "active")]
    await other.close()
