"""``make demo``: the whole system on one machine, every part a real process.

Starts a routersim fleet, sets up a tenant (API key, admin, customers with paid access) through
the hub's own services, starts the hub, creates one agent per router and enrolls it through the
real enrollment path (``ispfleet-agent enroll``), starts the agents, waits until every router
reports, then prints the URLs, keys and ready-to-paste curl commands. Ctrl-C stops everything.

State lives in ``var/demo``, started afresh each run; logs in ``var/demo/logs``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import random
import secrets
import shlex
import shutil
import signal
import sys
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

import aiohttp
import librouteros

from hub.config import HubConfig, public_url
from hub.database import open_database
from hub.services.access import AccessService
from hub.services.agents import AgentService
from hub.services.auth import AuthService
from hub.services.tenants import TenantService

log = logging.getLogger("ispfleet.demo")

TENANT = "demo"
ADMIN_EMAIL = "admin@demo.local"


@dataclass(slots=True)
class SimRouterAddress:
    name: str
    host: str
    port: int
    username: str
    password: str


class Processes:
    """Child processes, stopped in reverse start order with SIGTERM, then SIGKILL."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.children: list[tuple[str, asyncio.subprocess.Process]] = []

    async def start(self, name: str, *args: str) -> asyncio.subprocess.Process:
        logfile = (self.log_dir / f"{name}.log").open("ab")
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            *args,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=logfile,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches us only; we stop children in order
        )
        logfile.close()
        self.children.append((name, process))
        return process

    def check_alive(self) -> None:
        for name, process in self.children:
            if process.returncode is not None:
                raise SystemExit(
                    f"{name} exited with status {process.returncode}; see {self.log_dir}/{name}.log"
                )

    async def stop(self) -> None:
        for name, process in reversed(self.children):
            if process.returncode is None:
                process.send_signal(signal.SIGTERM)
                try:
                    await asyncio.wait_for(process.wait(), 10)
                except TimeoutError:
                    log.warning("%s did not stop in 10 s; killing it", name)
                    process.kill()
                    await process.wait()


async def run_cli(*args: str) -> str:
    """Run one of our CLIs to completion; its stdout, or SystemExit with its message."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    if process.returncode:
        raise SystemExit(f"{' '.join(args)} failed: {err.decode().strip() or out.decode()}")
    return out.decode()


async def wait_for_lines(path: Path, count: int, processes: Processes, timeout: float) -> list[str]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        processes.check_alive()
        lines = path.read_text().splitlines() if path.exists() else []
        routers = [line for line in lines if " user=" in line]
        if len(routers) >= count:
            return routers[:count]
        await asyncio.sleep(0.2)
    raise SystemExit(f"routersim did not print {count} routers in {timeout:g} s; see {path}")


def parse_router_line(line: str) -> SimRouterAddress:
    """``site-1 127.0.0.1:18728 user=admin password=''`` as printed by ispfleet-routersim."""
    name, address, user, password = line.split(maxsplit=3)
    host, _, port = address.rpartition(":")
    secret = password.removeprefix("password=")
    if secret in ("''", '""'):
        secret = ""
    return SimRouterAddress(name, host, int(port), user.removeprefix("user="), secret)


async def hotspot_usernames(router: SimRouterAddress) -> list[str]:
    api = await librouteros.async_connect(
        host=router.host, username=router.username, password=router.password, port=router.port
    )
    try:
        rows = [row async for row in api("/ip/hotspot/user/print")]
    finally:
        await api.close()
    return [str(row["name"]) for row in rows if str(row.get("name", "")).startswith("+")]


async def set_up_tenant(
    config: HubConfig, routers: list[SimRouterAddress], rng: random.Random
) -> dict[str, object]:
    """Tenant, API key, admin, agents (with enrollment tokens) and customers with access."""
    admin_password = secrets.token_urlsafe(12)
    async with open_database(config, max_size=2) as pool:
        tenants = TenantService(pool, config)
        auth = AuthService(pool, config)
        agents = AgentService(pool, config)
        tenant = await tenants.create_tenant(TENANT, "Demo ISP", "TZ")
        _, api_key = await auth.issue_api_key(TENANT, "demo")
        await auth.create_admin(ADMIN_EMAIL, admin_password)
        tokens = {}
        for router in routers:
            ticket = await agents.create_agent(TENANT, router.name, actor="demo")
            tokens[router.name] = ticket.token
        access = AccessService(pool, config)
        customers = paid = 0
        for router in routers:
            for username in await hotspot_usernames(router):
                customers += 1
                # Most customers have paid for 1-24 h; some exist with no access; the rest of the
                # simulated clients are unknown to the database (the portal shows a note for them).
                roll = rng.random()
                if roll < 0.6:
                    await access.grant(
                        tenant, username=username, hours=rng.randint(1, 24), actor="demo"
                    )
                    paid += 1
                elif roll < 0.8:
                    await tenants.add_customer(TENANT, username, None)
    return {
        "api_key": api_key,
        "admin_password": admin_password,
        "tokens": tokens,
        "customers": customers,
        "paid": paid,
    }


def agent_toml(router: SimRouterAddress, state_dir: Path, metrics_port: int) -> str:
    return (
        "[agent]\n"
        f"site = {json.dumps(router.name)}\n"
        f"state_dir = {json.dumps(str(state_dir))}\n"
        f'metrics_listen = "127.0.0.1:{metrics_port}"\n'
        "reconcile_interval = 10.0\n"
        "counters_interval = 5.0\n"
        "startup_jitter = 0.5\n\n"
        "[[routers]]\n"
        f"name = {json.dumps(router.name)}\n"
        f"host = {json.dumps(router.host)}\n"
        f"port = {router.port}\n"
        f"username = {json.dumps(router.username)}\n"
        f"password = {json.dumps(router.password)}\n"
    )


async def wait_until_reporting(
    url: str, api_key: str, expected: int, processes: Processes, timeout: float
) -> list[dict]:
    headers = {"Authorization": f"Bearer {api_key}"}
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    last = "no answer"
    async with aiohttp.ClientSession() as http:
        while loop.time() < deadline:
            processes.check_alive()
            with contextlib.suppress(aiohttp.ClientError, json.JSONDecodeError):
                async with http.get(f"{url}/api/portal/router/health/", headers=headers) as resp:
                    body = await resp.json()
                    routers = body.get("routers", [])
                    online = [r for r in routers if r.get("status") == "online"]
                    last = f"{len(online)}/{expected} routers online"
                    if len(online) >= expected:
                        return routers
            await asyncio.sleep(0.5)
    raise SystemExit(f"the agents did not report in {timeout:g} s ({last}); see the logs")


async def first_known_user(url: str, api_key: str, router_id: int) -> str | None:
    headers = {"Authorization": f"Bearer {api_key}"}
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{url}/api/portal/router/{router_id}/active-users/", headers=headers) as resp,
    ):
        body = await resp.json()
    for user in body.get("active_users", []):
        if user["database_info"].get("user_id") is not None:
            return user["username"]
    return None


def banner(
    url: str, setup: dict, routers: list[dict], metrics: list[str], sample: str | None
) -> str:
    key = setup["api_key"]
    first = routers[0]["id"]
    user = sample or "+255712345678"

    def curl(path: str, *options: str) -> str:
        """A curl command line that pastes into any POSIX shell (every part quoted)."""
        auth = ["-H", f"Authorization: Bearer {key}"]
        return shlex.join(["curl", "-s", *auth, *options, f"{url}{path}"])

    pretty = " | python3 -m json.tool"
    body = json.dumps({"username": user})
    lines = [
        "",
        "ispfleet demo is running",
        "",
        f"  Hub                {url}",
        f"  Tenant API key     {key}",
        f"  Platform admin     {ADMIN_EMAIL} / {setup['admin_password']}",
        f"  Customers          {setup['customers']} ({setup['paid']} with paid access)",
        "  Routers            "
        + ", ".join(f"id {r['id']} {r['name']} ({r['status']})" for r in routers),
        "  Agent metrics      " + "  ".join(metrics),
        f"  Hub metrics        {url}/metrics",
        "  Logs               var/demo/logs/",
        "",
        "Try:",
        "  " + curl(f"/api/portal/router/{first}/active-users/") + pretty,
        "  " + curl("/api/portal/router/health/") + pretty,
        "  " + curl(f"/api/portal/router/{first}/monitoring/") + pretty,
        "  " + curl(f"/api/routers/{first}/users") + pretty,
        "  "
        + curl(
            f"/api/portal/router/{first}/disconnect-user/",
            "-X",
            "POST",
            "-H",
            "Content-Type: application/json",
            "-d",
            body,
        ),
        "",
        "Ctrl-C stops everything.",
        "",
    ]
    return "\n".join(lines)


async def run_demo(args: argparse.Namespace) -> None:
    root = Path(args.data_dir).resolve()
    if root.exists():
        shutil.rmtree(root)
    (root / "logs").mkdir(parents=True, exist_ok=True)
    processes = Processes(root / "logs")
    rng = random.Random(args.seed)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    hub_toml = root / "hub.toml"
    hub_toml.write_text(
        f'data_dir = "{root / "hub"}"\nlisten_host = "127.0.0.1"\nlisten_port = {args.port}\n'
        "agent_heartbeat = 5.0\nagent_offline_after = 20.0\n"
    )
    config = replace(HubConfig(), data_dir=str(root / "hub"), listen_port=args.port)
    url = public_url(config)
    env_config = ["--config", str(hub_toml)]
    try:
        print(f"starting routersim: {args.routers} routers x {args.clients} clients ...")
        await processes.start(
            "routersim",
            "-m",
            "routersim.cli",
            "--routers",
            str(args.routers),
            "--clients",
            str(args.clients),
            "--port",
            str(args.routersim_port),
            "--seed",
            str(args.seed),
        )
        lines = await wait_for_lines(
            root / "logs" / "routersim.log", args.routers, processes, timeout=30
        )
        sims = [parse_router_line(line) for line in lines]

        print("setting up the demo tenant (embedded Postgres, migrations, customers) ...")
        setup = await set_up_tenant(config, sims, rng)

        print(f"starting the hub on {url} ...")
        await processes.start("hub", "-m", "hub.cli", "serve", *env_config)

        metrics = []
        for index, sim in enumerate(sims):
            agent_dir = root / f"agent-{sim.name}"
            agent_dir.mkdir(exist_ok=True)
            config_path = agent_dir / "agent.toml"
            metrics_port = args.metrics_port + index
            config_path.write_text(agent_toml(sim, agent_dir / "state", metrics_port))
            await wait_for_hub(url, processes)
            token = setup["tokens"][sim.name]
            print(f"enrolling the agent of {sim.name} ...")
            # --opt=value: a token is never read as an option, whatever it starts with
            await run_cli(
                "-m", "agent.cli", "enroll", f"--hub={url}", f"--token={token}",
                f"--config={config_path}",
            )  # fmt: skip
            await processes.start(
                f"agent-{sim.name}", "-m", "agent.cli", "run", "--config", str(config_path)
            )
            metrics.append(f"http://127.0.0.1:{metrics_port}/metrics")

        routers = await wait_until_reporting(
            url, setup["api_key"], len(sims), processes, timeout=60
        )
        sample = await first_known_user(url, setup["api_key"], routers[0]["id"])
        print(banner(url, setup, routers, metrics, sample), flush=True)

        while not stop.is_set():
            processes.check_alive()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 1.0)
    finally:
        print("\nstopping ...")
        await processes.stop()
        print("stopped.")


async def wait_for_hub(url: str, processes: Processes, timeout: float = 30) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    async with aiohttp.ClientSession() as http:
        while loop.time() < deadline:
            processes.check_alive()
            with contextlib.suppress(aiohttp.ClientError):
                async with http.get(f"{url}/metrics") as resp:
                    if resp.status == 200:
                        return
            await asyncio.sleep(0.3)
    raise SystemExit(f"the hub did not answer at {url} in {timeout:g} s; see var/demo/logs/hub.log")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="ispfleet demo", description=__doc__.split("\n")[0])
    parser.add_argument("--routers", type=int, default=3)
    parser.add_argument("--clients", type=int, default=30, help="simulated clients per router")
    parser.add_argument("--port", type=int, default=8080, help="hub HTTP port")
    parser.add_argument("--routersim-port", type=int, default=18728, help="first router's API port")
    parser.add_argument("--metrics-port", type=int, default=19617, help="first agent's /metrics")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--data-dir", default="var/demo")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s %(message)s")
    os.environ.setdefault("XDG_RUNTIME_DIR", tempfile.mkdtemp(prefix="xdg-"))
    try:
        asyncio.run(run_demo(args))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
