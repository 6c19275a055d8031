"""Vouchers at the site, with no hub at all: created on routersim over librouteros, the first
device's login locks the code and starts its time, expiry cuts on time, unused ones past
valid_until leave the router. (The redemption reaching the hub: tests/agent/test_hublink.py.)"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import pytest

from agent.service import Agent
from agent.vouchers import VOUCHERS_VERSION
from common import wire
from common.timeutil import parse_iso, to_iso
from routersim import LoginRefused, SimRouter

from .conftest import Ros, events, wait_for

MAC1 = "AA:BB:CC:00:00:01"
MAC2 = "AA:BB:CC:00:00:02"


def voucher(code: str, *, seconds: int = 3600, valid_for: float = 86400, **extra: Any):
    valid_until = datetime.now(UTC) + timedelta(seconds=valid_for)
    return wire.SyncedVoucher(
        code=code,
        batch_id=7,
        valid_until=to_iso(valid_until),
        duration_seconds=seconds,
        **extra,
    )


async def sync(agent: Agent, vouchers: list[wire.SyncedVoucher], **fields: Any) -> dict:
    message = wire.VouchersSync(version=fields.pop("version", 1), vouchers=vouchers, **fields)
    result = await agent.executor.run(
        wire.Command(
            id=str(uuid.uuid4()),
            name=wire.VOUCHERS_SYNC,
            router="r1",
            args=msgspec.to_builtins(message),
        )
    )
    assert result is not None and result.ok, result
    return result.result


async def user(ros: Ros, name: str) -> dict | None:
    return next((u for u in await ros.rows("/ip/hotspot/user") if u["name"] == name), None)


async def test_a_voucher_becomes_a_hotspot_user(agent: Agent, ros: Ros):
    assert (await sync(agent, [voucher("K7QX2M")]))["added"] == 1
    created = await wait_for(lambda: user(ros, "K7QX2M"))
    assert created["password"] == "K7QX2M"
    assert created["profile"] == "default"
    assert created["comment"] == "voucher 7"
    assert "mac-address" not in created  # not locked until used
    assert await agent.store.get_meta(VOUCHERS_VERSION) == "1"
    # Sent again (a resent sync): nothing new, the user is not made twice.
    assert (await sync(agent, [voucher("K7QX2M")]))["added"] == 0
    assert [u["name"] for u in await ros.rows("/ip/hotspot/user")].count("K7QX2M") == 1


async def test_first_login_locks_the_mac_and_starts_the_time(
    agent: Agent, sim: SimRouter, ros: Ros
):
    await sync(agent, [voucher("PAID42", seconds=3600, rate_limit="2M/5M")])
    await wait_for(lambda: user(ros, "PAID42"))
    before = time.time()
    sim.hotspot_login("PAID42", mac_address=MAC1)

    locked = await wait_for(
        lambda: _with(user(ros, "PAID42"), lambda u: u.get("mac-address") == MAC1)
    )
    assert locked["disabled"] is False
    with pytest.raises(LoginRefused):  # a second device with the same code
        sim.hotspot_login("PAID42", mac_address=MAC2)

    (redeemed,) = await wait_for(lambda: events(agent, wire.VOUCHER_REDEEMED))
    data = redeemed.data
    assert (data["router"], data["code"], data["mac_address"]) == ("r1", "PAID42", MAC1)
    start, end = parse_iso(data["redeemed_at"]), parse_iso(data["expires_at"])
    assert end - start == timedelta(seconds=3600)  # the time starts at first login
    assert before - 1 <= start.timestamp() <= time.time()
    (ent,) = await agent.store.entitlements()
    assert (ent.router, ent.entitlement.username, ent.state) == ("r1", "PAID42", "active")
    assert ent.expires_at == pytest.approx(end.timestamp(), abs=1e-3)
    assert ent.entitlement.rate_limit == "2M/5M"


async def test_expiry_cuts_on_time_without_any_hub(agent: Agent, sim: SimRouter, ros: Ros):
    assert agent.hublink is None  # no hub configured: everything below is local
    await sync(agent, [voucher("SHORT1", seconds=2)])
    await wait_for(lambda: user(ros, "SHORT1"))
    sim.hotspot_login("SHORT1", mac_address=MAC1)
    (redeemed,) = await wait_for(lambda: events(agent, wire.VOUCHER_REDEEMED))
    expires_at = parse_iso(redeemed.data["expires_at"]).timestamp()

    await wait_for(lambda: events(agent, wire.ENTITLEMENT_ENFORCED), timeout=15)
    assert time.time() >= expires_at  # not before its time
    assert not [s for s in await ros.rows("/ip/hotspot/active") if s["user"] == "SHORT1"]
    assert (await user(ros, "SHORT1"))["disabled"] is True
    with pytest.raises(LoginRefused):
        sim.hotspot_login("SHORT1", mac_address=MAC1)


async def test_unused_voucher_past_valid_until_leaves_the_router(agent: Agent, ros: Ros):
    await sync(agent, [voucher("LATE01", valid_for=1.0), voucher("KEEP01")])
    (late,) = await wait_for(lambda: agent.store.vouchers(states=("removed",)), timeout=10)
    assert late.voucher.code == "LATE01"
    assert await user(ros, "LATE01") is None
    assert await user(ros, "KEEP01") is not None


async def test_a_difference_on_another_base_adds_but_keeps_the_version(agent: Agent, ros: Ros):
    await sync(agent, [voucher("BASE01")], version=5)
    # Computed from version 7 (the agent missed 6): added, but the version stays at 5, so
    # the next hello asks for everything since 5.
    result = await sync(agent, [voucher("NEXT01")], version=8, base=7)
    assert result == {"added": 1, "retired": 0, "skipped": [], "version_applied": False}
    assert await agent.vouchers.held_version() == 5
    result = await sync(agent, [voucher("NEXT02")], version=9, base=5)
    assert result["version_applied"] and await agent.vouchers.held_version() == 9
    await wait_for(lambda: user(ros, "NEXT02"))


async def _with(pending, check):
    value = await pending
    return value if value is not None and check(value) else None


async def test_a_whole_entitlement_set_keeps_a_voucher_redeemed_here(
    agent: Agent, sim: SimRouter, ros: Ros
):
    await sync(agent, [voucher("OWN001")])
    await wait_for(lambda: user(ros, "OWN001"))
    sim.hotspot_login("OWN001", mac_address=MAC1)
    await wait_for(lambda: events(agent, wire.VOUCHER_REDEEMED))
    # The hub has not heard of the redemption yet: its whole set leaves the voucher out.
    whole = wire.EntitlementsSync(digest="v2:1:abc", entitlements=[])
    result = await agent.executor.run(
        wire.Command(
            id=str(uuid.uuid4()),
            name=wire.ENTITLEMENTS_SYNC,
            router="r1",
            args=msgspec.to_builtins(whole),
        )
    )
    assert result is not None and result.ok and result.result["deleted"] == 0
    assert [e.entitlement.username for e in await agent.store.entitlements()] == ["OWN001"]


async def test_a_malformed_sync_changes_nothing(agent: Agent):
    bad = {"version": 1, "vouchers": [{"code": "", "batch_id": 1}]}
    result = await agent.executor.run(
        wire.Command(id=str(uuid.uuid4()), name=wire.VOUCHERS_SYNC, router="r1", args=bad)
    )
    assert result is not None and not result.ok and "vouchers" in (result.error or "")
    assert await agent.store.vouchers() == []
    assert await agent.vouchers.held_version() is None


async def test_a_voucher_used_elsewhere_leaves_this_router(agent: Agent, ros: Ros):
    await sync(agent, [voucher("TWICE1")])
    await wait_for(lambda: user(ros, "TWICE1"))
    # Redeemed on another router of a tenant-wide batch: the hub's next sync says so.
    result = await sync(agent, [voucher("TWICE1", status="active")], version=2, base=1)
    assert result["retired"] == 1
    await wait_for(lambda: agent.store.vouchers(states=("removed",)), timeout=10)
    assert await user(ros, "TWICE1") is None
