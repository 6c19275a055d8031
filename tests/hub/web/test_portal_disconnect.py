"""Seed 001's disconnect through the real agent link: an enrolled WebSocket peer answers.

The peer speaks common.wire exactly as an agent does (enroll, hello, snapshot, command ->
command.result event -> ack); only its answers are scripted, so every status the portal maps
from an agent's result (200, 500 with details, 503) is exercised end to end.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable

import pytest

from common import wire
from common.timeutil import to_iso, utcnow
from hub.link.enrollment import create_agent
from tests.hub.conftest import health, session

ROUTER = "Main Office Router"
Answer = Callable[[wire.Command], dict | None]  # the result dict, or None to stay silent


class ScriptedAgent:
    def __init__(self, client, answer: Answer) -> None:
        self.client = client
        self.answer = answer
        self.commands: list[wire.Command] = []
        self.seq = 0
        self.ws = None
        self.reader: asyncio.Task | None = None

    async def start(self, pool, tenant_id: int) -> None:
        _, token = await create_agent(pool, tenant_id=tenant_id, site="hq", ttl_hours=1)
        resp = await self.client.post(
            wire.ENROLL_PATH,
            json={
                "token": token,
                "device_key": "box-1-0123456789abcdef",
                "hostname": "box",
                "agent_version": "t",
            },
        )
        assert resp.status == 200, await resp.text()
        credential = (await resp.json())["credential"]
        self.ws = await self.client.ws_connect(
            wire.LINK_PATH, headers={"Authorization": f"Bearer {credential}"}
        )
        await self.ws.send_str(
            wire.encode(
                "hello",
                agent_version="t",
                last_seq=0,
                routers=[wire.RouterInfo(ROUTER, "10.50.0.2", 8728)],
            )
        )
        assert wire.decode(await self.ws.receive_str())["type"] == "welcome"
        snapshot = wire.RouterSnapshot(ROUTER, health(), [session("*1234", "+255712345678")])
        await self.ws.send_str(wire.encode("snapshot", as_of_seq=0, routers=[snapshot]))
        self.reader = asyncio.create_task(self._serve())

    async def _serve(self) -> None:
        async for message in self.ws:
            frame = wire.decode(message.data)
            if frame["type"] != "command":
                continue
            command = wire.parse_command(frame["command"])
            self.commands.append(command)
            data = self.answer(command) if command.name == wire.DISCONNECT else {}
            if data is None:
                continue
            self.seq += 1
            result = wire.CommandResult(
                command_id=command.id,
                name=command.name,
                ok=not data.get("errors") and not data.get("router_unreachable"),
                result=data,
                error="router unreachable" if data.get("router_unreachable") else None,
            )
            event = wire.Event(
                self.seq, to_iso(utcnow()), wire.COMMAND_RESULT, ROUTER, wire.as_dict(result)
            )
            await self.ws.send_str(wire.encode("events", events=[event]))

    async def stop(self) -> None:
        self.reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.reader
        await self.ws.close()


@pytest.fixture
async def site(client, seed, pool):
    """A tenant with one customer and a connected agent whose router reports online."""
    agents = []

    async def start(answer: Answer):
        acme = await seed.tenant("acme")
        await seed.customer(acme, "+255712345678", hours=1)
        agent = ScriptedAgent(client, answer)
        await agent.start(pool, acme.tenant.id)
        agents.append(agent)
        deadline = time.monotonic() + 5
        while True:  # the snapshot is stored asynchronously
            router_id = await pool.fetchval("SELECT id FROM routers WHERE name = $1", ROUTER)
            state = router_id and await seed.router_state(router_id)
            if state and state.online:
                return acme, router_id, agent
            assert time.monotonic() < deadline, "the agent's snapshot never arrived"
            await asyncio.sleep(0.02)

    yield start
    for agent in agents:
        await agent.stop()


async def test_disconnect_success_body_is_the_seeds(client, site, pool):
    acme, router_id, agent = await site(
        lambda cmd: {
            "session_removed": True,
            "binding_removed": True,
            "user_disabled": False,
            "errors": [],
        }
    )
    resp = await client.post(
        f"/api/portal/router/{router_id}/disconnect-user/",
        json={"username": "0712345678", "mac_address": "aa:bb:cc:dd:ee:ff"},
        headers=acme.headers,
    )
    assert resp.status == 200
    assert await resp.json() == {
        "success": True,
        "message": f"User +255712345678 disconnected from {ROUTER}",
        "router": {"id": router_id, "name": ROUTER},
        "details": {"session_removed": True, "binding_removed": True, "user_disabled": False},
    }
    (command,) = [c for c in agent.commands if c.name == wire.DISCONNECT]
    assert command.router == ROUTER
    assert command.args == {"username": "+255712345678", "mac_address": "AA:BB:CC:DD:EE:FF"}
    row = await pool.fetchrow("SELECT * FROM audit_log WHERE action = 'disconnect_user'")
    assert row["result"] == "ok" and row["router_id"] == router_id
    assert row["details"] == {
        "session_removed": True,
        "binding_removed": True,
        "user_disabled": False,
    }


async def test_failed_steps_are_500_with_details(client, site, pool):
    acme, router_id, _ = await site(
        lambda cmd: {
            "session_removed": False,
            "binding_removed": False,
            "user_disabled": True,
            "errors": ["Session not found", "Could not remove IP binding"],
        }
    )
    resp = await client.post(
        f"/api/portal/router/{router_id}/disconnect-user/",
        json={"username": "+255712345678"},
        headers=acme.headers,
    )
    assert resp.status == 500
    assert await resp.json() == {
        "success": False,
        "error": f"Failed to disconnect user from {ROUTER}",
        "details": ["Session not found", "Could not remove IP binding"],
    }
    result = await pool.fetchval("SELECT result FROM audit_log WHERE action = 'disconnect_user'")
    assert result == "failed"


async def test_router_unreachable_or_silent_agent_is_503(client, site, pool, hub_config):
    answers = iter([{"router_unreachable": True}, None])
    acme, router_id, _ = await site(lambda cmd: next(answers))
    url = f"/api/portal/router/{router_id}/disconnect-user/"
    expected = {
        "success": False,
        "error": f"Cannot connect to router {ROUTER}. Please check router configuration.",
    }
    resp = await client.post(url, json={"username": "+255712345678"}, headers=acme.headers)
    assert resp.status == 503 and await resp.json() == expected

    started = time.monotonic()
    resp = await client.post(url, json={"username": "+255712345678"}, headers=acme.headers)
    assert resp.status == 503 and await resp.json() == expected
    assert time.monotonic() - started >= hub_config.command_timeout * 0.9
    results = await pool.fetch(
        "SELECT result FROM audit_log WHERE action = 'disconnect_user' ORDER BY id"
    )
    assert [r["result"] for r in results] == ["unavailable", "unavailable"]
