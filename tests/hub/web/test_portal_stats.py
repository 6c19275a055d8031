"""Seed 002 against the real app and Postgres: per-location stats, and stale marks on the
health of sites that are offline."""

from __future__ import annotations

from common.timeutil import parse_iso
from hub.storage.routers import SiteRepository
from tests.hub.conftest import health, session
from tests.hub.web.test_portal import ISO_Z


async def test_monitoring_and_health_of_an_offline_site_are_marked_stale(client, seed, pool):
    acme = await seed.tenant("acme")
    up = await seed.router(acme, "Awka", site="awka")
    down = await seed.router(
        acme, "Lagos", site="lagos", router_health=health("offline", error="connection refused")
    )
    gone = await seed.router(acme, "Abuja", site="abuja")
    agent_id = await SiteRepository(pool).get(acme.tenant.id, "abuja")
    await SiteRepository(pool).set_presence(agent_id, connected=False)  # the site goes dark

    resp = await client.get("/api/portal/router/health/", headers=acme.headers)
    by_id = {r["id"]: r for r in (await resp.json())["routers"]}
    assert by_id[up]["stale"] is False
    assert by_id[up]["last_seen"] == by_id[up]["reported_at"]
    # The silent site keeps its last known counts, marked as such.
    assert by_id[gone]["stale"] is True
    assert by_id[gone]["active_users"] == {"hotspot": 2, "ppp": 0, "total": 2}
    assert ISO_Z.match(by_id[gone]["last_seen"])
    assert parse_iso(by_id[gone]["last_seen"]) <= parse_iso(by_id[gone]["agent_last_seen_at"])
    # Agent up, router unreachable: stale since the router went down.
    assert by_id[down]["stale"] is True
    assert by_id[down]["last_seen"] == by_id[down]["status_since"]
    live = sum(r["active_users"]["total"] for r in by_id.values() if not r["stale"])
    assert live == 2

    for router_id, stale in ((up, False), (gone, True)):
        resp = await client.get(f"/api/portal/router/{router_id}/monitoring/", headers=acme.headers)
        router = (await resp.json())["router"]
        assert router["stale"] is stale and ISO_Z.match(router["last_seen"])
