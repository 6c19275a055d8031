"""Payment latency: M-Pesa callback received -> the client can log in on the router.

    .venv/bin/python -m bench.payment_latency [--payments 50]

Everything is real and on this machine: Postgres (DATABASE_URL, else an embedded one; a fresh
database, dropped at the end), the hub as ``python -m hub.cli serve`` with ``[mpesa]`` pointed
at the Daraja simulator (routersim/daraja.py, in this process), one routersim router in this
process and the agent as ``python -m agent run`` with production intervals (enrolled with
``agent.enroll.enroll``).

Each payment is an STK push through ``POST /api/payments/mpesa/stk-push`` whose outcome the
simulator holds. Once the hub stored its checkout, the clock starts as the simulator is told
to decide it (``POST /sim/settle/<checkout>``: it POSTs the paid callback to the hub), and
stops when a hotspot login of the customer's number on the router succeeds (tried every 5 ms
in this process; before the grant the router refuses it: no such user). Payments one at a time.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

import aiohttp
import asyncpg

from bench.portal_latency import (
    Child,
    bench_database,
    free_port,
    hub_env,
    ms,
    start_linked_agent,
    wait_until,
)
from hub.config import HubConfig
from hub.database import open_database
from hub.services.agents import AgentService
from hub.services.auth import AuthService
from hub.services.plans import PlanService
from hub.services.tenants import TenantService
from routersim import SimRouter
from routersim.daraja import DarajaConfig, DarajaSim, Outcome
from routersim.errors import LoginRefused

TENANT = "bench"
SITE = "bench-site"
ROUTER = "bench-router"
POLL = 0.005


async def set_up(dsn: str) -> tuple[str, str, int]:
    """Tenant (Kenya), API key, a 1-hour plan and the agent's enrollment token."""
    config = HubConfig(database_url=dsn)
    async with open_database(config, max_size=2) as pool:
        tenant = await TenantService(pool, config).create_tenant(TENANT, "Bench ISP", "KE")
        _, api_key = await AuthService(pool, config).issue_api_key(TENANT, "bench")
        plan = await PlanService(pool).create(
            tenant, name="1 Hour Plan", speed="5M/2M", price=50, duration_value=1,
            duration_unit="HOURS", connection_type="hotspot", actor="bench",
        )  # fmt: skip
        token = (await AgentService(pool, config).create_agent(TENANT, SITE)).token
    return api_key, token, plan.id


def mpesa_toml(daraja: DarajaSim, public_url: str) -> str:
    sim = daraja.config
    return (
        f'public_url = "{public_url}"\n'
        "payment_settle_interval = 3600.0\n"
        "[mpesa]\n"
        f'base_url = "{daraja.url}"\n'
        f'consumer_key = "{sim.consumer_key}"\n'
        f'consumer_secret = "{sim.consumer_secret}"\n'
        f'shortcode = "{sim.shortcode}"\n'
        f'passkey = "{sim.passkey}"\n'
    )


async def can_log_in(sim: SimRouter, username: str, mac: str) -> bool:
    """A login on the router's own page succeeds (then the client logs out again)."""
    try:
        session = sim.hotspot_login(username, mac_address=mac)
    except LoginRefused:
        return False
    sim.logout(session)
    return True


async def one_payment(
    http: aiohttp.ClientSession,
    hub_url: str,
    daraja: DarajaSim,
    sim: SimRouter,
    body: dict[str, object],
    username: str,
    mac: str,
) -> float:
    async with http.post(f"{hub_url}/api/payments/mpesa/stk-push", json=body) as response:
        started = await response.json()
        if response.status != 202:
            raise SystemExit(f"stk-push answered {response.status}: {started}")
    checkout = started["checkout_request_id"]
    began = time.perf_counter()
    async with http.post(f"{daraja.url}/sim/settle/{checkout}") as response:
        if response.status != 200:
            raise SystemExit(f"/sim/settle answered {response.status}")
    deadline = began + 60
    while not await can_log_in(sim, username, mac):
        if time.perf_counter() > deadline:
            raise SystemExit(f"{username} could not log in 60 s after the callback")
        await asyncio.sleep(POLL)
    return time.perf_counter() - began


async def run(payments: int) -> None:
    began = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="bench-payment-") as tmp:
        work = Path(tmp)
        async with (
            bench_database() as dsn,
            SimRouter(name=ROUTER, seed=1) as sim,
            DarajaSim(DarajaConfig(outcome=Outcome("paid", None))) as daraja,
        ):
            api_key, token, plan_id = await set_up(dsn)
            hub, agent = Child("hub", work), Child("agent", work)
            try:
                port = free_port()
                hub_url = f"http://127.0.0.1:{port}"
                env = hub_env(dsn, work, port)
                with (work / "hub.toml").open("a") as toml:
                    toml.write(mpesa_toml(daraja, hub_url))
                await hub.start("-m", "hub.cli", "serve", env=env)
                headers = {"Authorization": f"Bearer {api_key}"}
                async with (
                    aiohttp.ClientSession(headers=headers) as http,
                    asyncpg.create_pool(dsn, min_size=1, max_size=2) as db,
                ):
                    await start_linked_agent(http, hub_url, token, sim, work, hub, agent)

                    async def router_online() -> int | None:
                        return await db.fetchval(
                            "SELECT r.id FROM routers r JOIN router_health h ON h.router_id = r.id"
                            " WHERE r.name = $1 AND h.status = 'online'",
                            ROUTER,
                        )

                    router_id = await wait_until(router_online, "the router online", [hub, agent])
                    timings = []
                    for n in range(payments):
                        username = f"+2547120{n:05d}"
                        mac = f"02:00:00:00:{n >> 8 & 255:02X}:{n & 255:02X}"
                        body = {"plan_id": plan_id, "phone": username, "router_id": router_id}
                        timings.append(
                            await one_payment(http, hub_url, daraja, sim, body, username, mac)
                        )
                        hub.check()
                        agent.check()
            finally:
                await agent.stop()
                await hub.stop()
    median, p99 = ms(timings)
    print(f"payments: {payments}, one at a time; agent with production intervals")
    print("callback received -> client can log in on routersim")
    print(f"  median {median:8.1f} ms   p99 {p99:8.1f} ms   max {max(timings) * 1000:8.1f} ms")
    print(f"\ntotal run time {time.monotonic() - began:.0f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--payments", type=int, default=50)
    args = parser.parse_args()
    if args.payments < 2:
        parser.error("--payments must be at least 2 (a p99 needs two figures)")
    asyncio.run(run(args.payments))


if __name__ == "__main__":
    main()
