"""A hub and a site joined by nothing but WireGuard, as deploy/wireguard/ sets them up.

Two network namespaces, "hub" and "site", share only a veth pair carrying an underlay
(192.0.2.1/30 - 192.0.2.2/30, the WAN). Each gets a WireGuard interface: the kernel's where it
has one, else ``wireguard-go`` on /dev/net/tun, configured the way wg-quick would from the
shipped files: the hub's from wg-hub.conf.template (keys from ``wg genkey``/``wg pubkey``), the
site's from the wg-ispfleet.conf that ``ispfleet-agent enroll`` writes (checked against
wg-agent.conf.template rendered with the same values). Each file goes through ``wg-quick
strip`` into ``wg setconf``; its Address goes on with ``ip addr``.

The agent enrolls over the underlay with ``--allow-insecure-http``: before enrollment it has no
tunnel, that is what enrollment gives it. The hub's side then learns the new peer from
``ispfleet-hub wireguard-peers`` through ``wg syncconf``, the hub restarts listening on its
tunnel address 10.99.0.1 only, and the agent (a real ``ispfleet-agent run`` in the site
namespace, beside a routersim on its loopback) reports the router's health and its hotspot
sessions. The proof that the tunnel alone carried it: nothing in the hub namespace listens on
TCP but 10.99.0.1, the hub's port is closed on the underlay address, and ``wg show`` on both
sides reports a handshake and the link's bytes.

Skipped, saying why, where the machine refuses network namespaces or tun devices (not root, no
``ip``, no /dev/net/tun, neither the kernel module nor wireguard-go) or where the test
Postgres is not on a unix socket (a namespace cannot reach the host's loopback).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import os
import shutil
import signal
import sys
import tomllib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import asyncpg
import pytest

from hub.config import HubConfig
from hub.database import open_database
from hub.services.agents import AgentService
from hub.services.tenants import TenantService
from tests.e2e.conftest import FAST_AGENT, FAST_LINK, FAST_ROUTER, wait_for
from tests.helpers import ROOT

TEMPLATES = ROOT / "deploy" / "wireguard"
HUB_UNDERLAY, SITE_UNDERLAY = "192.0.2.1", "192.0.2.2"
HUB_TUNNEL, TUNNEL_NETWORK = "10.99.0.1", "10.99.0.0/24"
WG_PORT = 51820
HUB_PORT = 8080  # each namespace has ports of its own
ROUTER_PORT = 8728
START_TIMEOUT = 30.0
# Bytes the hub must have received through the tunnel: a handshake and keepalives are a few
# hundred; the link's hello, snapshot and health reports are well past this.
LINK_BYTES = 4096
TUN_REFUSED = "Failed to create TUN device"  # wireguard-go's words when the kernel says no


async def run(
    *argv: str, stdin: str | None = None, check: bool = True, env: dict[str, str] | None = None
) -> tuple[int, str]:
    """Run a command to its end: (exit status, stdout). With ``check`` a failure fails the test
    (showing stderr); without, stderr follows stdout in the text, to say why."""
    process = await asyncio.create_subprocess_exec(
        *argv,
        cwd=ROOT,
        env=env,
        stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(
        process.communicate(stdin.encode() if stdin is not None else None), 60
    )
    assert process.returncode is not None
    if check and process.returncode != 0:
        raise AssertionError(
            f"{' '.join(argv)} exited {process.returncode}: {out.decode()}{err.decode()}"
        )
    return process.returncode, out.decode() if check else out.decode() + err.decode()


def refusal() -> str | None:
    """Why this machine cannot build the namespaces, or None."""
    if os.geteuid() != 0:
        return "network namespaces and WireGuard interfaces need root"
    if shutil.which("ip") is None:
        return "no `ip` (iproute2) to make network namespaces"
    if not os.path.exists("/dev/net/tun"):
        return "no /dev/net/tun for a WireGuard device"
    return None


REFUSAL = refusal()
# Checked before any fixture runs, so a refused machine starts no Postgres for nothing.
pytestmark = [pytest.mark.netns, pytest.mark.skipif(REFUSAL is not None, reason=REFUSAL or "")]


def tool(name: str) -> str:
    """A tool the suite installs itself: missing is a setup fault, not a reason to skip."""
    exe = shutil.which(name)
    if exe is None:
        pytest.fail(f"{name} is missing: run `sh deploy/dev-packages.sh` as root (make install)")
    return exe


@dataclass
class Process:
    """A long-running program in a namespace (``ip netns exec`` execs it: same pid)."""

    name: str
    process: asyncio.subprocess.Process
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]

    def check_alive(self) -> None:
        if self.process.returncode is not None:
            raise AssertionError(f"{self.name} exited {self.process.returncode}: {self.output()}")

    async def stop(self) -> None:
        if self.process.returncode is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(self.process.wait(), 20)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()


@dataclass
class Namespace:
    """One network namespace, its WireGuard interface and the processes started in it."""

    name: str
    iface: str
    logs: Path
    kernel_wireguard: bool = False
    processes: list[Process] = field(default_factory=list)

    def exec(self, *argv: str) -> list[str]:
        return ["ip", "netns", "exec", self.name, *argv]

    async def ip(self, *argv: str, check: bool = True) -> tuple[int, str]:
        return await run("ip", "-n", self.name, *argv, check=check)

    async def start(self, label: str, *argv: str, env: dict[str, str] | None = None) -> Process:
        log = self.logs / f"{self.name}-{label}.log"
        with log.open("ab") as out:
            process = await asyncio.create_subprocess_exec(
                *self.exec(*argv), cwd=ROOT, env=env, stdin=asyncio.subprocess.DEVNULL,
                stdout=out, stderr=asyncio.subprocess.STDOUT,
            )  # fmt: skip
        started = Process(f"{label} in {self.name}", process, log)
        self.processes.append(started)
        return started

    async def python(self, label: str, module: str, *args: str, env: dict[str, str]) -> Process:
        """``python -m module args`` running in the namespace."""
        return await self.start(label, sys.executable, "-m", module, *args, env=env)

    async def python_run(self, module: str, *args: str, env: dict[str, str]) -> str:
        """``python -m module args`` in the namespace, run to its end (it must succeed)."""
        return (await run(*self.exec(sys.executable, "-m", module, *args), env=env))[1]

    async def tcp_listeners(self) -> set[str]:
        """``address:port`` of every listening TCP socket in the namespace."""
        _, out = await run(*self.exec("ss", "-ltnH"))
        return {line.split()[3] for line in out.splitlines() if line.strip()}

    async def can_connect(self, host: str, port: int) -> bool:
        code, _ = await run(
            *self.exec("bash", "-c", f"exec 3<>/dev/tcp/{host}/{port}"), check=False
        )
        return code == 0

    async def tunnel_up(self, conf: Path) -> None:
        """Bring ``conf`` (a wg-quick file) up on this namespace's interface, as wg-quick
        would: the kernel's device or wireguard-go, the stripped file to ``wg setconf``, its
        Address with ``ip addr``, a route for each allowed network the address does not cover."""
        if self.kernel_wireguard:
            await self.ip("link", "add", self.iface, "type", "wireguard")
        else:
            daemon = await self.start("wireguard-go", "wireguard-go", "-f", self.iface)

            async def device() -> bool:
                if daemon.process.returncode is not None and TUN_REFUSED in daemon.output():
                    lines = daemon.output().splitlines()
                    why = next(line for line in lines if TUN_REFUSED in line)
                    pytest.skip(f"the kernel refuses a tun device: wireguard-go: {why.strip()}")
                daemon.check_alive()
                return (await self.ip("link", "show", self.iface, check=False))[0] == 0

            await wait_for(device, START_TIMEOUT)
        await self.sync(conf)
        interface, peers = parse_wg_quick(conf.read_text())
        addresses = [ipaddress.ip_interface(a.strip()) for a in interface["Address"].split(",")]
        for address in addresses:
            await self.ip("addr", "add", str(address), "dev", self.iface)
        await self.ip("link", "set", self.iface, "up")
        for peer in peers:
            for allowed in peer.get("AllowedIPs", "").split(","):
                network = ipaddress.ip_network(allowed.strip())
                if not any(network.subnet_of(a.network) for a in addresses):
                    await self.ip("route", "add", str(network), "dev", self.iface)

    async def sync(self, conf: Path, extra: str = "") -> None:
        """``wg syncconf`` the interface to ``wg-quick strip conf`` plus ``extra`` sections."""
        _, stripped = await run(tool("wg-quick"), "strip", str(conf))
        synced = conf.with_name(f".{self.iface}.sync")
        write_private(synced, f"{stripped}\n{extra}")
        await run(*self.exec(tool("wg"), "syncconf", self.iface, str(synced)))

    async def peers(self) -> list[dict[str, Any]]:
        """``wg show IFACE dump``'s peers: key, endpoint, handshake time, bytes each way."""
        _, out = await run(*self.exec(tool("wg"), "show", self.iface, "dump"))
        rows = [line.split("\t") for line in out.splitlines()[1:]]
        return [
            {
                "public_key": row[0],
                "endpoint": row[2],
                "allowed_ips": row[3],
                "latest_handshake": int(row[4]),
                "received": int(row[5]),
                "sent": int(row[6]),
            }
            for row in rows
        ]


@dataclass
class Site:
    hub: Namespace
    site: Namespace
    dsn: str  # the test's database, on a unix socket every namespace reaches


@pytest.fixture
async def namespaces(pg_dsn: str, tmp_path: Path) -> AsyncIterator[Site]:
    """The hub and site namespaces joined by the underlay veth; deleted, with every process
    and interface in them, whatever the test did (before the test's database is dropped)."""
    if not unix_socket_dsn(pg_dsn):
        pytest.skip("the test Postgres is not on a unix socket: a namespace cannot reach it")
    tool("wg")
    tool("wg-quick")
    tag = str(os.getpid())
    logs = tmp_path / "logs"
    logs.mkdir()
    hub = Namespace(f"ispfleet-{tag}-hub", f"wgh{tag}", logs)
    site = Namespace(f"ispfleet-{tag}-site", f"wgs{tag}", logs)
    async with contextlib.AsyncExitStack() as stack:
        for ns in (hub, site):
            await run("ip", "netns", "del", ns.name, check=False)  # a crashed run's leftover
            code, out = await run("ip", "netns", "add", ns.name, check=False)
            if code != 0:
                pytest.skip(f"the kernel refuses network namespaces: {out.strip()}")
            stack.push_async_callback(run, "ip", "netns", "del", ns.name, check=False)
            stack.push_async_callback(stop_all, ns)
            await ns.ip("link", "set", "lo", "up")
        await run(
            "ip", "link", "add", "wan", "netns", hub.name, "type", "veth",
            "peer", "name", "wan", "netns", site.name,
        )  # fmt: skip
        for ns, address in ((hub, HUB_UNDERLAY), (site, SITE_UNDERLAY)):
            await ns.ip("addr", "add", f"{address}/30", "dev", "wan")
            await ns.ip("link", "set", "wan", "up")

        code, _ = await hub.ip("link", "add", "wgprobe", "type", "wireguard", check=False)
        if code == 0:
            await hub.ip("link", "del", "wgprobe")
        elif shutil.which("wireguard-go") is None:
            pytest.skip("no WireGuard kernel module and no wireguard-go for /dev/net/tun")
        hub.kernel_wireguard = site.kernel_wireguard = code == 0
        yield Site(hub, site, pg_dsn)


async def stop_all(ns: Namespace) -> None:
    """Programs first, newest first (wireguard-go last: it takes its interface with it)."""
    for process in reversed(ns.processes):
        await process.stop()


def parse_wg_quick(text: str) -> tuple[dict[str, str], list[dict[str, str]]]:
    """A wg-quick file's [Interface] and [Peer] sections as key -> value."""
    interface: dict[str, str] = {}
    peers: list[dict[str, str]] = []
    section: dict[str, str] | None = None
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if line == "[Interface]":
            section = interface
        elif line == "[Peer]":
            section = {}
            peers.append(section)
        elif line and section is not None:
            key, _, value = line.partition("=")
            section[key.strip()] = value.strip()
    return interface, peers


def write_private(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.chmod(0o600)
    path.write_text(text)
    return path


async def envsubst(template: Path, **values: str) -> str:
    """The template filled in the way its comments tell an operator to."""
    process = await asyncio.create_subprocess_exec(
        tool("envsubst"), stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        env={**os.environ, **values},
    )  # fmt: skip
    out, _ = await process.communicate(template.read_bytes())
    assert process.returncode == 0
    return out.decode()


def toml_text(data: dict[str, Any]) -> str:
    """The agent's config as TOML: tables of scalars and the [[routers]] array."""

    def value(item: Any) -> str:
        if isinstance(item, bool):
            return "true" if item else "false"
        return json.dumps(item)  # str, int, float: JSON's spelling is TOML's

    lines = []
    for name, table in data.items():
        for row in table if isinstance(table, list) else [table]:
            lines.append(f"[[{name}]]" if isinstance(table, list) else f"[{name}]")
            lines.extend(f"{key} = {value(item)}" for key, item in row.items())
    return "\n".join(lines) + "\n"


def unix_socket_dsn(dsn: str) -> bool:
    parts = urlsplit(dsn)
    host = parse_qs(parts.query).get("host", [parts.hostname or ""])[0]
    return host.startswith("/")


async def listening(ns: Namespace, process: Process, address: str) -> None:
    """Wait until ``process`` listens on ``address`` (it binds once started up)."""

    async def bound() -> bool:
        process.check_alive()
        return address in await ns.tcp_listeners()

    await wait_for(bound, START_TIMEOUT)


async def test_agent_enrolls_and_reports_through_the_tunnel_alone(namespaces: Site, tmp_path: Path):
    hub_ns, site_ns, pg_dsn = namespaces.hub, namespaces.site, namespaces.dsn

    # The hub's tunnel, from its template; no peers yet.
    _, hub_private = await run(tool("wg"), "genkey")
    _, hub_public = await run(tool("wg"), "pubkey", stdin=hub_private)
    hub_private, hub_public = hub_private.strip(), hub_public.strip()
    hub_dir = tmp_path / "hub"
    hub_wg = write_private(
        hub_dir / "wg-ispfleet.conf",
        await envsubst(
            TEMPLATES / "wg-hub.conf.template",
            HUB_PRIVATE_KEY=hub_private,
            HUB_ADDRESS=HUB_TUNNEL,
            NETWORK_PREFIX="24",
            LISTEN_PORT=str(WG_PORT),
        ),
    )
    await hub_ns.tunnel_up(hub_wg)

    hub_toml = hub_dir / "hub.toml"
    hub_toml.write_text(
        f"agent_heartbeat = 0.5\nmetrics_refresh_interval = 60.0\n\n[wireguard]\n"
        f'endpoint = "{HUB_UNDERLAY}:{WG_PORT}"\npublic_key = "{hub_public}"\n'
        f'network = "{TUNNEL_NETWORK}"\nhub_address = "{HUB_TUNNEL}"\n'
    )
    hub_env = {k: v for k, v in os.environ.items() if not k.startswith("ISPFLEET_")}
    hub_env.update(
        DATABASE_URL=pg_dsn,
        ISPFLEET_HUB_CONFIG=str(hub_toml),
        ISPFLEET_HUB_DATA_DIR=str(hub_dir / "data"),
        ISPFLEET_HUB_INSTANCE="hub-wg",
    )

    # 1. The hub on the underlay, for enrollment only.
    underlay_url = f"http://{HUB_UNDERLAY}:{HUB_PORT}"
    listen = {"ISPFLEET_HUB_LISTEN": f"{HUB_UNDERLAY}:{HUB_PORT}"}
    hub = await hub_ns.python("hub-underlay", "hub.cli", "serve", env={**hub_env, **listen})
    await listening(hub_ns, hub, f"{HUB_UNDERLAY}:{HUB_PORT}")

    config = HubConfig(database_url=pg_dsn)
    async with open_database(config, max_size=2) as pool:
        await TenantService(pool, config).create_tenant("acme", "Acme ISP")
        ticket = await AgentService(pool, config).create_agent("acme", "market")

        agent_toml = tmp_path / "site" / "agent.toml"
        agent_toml.parent.mkdir()
        await site_ns.python_run(
            "agent.cli", "enroll", f"--hub={underlay_url}", f"--token={ticket.token}",
            f"--config={agent_toml}", "--allow-insecure-http", env=hub_env,
        )  # fmt: skip

        # 2. The hub's interface learns the new peer from the operator's command, first: a
        # handshake the hub drops (peer unknown) is retried only after WireGuard's 5 s.
        site_private = (agent_toml.parent / "wg_private_key").read_text().strip()
        _, site_public = await run(tool("wg"), "pubkey", stdin=site_private)
        peers = await hub_ns.python_run("hub.cli", "wireguard-peers", env=hub_env)
        await hub_ns.sync(hub_wg, peers)
        (site_peer,) = await hub_ns.peers()
        assert site_peer["public_key"] == site_public.strip()
        assert site_peer["allowed_ips"] == "10.99.0.2/32"

        # 3. The site's tunnel from the file enroll wrote; the hand template says the same.
        site_wg = agent_toml.parent / "wg-ispfleet.conf"
        interface, (hub_peer,) = parse_wg_quick(site_wg.read_text())
        assert interface["Address"] == "10.99.0.2/32"
        by_hand = await envsubst(
            TEMPLATES / "wg-agent.conf.template",
            AGENT_PRIVATE_KEY=site_private,
            AGENT_ADDRESS="10.99.0.2",
            HUB_PUBLIC_KEY=hub_public,
            HUB_ENDPOINT=f"{HUB_UNDERLAY}:{WG_PORT}",
            HUB_ADDRESS=HUB_TUNNEL,
        )
        assert parse_wg_quick(by_hand) == (interface, [hub_peer])
        await site_ns.tunnel_up(site_wg)

        # 4. The hub again, on its tunnel address only.
        await hub.stop()
        tunnel_url = f"http://{HUB_TUNNEL}:{HUB_PORT}"
        listen = {"ISPFLEET_HUB_LISTEN": f"{HUB_TUNNEL}:{HUB_PORT}"}
        hub = await hub_ns.python("hub-tunnel", "hub.cli", "serve", env={**hub_env, **listen})
        await listening(hub_ns, hub, f"{HUB_TUNNEL}:{HUB_PORT}")

        # 5. routersim on the site's loopback, the agent beside it pointed at the tunnel.
        sim = await site_ns.python(
            "routersim", "routersim.cli", "--routers=1", "--clients=12", "--seed=3",
            "--tick=0.5", f"--port={ROUTER_PORT}", env=hub_env,
        )  # fmt: skip
        await listening(site_ns, sim, f"127.0.0.1:{ROUTER_PORT}")
        data = tomllib.loads(agent_toml.read_text())
        data["agent"].update(FAST_AGENT)
        data["hub"].update(FAST_LINK, url=tunnel_url)
        router = {"name": "site-1", "host": "127.0.0.1", "port": ROUTER_PORT}
        data["routers"] = [{**router, "username": "admin", "password": "", **FAST_ROUTER}]
        agent_toml.write_text(toml_text(data))
        agent = await site_ns.python(
            "agent", "agent.cli", "run", f"--config={agent_toml}", env=hub_env
        )

        async def reported() -> asyncpg.Record | None:
            for process in (hub, sim, agent):
                process.check_alive()
            return await pool.fetchrow(
                """
                SELECT r.id, h.status, h.identity, h.version, h.cpu_load, a.connected,
                       (SELECT count(*) FROM current_sessions s
                         WHERE s.router_id = r.id AND s.kind = 'hotspot') AS hotspot
                  FROM routers r JOIN router_health h ON h.router_id = r.id
                  JOIN agents a ON a.id = r.agent_id
                 WHERE r.name = 'site-1' AND h.status = 'online' AND a.connected
                """
            )

        row = await wait_for(reported, START_TIMEOUT)
        assert row["identity"] and row["version"] and row["cpu_load"] is not None

        async def sessions() -> int:
            return await pool.fetchval(
                "SELECT count(*) FROM current_sessions WHERE router_id = $1 AND kind = 'hotspot'"
                " AND username LIKE '+2557%'",
                row["id"],
            )

        assert await wait_for(sessions, START_TIMEOUT) > 0

    # The tunnel alone: the hub listens on its tunnel address and nothing else, its port is
    # closed on the underlay, and WireGuard on both sides carried the link's bytes.
    assert await hub_ns.tcp_listeners() == {f"{HUB_TUNNEL}:{HUB_PORT}"}
    assert await site_ns.can_connect(HUB_TUNNEL, HUB_PORT)
    assert not await site_ns.can_connect(HUB_UNDERLAY, HUB_PORT)
    (site_peer,) = await hub_ns.peers()
    (hub_peer_seen,) = await site_ns.peers()
    assert hub_peer_seen["public_key"] == hub_public
    assert hub_peer_seen["endpoint"] == f"{HUB_UNDERLAY}:{WG_PORT}"
    assert site_peer["endpoint"].startswith(f"{SITE_UNDERLAY}:")
    for peer in (site_peer, hub_peer_seen):
        assert peer["latest_handshake"] > 0
        assert peer["received"] > 0 and peer["sent"] > 0
    assert site_peer["received"] > LINK_BYTES and hub_peer_seen["sent"] > LINK_BYTES
