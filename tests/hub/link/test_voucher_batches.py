"""A batch made on the billing face reaches the connected agent at once (VoucherService's
on_batch -> hub.link.vouchers.push_batch), over the real link, through the real HTTP API."""

from __future__ import annotations

import aiohttp
import asyncpg
from aiohttp.test_utils import TestServer

from common import wire
from hub.services.auth import AuthService
from hub.services.plans import PlanService
from hub.storage.tenants import TenantRepository
from hub.typedefs import CONFIG

from .conftest import FakeAgent, base_url, event, health


async def test_a_batch_created_over_http_is_pushed_to_the_connected_agent(
    agent: FakeAgent,
    hub: TestServer,
    http: aiohttp.ClientSession,
    pool: asyncpg.Pool,
    tenant_id: int,
):
    tenant = await TenantRepository(pool).get(tenant_id)
    assert tenant is not None
    plan = await PlanService(pool).create(
        tenant,
        name="1 Hour Plan",
        speed="5M/2M",
        price=50,
        duration_value=1,
        duration_unit="HOURS",
        connection_type="hotspot",
        router_profile="hs-1h",
        actor="test",
    )
    _, api_key = await AuthService(pool, hub.app[CONFIG]).issue_api_key(tenant.slug)
    await agent.connect()
    await agent.send_events(event(1, wire.ROUTER_HEALTH, health()))  # connect-time push done
    async with http.post(
        base_url(hub) + "/api/vouchers/batches",
        json={"plan_id": plan.id, "count": 3},
        headers={"Authorization": f"Bearer {api_key}"},
    ) as response:
        assert response.status == 201
        codes = (await response.json())["vouchers"]
    sync = wire.parse_vouchers_sync((await agent.command()).args)
    assert sorted(v.code for v in sync.vouchers) == sorted(codes)
    item = sync.vouchers[0]
    assert (item.duration_seconds, item.profile, item.rate_limit) == (3600, "hs-1h", "2M/5M")
