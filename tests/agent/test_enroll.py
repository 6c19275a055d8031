"""``ispfleet-agent enroll`` against a real hub app: config, keys, one-time tokens, errors."""

from __future__ import annotations

import base64
import dataclasses
import socket
import stat
import tomllib
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from agent.config import load_agent_config
from agent.enroll import WIREGUARD_CONFIG, EnrollmentError, checked_hub_url, enroll
from common import wire
from hub.app import create_app
from hub.config import HubConfig, WireGuardConfig
from hub.services.agents import TOKEN_REJECTED, AgentService
from hub.typedefs import DB_POOL
from tests.helpers import run_module

HUB_WG_KEY = base64.b64encode(b"h" * 32).decode()


@pytest.fixture
def hub_config(pg_dsn: str) -> HubConfig:
    return HubConfig(database_url=pg_dsn, metrics_refresh_interval=60.0)


@pytest.fixture
async def hub(hub_config: HubConfig, aiohttp_server: Any) -> TestServer:
    return await aiohttp_server(create_app(hub_config), host="127.0.0.1")


def url(server: TestServer) -> str:
    return str(server.make_url("")).rstrip("/")


async def new_token(pool: asyncpg.Pool, site: str = "kariakoo") -> str:
    tenant_id = await pool.fetchval(
        "INSERT INTO tenants (slug, name) VALUES ('acme', 'Acme')"
        " ON CONFLICT (slug) DO UPDATE SET name = EXCLUDED.name RETURNING id"
    )
    ticket = await AgentService(pool, HubConfig()).issue_token(
        tenant_id=tenant_id, site=site, ttl_hours=1
    )
    return ticket.token


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_enroll_writes_a_new_config(hub: TestServer, tmp_path: Path):
    pool = hub.app[DB_POOL]
    config = tmp_path / "etc" / "agent.toml"
    done = await enroll(url(hub), await new_token(pool), str(config))
    assert done["site"] == "kariakoo" and done["tenant"] == "acme"
    assert done["config_path"] == str(config) and done["wireguard_config"] is None
    assert "credential" not in done

    assert mode(config) == 0o600
    data = tomllib.loads(config.read_text())
    assert data["agent"] == {"site": "kariakoo", "state_dir": str(config.parent.resolve())}
    assert data["hub"]["url"] == url(hub)
    agent = await AgentService(pool, HubConfig()).authenticate(
        f"Bearer {data['hub']['credential']}"
    )
    assert agent.id == done["agent_id"]

    device_key = (config.parent / "device_key").read_text().strip()
    assert mode(config.parent / "device_key") == 0o600
    assert await pool.fetchval("SELECT device_key FROM agents") == device_key
    assert await pool.fetchval("SELECT hostname FROM agents") == socket.gethostname()

    # With its routers added, the file is a config the agent runs with.
    with config.open("a") as file:
        file.write('\n[[routers]]\nname = "main"\nhost = "127.0.0.1"\n')
    loaded = load_agent_config(config)
    assert (loaded.hub.url, loaded.hub.credential) == (url(hub), data["hub"]["credential"])


async def test_token_works_once(hub: TestServer, tmp_path: Path):
    token = await new_token(hub.app[DB_POOL])
    config = tmp_path / "agent.toml"
    await enroll(url(hub), token, str(config))
    before = config.read_bytes()
    with pytest.raises(EnrollmentError, match=TOKEN_REJECTED):
        await enroll(url(hub), token, str(config))
    assert config.read_bytes() == before


async def test_existing_config_keeps_everything_but_the_hub_keys(hub: TestServer, tmp_path: Path):
    pool = hub.app[DB_POOL]
    state = tmp_path / "state"
    config = tmp_path / "agent.toml"
    original = (
        "# my site\n"
        "[agent]\n"
        'site = "kariakoo"   # by the market\n'
        f'state_dir = "{state}"\n'
        "\n"
        "[hub]\n"
        'url = "http://old.example:8080"\n'
        "heartbeat = 5.0  # tuned\n"
        'credential = "ifa_1_old"\n'
        "\n"
        "[[routers]]\n"
        'name = "main"\n'
        'host = "192.168.88.1"\n'
    )
    config.write_text(original)
    await enroll(url(hub), await new_token(pool), str(config))

    text = config.read_text()
    credential = tomllib.loads(text)["hub"]["credential"]
    expected = original.replace('"http://old.example:8080"', f'"{url(hub)}"').replace(
        '"ifa_1_old"', f'"{credential}"'
    )
    assert text == expected
    assert mode(config) == 0o600
    assert (state / "device_key").exists()  # the config's state_dir holds the device key

    # A config without a [hub] section gets one at the end; the rest stays byte for byte.
    bare = '[agent]\nsite = "kariakoo"\nstate_dir = "' + str(state) + '"'  # no final newline
    config.write_text(bare)
    await enroll(url(hub), await new_token(pool), str(config))
    text = config.read_text()
    assert text.startswith(bare + "\n\n[hub]\n")
    assert tomllib.loads(text)["hub"]["url"] == url(hub)


async def test_device_key_is_stable_across_enrollments(hub: TestServer, tmp_path: Path):
    pool = hub.app[DB_POOL]
    config = tmp_path / "agent.toml"
    await enroll(url(hub), await new_token(pool), str(config))
    first = await pool.fetchval("SELECT device_key FROM agents")
    await enroll(url(hub), await new_token(pool), str(config))
    assert await pool.fetchval("SELECT device_key FROM agents") == first
    actions = [r["action"] for r in await pool.fetch("SELECT action FROM audit_log")]
    assert "agent.device_changed" not in actions


async def test_wireguard_config_is_written_with_the_local_private_key(
    hub_config: HubConfig, aiohttp_server: Any, tmp_path: Path
):
    wireguard = WireGuardConfig(endpoint="127.0.0.1:51820", public_key=HUB_WG_KEY)
    server = await aiohttp_server(
        create_app(dataclasses.replace(hub_config, wireguard=wireguard)), host="127.0.0.1"
    )
    config = tmp_path / "agent.toml"
    done = await enroll(url(server), await new_token(server.app[DB_POOL]), str(config))
    wg = tmp_path / "wg-ispfleet.conf"
    assert done["wireguard_config"] == str(wg) and mode(wg) == 0o600

    private = (tmp_path / "wg_private_key").read_text().strip()
    assert mode(tmp_path / "wg_private_key") == 0o600
    key = X25519PrivateKey.from_private_bytes(base64.b64decode(private))
    public = base64.b64encode(
        key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    ).decode()
    row = await server.app[DB_POOL].fetchrow("SELECT wg_public_key, wg_address FROM agents")
    assert row["wg_public_key"] == public  # only the public half left the box
    assert private not in str(await server.app[DB_POOL].fetch("SELECT * FROM agents"))

    text = wg.read_text()
    for line in (
        f"PrivateKey = {private}",
        f"Address = {row['wg_address']}",
        f"PublicKey = {HUB_WG_KEY}",
        "Endpoint = 127.0.0.1:51820",
        "AllowedIPs = 10.99.0.1/32",
        "PersistentKeepalive = 25",
    ):
        assert line in text.splitlines()


async def test_unreachable_hub_is_a_clear_error(tmp_path: Path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again: nothing listens there
    hub = f"http://127.0.0.1:{port}"
    with pytest.raises(EnrollmentError, match=f"cannot reach hub at {hub}"):
        await enroll(hub, "token", str(tmp_path / "agent.toml"))
    assert not (tmp_path / "agent.toml").exists()


@pytest.mark.parametrize(
    ("hub", "token", "message"),
    [
        ("ftp://hub", "t", "hub URL must start with http:// or https://"),
        ("http://127.0.0.1:1", " ", "enrollment token is empty"),
    ],
)
async def test_bad_arguments_are_refused(tmp_path: Path, hub: str, token: str, message: str):
    with pytest.raises(EnrollmentError, match=message):
        await enroll(hub, token, str(tmp_path / "agent.toml"))


async def test_broken_existing_config_is_refused(tmp_path: Path):
    config = tmp_path / "agent.toml"
    config.write_text("[agent\nsite = ")
    with pytest.raises(EnrollmentError, match="not valid TOML"):
        await enroll("http://127.0.0.1:1", "token", str(config))
    assert config.read_text() == "[agent\nsite = "


# --- the trust chain: the operator's URL, no plain http, the hub's answer checked ---------------

GOOD_WG = {
    "address": "10.99.0.2/32",
    "hub_public_key": HUB_WG_KEY,
    "endpoint": "hub.example.net:51820",
    "allowed_ips": "10.99.0.1/32",
    "persistent_keepalive": 25,
}
ROOT_COMMAND = "PostUp = touch /tmp/ispfleet-owned"


def answer(**changes: Any) -> dict[str, Any]:
    """A well-formed enrollment answer with some fields replaced."""
    wireguard = {**GOOD_WG, **changes.pop("wireguard", {})}
    return {
        "agent_id": 7,
        "site": "kariakoo",
        "tenant": "acme",
        "credential": "ifa_7_" + "s" * 43,
        "wireguard": wireguard,
        **changes,
    }


async def answering_hub(aiohttp_server: Any, reply: Any) -> TestServer:
    """A real HTTP server that answers every enrollment with ``reply`` (a hostile hub)."""

    async def enroll_view(request: web.Request) -> web.Response:
        await request.read()
        return web.json_response(reply)

    app = web.Application()
    app.router.add_post(wire.ENROLL_PATH, enroll_view)
    return await aiohttp_server(app, host="127.0.0.1")


@pytest.mark.parametrize(
    ("reply", "field"),
    [
        (answer(wireguard={"address": f"10.99.0.2/32\n{ROOT_COMMAND}"}), "wireguard.address"),
        (answer(wireguard={"address": "10.99.0.2/32 # x"}), "wireguard.address"),
        (answer(wireguard={"address": "fe80::1%eth0/64"}), "wireguard.address"),
        (answer(wireguard={"hub_public_key": f"{HUB_WG_KEY}\n{ROOT_COMMAND}"}), "hub_public_key"),
        (answer(wireguard={"hub_public_key": "bm90IGEga2V5"}), "wireguard.hub_public_key"),
        (answer(wireguard={"endpoint": f"hub:51820\n{ROOT_COMMAND}"}), "wireguard.endpoint"),
        (answer(wireguard={"endpoint": "hub example:51820"}), "wireguard.endpoint"),
        (answer(wireguard={"endpoint": "hub.example.net:99999"}), "wireguard.endpoint"),
        (answer(wireguard={"endpoint": "hub.example.net"}), "wireguard.endpoint"),
        (answer(wireguard={"allowed_ips": f"0.0.0.0/0\r{ROOT_COMMAND}"}), "wireguard.allowed_ips"),
        (answer(wireguard={"allowed_ips": "everything"}), "wireguard.allowed_ips"),
        (answer(wireguard={"persistent_keepalive": "25\nPostUp = id"}), "persistent_keepalive"),
        (answer(wireguard={"persistent_keepalive": True}), "persistent_keepalive"),
        (answer() | {"wireguard": "wg"}, "wireguard: not an object"),
        (answer(credential='ifa_7_x"\n[hub]\nurl = "http://evil"'), "credential"),
        (answer(site="kariakoo\n[hub]"), "site"),
        (answer(tenant="acme\x00"), "tenant"),
        (answer(agent_id="7"), "agent_id"),
    ],
)
async def test_a_hostile_answer_changes_nothing(
    aiohttp_server: Any, tmp_path: Path, reply: dict[str, Any], field: str
):
    server = await answering_hub(aiohttp_server, reply)
    config, wg = tmp_path / "agent.toml", tmp_path / WIREGUARD_CONFIG
    config.write_text('[agent]\nsite = "kariakoo"\n\n[hub]\nurl = "https://hub.example.net"\n')
    wg.write_text("[Interface]\nPrivateKey = old\n")
    before = config.read_bytes(), wg.read_bytes()

    with pytest.raises(EnrollmentError, match="enrollment answer was refused") as refused:
        await enroll(url(server), "ife_token", str(config))
    assert field in str(refused.value)
    assert (config.read_bytes(), wg.read_bytes()) == before


async def test_the_cli_says_why_a_hostile_answer_was_refused(aiohttp_server: Any, tmp_path: Path):
    """The operator's command: a real ispfleet-agent process against the hostile hub."""
    reply = answer(wireguard={"address": f"10.99.0.2/32\n{ROOT_COMMAND}"})
    server = await answering_hub(aiohttp_server, reply)
    config = tmp_path / "agent.toml"
    code, out, err = await agent_cli(
        "enroll", f"--hub={url(server)}", "--token=ife_token", f"--config={config}"
    )
    assert code == 1, (out, err)
    assert err.startswith("ispfleet-agent: enroll failed: the hub's enrollment answer was refused")
    assert "wireguard.address: contains a newline" in err and "Traceback" not in err
    assert not config.exists() and not (tmp_path / WIREGUARD_CONFIG).exists()


async def test_the_operators_url_is_kept_whatever_the_hub_says(aiohttp_server: Any, tmp_path: Path):
    server = await answering_hub(aiohttp_server, answer(hub_url="http://evil.example"))
    config = tmp_path / "agent.toml"
    done = await enroll(url(server) + "/", "ife_token", str(config))
    assert done["hub_url"] == url(server)
    assert tomllib.loads(config.read_text())["hub"]["url"] == url(server)
    lines = (tmp_path / WIREGUARD_CONFIG).read_text().splitlines()
    assert "Address = 10.99.0.2/32" in lines and "Endpoint = hub.example.net:51820" in lines
    assert len(lines) == 11  # 2 comments, 2 headers, a blank, 1 line per key: nothing added


async def test_ipv6_and_lists_are_rendered_from_parsed_values(aiohttp_server: Any, tmp_path: Path):
    wireguard = {
        "address": "10.99.0.2/32, fd00::2/128",
        "endpoint": "[2001:db8::1]:51820",
        "allowed_ips": "10.99.0.1/32,fd00::1/128",
    }
    server = await answering_hub(aiohttp_server, answer(wireguard=wireguard))
    await enroll(url(server), "ife_token", str(tmp_path / "agent.toml"))
    lines = (tmp_path / WIREGUARD_CONFIG).read_text().splitlines()
    assert "Address = 10.99.0.2/32, fd00::2/128" in lines
    assert "Endpoint = [2001:db8::1]:51820" in lines
    assert "AllowedIPs = 10.99.0.1/32, fd00::1/128" in lines


@pytest.mark.parametrize(
    "hub",
    ["http://hub.example.net", "http://10.0.0.5:8080", "http://0.0.0.0:1", "http://[2001:db8::1]"],
)
async def test_plain_http_to_another_machine_is_refused(tmp_path: Path, hub: str):
    with pytest.raises(EnrollmentError, match=r"refusing plain http://.*--allow-insecure-http"):
        await enroll(hub, "ife_token", str(tmp_path / "agent.toml"))
    assert checked_hub_url(hub, allow_insecure_http=True) == hub
    assert not (tmp_path / "agent.toml").exists()


@pytest.mark.parametrize(
    "hub", ["http://127.0.0.1:8080", "http://localhost:8080", "http://[::1]:8080", "https://h.net"]
)
def test_https_and_loopback_http_need_no_flag(hub: str):
    assert checked_hub_url(hub + "/") == hub


@pytest.mark.parametrize(
    "hub",
    [
        "https://user:pw@hub.net",
        "https://hub.net/?x=1",
        "https://hub.net:99999",
        "https://h\nx.net",
    ],
)
def test_odd_hub_urls_are_refused(hub: str):
    with pytest.raises(EnrollmentError, match="hub URL"):
        checked_hub_url(hub)


async def test_the_cli_flag_allows_insecure_http(tmp_path: Path):
    """0.0.0.0 is not loopback: refused without the flag, dialled (and unreachable) with it."""
    config = f"--config={tmp_path / 'agent.toml'}"
    args = ("enroll", "--hub=http://0.0.0.0:1", "--token=ife_token", config)
    code, _, err = await agent_cli(*args)
    assert code == 1 and "refusing plain http:// to 0.0.0.0" in err
    code, _, err = await agent_cli(*args, "--allow-insecure-http")
    assert code == 1 and "cannot reach hub at http://0.0.0.0:1" in err, err


async def agent_cli(*args: str) -> tuple[int, str, str]:
    return await run_module("agent.cli", *args)
