"""``ispfleet-hub doctor``: the hub's setup checked, one line per finding, nothing changed.

It reads (never migrates, never writes a key): the config, the database (reachable, migrated,
its clock against ours), the signing and sealing keys, the fleet as the database sees it,
mobile money, and the WireGuard interface when the hub hands tunnels to agents.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import time
from pathlib import Path

import asyncpg

from common import doctor as dr
from hub.config import HubConfig
from hub.database import database_dsn, load_migrations
from hub.secrets import KEY_FILE as SECRETS_KEY_FILE
from hub.services.tokens import KEY_FILE as JWT_KEY_FILE
from hub.storage.doctor import DoctorRepository
from hub.storage.routers import RouterRepository

WIREGUARD_INTERFACE = "wg-ispfleet"  # deploy/wireguard/wg-hub.conf.template


def _key(config: HubConfig, configured: str | None, file_name: str, what: str) -> dr.Finding:
    if configured:
        return dr.Finding(what, dr.OK, "set in the configuration")
    path = Path(config.data_dir) / file_name
    if path.exists():
        return dr.Finding(what, dr.OK, f"{path} (keep it with your backups)")
    return dr.Finding(what, dr.WARN, f"{path} is made on first start; several hosts must share one")


def _secrets_key(config: HubConfig) -> dr.Finding:
    if config.secrets_key:
        try:
            if len(base64.b64decode(config.secrets_key, validate=True)) != 32:
                raise ValueError
        except (binascii.Error, ValueError):
            return dr.Finding("secrets key", dr.FAIL, "secrets_key must be base64 of 32 bytes")
    return _key(config, config.secrets_key, SECRETS_KEY_FILE, "secrets key")


async def doctor(config: HubConfig, config_source: str | None) -> int:
    """Run every check; exit status 1 when one failed."""
    checks: list[tuple[str, dr.Check]] = []

    async def settings() -> list[dr.Finding]:
        found = [
            dr.Finding(
                "config",
                dr.OK,
                f"{config_source or 'defaults and environment'}: listen"
                f" {config.listen_host}:{config.listen_port}, data_dir {config.data_dir}",
            )
        ]
        if not config.public_url:
            found.append(
                dr.Finding("public_url", dr.WARN, "unset: enrollment prints the listen address")
            )
        elif not config.metrics_token:
            reason = "public_url is set without metrics_token: /metrics answers 403 to everyone"
            found.append(dr.Finding("metrics", dr.WARN, reason))
        return found

    async def database() -> list[dr.Finding]:
        async with database_dsn(config) as dsn:
            started = time.perf_counter()
            conn = await asyncpg.connect(dsn, timeout=10)
            try:
                took = (time.perf_counter() - started) * 1000
                facts = await DoctorRepository(conn).facts()
                routers = (
                    await RouterRepository(conn, offline_after=config.agent_offline_after).find()
                    if facts.migrations
                    else []
                )
            finally:
                await conn.close()
        where = "embedded" if not config.database_url else "DATABASE_URL"
        found = [
            dr.Finding("database", dr.OK, f"{where}: {facts.version}, connected in {took:.0f} ms")
        ]
        missing = [m.version for m in load_migrations() if m.version not in facts.migrations]
        if missing:
            detail = f"{len(missing)} not applied (first {missing[0]}): run `ispfleet-hub migrate`"
            found.append(dr.Finding("migrations", dr.FAIL, detail))
        else:
            found.append(dr.Finding("migrations", dr.OK, f"all {len(facts.migrations)} applied"))
        found.append(dr.clock_skew("the database", facts.now))
        offline = [r for r in routers if not r.agent_online]
        status = dr.WARN if offline else dr.OK
        detail = (
            f"{facts.tenants} tenant(s), {facts.agents} agent(s), {len(routers)} router(s):"
            f" {len(routers) - len(offline)} reporting, {len(offline)} not"
            + (f" ({', '.join(r.site for r in offline[:5])})" if offline else "")
            + f"; {facts.instances} hub process(es) live"
        )
        found.append(dr.Finding("fleet", status, detail))
        return found

    async def keys() -> list[dr.Finding]:
        return [_key(config, config.jwt_secret, JWT_KEY_FILE, "jwt key"), _secrets_key(config)]

    async def mobile_money() -> dr.Finding:
        if not config.mpesa.configured:
            return dr.Finding("mpesa", dr.WARN, "not configured: STK push answers 503")
        return dr.Finding(
            "mpesa", dr.OK, f"Daraja at {config.mpesa.base_url}, shortcode {config.mpesa.shortcode}"
        )

    async def tunnel() -> dr.Finding:
        if not config.wireguard.endpoint:
            return dr.Finding("wireguard", dr.OK, "not used ([wireguard] endpoint unset)")
        return await asyncio.to_thread(dr.wireguard, WIREGUARD_INTERFACE)

    checks += [
        ("config", settings),
        ("database", database),
        ("keys", keys),
        ("mpesa", mobile_money),
        ("wireguard", tunnel),
    ]
    return await dr.run_checks(checks, timeout=60.0)  # an embedded Postgres may start first
