"""The live feed: a viewer of a tenant is woken by its agents' frames, arrival and departure,
whichever hub process holds the agent, and never by another tenant's agents."""

from __future__ import annotations

import aiohttp
import asyncpg

from common import wire
from hub.live import LiveFeed
from hub.typedefs import LIVE_FEED

from .conftest import FakeAgent, ServerFactory, event, session, wait_for


async def woken(subscription, agent_id: int) -> bool:
    return agent_id in await subscription.changed(timeout=0.2)


async def test_a_viewer_is_woken_by_its_agents_frames_and_departure(
    http: aiohttp.ClientSession, hub, agent: FakeAgent, pool: asyncpg.Pool, tenant_id: int
):
    feed: LiveFeed = hub.app[LIVE_FEED]
    with feed.subscribe(tenant_id) as viewer, feed.subscribe(tenant_id + 1000) as stranger:
        welcome = await agent.connect()
        agent_id = welcome["agent_id"]
        await wait_for(lambda: woken(viewer, agent_id))  # arrival
        await agent.send_events(event(1, wire.SESSION_STARTED, session("s1", "alice")))
        await wait_for(lambda: woken(viewer, agent_id))  # a stored frame
        await agent.close()
        await wait_for(lambda: woken(viewer, agent_id))  # departure
        assert await stranger.changed(timeout=0.05) == set()
    assert feed.subscribers == 0  # closed subscriptions leave nothing behind


async def test_a_viewer_on_another_hub_process_is_woken_too(
    http: aiohttp.ClientSession, start_hub: ServerFactory, agent: FakeAgent, tenant_id: int, hub
):
    other = await start_hub()  # a second hub process on the same database
    with other.app[LIVE_FEED].subscribe(tenant_id) as viewer:
        welcome = await agent.connect()  # held by the first hub
        await wait_for(lambda: woken(viewer, welcome["agent_id"]))


async def test_a_garbled_notice_is_ignored():
    feed = LiveFeed()
    with feed.subscribe(1) as viewer:
        await feed.on_notice("not-a-tenant:x")
        await feed.on_notice("1:7")
        assert await viewer.changed(timeout=1) == {7}
