"""Router callbacks (seed 004 section 11) through the real hub: a secret per router from the CLI,
up and down events that update the hub's PPP view and wake the stream, duplicates that change
nothing, and forged or replayed events refused."""

from __future__ import annotations

from typing import Any

from tests.e2e.conftest import cli, hub_env  # noqa: F401 - hub_env is a fixture

from .conftest import ROUTER, Site
from .test_streams import ACTIVE, connect, receive, ticket

UP = {
    "id": "*8000ABCD",
    "name": "alice",
    "caller_id": "AA:BB:CC:DD:EE:0A",
    "interface": "<pppoe-alice>",
    "local_address": "10.0.0.1",
    "remote_address": "10.0.0.50",
    "service": "pppoe",
}


async def callback(
    site: Site, action: str, body: dict[str, Any], secret: str | None
) -> tuple[int, dict[str, Any]]:
    headers = {"X-Callback-Secret": secret} if secret is not None else {}
    async with site.http.post(
        f"{site.url}/v1/callbacks/pppoe/{action}", json=body, headers=headers
    ) as response:
        return response.status, await response.json()


async def secret_of(hub_env: dict[str, str], site: Site) -> str:  # noqa: F811
    """``ispfleet-hub callback-secret`` as an operator runs it: the secret and the script."""
    out = await cli(hub_env, "callback-secret", "--router", str(site.router_id))
    first = out.splitlines()[0]
    assert first.startswith(f"callback secret of router {ROUTER!r}")
    secret = first.rsplit(" ", 1)[1]
    assert secret.startswith("icb_")
    assert '/ppp profile set [find name="default"] on-up="' in out
    assert "/v1/callbacks/pppoe/down" in out and f"X-Callback-Secret: {secret}" in out
    stored = await site.pool.fetchval("SELECT secret_hash FROM router_callback_secrets")
    assert secret.encode() not in bytes(stored)  # a hash only
    return secret


async def test_up_and_down_update_the_hub_and_wake_the_stream(site: Site, hub_env):  # noqa: F811
    secret = await secret_of(hub_env, site)
    ws = await connect(site, ACTIVE, await ticket(site))
    assert (await receive(ws))["data"] == []

    status, body = await callback(site, "up", UP, secret)
    assert (status, body["data"]) == (
        200,
        {"router": ROUTER, "action": "up", "name": "alice", "changed": True},
    )
    up = await receive(ws)
    assert up["data"] == {
        "action": "up",
        "name": "alice",
        "caller_id": "AA:BB:CC:DD:EE:0A",
        "interface": "<pppoe-alice>",
        "remote_address": "10.0.0.50",
        "service": "pppoe",
    }
    (active,) = await site.data("GET", "/v1/internal/ppp/active/list")
    assert (active["id"], active["address"]) == ("*8000ABCD", "10.0.0.50")

    again = await callback(site, "up", UP, secret)  # the router retried: nothing changes
    assert again[0] == 200 and again[1]["data"]["changed"] is False
    assert len(await site.data("GET", "/v1/internal/ppp/active/list")) == 1

    status, body = await callback(site, "down", UP, secret)
    assert (status, body["data"]["changed"]) == (200, True)
    down = await receive(ws)
    assert (down["data"]["action"], down["data"]["name"]) == ("down", "alice")
    assert await site.data("GET", "/v1/internal/ppp/active/list") == []
    duplicate = await callback(site, "down", UP, secret)
    assert duplicate[0] == 200 and duplicate[1]["data"]["changed"] is False

    # A captured "up" sent again after the session ended is a replay: refused, nothing changes.
    status, body = await callback(site, "up", UP, secret)
    assert status == 409 and "already went down" in body["error"]
    assert await site.data("GET", "/v1/internal/ppp/active/list") == []
    await ws.close()
    audit = await site.pool.fetch(
        "SELECT action, result FROM audit_log WHERE action LIKE 'pppoe_%' ORDER BY id"
    )
    assert [(r["action"], r["result"]) for r in audit][:4] == [
        ("pppoe_up_callback", "ok"),
        ("pppoe_up_callback", "ok"),
        ("pppoe_down_callback", "ok"),
        ("pppoe_down_callback", "ok"),
    ]


async def test_forged_callbacks_are_refused_and_change_nothing(site: Site, hub_env):  # noqa: F811
    secret = await secret_of(hub_env, site)
    for forged in (None, "", "icb_" + "x" * 43, secret[:-1], "Bearer " + secret):
        status, body = await callback(site, "up", UP, forged)
        assert (status, body["success"], body["error"]) == (401, False, "Invalid callback secret")
    assert await site.data("GET", "/v1/internal/ppp/active/list") == []
    # A new secret replaces the old one at once.
    fresh = await secret_of(hub_env, site)
    assert (await callback(site, "up", UP, secret))[0] == 401
    assert (await callback(site, "up", UP, fresh))[0] == 200
    status, body = await callback(site, "up", {"name": "bob"}, fresh)
    assert (status, body["error"]) == (400, "id is required: the session's /ppp/active id")
    status, body = await callback(site, "up", {**UP, "id": "1; drop"}, fresh)
    assert status == 400


async def test_client_ping_is_public(site: Site):
    async with site.http.get(f"{site.url}/v1/client/ping") as response:
        body = await response.json()
    assert response.status == 200 and body["success"] is True
    assert body["data"]["status"] == "ok" and body["data"]["time"].endswith("Z")
