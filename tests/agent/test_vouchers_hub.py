"""A voucher end to end with a real hub, a real agent and routersim: the batch reaches the
router as a hotspot user, the customer logs in while the hub is down, and the redemption is
recorded (voucher, customer, entitlement, sale) once the hub is back."""

from __future__ import annotations

from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestServer

from agent.service import Agent
from common import wire
from hub.app import create_app
from hub.config import HubConfig
from hub.link.vouchers import push_batch
from hub.typedefs import DB_POOL
from routersim import SimRouter
from tests.hub.link.test_vouchers import MAC, make_batch

from .conftest import Ros, events, wait_for
from .test_hublink import agent_config, hub, hub_config, linked, pool  # noqa: F401 (fixtures)
from .test_vouchers import user


async def test_redemption_offline_reaches_the_hub_when_it_is_back(
    linked: Agent,  # noqa: F811
    sim: SimRouter,
    ros: Ros,
    hub: TestServer,  # noqa: F811
    pool: asyncpg.Pool,  # noqa: F811
    hub_config: HubConfig,  # noqa: F811
    aiohttp_server: Any,
):
    await ros.add("/ip/hotspot/user/profile", name="hs-1h")  # the plan's router profile
    tenant_id = await pool.fetchval("SELECT tenant_id FROM agents")
    batch_id = await make_batch(pool, tenant_id, ["WANCUT"], price="30")
    await push_batch(pool, tenant_id=tenant_id, batch_id=batch_id)
    created = await wait_for(lambda: user(ros, "WANCUT"), timeout=10)
    assert (created["profile"], created["comment"]) == ("hs-1h", f"voucher {batch_id}")
    await wait_for(lambda: linked.vouchers.held_version())

    port = hub.port
    await hub.close()
    await wait_for(lambda: not linked.hub_connected)

    sim.hotspot_login("WANCUT", mac_address=MAC)  # the site keeps selling with the WAN down
    (report,) = await wait_for(lambda: events(linked, wire.VOUCHER_REDEEMED))
    assert report.data["code"] == "WANCUT"

    restarted = await aiohttp_server(create_app(hub_config), host="127.0.0.1", port=port)
    await wait_for(lambda: linked.hub_connected, timeout=10.0)
    new_pool = restarted.app[DB_POOL]
    voucher = await wait_for(
        lambda: new_pool.fetchrow("SELECT * FROM vouchers WHERE status = 'active'"), timeout=10
    )
    assert (voucher["code"], voucher["mac_address"]) == ("WANCUT", MAC)
    payment = await new_pool.fetchrow("SELECT * FROM payments")
    assert (payment["method"], payment["status"], str(payment["amount"])) == (
        "voucher",
        "completed",
        "30.00",
    )
    # The hub now holds the entitlement too; the agent's own copy is the same access.
    ent = await new_pool.fetchrow("SELECT * FROM entitlements")
    (local,) = await linked.store.entitlements()
    assert ent["expires_at"].timestamp() == pytest.approx(local.expires_at, abs=1e-3)
