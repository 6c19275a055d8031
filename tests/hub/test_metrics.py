"""/metrics: router gauges from agent reports via the background snapshot, request latency."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from tests.helpers import wait_for
from tests.hub.conftest import session


async def scrape(client) -> dict[tuple[str, tuple], float]:
    resp = await client.get("/metrics")
    assert resp.status == 200
    samples = {}
    for family in text_string_to_metric_families(await resp.text()):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples


async def scrape_until(client, complete) -> dict[tuple[str, tuple], float]:
    """Scrape until ``complete(samples)`` holds: the refresher runs on its own clock and may
    snapshot between two seeding steps, so a test waits for the whole state it seeded."""

    async def scraped():
        samples = await scrape(client)
        return samples if complete(samples) else None

    return await wait_for(scraped)


def key(name: str, labels: dict[str, str]) -> tuple[str, tuple]:
    return (name, tuple(sorted(labels.items())))


async def test_router_gauges_come_from_the_snapshot(client, seed):
    acme = await seed.tenant("acme")
    router_id = await seed.router(acme, "r1", site="hq")
    await seed.router(acme, "r2", site="branch", agent_connected=False)
    await seed.sessions(
        router_id,
        session("*1", "+255712345678", bytes_in=100, bytes_out=10),
        session("*2", "+255712345679", bytes_in=50, bytes_out=5),
        session("*3", "+255712345670", kind="ppp", bytes_in=7, bytes_out=1),
    )
    r1 = {"tenant": "acme", "site": "hq", "router": "r1"}
    r2 = {"tenant": "acme", "site": "branch", "router": "r2"}
    sessions = {
        key("ispfleet_router_sessions", {**r1, "kind": "hotspot"}): 2.0,
        key("ispfleet_router_sessions", {**r1, "kind": "ppp"}): 1.0,
        key("ispfleet_router_up", r2): 0.0,
    }
    samples = await scrape_until(
        client, lambda got: all(got.get(k) == v for k, v in sessions.items())
    )

    def value(name, labels):
        return samples[key(name, labels)]

    assert value("ispfleet_router_up", r1) == 1.0
    assert value("ispfleet_router_up", r2) == 0.0
    assert value("ispfleet_router_agent_online", r2) == 0.0
    assert value("ispfleet_router_cpu_load_percent", r1) == 12.0
    assert value("ispfleet_router_memory_total_bytes", r1) == 134217728.0
    assert value("ispfleet_router_uptime_seconds", r1) == 1379145.0
    assert value("ispfleet_router_sessions", {**r1, "kind": "hotspot"}) == 2.0
    assert value("ispfleet_router_sessions", {**r1, "kind": "ppp"}) == 1.0
    assert value("ispfleet_router_session_bytes_in", {**r1, "kind": "hotspot"}) == 150.0
    assert value("ispfleet_hub_fleet_snapshot_age_seconds", {}) >= 0  # present; no timing


async def test_request_latency_by_route(client, seed):
    acme = await seed.tenant("acme")
    await client.get("/api/portal/router/health/", headers=acme.headers)
    await client.get("/api/portal/router/5/active-users/", headers=acme.headers)
    await client.get("/api/portal/router/5/active-users/")
    samples = await scrape(client)
    route = "/api/portal/router/{router_id}/active-users/"
    counts = {
        labels: v
        for (name, labels), v in samples.items()
        if name == "ispfleet_hub_request_seconds_count"
    }
    assert counts[(("method", "GET"), ("route", route), ("status", "404"))] == 1
    assert counts[(("method", "GET"), ("route", route), ("status", "401"))] == 1
    health = (("method", "GET"), ("route", "/api/portal/router/health/"), ("status", "200"))
    assert counts[health] == 1
    assert ("ispfleet_hub_agents_connected", ()) in samples
