"""Client operations (seed 004 section 4): customers in bulk by username, each item on its own."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hub.config import HubConfig

from .sites import Site, open_site, site_hub_config
from .test_customers import JOHN, profile


@pytest.fixture
def hub_config(pg_dsn: str, tmp_path: Path) -> HubConfig:
    return site_hub_config(pg_dsn, tmp_path)


@pytest.fixture
async def site(client, seed, tmp_path) -> AsyncIterator[Site]:
    async for opened in open_site(client, seed, tmp_path):
        yield opened


def customer(username: str, profile_id: int, **fields) -> dict:
    return {**JOHN, "username": username, "password": f"pw-{username}-K9", "profile_id": profile_id,
            "phone": None, **fields}  # fmt: skip


async def test_upsert_creates_updates_and_reports_each_item(site: Site):
    basic = await profile(site, name="Basic 5M", rate_limit="5M/5M")
    premium = await profile(site)
    items = [
        customer("alice", basic, name="Alice"),
        customer("bob", basic, phone="0787654321"),
        customer("carol", basic, billing_day=31),
    ]
    status, body = await site.call("POST", "/v1/internal/client-upsert", items)
    assert status == 400  # an item out of bounds: the whole body is refused, nothing written
    assert body["error"] == "item 2: billing_day must be a day of the month from 1 to 28"
    items[2] = customer("carol", 999_999)
    status, body = await site.call("POST", "/v1/internal/client-upsert", items)
    assert status == 200, body
    results = body["data"]["results"]
    assert [(r["username"], r["action"], r["error"]) for r in results] == [
        ("alice", "created", None),
        ("bob", "created", None),
        ("carol", "failed", "profile_id 999999 is not a billing profile of this tenant"),
    ]
    assert (body["data"]["succeeded"], body["data"]["failed"]) == (2, 1)
    assert results[1]["customer"]["phone"] == "+255787654321"
    assert set(await site.rows("/ppp/secret")) == {"alice", "bob"}

    status, body = await site.call(
        "POST",
        "/v1/internal/client-upsert",
        [{"username": "alice", "profile_id": premium}, customer("dave", premium)],
    )
    assert status == 200, body
    assert [(r["username"], r["action"]) for r in body["data"]["results"]] == [
        ("alice", "updated"),
        ("dave", "created"),
    ]
    secrets = await site.rows("/ppp/secret")
    assert (secrets["alice"]["profile"], secrets["dave"]["profile"]) == (
        "Premium 50M",
        "Premium 50M",
    )
    assert site.sim.ppp_login("alice", password="pw-alice-K9")  # the password was kept

    status, body = await site.call("POST", "/v1/internal/client-upsert", [])
    assert (status, body["error"]) == (400, "at least one item is required")
    status, body = await site.call("POST", "/v1/internal/client-upsert", {"username": "x"})
    assert (status, body["error"]) == (400, "request body must be a JSON array")
    too_many = [{"username": f"u{i}"} for i in range(501)]
    status, body = await site.call("POST", "/v1/internal/client-upsert", too_many)
    assert (status, body["error"]) == (400, "at most 500 items per call")


async def test_find_filters_and_pages(site: Site):
    basic = await profile(site, name="Basic 5M", rate_limit="5M/5M")
    premium = await profile(site)
    items = [
        customer("alice", basic, name="Alice Wonder"),
        customer("bob", premium, phone="0787654321", is_active=False),
        customer("carol", premium),
    ]
    _, body = await site.call("POST", "/v1/internal/client-upsert", items)
    assert body["data"]["succeeded"] == 3, body

    async def find(**filters) -> tuple[list[str], dict]:
        status, body = await site.call("POST", "/v1/internal/client-find", filters)
        assert status == 200, body
        return [c["username"] for c in body["data"]["customers"]], body["metadata"]

    assert (await find())[0] == ["alice", "bob", "carol"]
    assert (await find(username="bob"))[0] == ["bob"]
    assert (await find(usernames=["carol", "alice", "nobody"]))[0] == ["alice", "carol"]
    assert (await find(phone="+255 787 654 321"))[0] == ["bob"]
    assert (await find(profile_id=premium))[0] == ["bob", "carol"]
    assert (await find(is_active=False))[0] == ["bob"]
    assert (await find(search="wonder"))[0] == ["alice"]
    assert (await find(search="%"))[0] == []
    assert (await find(service_type="hotspot"))[0] == []
    assert await find(limit=1, offset=1) == (["bob"], {"total": 3, "limit": 1, "offset": 1})
    status, body = await site.call("POST", "/v1/internal/client-find", {"service_type": "dsl"})
    assert (status, body["error"]) == (400, "service_type must be pppoe or hotspot")
    status, body = await site.call("POST", "/v1/internal/client-find", {"limit": 0})
    assert (status, body["error"]) == (400, "limit must be from 1 to 1000")


async def test_delete_by_username_in_the_body_or_the_query(site: Site):
    basic = await profile(site, name="Basic 5M", rate_limit="5M/5M")
    items = [customer(name, basic) for name in ("alice", "bob", "carol")]
    _, body = await site.call("POST", "/v1/internal/client-upsert", items)
    assert body["data"]["succeeded"] == 3, body
    status, body = await site.call(
        "DELETE", "/v1/internal/client-delete", {"usernames": ["alice", "nobody"]}
    )
    assert status == 200, body
    assert [(r["username"], r["action"], r["error"]) for r in body["data"]["results"]] == [
        ("alice", "deleted", None),
        ("nobody", "failed", "Customer not found"),
    ]
    status, body = await site.call("DELETE", "/v1/internal/client-delete?usernames=bob,carol")
    assert status == 200, body
    assert [r["action"] for r in body["data"]["results"]] == ["deleted", "deleted"]
    assert await site.rows("/ppp/secret") == {}
    _, body = await site.call("POST", "/v1/internal/client-find", {})
    assert body["data"]["customers"] == []
    status, body = await site.call("DELETE", "/v1/internal/client-delete")
    assert (status, body["error"]) == (400, "at least one item is required")


async def test_an_offline_site_fails_each_item_and_saves_none(site: Site):
    basic = await profile(site, name="Basic 5M", rate_limit="5M/5M")
    await site.take_offline()
    status, body = await site.call(
        "POST", "/v1/internal/client-upsert", [customer("alice", basic), customer("bob", basic)]
    )
    assert status == 200, body
    assert [r["action"] for r in body["data"]["results"]] == ["failed", "failed"]
    assert body["data"]["results"][0]["error"].startswith("Cannot connect to router")
    _, body = await site.call("POST", "/v1/internal/client-find", {})
    assert body["data"]["customers"] == []
