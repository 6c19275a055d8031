"""The agent mirrors /ip/hotspot/user (issue 15): an operator adds, changes, disables and
removes users on the router (librouteros over TCP to routersim, as Winbox or a script would);
the agent's store and outbox follow within a listen, and so does the hub."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import asyncpg
import pytest
from aiohttp.test_utils import TestServer

from agent.config import AgentConfig
from agent.hotspot_users import HotspotUserMirror
from agent.service import Agent
from agent.store import Store
from common import wire
from hub.config import HubConfig
from hub.services.auth import AuthService
from routersim import SimRouter

from . import test_hublink as hub_link
from .conftest import Ros, events, make_config, wait_for

# A real hub, its pool, and an agent enrolled with it and linked: the hub link tests' fixtures.
hub_config, hub, pool = hub_link.hub_config, hub_link.hub, hub_link.pool
agent_config, linked = hub_link.agent_config, hub_link.linked

USER = "/ip/hotspot/user"


async def stored(agent: Agent, router: str = "r1") -> dict[str, wire.HotspotUser]:
    return {u.name: u for u in await agent.store.hotspot_users(router)}


async def test_add_change_disable_remove_follow_the_router(agent: Agent, ros: Ros):
    mirror = agent.mirrors["r1"]
    await wait_for(lambda: mirror.hotspot_users == (0, 0))
    user_id = await ros.add(
        USER,
        name="254712000001",
        password="pw",
        comment="Guest 5364",
        **{"limit-uptime": "1h", "mac-address": "aa:bb:cc:dd:ee:ff"},
    )

    async def user() -> wire.HotspotUser | None:
        return (await stored(agent)).get("254712000001")

    added = await wait_for(user)
    assert added == wire.HotspotUser(
        name="254712000001",
        user_id=user_id,
        profile="default",
        disabled=False,
        comment="Guest 5364",
        limit_uptime_seconds=3600,
        mac_address="AA:BB:CC:DD:EE:FF",
    )
    puts = await events(agent, wire.HOTSPOT_USER_PUT)
    assert [wire.HOTSPOT_USER.decode(wire.encode_frame_part(e.data)) for e in puts] == [added]
    await wait_for(lambda: mirror.hotspot_users == (1, 0))  # memory follows the commit

    await ros.call(f"{USER}/disable", numbers=user_id)
    await wait_for(lambda: _field(user, "disabled"))
    await wait_for(lambda: mirror.hotspot_users == (1, 1))
    await ros.call(f"{USER}/set", **{".id": user_id, "comment": "Paid"})
    await wait_for(lambda: _field(user, "comment", "Paid"))
    await ros.call(f"{USER}/unset", **{".id": user_id, "value-name": "limit-uptime"})
    await wait_for(lambda: _field(user, "limit_uptime_seconds", None))

    await ros.call(f"{USER}/remove", **{".id": user_id})
    await wait_for(lambda: _gone(agent, "254712000001"))
    removed = await events(agent, wire.HOTSPOT_USER_REMOVED)
    assert [e.data for e in removed] == [{"name": "254712000001"}]
    await wait_for(lambda: mirror.hotspot_users == (0, 0))


async def _field(user, name: str, value: object = True) -> bool:
    found = await user()
    return found is not None and getattr(found, name) == value


async def _gone(agent: Agent, name: str) -> bool:
    return name not in await stored(agent)


async def test_users_made_while_the_agent_was_away_come_from_the_print(
    sim: SimRouter, config: AgentConfig
):
    sim.add_hotspot_user("alice", password="a", comment="before")
    async with Agent(config) as agent:
        await wait_for(lambda: _named(agent, {"alice"}))
        _, snaps = await agent.snapshot()
        assert [u.name for u in snaps[0].hotspot_users or []] == ["alice"]
    # Stopped: one user removed, one added, one changed, all behind the agent's back.
    sim.add_hotspot_user("bob", password="b")
    (alice,) = [r[".id"] for r in sim.rows(USER) if r["name"] == "alice"]
    sim.state.set(USER, [alice], {"comment": "after"})
    async with Agent(config) as agent:
        # What the last run reported is known at once (before any print): no event repeats it.
        assert agent.mirrors["r1"].hotspot_users == (1, 0)
        await wait_for(lambda: _named(agent, {"alice", "bob"}))
        await wait_for(lambda: _comment(agent, "alice", "after"))
        puts = await events(agent, wire.HOTSPOT_USER_PUT)
        assert sorted(e.data["name"] for e in puts) == ["alice", "alice", "bob"]


async def _named(agent: Agent, names: set[str]) -> bool:
    return set(await stored(agent)) == names


async def _comment(agent: Agent, name: str, comment: str) -> bool:
    user = (await stored(agent)).get(name)
    return user is not None and user.comment == comment


async def test_snapshot_before_any_print_leaves_the_hubs_users_alone(tmp_path: Path):
    """A router never printed (down since the agent started) sends no user list: None, so
    the hub keeps the last one it has rather than emptying it."""
    async with SimRouter(name="r1", seed=1) as sim:
        config = make_config(tmp_path / "state", [sim])
    async with Agent(config) as agent:  # the router is gone
        _, (snap,) = await agent.snapshot()
        assert snap.hotspot_users is None
        assert agent.mirrors["r1"].hotspot_users is None


@pytest.fixture
async def store(tmp_path: Path):
    store = await Store.open(tmp_path / "agent.db")
    yield store
    await store.close()


def row(item_id: str, name: str, **values: str) -> dict[str, str]:
    return {".id": item_id, "name": name, "profile": "default", "disabled": "false", **values}


async def test_one_name_on_two_servers_reports_the_first_row(store: Store):
    users = HotspotUserMirror("r1", store, lambda *_: None)
    await users.reconcile(
        [row("*10", "dup", comment="later", server="hs2"), row("*A", "dup", comment="first")]
    )
    assert users.users["dup"].comment == "first"
    await users.on_listen({".id": "*A", ".dead": "yes"})  # the other one stands for it now
    assert users.users["dup"].comment == "later"
    await users.on_listen({".id": "*10", ".dead": "yes"})
    assert users.users == {}
    kinds = [k for (_, k) in (await _outbox(store))]
    assert kinds == [wire.HOTSPOT_USER_PUT, wire.HOTSPOT_USER_PUT, wire.HOTSPOT_USER_REMOVED]


async def test_listen_rows_during_a_print_win_over_it(store: Store):
    users = HotspotUserMirror("r1", store, lambda *_: None)
    await users.reconcile([row("*1", "a"), row("*2", "b")])
    users.begin_print()
    await users.on_listen({".id": "*2", ".dead": "yes"})  # removed while the print ran
    await users.on_listen(row("*3", "c"))  # added while the print ran
    await users.on_listen({".id": "*1", "comment": "partial"})  # a row without its name
    await users.reconcile([row("*1", "a"), row("*2", "b")])  # the print began before them
    assert set(users.users) == {"a", "c"}
    assert users.users["a"].comment == "partial"


async def test_a_bad_limit_uptime_keeps_what_was_reported(store: Store):
    bad: list[str] = []
    users = HotspotUserMirror("r1", store, lambda _what, errors: bad.extend(errors))
    await users.reconcile([row("*1", "a", **{"limit-uptime": "1h"})])
    await users.on_listen(row("*1", "a", **{"limit-uptime": "soon"}))
    assert users.users["a"].limit_uptime_seconds == 3600
    assert bad and "soon" in bad[0]


async def _outbox(store: Store) -> list[tuple[int, str]]:
    return await store.fetchall("SELECT seq, kind FROM outbox ORDER BY seq")


# -- at the hub ----------------------------------------------------------------------------------


async def hub_users(pool: asyncpg.Pool) -> dict[str, tuple]:
    rows = await pool.fetch(
        "SELECT name, disabled, comment, limit_uptime_seconds FROM router_hotspot_users"
    )
    return {r["name"]: tuple(r)[1:] for r in rows}


async def test_the_hub_follows_add_disable_remove(
    linked: Agent, sim: SimRouter, ros: Ros, pool: asyncpg.Pool, hub: TestServer
):
    sim.add_hotspot_user("early", password="e")  # before the first print or after: either way
    await wait_for(lambda: _hub_named(pool, {"early"}), timeout=15)
    user_id = await ros.add(USER, name="guest", password="pw", **{"limit-uptime": "30m"})
    await wait_for(lambda: _hub_named(pool, {"early", "guest"}), timeout=15)
    assert (await hub_users(pool))["guest"] == (False, None, 1800)
    await wait_for(lambda: _hub_count(pool, 2), timeout=15)

    # The dashboard reads it from there, with the user's live session.
    sim.hotspot_login("guest", mac_address="AA:BB:CC:DD:EE:01", ip_address="10.5.50.9")
    _, key = await AuthService(pool, HubConfig()).issue_api_key("acme")
    router_id = await pool.fetchval("SELECT id FROM routers")
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {key}"}) as http:

        async def dashboard() -> dict:
            url = f"{hub_link.hub_url(hub)}/api/routers/{router_id}/users"
            async with http.get(url) as response:
                assert response.status == 200
                return await response.json()

        body = await wait_for(lambda: _with_session(dashboard, "guest"), timeout=15)
        assert body["total_users"] == 2 and body["active_sessions"] == 1
        (guest,) = [u for u in body["users"] if u["username"] == "guest"]
        assert guest["uptime_limit"] == "30m" and guest["session"]["address"] == "10.5.50.9"

    await ros.call(f"{USER}/disable", numbers=user_id)
    await wait_for(lambda: _hub_disabled(pool, "guest"), timeout=15)
    await ros.call(f"{USER}/remove", **{".id": user_id})
    await wait_for(lambda: _hub_named(pool, {"early"}), timeout=15)
    await wait_for(lambda: _hub_count(pool, 1), timeout=15)


async def _with_session(read, name: str) -> dict | None:
    body = await read()
    active = {u["username"] for u in body["users"] if u["active"]}
    return body if name in active else None


async def _hub_named(pool: asyncpg.Pool, names: set[str]) -> bool:
    return set(await hub_users(pool)) == names


async def _hub_disabled(pool: asyncpg.Pool, name: str) -> bool:
    return (await hub_users(pool)).get(name, (False,))[0] is True


async def _hub_count(pool: asyncpg.Pool, count: int) -> bool:
    return await pool.fetchval("SELECT hotspot_users FROM router_health") == count
