"""Seed 001's disconnect through the real agent link: an enrolled WebSocket peer answers.

The peer speaks common.wire exactly as an agent does (enroll, hello, snapshot, command ->
command.result event -> ack); only its answers are scripted, so every status the portal maps
from an agent's result (200, 500 with details, 503) is exercised end to end.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

import pytest

from common import wire
from common.timeutil import to_iso, utcnow
from hub.typedefs import SERVICES
from tests.helpers import wait_for
from tests.hub.conftest import health, session
from tests.hub.web.test_admin import admin_headers
from tests.hub.web.test_portal_grant import REFUSE_AUDIT

ROUTER = "Main Office Router"
Answer = Callable[[wire.Command], dict | None]  # the result dict, or None to stay silent


class ScriptedAgent:
    def __init__(self, client, answer: Answer, sessions: list[wire.Session] | None = None) -> None:
        self.client = client
        self.answer = answer
        self.sessions = sessions if sessions is not None else [session("*1234", "+255712345678")]
        self.commands: list[wire.Command] = []
        self.seq = 0
        self.ws = None
        self.reader: asyncio.Task | None = None

    async def start(self, pool, tenant_id: int) -> None:
        agents = self.client.app[SERVICES].agents
        _, token = await agents.issue_token(tenant_id=tenant_id, site="hq", ttl_hours=1)
        resp = await self.client.post(
            wire.ENROLL_PATH,
            json={
                "token": token,
                "device_key": f"box-{tenant_id}-0123456789abcdef",
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
        snapshot = wire.RouterSnapshot(ROUTER, health(), self.sessions)
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
                error=(  # as agent/commands.py words it
                    "router unavailable: connection refused"
                    if data.get("router_unreachable")
                    else "; ".join(data.get("errors") or []) or None
                ),
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

    async def start(answer: Answer, *, slug: str = "acme", sessions=None):
        acme = await seed.tenant(slug)
        await seed.customer(acme, "+255712345678", hours=1)
        agent = ScriptedAgent(client, answer, sessions)
        await agent.start(pool, acme.tenant.id)
        agents.append(agent)

        async def online() -> int | None:  # the snapshot is stored asynchronously
            router_id = await pool.fetchval(
                "SELECT id FROM routers WHERE name = $1 AND tenant_id = $2", ROUTER, acme.tenant.id
            )
            state = router_id and await seed.router_state(router_id)
            return router_id if state and state.online else None

        return acme, await wait_for(online), agent

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
        "details": {
            "session_removed": True,
            "binding_removed": True,
            "user_disabled": False,
            "ppp_secret_disabled": False,
        },
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
        "ppp_secret_disabled": False,
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

    resp = await client.post(url, json={"username": "+255712345678"}, headers=acme.headers)
    assert resp.status == 503 and await resp.json() == expected
    # the silent agent's command ran out of time (not refused up front)
    statuses = await pool.fetch("SELECT status FROM commands ORDER BY created_at")
    assert [r["status"] for r in statuses][-1] == "expired"
    results = await pool.fetch(
        "SELECT result FROM audit_log WHERE action = 'disconnect_user' ORDER BY id"
    )
    assert [r["result"] for r in results] == ["unavailable", "unavailable"]


async def test_router_words_in_a_step_error_are_a_500_not_a_503(client, site, pool):
    """Only the agent's router_unreachable flag makes a 503; a trap's text never does."""
    trap = "could not remove active session: router unavailable"
    acme, router_id, _ = await site(
        lambda cmd: {"session_removed": False, "sessions_found": 1, "errors": [trap]}
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
        "details": [trap],
    }


async def test_a_disconnect_whose_audit_write_fails_is_not_reported_as_done(client, site, pool):
    acme, router_id, _ = await site(
        lambda cmd: {"session_removed": True, "sessions_found": 1, "errors": []}
    )
    await pool.execute(REFUSE_AUDIT)  # a real failure of the audit insert, inside Postgres
    resp = await client.post(
        f"/api/portal/router/{router_id}/disconnect-user/",
        json={"username": "+255712345678"},
        headers=acme.headers,
    )
    assert resp.status == 503
    assert await resp.json() == {
        "success": False,
        "error": "The action could not be written to the audit log",
    }


NOT_FOUND_BODY = {
    "success": False,
    "error": f"Failed to disconnect user from {ROUTER}",
    "details": ["Session not found"],
}


@pytest.mark.parametrize(
    "answer",
    [
        # the agent of the contract: it matched no session and touched nothing
        {"sessions_found": 0, "session_removed": False, "binding_removed": False, "errors": []},
        # today's agent: no sessions_found key, nothing removed at all
        {"session_removed": False, "binding_removed": False, "ppp_removed": False, "errors": []},
    ],
    ids=["sessions_found", "nothing_removed"],
)
async def test_a_disconnect_that_removed_nothing_is_session_not_found(client, site, pool, answer):
    acme, router_id, _ = await site(lambda cmd: dict(answer))
    resp = await client.post(
        f"/api/portal/router/{router_id}/disconnect-user/",
        json={"username": "+255712345678", "mac_address": "AA:BB:CC:DD:EE:99"},
        headers=acme.headers,
    )
    assert resp.status == 500
    assert await resp.json() == NOT_FOUND_BODY
    row = await pool.fetchrow("SELECT * FROM audit_log WHERE action = 'disconnect_user'")
    assert row["result"] == "failed" and row["details"]["details"] == ["Session not found"]


async def test_a_removed_ppp_session_is_session_removed_and_the_secret_reported(client, site):
    acme, router_id, _ = await site(
        lambda cmd: {
            "sessions_found": 1,
            "session_removed": True,
            "ppp_removed": True,
            "ppp_secret_disabled": True,
            "binding_removed": False,
            "user_disabled": False,
            "errors": [],
        }
    )
    resp = await client.post(
        f"/api/portal/router/{router_id}/disconnect-user/",
        json={"username": "+255712345678"},
        headers=acme.headers,
    )
    assert resp.status == 200
    assert (await resp.json())["details"] == {
        "session_removed": True,
        "binding_removed": False,
        "user_disabled": False,
        "ppp_secret_disabled": True,
    }
    # today's agent reports only ppp_removed: that too is a removed session
    acme2, router2, _ = await site(
        lambda cmd: {"session_removed": False, "ppp_removed": True, "errors": []}, slug="beta"
    )
    resp = await client.post(
        f"/api/portal/router/{router2}/disconnect-user/",
        json={"username": "+255712345678"},
        headers=acme2.headers,
    )
    assert resp.status == 200
    assert (await resp.json())["details"]["session_removed"] is True


async def test_a_session_without_a_customer_record_can_be_disconnected(client, site, pool):
    """The router's sessions are the tenant's, customer record or not (a PPP secret by hand)."""
    acme, router_id, agent = await site(
        lambda cmd: {"sessions_found": 1, "session_removed": True, "errors": []},
        sessions=[session("*77", "handmade-ppp", kind="ppp", mac=None, login_by="pppoe")],
    )
    url = f"/api/portal/router/{router_id}/disconnect-user/"
    resp = await client.post(url, json={"username": "handmade-ppp"}, headers=acme.headers)
    assert resp.status == 200, await resp.text()
    body = await resp.json()
    assert body["message"] == f"User handmade-ppp disconnected from {ROUTER}"
    (command,) = [c for c in agent.commands if c.name == wire.DISCONNECT]
    assert command.args == {"username": "handmade-ppp", "mac_address": None}
    row = await pool.fetchrow("SELECT * FROM audit_log WHERE action = 'disconnect_user'")
    assert row["result"] == "ok" and row["target"] == "handmade-ppp"
    assert row["params"]["customer"] is False

    # Neither a customer nor a session: still 404, and nothing is sent to the agent.
    resp = await client.post(url, json={"username": "nobody-here"}, headers=acme.headers)
    assert resp.status == 404
    assert await resp.json() == {
        "success": False,
        "error": "User not found or does not belong to your tenant",
    }
    assert len([c for c in agent.commands if c.name == wire.DISCONNECT]) == 1


async def test_admin_disconnect_reaches_every_tenant_or_the_router_given(
    client, site, pool, hub_config
):
    """Seed 001's admin face: wherever the user has a session (all tenants), or router_id."""
    removed = {"sessions_found": 1, "session_removed": True, "binding_removed": False, "errors": []}
    acme, acme_router, acme_agent = await site(lambda cmd: dict(removed))
    beta, beta_router, beta_agent = await site(lambda cmd: dict(removed), slug="beta")
    headers = await admin_headers(client, pool, hub_config)
    url = "/api/admin/mikrotik/disconnect-user/"

    resp = await client.post(url, json={"username": "0712345678"}, headers=headers)
    assert resp.status == 200, await resp.text()
    body = await resp.json()
    assert body["success"] is True
    assert body["message"] == f"User +255712345678 disconnected from {ROUTER}, {ROUTER}"
    assert body["details"] == {
        "session_removed": True,
        "binding_removed": False,
        "user_disabled": False,
        "ppp_secret_disabled": False,
    }
    assert "router" not in body  # several routers: see results
    by_router = {r["router"]["id"]: r for r in body["results"]}
    assert set(by_router) == {acme_router, beta_router}
    assert by_router[beta_router]["tenant"]["slug"] == "beta"
    assert all(r["success"] for r in body["results"])
    rows = await pool.fetch("SELECT * FROM audit_log WHERE action = 'disconnect_user' ORDER BY id")
    assert sorted(r["router_id"] for r in rows) == sorted([acme_router, beta_router])
    assert {r["actor"] for r in rows} == {"user:root@example.com"}
    assert {r["tenant_id"] for r in rows} == {acme.tenant.id, beta.tenant.id}

    resp = await client.post(
        url, json={"username": "+255712345678", "router_id": beta_router}, headers=headers
    )
    assert resp.status == 200
    body = await resp.json()
    assert body["router"] == {"id": beta_router, "name": ROUTER}
    assert body["tenant"]["slug"] == "beta"
    assert body["details"]["session_removed"] is True
    assert len([c for c in acme_agent.commands if c.name == wire.DISCONNECT]) == 1
    assert len([c for c in beta_agent.commands if c.name == wire.DISCONNECT]) == 2


async def test_admin_disconnect_errors(client, site, pool, hub_config):
    _, router_id, agent = await site(lambda cmd: {"sessions_found": 0, "errors": []})
    headers = await admin_headers(client, pool, hub_config)
    url = "/api/admin/mikrotik/disconnect-user/"
    assert (await client.post(url, json={"username": "+255712345678"})).status == 401
    for payload, status, error in (
        ({}, 400, "username is required"),
        ({"username": "x", "router_id": "1"}, 400, "router_id must be an integer"),
        ({"username": "x", "router_id": 999}, 404, "Router not found or access denied"),
        ({"username": "+255799999999"}, 404, "User has no active session on any router"),
    ):
        resp = await client.post(url, json=payload, headers=headers)
        assert resp.status == status, payload
        assert (await resp.json())["error"] == error
    assert agent.commands == [c for c in agent.commands if c.name != wire.DISCONNECT]
    # The session had gone by the time the agent looked: seed 001's "Session not found".
    resp = await client.post(url, json={"username": "+255712345678"}, headers=headers)
    assert resp.status == 500
    body = await resp.json()
    assert body["error"] == f"Failed to disconnect user from {ROUTER}"
    assert body["details"] == ["Session not found"]
    assert body["results"][0]["router"]["id"] == router_id
    results = await pool.fetch("SELECT result FROM audit_log WHERE action = 'disconnect_user'")
    assert (
        sorted(r["result"] for r in results) == ["invalid", "not_found", "ok"] or len(results) >= 3
    )
