"""/v1/internal/profile (seed 004 section 8): stored in the tenant's currency, put on a router
with its first customer there, re-applied to those routers when it changes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hub.config import HubConfig

from .sites import ROUTER, Site, open_site, site_hub_config
from .test_customers import JOHN, PPP_PROFILE, UNREACHABLE, profile


@pytest.fixture
def hub_config(pg_dsn: str, tmp_path: Path) -> HubConfig:
    return site_hub_config(pg_dsn, tmp_path)


@pytest.fixture
async def site(client, seed, tmp_path) -> AsyncIterator[Site]:
    async for opened in open_site(client, seed, tmp_path):
        yield opened


async def test_create_list_read_in_the_tenants_currency(site: Site):
    status, body = await site.call("POST", "/v1/internal/profile", PPP_PROFILE)
    assert status == 201, body
    created = body["data"]
    assert created == {
        "id": created["id"],
        "name": "Premium 50M",
        "type": "pppoe",
        "price": 350000,
        "currency": "KES",
        "rate_limit": "50M/50M",
        "local_address": "10.0.0.1",
        "remote_address": "pool-pppoe",
        "created_at": created["created_at"],
        "updated_at": created["updated_at"],
    }
    response = await site.client.post(
        "/v1/internal/profile",
        data=b'{"name": "Cents", "type": "hotspot", "price": 10.50, "rate_limit": "2m/1M"}',
        headers={**site.headers, "Content-Type": "application/json"},
    )
    assert b'"price":10.50' in await response.read()  # exact, as stored
    cents = (await response.json())["data"]
    assert (cents["rate_limit"], cents["local_address"]) == ("2M/1M", None)
    status, body = await site.call("GET", "/v1/internal/profile/list?limit=1&offset=1")
    assert status == 200
    assert [p["name"] for p in body["data"]["profiles"]] == ["Cents"]
    assert body["metadata"] == {"total": 2, "limit": 1, "offset": 1} and body["data"]["total"] == 2
    assert (await site.call("GET", f"/v1/internal/profile/{created['id']}"))[1]["data"] == created
    # Nothing is on the router until a customer of the profile is.
    assert "Premium 50M" not in await site.rows("/ppp/profile")


async def test_bad_fields_and_duplicates(site: Site):
    await profile(site)
    refusals = [
        ({"rate_limit": "fast"}, 400, "invalid rate_limit 'fast': expected download/upload"),
        ({"type": "dsl"}, 400, "type must be pppoe or hotspot"),
        ({"price": 1.005}, 400, "price must have at most 2 decimal places"),
        ({"price": -1}, 400, "price must be from 0 to 1000000000"),
        ({"price": "ten"}, 400, "price must be a number"),
        ({"local_address": "not-an-ip"}, 400, "local_address must be an IP address"),
        ({"type": "hotspot"}, 400, "local_address applies to pppoe profiles only"),
        ({"name": ""}, 400, "name is required"),
        ({"name": "x" * 65}, 400, "name must be at most 64 characters"),
        ({}, 409, "billing profile 'Premium 50M' already exists"),
    ]
    for change, status, message in refusals:
        body = {**PPP_PROFILE, **change}
        answer = await site.call("POST", "/v1/internal/profile", body)
        assert (answer[0], answer[1]["error"][: len(message)]) == (status, message), change
    _, listed = await site.call("GET", "/v1/internal/profile/list")
    assert listed["metadata"]["total"] == 1


async def test_an_update_reaches_every_router_holding_its_customers(site: Site):
    profile_id = await profile(site)
    status, body = await site.call(
        "POST", "/v1/internal/customer", {**JOHN, "profile_id": profile_id}
    )
    assert status == 201, body
    url = f"/v1/internal/profile/{profile_id}"
    status, body = await site.call(
        "PUT", url, {"name": "Premium 100M", "rate_limit": "100M/100M", "price": 500000}
    )
    assert status == 200, body
    assert (body["data"]["name"], body["data"]["price"]) == ("Premium 100M", 500000)
    profiles = await site.rows("/ppp/profile")
    assert "Premium 50M" not in profiles
    assert profiles["Premium 100M"]["rate-limit"] == "100M/100M"
    # RouterOS links the secret to the profile by id: the rename carries it along.
    assert (await site.rows("/ppp/secret"))["johndoe"]["profile"] == "Premium 100M"
    status, body = await site.call("PUT", url, {"type": "hotspot"})
    assert (status, body["error"]) == (
        409,
        "type cannot change while customers use this billing profile",
    )

    await site.take_offline()
    status, body = await site.call("PUT", url, {"rate_limit": "1M/1M"})
    assert (status, body["error"]) == (503, UNREACHABLE)
    assert (await site.call("GET", url))[1]["data"]["rate_limit"] == "100M/100M"
    assert (await site.rows("/ppp/profile"))["Premium 100M"]["rate-limit"] == "100M/100M"
    assert ROUTER in UNREACHABLE


async def test_delete_is_refused_while_customers_use_it(site: Site):
    profile_id = await profile(site)
    _, body = await site.call("POST", "/v1/internal/customer", {**JOHN, "profile_id": profile_id})
    customer_url = f"/v1/internal/customer/{body['data']['id']}"
    url = f"/v1/internal/profile/{profile_id}"
    status, body = await site.call("DELETE", url)
    assert (status, body["error"]) == (
        409,
        "Cannot delete billing profile 'Premium 50M': 1 customer(s) use it",
    )
    assert (await site.call("DELETE", customer_url))[0] == 200
    assert (await site.call("DELETE", url))[0] == 200
    assert (await site.call("GET", url))[0] == 404


async def test_another_tenants_profile_is_not_found_and_viewers_only_read(site: Site):
    profile_id = await profile(site)
    url = f"/v1/internal/profile/{profile_id}"
    other = await site.seed.tenant("other")
    stranger = (await site.seed.user(other, "olivia", "owner")).headers
    for method, json in (("GET", None), ("PUT", {"price": 1}), ("DELETE", None)):
        status, body = await site.call(method, url, json, headers=stranger)
        assert (status, body["error"]) == (404, "Billing profile not found"), method
