"""/metrics: router gauges from agent reports via the background snapshot, request latency."""

from __future__ import annotations

import asyncio
import shutil
from asyncio.subprocess import PIPE
from dataclasses import replace

import pytest
from prometheus_client.parser import text_string_to_metric_families

from hub.app import create_app
from hub.typedefs import DB_POOL
from tests.helpers import wait_for
from tests.hub.conftest import Seeder, session


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
    await promtool_check(await (await client.get("/metrics")).text())

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
    # router's side: received from the clients (the users' upload)
    assert value("ispfleet_router_session_received_bytes", {**r1, "kind": "hotspot"}) == 150.0
    assert value("ispfleet_router_session_sent_bytes", {**r1, "kind": "hotspot"}) == 15.0
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


async def promtool_check(text: str) -> str:
    """``promtool check metrics`` on a scrape (Debian's prometheus: deploy/dev-packages.sh)."""
    exe = shutil.which("promtool")
    if exe is None:
        pytest.fail("promtool is missing: run `sh deploy/dev-packages.sh` as root (make install)")
    process = await asyncio.create_subprocess_exec(
        exe, "check", "metrics", stdin=PIPE, stdout=PIPE, stderr=PIPE
    )
    out, err = await process.communicate(text.encode())
    report = (out + err).decode()
    assert process.returncode == 0, report
    return report


async def test_platform_scrape_needs_the_metrics_token(aiohttp_client, hub_config):
    config = replace(hub_config, metrics_token="s3cret-token")
    client = await aiohttp_client(create_app(config))  # this test's only app
    seed = Seeder(client.app[DB_POOL], config)
    acme = await seed.tenant("acme")
    await seed.router(acme, "r1", site="hq")
    resp = await client.get("/metrics")
    assert resp.status == 401
    assert await resp.json() == {
        "success": False,
        "error": "A valid metrics bearer token is required",
    }
    for wrong in (
        "Bearer nope",
        "Basic s3cret-token",
        "s3cret-token",
        acme.headers["Authorization"],
    ):
        assert (await client.get("/metrics", headers={"Authorization": wrong})).status == 401
    ok = {"Authorization": "Bearer s3cret-token"}  # what Prometheus' `authorization` sends

    async def scraped():
        resp = await client.get("/metrics", headers=ok)
        assert resp.status == 200
        text = await resp.text()
        return text if 'router="r1"' in text else None

    await promtool_check(await wait_for(scraped))


async def test_without_a_token_metrics_are_not_served_publicly(aiohttp_client, hub_config):
    client = await aiohttp_client(create_app(replace(hub_config, listen_host="0.0.0.0")))
    resp = await client.get("/metrics")
    assert resp.status == 403
    assert "metrics_token is not configured" in (await resp.json())["error"]


async def test_without_a_token_a_proxied_or_public_hub_refuses_metrics(aiohttp_client, hub_config):
    """A reverse proxy on the same host makes every client look local: not served."""
    local = await aiohttp_client(create_app(hub_config))  # listens on loopback, direct client
    assert (await local.get("/metrics")).status == 200
    for header in ("X-Forwarded-For", "Forwarded", "X-Real-IP"):
        resp = await local.get("/metrics", headers={header: "203.0.113.9"})
        assert resp.status == 403
    public = await aiohttp_client(
        create_app(replace(hub_config, public_url="https://hub.example.net"))
    )
    assert (await public.get("/metrics")).status == 403


async def test_guessing_the_metrics_token_is_throttled(aiohttp_client, hub_config):
    client = await aiohttp_client(create_app(replace(hub_config, metrics_token="s3cret")))
    statuses = set()
    for _ in range(hub_config.auth_failure_burst + 1):
        resp = await client.get("/metrics", headers={"Authorization": "Bearer guess"})
        statuses.add(resp.status)
    assert statuses == {401, 429}
    resp = await client.get("/metrics", headers={"Authorization": "Bearer s3cret"})
    assert resp.status == 429  # the address spent its budget; the right token waits too


async def test_each_tenant_scrapes_only_its_own_series(client, seed):
    acme = await seed.tenant("acme")
    beta = await seed.tenant("beta-isp")
    a = await seed.router(acme, "Acme Tower", site="acme-hq")
    b = await seed.router(beta, "Beta Secret Router", site="beta-site")
    await seed.sessions(a, session("*1", "+255712345678", bytes_in=10, bytes_out=20))
    await seed.sessions(b, session("*2", "+255712345679", bytes_in=30, bytes_out=40))
    assert (await client.get("/api/portal/metrics")).status == 401

    async def scraped(owner, router: str, received: float):
        """The tenant's scrape once the refresher has seen the router and its session."""
        resp = await client.get("/api/portal/metrics", headers=owner.headers)
        assert resp.status == 200
        text = await resp.text()
        for family in text_string_to_metric_families(text):
            for s in family.samples:
                if (s.name, s.labels.get("router"), s.labels.get("kind"), s.value) == (
                    "ispfleet_router_session_received_bytes",
                    router,
                    "hotspot",
                    received,
                ):
                    return text
        return None

    text = await wait_for(lambda: scraped(acme, "Acme Tower", 10.0))
    await promtool_check(text)
    for other in ("beta", "Beta Secret Router", "beta-site", "+2557"):
        assert other not in text
    assert "ispfleet_hub_request_seconds" not in text  # the platform's own instruments stay out
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    labels = {"tenant": "acme", "site": "acme-hq", "router": "Acme Tower", "kind": "hotspot"}
    assert samples[key("ispfleet_router_session_received_bytes", labels)] == 10.0
    assert samples[key("ispfleet_router_session_sent_bytes", labels)] == 20.0
    beta_text = await wait_for(lambda: scraped(beta, "Beta Secret Router", 30.0))
    assert "Acme Tower" not in beta_text and "acme" not in beta_text
