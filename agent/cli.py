"""``ispfleet-agent``: run the agent, check its routers, or enroll it with a hub.

    ispfleet-agent run    [--config PATH]
    ispfleet-agent check  [--config PATH]     exit 1 and say what is wrong with a router
    ispfleet-agent doctor [--config PATH]     config, state, hub, clock, WireGuard, routers
    ispfleet-agent enroll --hub URL --token T [--config PATH] [--allow-insecure-http]

The config defaults to $ISPFLEET_AGENT_CONFIG, else /etc/ispfleet/agent.toml. A bad
config is reported in one line naming the file and key, exit status 2.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import aiohttp
from aiohttp import web

from common import wire
from common.config import ConfigError
from common.units import format_bytes

from . import const
from .app import FAILURE, STOP, create_app
from .config import AgentConfig, RouterSettings, default_config_path, load_agent_config
from .errors import (
    AgentError,
    BadCredentials,
    RouterCommandError,
    RouterError,
    RouterTimeout,
    ServiceUnreachable,
)
from .routeros import RouterLink

log = logging.getLogger("agent")

EXIT_OK, EXIT_PROBLEM, EXIT_CONFIG = 0, 1, 2
LOG_FORMAT = "%(asctime)s level=%(levelname)s logger=%(name)s %(message)s"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ispfleet-agent", description="ispfleet edge agent")
    commands = parser.add_subparsers(dest="command", required=True)
    for name, text in (
        ("run", "run the agent"),
        ("check", "connect to each router and report its health and any problem"),
        ("doctor", "check config, state, hub, clock, WireGuard and routers: one line each"),
    ):
        sub = commands.add_parser(name, help=text)
        sub.add_argument("--config", default=None, help="config file (TOML)")
    enroll = commands.add_parser("enroll", help="trade an enrollment token for a credential")
    enroll.add_argument("--hub", required=True, help="hub URL, e.g. https://hub.example.net")
    enroll.add_argument("--token", required=True, help="one-time enrollment token")
    enroll.add_argument("--config", default=None, help="config file to update (TOML)")
    enroll.add_argument(
        "--allow-insecure-http",
        action="store_true",
        help="allow a plain http:// hub URL that is not on this machine (token and credential"
        " then cross the network unencrypted)",
    )
    args = parser.parse_args(argv)
    config_path = args.config or default_config_path()

    if args.command == "enroll":
        return _enroll(args.hub, args.token, config_path, args.allow_insecure_http)
    try:
        config = load_agent_config(config_path)
    except ConfigError as exc:
        print(f"ispfleet-agent: bad config: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    if args.command == "check":
        setup_logging("ERROR")  # the findings are the output
        return asyncio.run(check(config))
    if args.command == "doctor":
        setup_logging("ERROR")
        return asyncio.run(doctor(config, config_path))
    setup_logging(config.agent.log_level)
    return asyncio.run(run(config))


def setup_logging(level: str) -> None:
    logging.basicConfig(level=level.upper(), format=LOG_FORMAT, stream=sys.stderr, force=True)


async def run(config: AgentConfig) -> int:
    """Serve until SIGTERM/SIGINT, or until a long-running task fails (exit 1)."""
    app = create_app(config)
    stop = app[STOP]
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    try:
        host, port = config.agent.metrics_address
        site = web.TCPSite(runner, host, port)
        await site.start()
        log.info("metrics listening address=%s:%d", host, port)
        await stop.wait()
    finally:
        await runner.cleanup()
    return EXIT_PROBLEM if app[FAILURE] else EXIT_OK


def problem_text(exc: RouterError) -> str:
    """What an operator should read for each way a router can fail."""
    if isinstance(exc, ServiceUnreachable):
        return "API service disabled or wrong port (connection refused)"
    if isinstance(exc, BadCredentials):
        return "bad credentials (the router refused the login)"
    if isinstance(exc, RouterTimeout):
        return f"timeout (no answer): {exc}"
    return str(exc)


async def check_router(settings: RouterSettings) -> tuple[bool, str]:
    """(ok, one line of findings) for one router, connecting once."""
    link = RouterLink(settings)
    try:
        await link.connect()
    except RouterError as exc:
        return False, problem_text(exc)
    try:
        res = (await link.call(f"{const.SYSTEM_RESOURCE}/print") or [{}])[0]
        identity = (await link.call(f"{const.SYSTEM_IDENTITY}/print") or [{}])[0]
        parts = [
            f"identity={identity.get('name', '?')}",
            f"version={res.get('version', '?')}",
            f"board={res.get('board-name', '?')}",
            f"cpu={res.get('cpu-load', '?')}%",
        ]
        if res.get("free-memory", "").isdigit() and res.get("total-memory", "").isdigit():
            free, total = int(res["free-memory"]), int(res["total-memory"])
            parts.append(f"memory={format_bytes(free)} free of {format_bytes(total)}")
        parts.append(f"uptime={res.get('uptime', '?')}")
        warnings = []
        for menu in (const.HOTSPOT_ACTIVE, const.PPP_ACTIVE):
            try:
                count = await link.call(f"{menu}/print", **{"count-only": ""})
                parts.append(f"{menu}={count[0].get('ret', '?') if count else 0}")
            except RouterCommandError as exc:  # a missing package is a warning, not a failure
                warnings.append(f"{menu} unavailable: {exc.message}")
        line = " ".join(parts)
        if warnings:
            line += " WARNING " + "; ".join(warnings)
        return True, line
    except RouterError as exc:
        return False, f"connected, but reading the router failed: {problem_text(exc)}"
    finally:
        await link.close()


async def check(config: AgentConfig) -> int:
    """Print one line per router; exit 1 if any router has a problem."""
    results = await asyncio.gather(*(check_router(r) for r in config.routers))
    failed = 0
    for router, (ok, line) in zip(config.routers, results, strict=True):
        status = "OK" if ok else "PROBLEM"
        failed += not ok
        print(f"{router.name} ({router.address}): {status} {line}")
    if failed:
        print(f"{failed} of {len(config.routers)} router(s) have problems", file=sys.stderr)
    return EXIT_PROBLEM if failed else EXIT_OK


async def doctor(config: AgentConfig, config_path: str) -> int:
    """Every check of this box's setup, one line each; exit 1 when one failed."""
    from common import doctor as dr

    from .enroll import WIREGUARD_CONFIG
    from .outbox import Outbox
    from .store import Store

    settings, hub = config.agent, config.hub

    async def config_check() -> dr.Finding:
        detail = f"{config_path}: site={settings.site} routers={len(config.routers)}"
        return dr.Finding("config", dr.OK, detail)

    async def state() -> dr.Finding:
        store = await Store.open(settings.db_path)
        try:
            outbox = await Outbox.open(store, settings.outbox_max_rows)
            rows, age = await outbox.depth()
        finally:
            await store.close()
        detail = f"{settings.db_path}: outbox {rows} event(s) waiting"
        if age is not None:
            detail += f", oldest {age:.0f} s"
        if rows >= settings.outbox_max_rows:
            return dr.Finding("state", dr.FAIL, detail + ": over outbox_max_rows (hub link down?)")
        return dr.Finding("state", dr.WARN if age and age > 300 else dr.OK, detail)

    async def hub_checks() -> list[dr.Finding]:
        if not (hub.url and hub.credential):
            return [dr.Finding("hub", dr.WARN, "no hub configured (run `ispfleet-agent enroll`)")]
        url = hub.url.rstrip("/")
        timeout = aiohttp.ClientTimeout(total=10)
        async with aiohttp.ClientSession(timeout=timeout) as http:
            started = time.perf_counter()
            try:
                async with http.get(f"{url}/healthz") as answer:
                    date = dr.http_date(answer.headers.get("Date"))
                    status = answer.status
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                return [
                    dr.Finding("hub", dr.FAIL, f"{url} unreachable: {exc or type(exc).__name__}")
                ]
            took = (time.perf_counter() - started) * 1000
            findings = [
                dr.Finding(
                    "hub",
                    dr.OK if status == 200 else dr.FAIL,
                    f"{url} answered {status} in {took:.0f} ms",
                )
            ]
            if date is not None:
                findings.append(dr.clock_skew("the hub", date))
            # Without an upgrade, the link answers 400 to a good credential and 401 to a bad one.
            headers = {"Authorization": f"Bearer {hub.credential}"}
            async with http.get(f"{url}{wire.LINK_PATH}", headers=headers) as answer:
                if answer.status == 400:
                    findings.append(dr.Finding("credential", dr.OK, "accepted by the hub"))
                elif answer.status == 401:
                    reason = "refused by the hub (revoked?): enroll again with a new token"
                    findings.append(dr.Finding("credential", dr.FAIL, reason))
                else:
                    findings.append(
                        dr.Finding("credential", dr.WARN, f"hub answered {answer.status}")
                    )
        return findings

    async def tunnel() -> dr.Finding:
        if not (Path(config_path).parent / WIREGUARD_CONFIG).exists():
            return dr.Finding("wireguard", dr.OK, "not used by this box (no wg-ispfleet.conf)")
        return await asyncio.to_thread(dr.wireguard, Path(WIREGUARD_CONFIG).stem)

    async def routers() -> list[dr.Finding]:
        results = await asyncio.gather(*(check_router(r) for r in config.routers))
        return [
            dr.Finding(f"router {r.name} ({r.address})", dr.OK if ok else dr.FAIL, line)
            for r, (ok, line) in zip(config.routers, results, strict=True)
        ]

    return await dr.run_checks(
        [
            ("config", config_check),
            ("state", state),
            ("hub", hub_checks),
            ("wireguard", tunnel),
            ("routers", routers),
        ],
        timeout=max(30.0, 3 * max((r.connect_timeout for r in config.routers), default=10.0)),
    )


def _enroll(hub_url: str, token: str, config_path: str, allow_insecure_http: bool) -> int:
    """Trade the token for a credential (agent.enroll) and say what was written."""
    from .enroll import enroll

    try:
        done = asyncio.run(
            enroll(hub_url, token, config_path, allow_insecure_http=allow_insecure_http)
        )
    except (AgentError, ConfigError, OSError) as exc:
        print(f"ispfleet-agent: enroll failed: {exc}", file=sys.stderr)
        return EXIT_PROBLEM
    print(" ".join(f"{key}={value}" for key, value in done.items() if value is not None))
    return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
