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


async def test_hotspot_stats_per_location_for_the_callers_tenant(client, seed, pool):
    acme = await seed.tenant("acme")
    awka = await seed.router(
        acme, "Awka Router", site="awka", router_health=health(hotspot_users=150)
    )
    lagos = await seed.router(acme, "Lagos Router", site="lagos", agent_connected=False)
    await seed.router(acme, "r1", site="hq")
    await seed.router(acme, "r2", site="hq")
    await seed.sessions(
        awka,
        # router's side: bytes_in = received from the user (uploads), bytes_out = sent to them
        session("*1", "+255712345678", uptime=60, bytes_in=100, bytes_out=1000),
        session("*2", "+255712345679", uptime=600, bytes_in=200, bytes_out=2000),
        session("*3", "ppp-user", kind="ppp", bytes_in=7, bytes_out=70),
    )
    await seed.sessions(lagos, session("*9", "+255712345670"))
    beta = await seed.tenant("beta")
    await seed.router(beta, "Beta Router", site="secret-site")

    resp = await client.get("/api/hotspot/stats", headers=acme.headers)
    assert resp.status == 200
    body = await resp.json()
    assert set(body) == {"awka", "lagos", "hq/r1", "hq/r2"}  # keyed per location
    stats = body["awka"]
    last = parse_iso(stats.pop("lastActivity"))
    assert stats == {
        "routerId": awka,
        "name": "Awka Router",
        "site": "awka",
        "activeUsers": 2,  # hotspot sessions (seed 002: /ip hotspot active)
        "totalUsers": 150,
        "totalBytesIn": 3000,  # downloaded by the users
        "totalBytesOut": 300,  # uploaded by the users
        "status": "active",
        "routerStatus": {
            "isOnline": True,
            "uptime": "2w1d23h5m45s",
            "version": "7.16.2 (stable)",
            "cpuLoad": 12,
            "freeMemory": 45678912,
            "totalMemory": 134217728,
        },
    }
    # The latest login is the session with the shortest uptime (60 s ago, as reported).
    updated = await pool.fetchval("SELECT updated_at FROM current_sessions WHERE session_id='*1'")
    assert abs((updated - last).total_seconds() - 60) < 1
    # An unreachable site: the seed's fallback, zero counts, with its last known health.
    down = body["lagos"]
    assert {k: down[k] for k in ("activeUsers", "totalUsers", "totalBytesIn", "totalBytesOut")} == {
        "activeUsers": 0,
        "totalUsers": 0,
        "totalBytesIn": 0,
        "totalBytesOut": 0,
    }
    assert down["status"] == "maintenance" and down["lastActivity"] == "Connection failed"
    assert down["routerStatus"]["isOnline"] is False
    assert body["hq/r1"]["lastActivity"] is None and body["hq/r1"]["activeUsers"] == 0
    assert "secret-site" not in await resp.text() and "Beta Router" not in await resp.text()

    resp = await client.get("/api/hotspot/stats", headers=beta.headers)
    assert set(await resp.json()) == {"secret-site"}


async def test_hotspot_stats_needs_a_tenant_key(client, seed):
    await seed.tenant("acme")
    resp = await client.get("/api/hotspot/stats")
    assert resp.status == 401
    assert await resp.json() == {
        "success": False,
        "error": "Authentication credentials were not provided",
    }
    resp = await client.get("/api/hotspot/stats", headers={"Authorization": "Bearer nope"})
    assert resp.status == 401 and (await resp.json())["error"] == "Invalid API key"
    resp = await client.post("/api/hotspot/stats", headers={"Authorization": "Bearer nope"})
    assert resp.status == 405


async def test_hotspot_stats_of_a_tenant_without_routers_is_empty(client, seed):
    acme = await seed.tenant("acme")
    resp = await client.get("/api/hotspot/stats", headers=acme.headers)
    assert resp.status == 200 and await resp.json() == {}
