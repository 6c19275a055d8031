"""/v1/internal/customer (seed 004 section 9) through a real hub, agent and routersim: a
customer is a PPP secret (or hotspot user) on the router, written there first."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hub.config import HubConfig
from routersim import LoginRefused

from .sites import ROUTER, Site, open_site, site_hub_config

PPP_PROFILE = {
    "name": "Premium 50M",
    "type": "pppoe",
    "price": 350000,
    "rate_limit": "50M/50M",
    "local_address": "10.0.0.1",
    "remote_address": "pool-pppoe",
}
JOHN = {
    "username": "johndoe",
    "name": "John Doe",
    "phone": "0712345678",
    "password": "pw-John-7Qx",
    "service_type": "pppoe",
    "billing_day": 5,
}
UNREACHABLE = f"Cannot connect to router {ROUTER}. Please check router configuration."


@pytest.fixture
def hub_config(pg_dsn: str, tmp_path: Path) -> HubConfig:
    return site_hub_config(pg_dsn, tmp_path)


@pytest.fixture
async def site(client, seed, tmp_path) -> AsyncIterator[Site]:
    async for opened in open_site(client, seed, tmp_path):
        yield opened


async def profile(site: Site, **fields) -> int:
    status, body = await site.call("POST", "/v1/internal/profile", {**PPP_PROFILE, **fields})
    assert status == 201, body
    return body["data"]["id"]


async def test_a_customer_is_a_ppp_secret_that_can_dial_in(site: Site):
    profile_id = await profile(site)
    status, body = await site.call(
        "POST", "/v1/internal/customer", {**JOHN, "profile_id": profile_id}
    )
    assert status == 201, body
    customer = body["data"]
    assert customer == {
        "id": customer["id"],
        "username": "johndoe",
        "name": "John Doe",
        "phone": "+255712345678",  # the tenant's country (TZ)
        "profile_id": profile_id,
        "profile_name": "Premium 50M",
        "service_type": "pppoe",
        "billing_day": 5,
        "device_id": site.router_id,
        "is_active": True,
        "created_at": customer["created_at"],
        "updated_at": customer["updated_at"],
    }
    secret = (await site.rows("/ppp/secret"))["johndoe"]
    assert (secret["profile"], secret["service"], secret["comment"]) == (
        "Premium 50M",
        "pppoe",
        "John Doe",
    )
    assert secret["disabled"] is False
    ppp_profile = (await site.rows("/ppp/profile"))["Premium 50M"]
    assert (
        ppp_profile["rate-limit"],
        ppp_profile["local-address"],
        ppp_profile["remote-address"],
    ) == ("50M/50M", "10.0.0.1", "pool-pppoe")
    with pytest.raises(LoginRefused, match="wrong password"):
        site.sim.ppp_login("johndoe", password="not-his")
    assert site.sim.ppp_login("johndoe", password=JOHN["password"])
    # The password is sealed at rest, never stored in clear.
    sealed = await site.pool.fetchval(
        "SELECT password_sealed FROM customers WHERE id = $1", customer["id"]
    )
    assert sealed and JOHN["password"].encode() not in sealed
    status, body = await site.call("GET", f"/v1/internal/customer/{customer['id']}")
    assert status == 200 and body["data"] == customer
    refused = {**JOHN, "username": "x" * 65, "password": "pw-Refused-4Vb"}
    assert (await site.call("POST", "/v1/internal/customer", refused))[0] == 400
    audit = await site.pool.fetch("SELECT action, params::text, details::text FROM audit_log")
    assert "create_customer" in {row["action"] for row in audit}
    for secret in (JOHN["password"], "pw-Refused-4Vb"):
        assert not [row for row in audit if secret in f"{row['params']} {row['details']}"]
    status, body = await site.call("GET", "/v1/internal/customer/list")
    assert status == 200 and body["data"]["customers"] == [customer]
    assert body["metadata"] == {"total": 1, "limit": 50, "offset": 0}


async def test_update_renames_changes_password_and_disables_on_the_router(site: Site):
    basic = await profile(site, name="Basic 5M", rate_limit="5M/5M")
    premium = await profile(site)
    _, body = await site.call("POST", "/v1/internal/customer", {**JOHN, "profile_id": basic})
    url = f"/v1/internal/customer/{body['data']['id']}"
    status, body = await site.call(
        "PUT",
        url,
        {
            "username": "john.doe",
            "password": "pw-New-93Kd",
            "profile_id": premium,
            "is_active": False,
        },
    )
    assert status == 200, body
    assert (body["data"]["username"], body["data"]["profile_name"], body["data"]["is_active"]) == (
        "john.doe",
        "Premium 50M",
        False,
    )
    secrets = await site.rows("/ppp/secret")
    assert set(secrets) == {"john.doe"}
    assert (secrets["john.doe"]["profile"], secrets["john.doe"]["disabled"]) == (
        "Premium 50M",
        True,
    )
    assert (await site.rows("/ppp/profile"))["Premium 50M"]["rate-limit"] == "50M/50M"
    with pytest.raises(LoginRefused, match="disabled"):
        site.sim.ppp_login("john.doe", password="pw-New-93Kd")
    status, body = await site.call("PUT", url, {"is_active": True})
    assert status == 200 and body["data"]["is_active"] is True
    with pytest.raises(LoginRefused, match="wrong password"):
        site.sim.ppp_login("john.doe", password=JOHN["password"])
    assert site.sim.ppp_login("john.doe", password="pw-New-93Kd")

    status, body = await site.call("DELETE", url)
    assert status == 200, body
    assert await site.rows("/ppp/secret") == {}
    assert (await site.call("GET", url))[0] == 404


async def test_a_hotspot_customer_is_a_hotspot_user_with_its_profile(site: Site):
    profile_id = await profile(
        site, name="Hotspot 2M", type="hotspot", rate_limit="2M/1M", local_address=None,
        remote_address=None,
    )  # fmt: skip
    status, body = await site.call(
        "POST",
        "/v1/internal/customer",
        {**JOHN, "service_type": "hotspot", "profile_id": profile_id, "device_id": site.router_id},
    )
    assert status == 201, body
    user = (await site.rows("/ip/hotspot/user"))["johndoe"]
    assert (user["profile"], user["comment"]) == ("Hotspot 2M", "John Doe")
    assert (await site.rows("/ip/hotspot/user/profile"))["Hotspot 2M"]["rate-limit"] == "2M/1M"
    status, body = await site.call("DELETE", f"/v1/internal/customer/{body['data']['id']}")
    assert status == 200
    assert "johndoe" not in await site.rows("/ip/hotspot/user")


async def test_an_offline_site_is_a_503_and_nothing_is_saved(site: Site):
    profile_id = await profile(site)
    _, body = await site.call("POST", "/v1/internal/customer", {**JOHN, "profile_id": profile_id})
    url = f"/v1/internal/customer/{body['data']['id']}"
    before = body["data"]
    await site.take_offline()
    status, body = await site.call(
        "POST", "/v1/internal/customer", {**JOHN, "username": "jane", "profile_id": profile_id}
    )
    assert (status, body["error"]) == (503, UNREACHABLE)
    status, body = await site.call("PUT", url, {"name": "Renamed", "password": "pw-Off-55Zz"})
    assert (status, body["error"]) == (503, UNREACHABLE)
    status, body = await site.call("DELETE", url)
    assert (status, body["error"]) == (503, UNREACHABLE)
    _, body = await site.call("GET", "/v1/internal/customer/list")
    assert body["data"]["customers"] == [before]
    # The router itself still has only the first customer, unchanged.
    secrets = await site.rows("/ppp/secret")
    assert set(secrets) == {"johndoe"} and secrets["johndoe"]["comment"] == "John Doe"


async def test_duplicates_limits_and_bad_fields_are_refused_before_the_router(site: Site):
    profile_id = await profile(site)
    john = {**JOHN, "profile_id": profile_id}
    assert (await site.call("POST", "/v1/internal/customer", john))[0] == 201
    status, body = await site.call(
        "POST", "/v1/internal/customer", {**john, "password": "pw-Dup-11"}
    )
    assert (status, body["error"]) == (409, "customer 'johndoe' already exists")
    refusals = {
        "billing_day": ({"billing_day": 29}, "billing_day must be a day of the month from 1 to 28"),
        "password": ({"password": None}, "password must be a string"),
        "phone": ({"phone": "12"}, "phone: invalid phone number '12'"),
        "profile_id": ({"profile_id": 999_999}, "profile_id 999999 is not a billing profile"),
        "service_type": ({"service_type": "hotspot"}, "service_type hotspot does not match"),
        "username": ({"username": "*1"}, "username must be 1-64 characters"),
        "name": ({"name": "x" * 101}, "name must be at most 100 characters"),
        "device_id": ({"device_id": 999_999}, "Router not found"),
    }
    for field, (change, message) in refusals.items():
        body = {**john, "username": f"new-{field}", **change}
        body = {k: v for k, v in body.items() if v is not None}
        if field == "password":
            body["password"] = 5
        status, answer = await site.call("POST", "/v1/internal/customer", body)
        assert status in (400, 404), (field, answer)
        assert answer["error"].startswith(message), (field, answer["error"])
    await site.pool.execute(
        "UPDATE tenants SET max_network_users = 1 WHERE id = $1", site.tenant_id
    )
    status, body = await site.call(
        "POST", "/v1/internal/customer", {**john, "username": "jane", "password": "pw-Jane-2"}
    )
    assert (status, body["error"]) == (
        409,
        "Tenant limit reached: at most 1 customer(s) (max_network_users)",
    )
    assert set(await site.rows("/ppp/secret")) == {"johndoe"}
    _, body = await site.call("GET", "/v1/internal/customer/list")
    assert [c["username"] for c in body["data"]["customers"]] == ["johndoe"]


async def test_another_tenants_customer_is_not_found(site: Site):
    profile_id = await profile(site)
    _, body = await site.call("POST", "/v1/internal/customer", {**JOHN, "profile_id": profile_id})
    url = f"/v1/internal/customer/{body['data']['id']}"
    other = await site.seed.tenant("other")
    stranger = (await site.seed.user(other, "olivia", "owner")).headers
    for method, json in (("GET", None), ("PUT", {"name": "Mine now"}), ("DELETE", None)):
        status, body = await site.call(method, url, json, headers=stranger)
        assert (status, body["error"]) == (404, "Customer not found"), method
    status, body = await site.call("GET", "/v1/internal/customer/list", headers=stranger)
    assert body["data"]["customers"] == []
    assert set(await site.rows("/ppp/secret")) == {"johndoe"}
