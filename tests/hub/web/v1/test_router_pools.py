"""/v1/internal/pool (seed 004 section 7) through the real hub, agent and routersim."""

from __future__ import annotations

from tests.e2e.conftest import router_rows

from .conftest import OFFLINE, Site

POOL = {"name": "pool-pppoe", "ranges": "10.0.0.10-10.0.0.250"}


async def pools(site: Site) -> dict[str, dict]:
    return {row["name"]: row for row in await router_rows(site.sim, "/ip/pool")}


async def test_a_pool_round_trip(site: Site):
    await site.data(
        "POST", "/v1/internal/pool", {"name": "overflow", "ranges": "10.9.0.2-10.9.0.9"}, 201
    )
    created = await site.data("POST", "/v1/internal/pool", POOL, status=201)
    assert (created["name"], created["ranges"], created["next_pool"]) == (
        "pool-pppoe",
        "10.0.0.10-10.0.0.250",
        "none",
    )
    assert (await pools(site))["pool-pppoe"]["ranges"] == "10.0.0.10-10.0.0.250"
    changed = await site.data(
        "PUT",
        f"/v1/internal/pool/{created['id'].replace('*', '%2A')}",
        {"ranges": "10.0.0.10-10.0.0.99,10.0.1.1-10.0.1.9", "next_pool": "overflow"},
    )
    assert changed["next_pool"] == "overflow"
    on_router = (await pools(site))["pool-pppoe"]
    assert on_router["ranges"] == "10.0.0.10-10.0.0.99,10.0.1.1-10.0.1.9"
    assert on_router["next-pool"] == "overflow"
    listed = await site.data("GET", "/v1/internal/pool/list")
    assert {p["name"] for p in listed} >= {"pool-pppoe", "overflow"}
    assert await site.data("GET", "/v1/internal/pool/pool-pppoe") == changed
    await site.data("DELETE", "/v1/internal/pool/pool-pppoe")
    assert "pool-pppoe" not in await pools(site)


async def test_traps_and_bad_input(site: Site):
    await site.data("POST", "/v1/internal/pool", POOL, status=201)
    status, body = await site.call("POST", "/v1/internal/pool", POOL)
    assert (status, body["error"]) == (
        409,
        "router Tower Router: failure: pool with such name already exists",
    )
    status, body = await site.call("POST", "/v1/internal/pool", {"name": "p2"})
    assert (status, body["error"]) == (400, "ranges is required")
    status, body = await site.call("POST", "/v1/internal/pool", {"name": "p3", "ranges": "x-y"})
    assert status == 400 and body["error"].startswith("router Tower Router: ")
    status, body = await site.call("PUT", "/v1/internal/pool/no-such-pool", {"comment": "c"})
    assert status == 404 and "no-such-pool" in body["error"]
    status, body = await site.call("PUT", "/v1/internal/pool/pool-pppoe", {})
    assert (status, body["error"]) == (400, "nothing to change: give at least one field")
    assert set(await pools(site)) == {"hs-pool", "ppp-pool", "pool-pppoe"}  # none refused was added


async def test_an_offline_site_is_a_503(site: Site):
    await site.stop_agent()
    status, body = await site.call("POST", "/v1/internal/pool", POOL)
    assert (status, body["error"]) == (503, OFFLINE)
