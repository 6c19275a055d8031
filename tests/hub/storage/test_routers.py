"""Router reads (presence + health -> online) and the report writes the link performs."""

from __future__ import annotations

import pytest

from hub.config import HubConfig
from hub.database import open_database
from hub.services.tenants import TenantService
from hub.storage.routers import ReportRepository, RouterRepository, SiteRepository
from tests.hub.conftest import health, session


@pytest.fixture
async def pool(pg_dsn):
    async with open_database(HubConfig(database_url=pg_dsn), max_size=2) as pool:
        yield pool


async def make_router(pool) -> tuple[int, int, int]:
    tenants = TenantService(pool, HubConfig())
    tenant = await tenants.create_tenant("acme", "Acme")
    router_id = await tenants.add_router("acme", site="hq", name="r1", host="10.0.0.1")
    agent_id = await SiteRepository(pool).get(tenant.id, "hq")
    return tenant.id, agent_id, router_id


async def test_online_needs_a_fresh_agent_and_an_up_router(pool):
    tenant_id, agent_id, router_id = await make_router(pool)
    routers = RouterRepository(pool, offline_after=45)
    router = await routers.get(router_id, tenant_id)
    assert router.site == "hq" and router.health is None and not router.online

    await SiteRepository(pool).set_presence(agent_id, connected=True, hub_instance="h1")
    assert not (await routers.get(router_id, tenant_id)).online  # no health yet
    await ReportRepository(pool).put_health(router_id, health("online"))
    router = await routers.get(router_id, tenant_id)
    assert router.online and router.health.cpu_load == 12 and router.tenant.slug == "acme"

    await ReportRepository(pool).put_health(router_id, health("offline", error="timeout"))
    router = await routers.get(router_id, tenant_id)
    assert not router.online and router.health.error == "timeout"

    await ReportRepository(pool).put_health(router_id, health("online"))
    await pool.execute("UPDATE agents SET last_seen_at = now() - interval '46 seconds'")
    assert not (await routers.get(router_id, tenant_id)).online
    assert (await RouterRepository(pool, offline_after=60).get(router_id, tenant_id)).online

    assert await routers.get(router_id, tenant_id + 1) is None  # another tenant's
    assert [r.id for r in await routers.find(None)] == [router_id]


async def test_snapshot_replaces_and_events_upsert_sessions(pool):
    _, _, router_id = await make_router(pool)
    reports = ReportRepository(pool)
    await reports.replace_sessions(router_id, [session("*1", "a"), session("*2", "b")])
    await reports.put_sessions(router_id, [session("*2", "b", bytes_in=7), session("*3", "c")])
    got = {s.session_id: s for s in await reports.sessions(router_id)}
    assert set(got) == {"*1", "*2", "*3"} and got["*2"].bytes_in == 7
    await reports.replace_sessions(router_id, [session("*3", "c", uptime=9)])
    (only,) = await reports.sessions(router_id)
    assert only.session_id == "*3" and only.uptime_seconds == 9
    await reports.replace_sessions(router_id, [])
    assert await reports.sessions(router_id) == []
