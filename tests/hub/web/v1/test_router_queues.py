"""/v1/internal/queue (seed 004 section 7) through the real hub, agent and routersim."""

from __future__ import annotations

from tests.e2e.conftest import router_rows

from .conftest import OFFLINE, Site

QUEUE = {
    "name": "john-doe",
    "target": "10.0.0.50/32",
    "max_limit": "10M/10M",
    "limit_at": "5M/5M",
    "burst_limit": "20M/20M",
    "burst_threshold": "8M/8M",
    "burst_time": "8s/8s",
}


async def queues(site: Site) -> dict[str, dict]:
    return {row["name"]: row for row in await router_rows(site.sim, "/queue/simple")}


async def test_a_queue_round_trip(site: Site):
    created = await site.data("POST", "/v1/internal/queue", QUEUE, status=201)
    # The router's own spelling of the rates, as RouterOS prints them: bits per second.
    assert {k: created[k] for k in QUEUE} == {
        **QUEUE,
        "max_limit": "10000000/10000000",
        "limit_at": "5000000/5000000",
        "burst_limit": "20000000/20000000",
        "burst_threshold": "8000000/8000000",
    }
    assert created["disabled"] is False
    on_router = (await queues(site))["john-doe"]
    assert (on_router["max-limit"], on_router["limit-at"], on_router["burst-time"]) == (
        "10000000/10000000",
        "5000000/5000000",
        "8s/8s",
    )
    changed = await site.data(
        "PUT", "/v1/internal/queue/john-doe", {"max_limit": "20M/20M", "disabled": True}
    )
    assert (changed["max_limit"], changed["disabled"]) == ("20000000/20000000", True)
    on_router = (await queues(site))["john-doe"]
    assert on_router["max-limit"] == "20000000/20000000" and on_router["disabled"] is True
    assert [q["name"] for q in await site.data("GET", "/v1/internal/queue/list")] == ["john-doe"]
    by_id = await site.data("GET", f"/v1/internal/queue/{created['id'].replace('*', '%2A')}")
    assert by_id == changed
    await site.data("DELETE", f"/v1/internal/queue/{created['id'].replace('*', '%2A')}")
    assert await queues(site) == {}


async def test_a_duplicate_queue_is_the_routers_409(site: Site):
    await site.data("POST", "/v1/internal/queue", QUEUE, status=201)
    status, body = await site.call("POST", "/v1/internal/queue", {**QUEUE, "target": "10.0.0.51"})
    assert (status, body["error"]) == (
        409,
        "router Tower Router: failure: already have queue with such name",
    )
    status, body = await site.call("POST", "/v1/internal/queue", {"name": "no-target"})
    assert (status, body["error"]) == (400, "target is required")
    status, body = await site.call("POST", "/v1/internal/queue", {**QUEUE, "max_limit": 5})
    assert status == 400 and "max_limit" in body["error"]
    assert set(await queues(site)) == {"john-doe"}


async def test_an_offline_site_is_a_503(site: Site):
    await site.stop_agent()
    status, body = await site.call("DELETE", "/v1/internal/queue/john-doe")
    assert (status, body["error"]) == (503, OFFLINE)
