"""The live PPP lists over WebSocket (seed 004 section 6), through the real hub, agent and
routersim: a PPPoE client of the router coming up and going down is seen on the stream, tickets
open one socket once, and a browser that leaves releases its live-feed subscription."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from hub.typedefs import LIVE_FEED
from tests.e2e.conftest import wait_for

from .conftest import Site

ACTIVE = "/v1/internal/ppp/active/stream"
INACTIVE = "/v1/internal/ppp/inactive/stream"
RECEIVE = 10.0  # seconds a test waits for a message before failing (no duration asserted)


async def ticket(site: Site, headers: dict[str, str] | None = None) -> str:
    data = await site.data("POST", "/v1/internal/stream-ticket", status=201)
    assert data["expires_in"] == 30 and data["ticket"].startswith("ist_")
    return data["ticket"]


async def connect(site: Site, path: str, secret: str) -> aiohttp.ClientWebSocketResponse:
    """A browser's way: the ticket as the second subprotocol."""
    return await site.http.ws_connect(site.url + path, protocols=("ispfleet.ticket", secret))


async def receive(ws: aiohttp.ClientWebSocketResponse) -> dict[str, Any]:
    return await ws.receive_json(timeout=RECEIVE)


async def test_a_pppoe_client_up_and_down_is_seen_on_the_active_stream(site: Site):
    site.sim.add_ppp_secret("alice", "pw")
    ws = await connect(site, ACTIVE, await ticket(site))
    assert ws.protocol == "ispfleet.ticket"
    assert await receive(ws) == {"type": "initial", "data": []}

    session = site.sim.ppp_login("alice", caller_id="AA:BB:CC:DD:EE:0A")
    up = await receive(ws)
    assert up["type"] == "update"
    assert {k: up["data"][k] for k in ("action", "name", "caller_id", "interface", "service")} == {
        "action": "up",
        "name": "alice",
        "caller_id": "AA:BB:CC:DD:EE:0A",
        "interface": "<pppoe-alice>",
        "service": "pppoe",
    }
    assert up["data"]["remote_address"]

    site.sim.logout(session)
    down = await receive(ws)
    assert (down["type"], down["data"]["action"], down["data"]["name"]) == (
        "update",
        "down",
        "alice",
    )
    await ws.close()


async def test_the_inactive_stream_with_a_ticket_in_the_url(site: Site):
    site.sim.add_ppp_secret("alice", "pw")
    site.sim.add_ppp_secret("bob", "pw")
    ws = await site.http.ws_connect(f"{site.url}{INACTIVE}?ticket={await ticket(site)}")
    first = await receive(ws)
    assert first["type"] == "initial"
    assert sorted(s["name"] for s in first["data"]) == ["alice", "bob"]
    assert not any("password" in s for s in first["data"])
    session = site.sim.ppp_login("bob", caller_id="AA:BB:CC:DD:EE:0B")
    left = await receive(ws)
    assert (left["data"]["action"], left["data"]["name"]) == ("up", "bob")
    site.sim.logout(session)
    back = await receive(ws)
    assert (back["data"]["action"], back["data"]["name"]) == ("down", "bob")
    await ws.close()


async def test_a_browser_that_leaves_mid_stream_releases_its_subscription(site: Site):
    feed = site.server.app[LIVE_FEED]
    assert feed.subscribers == 0
    ws = await connect(site, ACTIVE, await ticket(site))
    await receive(ws)
    assert feed.subscribers == 1
    site.sim.add_ppp_secret("carol", "pw")
    site.sim.ppp_login("carol")
    await receive(ws)  # mid-stream
    await ws.close()
    await wait_for(lambda: feed.subscribers == 0)

    # A socket dropped without a close frame (the tab killed) is released too.
    ws = await connect(site, ACTIVE, await ticket(site))
    await receive(ws)
    assert feed.subscribers == 1
    transport = ws._response.connection.transport
    transport.abort()
    await wait_for(lambda: feed.subscribers == 0)


async def test_a_ticket_opens_one_socket_once_and_nothing_else_does(site: Site):
    secret = await ticket(site)
    ws = await connect(site, ACTIVE, secret)
    await receive(ws)
    await ws.close()
    for protocols in (("ispfleet.ticket", secret), ("ispfleet.ticket", "ist_forged"), ()):
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await site.http.ws_connect(site.url + ACTIVE, protocols=protocols)
        assert refused.value.status == 401
    # Authorization still works for a client that can send it; plain HTTP is told to upgrade.
    ws = await site.http.ws_connect(site.url + ACTIVE, headers=site.headers)
    assert (await receive(ws))["type"] == "initial"
    await ws.close()
    status, body = await site.call("GET", ACTIVE)
    assert (status, body["error"]) == (
        400,
        "This is a WebSocket endpoint: connect with Upgrade: websocket",
    )
    await wait_for(lambda: site.server.app[LIVE_FEED].subscribers == 0)


async def test_a_ticket_of_a_signed_out_login_is_refused(site: Site):
    secret = await ticket(site)
    await site.pool.execute("UPDATE token_families SET revoked_at = now()")
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await connect(site, ACTIVE, secret)
    assert refused.value.status == 401
