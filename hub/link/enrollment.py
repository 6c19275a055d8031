"""Agent enrollment and credentials.

An admin creates an agent for a (tenant, site) and gets a one-time enrollment token. The box
trades the token, once, for a long-lived credential ``ifa_<agent_id>_<secret>``. Token and
secret are stored only as sha256; the token is consumed in the same transaction that sets the
credential, so a second use fails. The box's stable device key lets a re-flashed box come back
as the same site; a different key is accepted only with a fresh token and is audit-logged.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import ipaddress
import logging
import secrets
from dataclasses import dataclass
from typing import Any

import asyncpg

from hub.config import HubConfig, WireGuardConfig
from hub.errors import Conflict, InvalidInput, NotFound, Unauthorized
from hub.storage import link as storage
from hub.storage.audit import AuditRepository

log = logging.getLogger(__name__)

TOKEN_REJECTED = "enrollment token is invalid, expired or already used"
CREDENTIAL_REJECTED = "agent credential is missing or invalid"
CREDENTIAL_PREFIX = "ifa"
PERSISTENT_KEEPALIVE = 25


def sha256(text: str) -> bytes:
    return hashlib.sha256(text.encode()).digest()


async def create_agent(
    pool: asyncpg.Pool, *, tenant_id: int, site: str, ttl_hours: float, actor: str = "cli"
) -> tuple[int, str]:
    """A new agent for (tenant, site), or a fresh token for the existing one.

    Returns (agent id, enrollment token); the token is shown once and stored only hashed.
    """
    site = site.strip() if isinstance(site, str) else ""
    if not site or len(site) > 100:
        raise InvalidInput("site must be 1-100 characters")
    if not ttl_hours > 0:
        raise InvalidInput("ttl_hours must be greater than 0")
    token = secrets.token_urlsafe(32)
    async with pool.acquire() as conn, conn.transaction():
        try:
            agent_id = await storage.issue_enrollment_token(
                conn, tenant_id=tenant_id, site=site, token_hash=sha256(token), ttl_hours=ttl_hours
            )
        except asyncpg.ForeignKeyViolationError as exc:
            raise NotFound("tenant not found") from exc
        await AuditRepository(conn).record(
            actor=actor,
            tenant_id=tenant_id,
            action="agent.enrollment_token",
            target=f"agent:{agent_id}",
            params={"site": site, "ttl_hours": ttl_hours},
            result="ok",
        )
    log.info("enrollment token issued agent=%s tenant=%s site=%s", agent_id, tenant_id, site)
    return agent_id, token


@dataclass(frozen=True, slots=True)
class EnrollRequest:
    token: str
    device_key: str
    hostname: str
    agent_version: str
    wg_public_key: str | None = None


def parse_enroll_request(body: Any) -> EnrollRequest:
    """The enroll body, checked; InvalidInput names the first problem."""
    if not isinstance(body, dict):
        raise InvalidInput("request body must be a JSON object")
    values: dict[str, str] = {}
    for key, limit in (
        ("token", 200),
        ("device_key", 200),
        ("hostname", 255),
        ("agent_version", 64),
    ):
        value = body.get(key)
        if not isinstance(value, str) or not value.strip():
            raise InvalidInput(f"{key} is required")
        if len(value) > limit or not value.isprintable():
            raise InvalidInput(f"{key} is not valid")
        values[key] = value.strip()
    if len(values["device_key"]) < 16:
        raise InvalidInput("device_key must be at least 16 characters")
    wg_key = body.get("wg_public_key")
    if wg_key is not None and not _is_wireguard_key(wg_key):
        raise InvalidInput("wg_public_key must be a base64 Curve25519 public key")
    return EnrollRequest(wg_public_key=wg_key, **values)


async def enroll(
    pool: asyncpg.Pool, config: HubConfig, request: EnrollRequest, *, hub_url: str
) -> dict[str, Any]:
    """Trade a live token for a credential; the reply the agent gets.

    Raises Unauthorized (token unknown, expired or used), Conflict (no WireGuard address left).
    """
    secret = secrets.token_urlsafe(32)
    async with pool.acquire() as conn, conn.transaction():
        agent = await storage.claim_enrollment(conn, sha256(request.token))
        if agent is None:
            log.warning("enrollment refused hostname=%s", request.hostname)
            raise Unauthorized(TOKEN_REJECTED)
        agent_id = agent["id"]
        new_device = agent["device_key"] is not None and not hmac.compare_digest(
            agent["device_key"], request.device_key
        )
        wg_address = agent["wg_address"]
        if config.wireguard.endpoint and wg_address is None:
            await storage.lock_wireguard_pool(conn)
            used = await storage.wireguard_addresses(conn)
            wg_address = next_wireguard_address(config.wireguard, used)
        await storage.complete_enrollment(
            conn,
            agent_id=agent_id,
            credential_hash=sha256(secret),
            device_key=request.device_key,
            hostname=request.hostname,
            agent_version=request.agent_version,
            wg_address=wg_address,
            wg_public_key=request.wg_public_key,
            new_device=new_device,
        )
        details = {"previous_device_key": agent["device_key"]} if new_device else None
        await AuditRepository(conn).record(
            actor=f"agent:{agent_id}",
            tenant_id=agent["tenant_id"],
            action="agent.device_changed" if new_device else "agent.enrolled",
            target=agent["site"],
            params={"hostname": request.hostname, "agent_version": request.agent_version},
            result="ok",
            details=details,
        )
    log.info(
        "agent enrolled agent=%s site=%s hostname=%s new_device=%s",
        agent_id,
        agent["site"],
        request.hostname,
        new_device,
    )
    return {
        "agent_id": agent_id,
        "site": agent["site"],
        "tenant": agent["tenant_slug"],
        "credential": f"{CREDENTIAL_PREFIX}_{agent_id}_{secret}",
        "hub_url": hub_url,
        "wireguard": _wireguard_reply(config.wireguard, wg_address),
    }


async def authenticate(pool: asyncpg.Pool, authorization: str | None) -> asyncpg.Record:
    """The agent a ``Bearer ifa_<id>_<secret>`` header belongs to; Unauthorized otherwise."""
    scheme, _, credential = (authorization or "").partition(" ")
    prefix, _, rest = credential.strip().partition("_")
    agent_text, _, secret = rest.partition("_")
    if scheme.lower() != "bearer" or prefix != CREDENTIAL_PREFIX or not secret:
        raise Unauthorized(CREDENTIAL_REJECTED)
    if not (agent_text.isascii() and agent_text.isdigit()) or len(agent_text) > 18:
        raise Unauthorized(CREDENTIAL_REJECTED)
    agent = await storage.agent_credential(pool, int(agent_text))
    stored = agent["credential_hash"] if agent is not None else None
    if stored is None or not hmac.compare_digest(bytes(stored), sha256(secret)):
        raise Unauthorized(CREDENTIAL_REJECTED)
    return agent


def next_wireguard_address(wireguard: WireGuardConfig, used: set[str]) -> str:
    """The first free host address of the WireGuard network, as ``a.b.c.d/32``."""
    network = ipaddress.ip_network(wireguard.network, strict=False)
    taken = {ipaddress.ip_interface(address).ip for address in used}
    taken.add(ipaddress.ip_address(wireguard.hub_address))
    for host in network.hosts():
        if host not in taken:
            return f"{host}/{host.max_prefixlen}"
    raise Conflict(f"no free WireGuard address left in {wireguard.network}")


def _wireguard_reply(wireguard: WireGuardConfig, address: str | None) -> dict[str, Any] | None:
    if not wireguard.endpoint or address is None:
        return None
    hub = ipaddress.ip_address(wireguard.hub_address)
    return {
        "address": address,
        "hub_public_key": wireguard.public_key,
        "endpoint": wireguard.endpoint,
        "allowed_ips": f"{hub}/{hub.max_prefixlen}",
        "persistent_keepalive": PERSISTENT_KEEPALIVE,
    }


def _is_wireguard_key(value: Any) -> bool:
    if not isinstance(value, str) or len(value) != 44:
        return False
    try:
        return len(base64.b64decode(value, validate=True)) == 32
    except (binascii.Error, ValueError):
        return False
