"""Enrollment: one-time tokens, hashed credentials, device keys, WireGuard addresses."""

from __future__ import annotations

import asyncio
import base64
import hashlib
from typing import Any

import aiohttp
import asyncpg
import pytest
from aiohttp.test_utils import TestServer

from common import wire
from hub.config import HubConfig
from hub.domain import EnrollmentTicket
from hub.errors import InvalidInput, NotFound
from hub.link.enrollment import CLOSE_REVOKED
from hub.link.keys import CREDENTIAL_WATCH, LINK_REGISTRY
from hub.services.agents import TOKEN_REJECTED, AgentService
from hub.typedefs import DB_POOL, SERVICES

from .conftest import (
    FakeAgent,
    base_url,
    enroll_body,
    enrolled_agent,
    enrollment,
    event,
    make_tenant,
    wait_for,
)

WG_KEY = base64.b64encode(bytes(range(32))).decode()


async def create_agent(pool: asyncpg.Pool, **ticket: Any) -> EnrollmentTicket:
    return await AgentService(pool, HubConfig()).issue_token(**ticket)


async def test_create_agent_stores_only_a_hash_and_reissues(pool: asyncpg.Pool, tenant_id: int):
    agent_id, token = await create_agent(pool, tenant_id=tenant_id, site="site-a", ttl_hours=1)
    row = await pool.fetchrow("SELECT * FROM agents WHERE id = $1", agent_id)
    assert row["site"] == "site-a" and row["tenant_id"] == tenant_id
    assert bytes(row["enrollment_token_hash"]) == hashlib.sha256(token.encode()).digest()
    assert token.encode() not in bytes(row["enrollment_token_hash"])

    again, fresh = await create_agent(pool, tenant_id=tenant_id, site="site-a", ttl_hours=1)
    assert again == agent_id and fresh != token
    assert await pool.fetchval("SELECT count(*) FROM agents") == 1
    actions = await pool.fetch("SELECT action, result FROM audit_log ORDER BY id")
    assert [(r["action"], r["result"]) for r in actions] == [("agent.enrollment_token", "ok")] * 2


async def test_create_agent_refuses_bad_input(pool: asyncpg.Pool, tenant_id: int):
    with pytest.raises(InvalidInput):
        await create_agent(pool, tenant_id=tenant_id, site="  ", ttl_hours=1)
    with pytest.raises(InvalidInput):
        await create_agent(pool, tenant_id=tenant_id, site="x", ttl_hours=0)
    with pytest.raises(NotFound):
        await create_agent(pool, tenant_id=tenant_id + 99, site="x", ttl_hours=1)
    assert await pool.fetchval("SELECT count(*) FROM agents") == 0


async def test_enroll_trades_token_for_credential_once(
    http: aiohttp.ClientSession, hub: TestServer, pool: asyncpg.Pool, tenant_id: int
):
    agent_id, token = await create_agent(pool, tenant_id=tenant_id, site="site-a", ttl_hours=1)
    status, reply = await enroll_body(http, hub, enrollment(token))
    assert status == 200
    assert reply["agent_id"] == agent_id
    assert reply["site"] == "site-a" and reply["tenant"] == "acme"
    assert "hub_url" not in reply  # the box keeps the URL its operator typed
    assert reply["wireguard"] is None
    prefix, agent_text, secret = reply["credential"].split("_", 2)
    assert (prefix, int(agent_text)) == ("ifa", agent_id)

    row = await pool.fetchrow("SELECT * FROM agents WHERE id = $1", agent_id)
    assert bytes(row["credential_hash"]) == hashlib.sha256(secret.encode()).digest()
    assert row["enrollment_token_hash"] is None
    assert (row["device_key"], row["hostname"], row["agent_version"]) == (
        "device-key-0123456789",
        "box-1",
        "0.1.0",
    )

    status, again = await enroll_body(http, hub, enrollment(token))
    assert (status, again) == (401, {"success": False, "error": TOKEN_REJECTED})
    still = await pool.fetchval("SELECT credential_hash FROM agents WHERE id = $1", agent_id)
    assert bytes(still) == bytes(row["credential_hash"])


async def test_enroll_refuses_expired_and_unknown_tokens(
    http: aiohttp.ClientSession, hub: TestServer, pool: asyncpg.Pool, tenant_id: int
):
    agent_id, token = await create_agent(pool, tenant_id=tenant_id, site="s", ttl_hours=1e-6)
    expired = "SELECT enrollment_expires_at < now() FROM agents WHERE id = $1"
    await wait_for(lambda: pool.fetchval(expired, agent_id))
    status, reply = await enroll_body(http, hub, enrollment(token))
    assert (status, reply) == (401, {"success": False, "error": TOKEN_REJECTED})
    status, _ = await enroll_body(http, hub, enrollment("not-a-token"))
    assert status == 401
    row = await pool.fetchrow(
        "SELECT credential_hash, device_key FROM agents WHERE id = $1", agent_id
    )
    assert row["credential_hash"] is None and row["device_key"] is None


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ([1, 2], "request body must be a JSON object"),
        ({"device_key": "k" * 20, "hostname": "h", "agent_version": "1"}, "token is required"),
        (enrollment("t", device_key="short"), "device_key must be at least 16 characters"),
        (enrollment("t", hostname=""), "hostname is required"),
        (enrollment("t", wg_public_key="bm90IGEga2V5"), "wg_public_key must be a base64"),
    ],
)
async def test_enroll_bad_body_is_400(
    http: aiohttp.ClientSession, hub: TestServer, pool: asyncpg.Pool, tenant_id: int, body, error
):
    _, token = await create_agent(pool, tenant_id=tenant_id, site="s", ttl_hours=1)
    if isinstance(body, dict) and body.get("token") == "t":
        body["token"] = token
    status, reply = await enroll_body(http, hub, body)
    assert status == 400
    assert reply["success"] is False and reply["error"].startswith(error)
    # Nothing changed: the token still works.
    status, _ = await enroll_body(http, hub, enrollment(token))
    assert status == 200


async def test_enroll_not_json_is_400(http: aiohttp.ClientSession, hub: TestServer):
    async with http.post(base_url(hub) + wire.ENROLL_PATH, data=b"{not json") as response:
        assert response.status == 400
        assert (await response.json())["error"] == "request body must be valid JSON"
    async with http.post(base_url(hub) + wire.ENROLL_PATH, json=["a", "list"]) as response:
        assert response.status == 400
        assert (await response.json())["error"] == "request body must be a JSON object"


async def test_new_device_needs_fresh_token_and_is_audited(
    http: aiohttp.ClientSession, hub: TestServer, pool: asyncpg.Pool, tenant_id: int
):
    agent_id, token = await create_agent(pool, tenant_id=tenant_id, site="s", ttl_hours=1)
    assert (await enroll_body(http, hub, enrollment(token)))[0] == 200
    await pool.execute("UPDATE agents SET last_seq = 42, snapshot_seq = 40 WHERE id = $1", agent_id)

    new_key = "reflashed-device-key-000"
    assert (await enroll_body(http, hub, enrollment(token, device_key=new_key)))[0] == 401
    _, fresh = await create_agent(pool, tenant_id=tenant_id, site="s", ttl_hours=1)
    status, reply = await enroll_body(http, hub, enrollment(fresh, device_key=new_key))
    assert status == 200 and reply["agent_id"] == agent_id

    row = await pool.fetchrow("SELECT * FROM agents WHERE id = $1", agent_id)
    assert row["device_key"] == new_key
    assert (row["last_seq"], row["snapshot_seq"]) == (0, 0)  # a new box counts from 1 again
    audit = await pool.fetchrow(
        "SELECT * FROM audit_log WHERE action = 'agent.device_changed' AND tenant_id = $1",
        tenant_id,
    )
    assert audit["actor"] == f"agent:{agent_id}"
    assert audit["details"] == {"previous_device_key": "device-key-0123456789"}


async def test_same_device_reenrolls_keeping_its_sequence(
    http: aiohttp.ClientSession, hub: TestServer, pool: asyncpg.Pool, tenant_id: int
):
    agent_id, token = await create_agent(pool, tenant_id=tenant_id, site="s", ttl_hours=1)
    assert (await enroll_body(http, hub, enrollment(token)))[0] == 200
    await pool.execute("UPDATE agents SET last_seq = 42 WHERE id = $1", agent_id)
    _, fresh = await create_agent(pool, tenant_id=tenant_id, site="s", ttl_hours=1)
    assert (await enroll_body(http, hub, enrollment(fresh)))[0] == 200
    assert await pool.fetchval("SELECT last_seq FROM agents WHERE id = $1", agent_id) == 42
    actions = await pool.fetch("SELECT action FROM audit_log WHERE actor LIKE 'agent:%'")
    assert [r["action"] for r in actions] == ["agent.enrolled", "agent.enrolled"]


async def test_wireguard_addresses_are_allocated_once_per_agent(
    http: aiohttp.ClientSession, start_hub, hub_config
):
    wireguard = hub_config.wireguard.__class__(
        endpoint="hub.example.net:51820",
        public_key=WG_KEY,
        network="10.77.0.0/29",
        hub_address="10.77.0.1",
    )
    server = await start_hub(wireguard=wireguard, public_url="https://hub.example.net")
    pool = server.app[DB_POOL]
    tenant_id = await make_tenant(pool, "wgco")

    replies = []
    for site in ("a", "b"):
        _, token = await create_agent(pool, tenant_id=tenant_id, site=site, ttl_hours=1)
        status, reply = await enroll_body(http, server, enrollment(token, wg_public_key=WG_KEY))
        assert status == 200
        replies.append(reply)
    assert "hub_url" not in replies[0]
    assert replies[0]["wireguard"] == {
        "address": "10.77.0.2/32",  # .1 is the hub
        "hub_public_key": WG_KEY,
        "endpoint": "hub.example.net:51820",
        "allowed_ips": "10.77.0.1/32",
        "persistent_keepalive": 25,
    }
    assert replies[1]["wireguard"]["address"] == "10.77.0.3/32"
    stored = await pool.fetchval("SELECT wg_public_key FROM agents WHERE site = 'a'")
    assert stored == WG_KEY

    _, token = await create_agent(pool, tenant_id=tenant_id, site="a", ttl_hours=1)
    _, again = await enroll_body(http, server, enrollment(token))
    assert again["wireguard"]["address"] == "10.77.0.2/32"  # re-enrollment keeps the address

    for site in ("c", "d", "e", "f"):  # a /29 has hosts .1-.6, .1 being the hub
        _, token = await create_agent(pool, tenant_id=tenant_id, site=site, ttl_hours=1)
        status, reply = await enroll_body(http, server, enrollment(token))
        if site == "f":
            assert status == 409
            assert reply["error"] == "no free WireGuard address left in 10.77.0.0/29"
        else:
            assert status == 200
    assert await pool.fetchval("SELECT credential_hash FROM agents WHERE site = 'f'") is None


# --- a credential replaced or revoked closes the link that used it ------------------------------


async def link_refused(http: aiohttp.ClientSession, server: TestServer, credential: str) -> int:
    """The HTTP status the link's upgrade answers for ``credential``."""
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await http.ws_connect(
            base_url(server) + wire.LINK_PATH, headers={"Authorization": f"Bearer {credential}"}
        )
    return refused.value.status


async def test_re_enrolling_closes_the_old_link_on_another_hub_process(
    http: aiohttp.ClientSession, hub: TestServer, start_hub, tenant_id: int
):
    """The box's old socket is held by hub A; it re-enrolls through hub B; A closes it."""
    other = await start_hub()
    _, old_credential = await enrolled_agent(http, hub, tenant_id)
    old = FakeAgent(http, hub, old_credential)
    await old.connect()
    closed = asyncio.create_task(old.closed(timeout=30))  # reading, so pings are answered

    ticket = await AgentService(other.app[DB_POOL], HubConfig()).issue_token(
        tenant_id=tenant_id, site="site-a", ttl_hours=1
    )
    status, reply = await enroll_body(http, other, enrollment(ticket.token))
    assert status == 200
    assert await closed == CLOSE_REVOKED
    assert await link_refused(http, hub, old_credential) == 401

    # The new credential links (on either process) and is not closed by the notice.
    new = FakeAgent(http, other, reply["credential"])
    assert (await new.connect())["agent_id"] == ticket.agent_id
    registry = other.app[LINK_REGISTRY]
    await wait_for(lambda: registry.get(ticket.agent_id) is not None)
    await other.app[CREDENTIAL_WATCH].on_notice(str(ticket.agent_id))  # a late notice
    thinned = event(1, wire.OUTBOX_THINNED, {"dropped": 1, "kinds": ["x"]}, router=None)
    assert await new.send_events(thinned) == 1  # still linked after the notice was handled
    await new.close()


async def test_revoking_closes_the_link_and_the_credential_stops_working(
    http: aiohttp.ClientSession, hub: TestServer, start_hub, pool: asyncpg.Pool, tenant_id: int
):
    other = await start_hub()
    agent_id, credential = await enrolled_agent(http, hub, tenant_id)
    agent = FakeAgent(http, hub, credential)
    await agent.connect()
    closed = asyncio.create_task(agent.closed(timeout=30))  # reading, so pings are answered

    revoked = await other.app[SERVICES].agents.revoke_agent("acme", "site-a", actor="test")
    assert revoked.id == agent_id
    assert await closed == CLOSE_REVOKED
    assert await link_refused(http, hub, credential) == 401
    assert await link_refused(http, other, credential) == 401
    audit = await pool.fetchrow("SELECT * FROM audit_log WHERE action = 'agent.revoked'")
    assert (audit["actor"], audit["target"], audit["result"]) == ("test", f"agent:{agent_id}", "ok")

    # Only a fresh token brings the box back.
    _, token = await create_agent(pool, tenant_id=tenant_id, site="site-a", ttl_hours=1)
    status, reply = await enroll_body(http, hub, enrollment(token))
    assert status == 200
    assert (await FakeAgent(http, hub, reply["credential"]).connect())["agent_id"] == agent_id


async def test_a_revocation_whose_notice_was_lost_still_closes_the_link(
    http: aiohttp.ClientSession, start_hub, pool: asyncpg.Pool, tenant_id: int
):
    """The credential changes with no NOTIFY (as when the LISTEN connection was down): the
    presence heartbeat's sweep (one query for every socket) finds it, and only it."""
    hub = await start_hub(agent_heartbeat=0.2)
    agent_id, credential = await enrolled_agent(http, hub, tenant_id)
    _, other_credential = await enrolled_agent(http, hub, tenant_id, site="site-b")
    agent = FakeAgent(http, hub, credential)
    other = FakeAgent(http, hub, other_credential)
    await agent.connect()
    await other.connect()
    closed = asyncio.create_task(agent.closed(timeout=30))
    await pool.execute("UPDATE agents SET credential_hash = NULL WHERE id = $1", agent_id)
    assert await closed == CLOSE_REVOKED
    assert await other.send_events() == 0  # the same sweep left it linked
    await other.close()


async def test_revoking_closes_a_link_that_has_not_said_hello_yet(
    http: aiohttp.ClientSession, hub: TestServer, start_hub, tenant_id: int
):
    """Between the upgrade and the hello the socket is not in the registry; it still closes."""
    other = await start_hub()
    _, credential = await enrolled_agent(http, hub, tenant_id)
    ws = await http.ws_connect(
        base_url(hub) + wire.LINK_PATH, headers={"Authorization": f"Bearer {credential}"}
    )

    async def close_code() -> int | None:
        async for _message in ws:
            pass
        return ws.close_code

    closed = asyncio.create_task(close_code())
    await other.app[SERVICES].agents.revoke_agent("acme", "site-a")
    assert await asyncio.wait_for(closed, timeout=30) == CLOSE_REVOKED


async def test_revoking_an_unknown_agent_is_not_found(hub: TestServer, tenant_id: int):
    agents = hub.app[SERVICES].agents
    with pytest.raises(NotFound, match="no agent for site 'nowhere'"):
        await agents.revoke_agent("acme", "nowhere")
    with pytest.raises(NotFound, match="no tenant"):
        await agents.revoke_agent("nope", "site-a")
    with pytest.raises(InvalidInput, match="invalid site name"):
        await agents.revoke_agent("acme", "bad site\n")
