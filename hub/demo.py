"""``make demo``: the whole system on one machine, every part a real process.

Starts a routersim fleet (a Kenyan ISP: +2547 numbers) and the M-Pesa Daraja simulator, sets up
a tenant (API key, admin, dashboard owner, plans, a voucher batch, customers with paid access)
through the hub's own services, starts the hub, creates one agent per router and enrolls it
through the real enrollment path (``ispfleet-agent enroll``), starts the agents (the first
router with ``billing = true``: unpaid sessions are cut), waits until every router reports, then
prints the URLs, keys and ready-to-paste curl commands, one of which pays by STK push for a
walk-in customer who then comes online. Ctrl-C stops everything.

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

from common import daraja
from hub.config import HubConfig, public_url
from hub.database import open_database
from hub.services.access import AccessService
from hub.services.agents import AgentService
from hub.services.auth import AuthService
from hub.services.plans import PlanService
from hub.services.tenants import TenantService
from hub.services.vouchers import VoucherService
from routersim.daraja import CONSUMER_KEY, CONSUMER_SECRET

log = logging.getLogger("ispfleet.demo")

TENANT = "demo"
ADMIN_EMAIL = "admin@demo.local"
DASHBOARD_USER = "owner"
PHONE_PREFIX = "+2547"  # Kenya: M-Pesa's Daraja API takes the payments
PLANS = (  # name, speed, price (KES), duration
    ("1 Hour Plan", "5M/2M", 50, 1, "HOURS"),
    ("5 Minutes Test Plan", "2M/1M", 10, 5, "MINUTES"),
    ("1 Day Plan", "10M/5M", 300, 1, "DAYS"),
)


@dataclass(slots=True)
class WalkIn:
    """A client online on the first router before the demo starts, who has not paid: billing
    cuts them there, and the printed STK push pays for them."""

    router: str
    username: str
    mac_address: str


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


async def hotspot_usernames(router: SimRouterAddress) -> tuple[list[str], WalkIn | None]:
    """The router's phone-number hotspot users, and one of them online by login (not by MAC)."""
    api = await librouteros.async_connect(
        host=router.host, username=router.username, password=router.password, port=router.port
    )
    try:
        rows = [row async for row in api("/ip/hotspot/user/print")]
        active = [row async for row in api("/ip/hotspot/active/print")]
    finally:
        await api.close()
    walk_in = next(
        (
            WalkIn(router.name, str(row["user"]), str(row["mac-address"]))
            for row in active
            if str(row.get("user", "")).startswith("+") and row.get("login-by") != "mac"
        ),
        None,
    )
    return [str(row["name"]) for row in rows if str(row.get("name", "")).startswith("+")], walk_in


async def set_up_tenant(
    config: HubConfig, routers: list[SimRouterAddress], rng: random.Random
) -> dict[str, object]:
    """Tenant, API key, admin, dashboard owner, plans, vouchers, agents (with enrollment tokens)
    and customers with access; the walk-in of the first router is left unpaid."""
    admin_password = secrets.token_urlsafe(12)
    owner_password = secrets.token_urlsafe(12)
    async with open_database(config, max_size=2) as pool:
        tenants = TenantService(pool, config)
        auth = AuthService(pool, config)
        agents = AgentService(pool, config)
        tenant = await tenants.create_tenant(TENANT, "Demo ISP", "KE")
        _, api_key = await auth.issue_api_key(TENANT, "demo")
        await auth.create_admin(ADMIN_EMAIL, admin_password)
        await auth.create_user(TENANT, DASHBOARD_USER, owner_password, "owner")
        plans = [
            await PlanService(pool).create(
                tenant,
                name=name,
                speed=speed,
                price=price,
                duration_value=value,
                duration_unit=unit,
                connection_type="hotspot",
                actor="demo",
            )
            for name, speed, price, value, unit in PLANS
        ]
        batch = await VoucherService(pool, config).create_batch(
            tenant, plan_id=plans[0].id, count=24, actor="demo"
        )
        tokens = {}
        for router in routers:
            ticket = await agents.create_agent(TENANT, router.name, actor="demo")
            tokens[router.name] = ticket.token
        access = AccessService(pool, config)
        customers = paid = 0
        walk_in = None
        for index, router in enumerate(routers):
            usernames, online = await hotspot_usernames(router)
            if index == 0:
                walk_in = online
            for username in usernames:
                if walk_in is not None and username == walk_in.username:
                    continue  # not a customer yet: the printed STK push makes them one
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
        "owner_password": owner_password,
        "tokens": tokens,
        "customers": customers,
        "paid": paid,
        "plans": plans,
        "batch_id": batch.summary.batch.id,
        "walk_in": walk_in,
        "billing_router": routers[0].name,
    }


def agent_toml(
    router: SimRouterAddress, state_dir: Path, metrics_port: int, *, billing: bool
) -> str:
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
        # Unpaid hotspot sessions are cut on a billing router (the demo's first).
        f"billing = {'true' if billing else 'false'}\n"
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


async def known_user(
    url: str, api_key: str, routers: list[dict], billing_router: str
) -> tuple[int, str] | None:
    """(router id, username) of a connected customer for the printed disconnect: a paid one
    anywhere, else a known one on a router without billing (which would cut it meanwhile)."""
    headers = {"Authorization": f"Bearer {api_key}"}
    fallback = None
    async with aiohttp.ClientSession(headers=headers) as http:
        for router in routers:
            async with http.get(f"{url}/api/portal/router/{router['id']}/active-users/") as resp:
                body = await resp.json()
            for user in body.get("active_users", []):
                info = user["database_info"]
                if info.get("user_id") is None:
                    continue
                if info.get("has_active_access"):
                    return router["id"], user["username"]
                if fallback is None and router["name"] != billing_router:
                    fallback = router["id"], user["username"]
    return fallback


def banner(
    url: str, setup: dict, routers: list[dict], metrics: list[str], sample: tuple[int, str] | None
) -> str:
    key = setup["api_key"]
    first = routers[0]["id"]
    sample_router, user = sample or (first, "+254712345678")
    ids = {router["name"]: router["id"] for router in routers}

    def curl(path: str, *options: str) -> str:
        """A curl command line that pastes into any POSIX shell (every part quoted)."""
        auth = ["-H", f"Authorization: Bearer {key}"]
        return shlex.join(["curl", "-s", *auth, *options, f"{url}{path}"])

    def post(path: str, body: dict[str, object]) -> str:
        return curl(
            path, "-X", "POST", "-H", "Content-Type: application/json", "-d", json.dumps(body)
        )

    pretty = " | python3 -m json.tool"
    plan = setup["plans"][0]
    walk_in = setup["walk_in"]
    login = {"username": DASHBOARD_USER, "password": setup["owner_password"]}
    lines = [
        "",
        "ispfleet demo is running",
        "",
        f"  Hub                {url}",
        f"  Tenant API key     {key}",
        f"  Dashboard          {url}/dashboard/  (sign in as {DASHBOARD_USER} /"
        f" {setup['owner_password']})",
        f"  Platform admin     {ADMIN_EMAIL} / {setup['admin_password']}",
        f"  Customers          {setup['customers']} ({setup['paid']} with paid access)",
        "  Routers            "
        + ", ".join(f"id {r['id']} {r['name']} ({r['status']})" for r in routers),
        f"  Billing            {setup['billing_router']} has billing = true: unpaid sessions"
        " are cut",
        "  Agent metrics      " + "  ".join(metrics),
        f"  Hub metrics        {url}/metrics",
        "  Logs               var/demo/logs/",
        "",
        "Try the portal (seeds 000-002):",
        "  " + curl(f"/api/portal/router/{first}/active-users/") + pretty,
        "  " + curl("/api/portal/router/health/") + pretty,
        "  " + curl(f"/api/portal/router/{first}/monitoring/") + pretty,
        "  " + post(f"/api/portal/router/{sample_router}/disconnect-user/", {"username": user}),
        "",
        "Billing (seed 003; a dashboard login works as well as the API key):",
        "  " + shlex.join(["curl", "-s", "-X", "POST", "-H", "Content-Type: application/json",
                           "-d", json.dumps(login), f"{url}/api/auth/login"]),
        "  " + curl("/api/plans") + pretty,
        "  " + curl("/api/dashboard/overview") + pretty,
        "  " + curl("/api/mpesa/transactions") + pretty,
        "  " + curl(f"/api/routers/{first}/users") + pretty,
        "  " + curl(f"/api/vouchers/batches/{setup['batch_id']}/sheet.pdf", "-o", "vouchers.pdf"),
    ]  # fmt: skip
    if walk_in is not None:
        router_id = ids.get(walk_in.router, first)
        lines += [
            "",
            f"A walk-in customer {walk_in.username} ({walk_in.mac_address}) on {walk_in.router}"
            " has not paid, so billing cuts them. Pay by M-Pesa (the simulator answers paid"
            " in 2 s):",
            "  "
            + post(
                "/api/payments/mpesa/stk-push",
                {
                    "plan_id": plan.id,
                    "phone": walk_in.username,
                    "router_id": router_id,
                    "mac_address": walk_in.mac_address,
                },
            ),
            "and a few seconds later they are online:",
            "  "
            + curl(f"/api/portal/router/{router_id}/active-users/")
            + f" | grep -c {shlex.quote(walk_in.username)}",
        ]
    lines += ["", "Ctrl-C stops everything.", ""]
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
    daraja_url = f"http://127.0.0.1:{args.daraja_port}"
    hub_toml.write_text(
        f'data_dir = "{root / "hub"}"\nlisten_host = "127.0.0.1"\nlisten_port = {args.port}\n'
        "agent_heartbeat = 5.0\nagent_offline_after = 20.0\n\n"
        "[mpesa]  # the Daraja simulator (routersim/daraja.py) with its sandbox credentials\n"
        f'base_url = "{daraja_url}"\nconsumer_key = "{CONSUMER_KEY}"\n'
        f'consumer_secret = "{CONSUMER_SECRET}"\nshortcode = "{daraja.SANDBOX_SHORTCODE}"\n'
        f'passkey = "{daraja.SANDBOX_PASSKEY}"\n'
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
            "--phone-prefix",
            PHONE_PREFIX,
        )
        print(f"starting the M-Pesa Daraja simulator on {daraja_url} ...")
        await processes.start("daraja", "-m", "routersim.daraja", "--port", str(args.daraja_port))
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
            config_path.write_text(
                agent_toml(sim, agent_dir / "state", metrics_port, billing=index == 0)
            )
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
        sample = await known_user(url, setup["api_key"], routers, setup["billing_router"])
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
    parser.add_argument("--daraja-port", type=int, default=18090, help="M-Pesa simulator")
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
