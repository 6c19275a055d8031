"""``billing = true``: on a managed router a hotspot session without live paid access is cut
within a mirror cycle; paid, exempt and voucher users stay. Real agent, routersim, no hub."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from agent.config import AgentConfig
from agent.service import Agent
from common import wire
from common.timeutil import to_iso, utcnow
from routersim import SimRouter

from .conftest import Ros, events, make_config, wait_for
from .test_commands import run_command
from .test_vouchers import sync, voucher

MAC1, MAC2, MAC3, MAC4 = (f"AA:BB:CC:00:01:0{n}" for n in range(1, 5))


@pytest.fixture
def config(tmp_path: Path, sim: SimRouter) -> AgentConfig:
    return make_config(
        tmp_path / "state",
        [sim],
        billing=True,
        billing_exempt_users=["operator"],
        billing_exempt_profiles=["staff"],
    )


@pytest.fixture
async def agent(config: AgentConfig) -> AsyncIterator[Agent]:
    async with Agent(config) as running:
        await wait_for(lambda: all(link.state.online for link in running.links.values()))
        yield running
    assert not running.failed.is_set()


async def online(ros: Ros) -> set[str]:
    return {s["user"] for s in await ros.rows("/ip/hotspot/active")}


async def test_unpaid_session_is_cut_and_exempt_ones_stay(agent: Agent, sim: SimRouter, ros: Ros):
    await ros.add("/ip/hotspot/user/profile", name="staff")
    sim.add_hotspot_user("operator", password="pw")
    sim.add_hotspot_user("tech", password="pw", profile="staff")
    sim.add_hotspot_user("+255700000009", password="pw")  # a customer who never paid
    mirror = agent.mirrors["r1"]
    await wait_for(lambda: "tech" in mirror.users)  # its profile is read from the users print
    sim.hotspot_login("operator", mac_address=MAC1)
    sim.hotspot_login("tech", mac_address=MAC2)
    sim.hotspot_login("+255700000009", mac_address=MAC3)

    cut = await wait_for(lambda: events(agent, wire.BILLING_CUT))
    assert [(e.data["username"], e.data["mac_address"]) for e in cut] == [("+255700000009", MAC3)]
    assert await online(ros) == {"operator", "tech"}
    # Both exempt sessions were looked at by the same check that cut the unpaid one.
    assert {s.username for s in mirror.sessions["hotspot"].values()} >= {"operator", "tech"}


async def test_paid_and_voucher_users_stay_online(agent: Agent, sim: SimRouter, ros: Ros):
    sim.add_hotspot_user("+255700000001", password="pw")
    granted = await run_command(
        agent,
        wire.GRANT_ACCESS,
        {
            "username": "+255700000001",
            "expires_at": to_iso(utcnow() + timedelta(hours=1)),
            "password": "pw",
        },
    )
    assert granted.ok, granted.error
    await sync(agent, [voucher("VCH001")])
    await wait_for(lambda: agent.store.vouchers(states=("ready",)))
    sim.hotspot_login("+255700000001", mac_address=MAC1)
    sim.hotspot_login("VCH001", mac_address=MAC2)
    await wait_for(lambda: events(agent, wire.VOUCHER_REDEEMED))
    # An unpaid login after them: once it is cut, the paid ones have been checked too.
    sim.add_hotspot_user("+255700000002", password="pw")
    sim.hotspot_login("+255700000002", mac_address=MAC3)
    await wait_for(lambda: events(agent, wire.BILLING_CUT))
    assert await online(ros) == {"+255700000001", "VCH001"}
    assert [e.data["username"] for e in await events(agent, wire.BILLING_CUT)] == ["+255700000002"]


async def test_an_unmanaged_router_is_left_alone(tmp_path: Path, sim: SimRouter, ros: Ros):
    config = make_config(tmp_path / "state", [sim])
    assert config.routers[0].billing is False  # the default
    async with Agent(config) as agent:
        await wait_for(lambda: agent.links["r1"].state.online)
        sim.add_hotspot_user("+255700000003", password="pw")
        sim.hotspot_login("+255700000003", mac_address=MAC4)
        mirror = agent.mirrors["r1"]
        await wait_for(lambda: mirror.sessions["hotspot"])
        runs = mirror.collectors["hotspot_sessions"].runs
        await wait_for(lambda: mirror.collectors["hotspot_sessions"].runs > runs + 1)
        assert await online(ros) == {"+255700000003"}
        assert not await events(agent, wire.BILLING_CUT)
