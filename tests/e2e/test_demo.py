"""The README's first command: the demo comes up, its printed curl commands work, Ctrl-C stops all.

Runs ``python -m hub.demo`` (what ``make demo`` runs) as a real process on free ports with its
state in tmp_path: routersim, embedded Postgres, hub and enrolled agents, each its own process.
"""

from __future__ import annotations

import asyncio
import os
import random
import re
import signal
import socket
import sys
from pathlib import Path

import aiohttp

from tests.helpers import wait_for

REPO = Path(__file__).resolve().parents[2]


def free_ports(count: int) -> list[int]:
    """``count`` consecutive free ports below the ephemeral range, so no outgoing socket takes one
    between this check and the demo binding it (the demo numbers routers and agents from a base)."""
    low, _ = map(int, Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    for _ in range(50):
        base = random.randrange(20000, low - count)
        try:
            for port in range(base, base + count):
                with socket.socket() as probe:
                    probe.bind(("127.0.0.1", port))
        except OSError:
            continue
        return list(range(base, base + count))
    raise RuntimeError("no run of free ports")


async def test_demo_runs_serves_the_printed_commands_and_stops_cleanly(tmp_path: Path) -> None:
    hub_port, sim_port, _, _, metrics_port, _, daraja_port = free_ports(7)
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    demo = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "hub.demo", "--routers", "2", "--clients", "8",
        "--port", str(hub_port), "--routersim-port", str(sim_port),
        "--metrics-port", str(metrics_port), "--daraja-port", str(daraja_port),
        "--data-dir", str(tmp_path / "demo"),
        cwd=REPO, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    assert demo.stdout is not None
    output = ""
    try:
        async with asyncio.timeout(90):
            while "Ctrl-C stops everything." not in output:
                line = await demo.stdout.readline()
                assert line, f"demo exited early:\n{output}"
                output += line.decode()

        key = re.search(r"Tenant API key\s+(\S+)", output)
        assert key, output
        # Router ids follow whichever agent said hello first: any id, both sites online.
        for site in ("site-1", "site-2"):
            assert re.search(rf"id \d+ {site} \(online\)", output), output
        headers = {"Authorization": f"Bearer {key.group(1)}"}
        base = f"http://127.0.0.1:{hub_port}"
        async with aiohttp.ClientSession(headers=headers) as http:
            async with http.get(f"{base}/api/portal/router/1/active-users/") as resp:
                assert resp.status == 200
                body = await resp.json()
            assert body["router"]["status"] == "online"
            assert body["total_count"] == len(body["active_users"])
            async with http.get(f"{base}/api/portal/router/health/") as resp:
                assert resp.status == 200
                assert {r["status"] for r in (await resp.json())["routers"]} == {"online"}
            # The router's hotspot users, as its agent mirrors them (seed 003).
            users = re.search(r"(\S+/api/routers/\d+/users)", output)
            assert users, output

            async def router_users() -> dict | None:
                async with http.get(users.group(1)) as resp:
                    assert resp.status == 200, await resp.text()
                    body = await resp.json()
                return body if body["total_users"] else None

            body = await wait_for(router_users, timeout=30)
            assert body["active_sessions"] == sum(u["active"] for u in body["users"])
            async with http.get(f"http://127.0.0.1:{metrics_port}/metrics") as resp:
                assert 'ispfleet_router_up{address="127.0.0.1:' in await resp.text()
            # The printed disconnect command names a known, connected customer.
            command = re.search(r"-d '(\{.*\})' (\S+disconnect-user/)", output)
            assert command, output
            async with http.post(command.group(2), data=command.group(1)) as resp:
                assert resp.status == 200, await resp.text()
                assert (await resp.json())["details"]["session_removed"] is True
            # The printed STK push pays for the walk-in (the Daraja simulator answers paid),
            # whom billing kept off the first router: online seconds later.
            pay = re.search(r"-d '(\{.*\})' (\S+/api/payments/mpesa/stk-push)", output)
            watch = re.search(r"(\S+/active-users/) \| grep -c '?([+0-9]+)", output)
            assert pay and watch, output
            async with http.post(pay.group(2), data=pay.group(1)) as resp:
                assert resp.status == 202, await resp.text()

            async def walk_in_online() -> bool:
                async with http.get(watch.group(1)) as resp:
                    users = (await resp.json())["active_users"]
                return any(user["username"] == watch.group(2) for user in users)

            await wait_for(walk_in_online, timeout=30)
            # ... and the sale is in the printed billing reads (seed 003).
            transactions = re.search(r"(\S+/api/mpesa/transactions)\b", output)
            overview = re.search(r"(\S+/api/dashboard/overview)\b", output)
            assert transactions and overview, output
            async with http.get(transactions.group(1)) as resp:
                sales = await resp.json()
            assert [t["status"] for t in sales] == ["completed"]
            assert sales[0]["phone_number"] == watch.group(2).lstrip("+")
            async with http.get(overview.group(1)) as resp:
                assert (await resp.json())["revenue"]["all_time"] == sales[0]["amount"]
    finally:
        if demo.returncode is None:
            demo.send_signal(signal.SIGINT)
        rest = await asyncio.wait_for(demo.stdout.read(), 60)
        await demo.wait()
    assert demo.returncode == 0, rest.decode()
    assert "stopped." in rest.decode()
