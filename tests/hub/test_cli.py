"""``ispfleet-hub`` as an operator runs it: a subprocess against a real database."""

from __future__ import annotations

import asyncio
import base64
import os
import re
import shlex
import sys
import tomllib

import aiohttp
import asyncpg
import pytest

from common import wire
from hub.app import create_app
from hub.cli import enroll_command
from hub.config import HubConfig, WireGuardConfig
from hub.database import open_database
from hub.domain import AgentTunnel
from hub.link.enrollment import CLOSE_REVOKED
from hub.services.agents import (
    AgentService,
    EnrollRequest,
    new_enrollment_token,
    peer_sections,
)
from hub.services.tenants import TenantService
from hub.typedefs import DB_POOL, SERVICES
from tests.helpers import ROOT, free_port, run_module, wait_for


async def hub_cli(dsn: str | None, *args: str, **env: str) -> tuple[int, str, str]:
    environ = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    environ.pop("ISPFLEET_ADMIN_PASSWORD", None)
    if dsn:
        environ["DATABASE_URL"] = dsn
    environ.update(env)
    return await run_module("hub.cli", *args, env=environ)


def assert_usage_error(result: tuple[int, str, str], message: str) -> None:
    code, _, err = result
    assert code == 2, result
    assert message in err
    assert "Traceback" not in err
    assert err.startswith("ispfleet-hub: error: ")


async def test_tenant_and_api_key_then_the_key_works(pg_dsn, aiohttp_client):
    code, out, err = await hub_cli(pg_dsn, "migrate")
    assert code == 0, err
    code, out, err = await hub_cli(
        pg_dsn, "create-tenant", "--slug", "acme", "--name", "Acme Wifi", "--country", "ke"
    )
    assert code == 0, err
    assert "tenant acme created" in out and "country KE" in out
    code, out, err = await hub_cli(pg_dsn, "create-api-key", "--tenant", "acme", "--name", "portal")
    assert code == 0, err
    (key,) = re.findall(r"^ifk_\S+$", out, re.MULTILINE)

    client = await aiohttp_client(create_app(HubConfig(database_url=pg_dsn)))
    resp = await client.get(
        "/api/portal/router/health/", headers={"Authorization": f"Bearer {key}"}
    )
    assert resp.status == 200
    assert (await resp.json())["routers"] == []
    resp = await client.get(
        "/api/portal/router/health/", headers={"Authorization": f"Bearer {key}x"}
    )
    assert resp.status == 401


async def test_bad_input_exits_2_with_a_message(pg_dsn):
    assert (await hub_cli(pg_dsn, "create-tenant", "--slug", "acme", "--name", "A"))[0] == 0
    results = await asyncio.gather(
        hub_cli(pg_dsn, "create-tenant", "--slug", "acme", "--name", "Again"),
        hub_cli(pg_dsn, "create-tenant", "--slug", "Bad Slug!", "--name", "X"),
        hub_cli(pg_dsn, "create-tenant", "--slug", "zz", "--name", "X", "--country", "XX"),
        hub_cli(pg_dsn, "create-api-key", "--tenant", "nope"),
        hub_cli(pg_dsn, "create-admin", "--email", "root@example.com"),
        hub_cli(pg_dsn, "create-admin", "--email", "root@example.com", "--password", "short"),
        hub_cli(
            pg_dsn,
            "add-router",
            "--tenant",
            "acme",
            "--site",
            "hq",
            "--name",
            "r",
            "--host",
            "10.0.0.1",
            "--port",
            "70000",
        ),
        hub_cli(
            pg_dsn, "grant-access", "--tenant", "acme", "--username", "0712345678", "--hours", "-1"
        ),
        hub_cli(
            pg_dsn,
            "grant-access",
            "--tenant",
            "acme",
            "--username",
            "0712345678",
            "--hours",
            "1",
            "--router",
            "999",
        ),
        hub_cli(pg_dsn, "create-tenant", "--slug", "x"),
        hub_cli(pg_dsn, "migrate", "--config", "/nonexistent/hub.toml"),
        hub_cli(pg_dsn, "--config", "/nonexistent/other.toml", "migrate"),
    )
    messages = [
        "tenant 'acme' already exists",
        "invalid slug 'Bad Slug!'",
        "unknown country 'XX'",
        "no tenant with slug 'nope'",
        "no password",
        "at least 10 characters",
        "invalid port 70000",
        "hours must be more than 0",
        "Router not found or access denied",
        "the following arguments are required: --name",
        "/nonexistent/hub.toml",
        "/nonexistent/other.toml",
    ]
    for result, message in zip(results, messages, strict=True):
        if "arguments are required" in message:  # argparse's own usage error
            assert result[0] == 2 and message in result[2]
            continue
        assert_usage_error(result, message)


async def test_unreachable_database_exits_1():
    code, _, err = await hub_cli("postgresql://nobody@127.0.0.1:1/none", "migrate")
    assert code == 1
    assert err.startswith("ispfleet-hub: error: cannot connect to the database")
    assert "Traceback" not in err


async def test_admin_site_router_customer_and_access(pg_dsn):
    assert (await hub_cli(pg_dsn, "create-tenant", "--slug", "acme", "--name", "A"))[0] == 0
    code, out, err = await hub_cli(
        pg_dsn,
        "create-admin",
        "--email",
        "root@example.com",
        ISPFLEET_ADMIN_PASSWORD="a long enough password",
    )
    assert code == 0, err
    assert "platform admin root@example.com created" in out

    code, out, err = await hub_cli(
        pg_dsn,
        "add-router",
        "--tenant",
        "acme",
        "--site",
        "hq",
        "--name",
        "Main",
        "--host",
        "192.168.88.1",
    )
    assert code == 0, err
    router_id = int(re.search(r"\(id (\d+)\)", out)[1])

    code, out, err = await hub_cli(
        pg_dsn, "add-customer", "--tenant", "acme", "--username", "0712 345 678", "--name", "Asha"
    )
    assert code == 0, err
    assert "customer +255712345678 added" in out

    code, out, err = await hub_cli(
        pg_dsn,
        "grant-access",
        "--tenant",
        "acme",
        "--username",
        "+255712345678",
        "--hours",
        "3",
        "--mac",
        "aa:bb:cc:dd:ee:ff",
        "--router",
        str(router_id),
    )
    assert code == 0, err
    assert "access for +255712345678" in out and "stored for 1 router(s)" in out

    code, out, err = await hub_cli(pg_dsn, "create-agent", "--tenant", "acme", "--site", "hq")
    assert code == 0, err
    token = re.search(r"enrollment token \(valid 24 h\): (\S+)", out)[1]
    assert f"ispfleet-agent enroll --hub=http://127.0.0.1:8080 --token={token}" in out

    conn = await asyncpg.connect(pg_dsn)
    try:
        row = await conn.fetchrow(
            "SELECT e.*, c.username, c.full_name FROM entitlements e"
            " JOIN customers c ON c.id = e.customer_id"
        )
        assert row["username"] == "+255712345678" and row["full_name"] == "Asha"
        assert row["router_id"] == router_id and row["mac_address"] == "AA:BB:CC:DD:EE:FF"
        hours = (row["expires_at"] - row["starts_at"]).total_seconds() / 3600
        assert abs(hours - 3) < 0.01
        # The router sits behind the site's agent, the one create-agent issued a token for.
        agent = await conn.fetchrow("SELECT a.* FROM agents a JOIN routers r ON r.agent_id = a.id")
        assert agent["site"] == "hq" and agent["enrollment_token_hash"] is not None
        audit = await conn.fetchval("SELECT result FROM audit_log WHERE action = 'grant_access'")
        assert audit == "ok"
    finally:
        await conn.close()


async def test_serve_runs_until_sigterm(pg_dsn):
    port = free_port()
    environ = dict(os.environ)
    environ.update(DATABASE_URL=pg_dsn, ISPFLEET_HUB_LISTEN=f"127.0.0.1:{port}")
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "hub.cli",
        "serve",
        cwd=ROOT,
        env=environ,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with aiohttp.ClientSession() as http:

            async def healthy() -> bool:
                try:
                    async with http.get(f"http://127.0.0.1:{port}/healthz") as resp:
                        return resp.status == 200
                except aiohttp.ClientConnectionError:
                    return False

            await wait_for(healthy, timeout=60)
            async with http.get(f"http://127.0.0.1:{port}/api/portal/router/health/") as resp:
                assert resp.status == 401
    finally:
        proc.terminate()
        _, err = await asyncio.wait_for(proc.communicate(), timeout=30)
    assert proc.returncode == 0, err.decode()
    assert "Traceback" not in err.decode()
    assert f"hub listening url=http://127.0.0.1:{port}" in err.decode()


async def agent_cli(*args: str) -> tuple[int, str, str]:
    return await run_module("agent.cli", *args)


def test_enrollment_tokens_never_start_with_a_dash():
    # token_urlsafe alone starts with '-' about 1 time in 64; 2,000 draws all but catch that.
    tokens = [new_enrollment_token() for _ in range(2000)]
    assert all(re.fullmatch(r"ife_[A-Za-z0-9_-]{43}", token) for token in tokens)


async def test_printed_enroll_command_parses_whatever_the_token_starts_with(tmp_path):
    """Even a token starting with '-' (as unprefixed ones did) reaches the agent as a value."""
    command = shlex.split(enroll_command("http://127.0.0.1:1", "-abc 'x"))
    assert command[:2] == ["ispfleet-agent", "enroll"]
    code, _, err = await agent_cli(*command[1:], f"--config={tmp_path / 'agent.toml'}")
    assert code == 1, err  # argparse's "expected one argument" would be status 2
    assert "cannot reach hub at http://127.0.0.1:1" in err


async def test_create_agent_prints_a_command_that_enrolls(pg_dsn, aiohttp_server, tmp_path):
    """create-agent's printed command, pasted as is, enrolls a box with a running hub."""
    hub = await aiohttp_server(create_app(HubConfig(database_url=pg_dsn)), host="127.0.0.1")
    url = str(hub.make_url("")).rstrip("/")
    assert (await hub_cli(pg_dsn, "create-tenant", "--slug", "acme", "--name", "A"))[0] == 0
    code, out, err = await hub_cli(
        pg_dsn, "create-agent", "--tenant", "acme", "--site", "hq", ISPFLEET_HUB_PUBLIC_URL=url
    )
    assert code == 0, err
    (line,) = [line for line in out.splitlines() if "ispfleet-agent enroll" in line]
    command = shlex.split(line)
    assert command[:2] == ["ispfleet-agent", "enroll"]

    config = tmp_path / "agent.toml"
    code, out, err = await agent_cli(*command[1:], f"--config={config}")
    assert code == 0, err
    credential = tomllib.loads(config.read_text())["hub"]["credential"]
    agent = await AgentService(hub.app[DB_POOL], HubConfig()).authenticate(f"Bearer {credential}")
    assert agent.site == "hq"


async def test_revoke_agent_closes_its_link_from_another_process(pg_dsn, aiohttp_server):
    """revoke-agent, a process of its own, closes the socket a running hub holds for the box."""
    hub = await aiohttp_server(create_app(HubConfig(database_url=pg_dsn)), host="127.0.0.1")
    url = str(hub.make_url("")).rstrip("/")
    assert (await hub_cli(pg_dsn, "create-tenant", "--slug", "acme", "--name", "A"))[0] == 0
    tenant = await hub.app[DB_POOL].fetchval("SELECT id FROM tenants")
    ticket = await hub.app[SERVICES].agents.issue_token(tenant_id=tenant, site="hq")
    body = {
        "token": ticket.token,
        "device_key": "device-key-0123456789",
        "hostname": "box",
        "agent_version": "t",
    }
    async with aiohttp.ClientSession() as http:
        async with http.post(url + wire.ENROLL_PATH, json=body) as resp:
            assert resp.status == 200
            headers = {"Authorization": f"Bearer {(await resp.json())['credential']}"}
        ws = await http.ws_connect(url + wire.LINK_PATH, headers=headers)
        await ws.send_str(wire.encode("hello", agent_version="t", last_seq=0, routers=[]))
        welcome = await ws.receive_json()
        assert welcome["type"] == "welcome"
        closing = asyncio.create_task(_close_code(ws))  # reading: pings answered, close seen

        code, out, err = await hub_cli(pg_dsn, "revoke-agent", "--tenant", "acme", "--site", "hq")
        assert code == 0, err
        assert f"agent {ticket.agent_id} of site 'hq': credential revoked" in out
        assert await asyncio.wait_for(closing, timeout=30) == CLOSE_REVOKED
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await http.ws_connect(url + wire.LINK_PATH, headers=headers)
        assert refused.value.status == 401

    assert_usage_error(
        await hub_cli(pg_dsn, "revoke-agent", "--tenant", "acme", "--site", "elsewhere"),
        "no agent for site 'elsewhere' of tenant 'acme'",
    )


async def _close_code(ws: aiohttp.ClientWebSocketResponse) -> int | None:
    async for _message in ws:
        pass
    return ws.close_code


def wireguard_key(seed: int) -> str:
    return base64.b64encode(bytes([seed]) * 32).decode()


async def test_wireguard_peers_prints_one_peer_per_live_tunnel(pg_dsn):
    """wireguard-peers: a [Peer] with the agent's key and its /32 for each enrolled agent with a
    tunnel, by address; revoked agents and agents without a key are left out (syncconf drops
    them), and stdout is nothing but wg(8) config."""
    config = HubConfig(
        database_url=pg_dsn,
        wireguard=WireGuardConfig(endpoint="hub.example.net:51820", public_key=wireguard_key(9)),
    )
    async with open_database(config, max_size=2) as pool:
        agents = AgentService(pool, config)
        await TenantService(pool, config).create_tenant("acme", "Acme", "KE")
        for index, (site, key) in enumerate(
            [("market", wireguard_key(1)), ("keyless", None), ("gone", wireguard_key(3)),
             ("port", wireguard_key(4))]
        ):  # fmt: skip
            ticket = await agents.create_agent("acme", site)
            request = EnrollRequest(ticket.token, f"device-{index}-0123456789", site, "t", key)
            await agents.enroll(request)
        await agents.revoke_agent("acme", "gone")

    code, out, err = await hub_cli(pg_dsn, "wireguard-peers")
    assert code == 0, err
    assert out == (
        "# 2 enrolled agent(s), from `ispfleet-hub wireguard-peers`\n"
        f"[Peer]\n# acme/market\nPublicKey = {wireguard_key(1)}\nAllowedIPs = 10.99.0.2/32\n"
        "\n"
        f"[Peer]\n# acme/port\nPublicKey = {wireguard_key(4)}\nAllowedIPs = 10.99.0.5/32\n"
    )


def test_peer_sections_never_render_a_bad_row():
    good = AgentTunnel("acme", "a", wireguard_key(1), "10.99.0.2/32")
    bad = [
        AgentTunnel("acme", "b", wireguard_key(2) + "\nEndpoint = evil:1", "10.99.0.3/32"),
        AgentTunnel("acme", "c", wireguard_key(3), "10.99.0.4/32\nPostUp = x"),
    ]
    assert peer_sections([*bad, good]) == peer_sections([good])
    assert peer_sections([good]).count("\n") == 4
