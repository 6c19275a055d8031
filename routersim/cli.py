"""ispfleet-routersim: run a fleet of simulated routers until Ctrl-C or SIGTERM.

Prints one line per router, ``<name> <host>:<port> user=<u> password=<pw or ''>``, so demos
and scripts can connect to them.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import re
import signal
import sys

from routersim.errors import ControlError
from routersim.fleet import SimFleet


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ispfleet-routersim",
        description="Simulated MikroTik routers speaking the RouterOS API.",
    )
    parser.add_argument("--routers", type=int, default=1, help="number of routers (default 1)")
    parser.add_argument(
        "--clients", type=int, default=20, help="simulated clients per router (default 20)"
    )
    parser.add_argument(
        "--port",
        type=int,
        default=8728,
        help="port of the first router, the next ones count up; 0 picks free ports",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--seed", type=int, default=1, help="seed of the simulated world")
    parser.add_argument("--username", default="admin", help="API user (default admin)")
    parser.add_argument("--password", default="", help="API password (default empty)")
    parser.add_argument(
        "--no-empty-replies",
        action="store_true",
        help="answer an empty print with a bare !done, as RouterOS before 7.18",
    )
    parser.add_argument(
        "--tick", type=float, default=1.0, help="seconds per world step; 0 freezes the world"
    )
    parser.add_argument(
        "--phone-prefix",
        default="+2557",
        help="start of the simulated users' phone numbers (default +2557, Tanzania; +2547 Kenya)",
    )
    return parser


def _check(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if args.routers < 1:
        parser.error("--routers must be at least 1")
    if args.clients < 0:
        parser.error("--clients must not be negative")
    if not 0 <= args.port <= 65535 or (args.port and args.port + args.routers - 1 > 65535):
        parser.error(f"--port {args.port} with {args.routers} routers runs past port 65535")
    if args.tick < 0:
        parser.error("--tick must not be negative")
    if not re.fullmatch(r"\+[1-9][0-9]{1,5}", args.phone_prefix):
        parser.error("--phone-prefix must be + and 2-6 digits, like +2547")


async def _run(args: argparse.Namespace) -> int:
    fleet = SimFleet(
        routers=args.routers,
        clients=args.clients,
        seed=args.seed,
        host=args.host,
        base_port=args.port,
        username=args.username,
        password=args.password,
        empty_replies=not args.no_empty_replies,
        phone_prefix=args.phone_prefix,
    )
    try:
        await fleet.start()
    except OSError as exc:
        print(f"ispfleet-routersim: cannot listen on {args.host}: {exc}", file=sys.stderr)
        return 1
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stopping.set)
    try:
        for router in fleet.routers:
            password = router.password or "''"
            print(
                f"{router.name} {router.host}:{router.port} user={router.username} "
                f"password={password}",
                flush=True,
            )
        if args.tick > 0:
            fleet.run_world(args.tick)
        await stopping.wait()
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
        await fleet.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _check(parser, args)
    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    try:
        return asyncio.run(_run(args))
    except ControlError as exc:
        print(f"ispfleet-routersim: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
