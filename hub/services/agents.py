"""Site agents: creation, enrollment, credentials and their revocation.

An admin creates an agent for a (tenant, site) and gets a one-time enrollment token
``ife_<secret>``. The box trades the token, once, for a long-lived credential
``ifa_<agent_id>_<secret>``. Token and secret are stored only as sha256; the token is consumed
in the same transaction that sets the credential, so a second use fails. The box's stable
device key lets a re-flashed box come back as the same site; a different key is accepted only
with a fresh token and is audit-logged. Replacing or revoking a credential tells every hub
process (Postgres NOTIFY, see hub.storage.agents) to close the link that used the old one.
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
from hub.domain import Agent, AgentTunnel, Enrollment, EnrollmentTicket, WireGuardPeer
from hub.errors import Conflict, InvalidInput, NotFound, Unauthorized
from hub.services.inputs import site_name
from hub.storage.agents import AgentRepository
from hub.storage.audit import AuditRepository
from hub.storage.tenants import TenantRepository

log = logging.getLogger(__name__)

TOKEN_REJECTED = "enrollment token is invalid, expired or already used"
CREDENTIAL_REJECTED = "agent credential is missing or invalid"
# A fixed prefix, like API keys (ifk_) and credentials (ifa_): the token never starts with '-',
# so ``--token <token>`` cannot be read as an option, and a pasted token is recognisable.
TOKEN_PREFIX = "ife_"
CREDENTIAL_PREFIX = "ifa"
PERSISTENT_KEEPALIVE = 25


def sha256(text: str) -> bytes:
    return hashlib.sha256(text.encode()).digest()


def new_enrollment_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


@dataclass(frozen=True, slots=True)
class EnrollRequest:
    """What a box sends to enroll, already checked (hub.link.enrollment parses it)."""

    token: str
    device_key: str
    hostname: str
    agent_version: str
    wg_public_key: str | None = None


class AgentService:
    def __init__(self, pool: asyncpg.Pool, config: HubConfig) -> None:
        self._pool = pool
        self._config = config

    async def create_agent(
        self, tenant_slug: str, site: str, actor: str = "cli"
    ) -> EnrollmentTicket:
        """An agent for the tenant's site (or a fresh token for the existing one)."""
        site = site_name(site)
        tenant = await TenantRepository(self._pool).get_by_slug(tenant_slug)
        if tenant is None:
            raise NotFound(f"no tenant with slug {tenant_slug!r}")
        return await self.issue_token(tenant_id=tenant.id, site=site, actor=actor)

    async def issue_token(
        self, *, tenant_id: int, site: str, ttl_hours: float | None = None, actor: str = "cli"
    ) -> EnrollmentTicket:
        """A one-time enrollment token for (tenant, site), creating the agent when new.

        The token is returned once and stored only hashed; an earlier unused token of the same
        agent stops working.
        """
        site = site_name(site)
        ttl_hours = self._config.enrollment_ttl_hours if ttl_hours is None else ttl_hours
        if not ttl_hours > 0:
            raise InvalidInput("ttl_hours must be greater than 0")
        token = new_enrollment_token()
        async with self._pool.acquire() as conn, conn.transaction():
            try:
                agent_id, expires_at = await AgentRepository(conn).issue_enrollment_token(
                    tenant_id=tenant_id, site=site, token_hash=sha256(token), ttl_hours=ttl_hours
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
        return EnrollmentTicket(agent_id=agent_id, token=token, expires_at=expires_at)

    async def enroll(self, request: EnrollRequest) -> Enrollment:
        """Trade a live token for a credential.

        Raises Unauthorized (token unknown, expired or used), Conflict (no WireGuard address
        left). A credential the agent held before stops working, and its open link closes.
        """
        secret = secrets.token_urlsafe(32)
        wireguard = self._config.wireguard
        async with self._pool.acquire() as conn, conn.transaction():
            agents = AgentRepository(conn)
            claim = await agents.claim_enrollment(sha256(request.token))
            if claim is None:
                log.warning("enrollment refused hostname=%s", request.hostname)
                raise Unauthorized(TOKEN_REJECTED)
            new_device = claim.device_key is not None and not hmac.compare_digest(
                claim.device_key, request.device_key
            )
            wg_address = claim.wg_address
            if wireguard.endpoint and wg_address is None:
                await agents.lock_wireguard_pool()
                wg_address = next_wireguard_address(wireguard, await agents.wireguard_addresses())
            await agents.complete_enrollment(
                agent_id=claim.agent_id,
                credential_hash=sha256(secret),
                device_key=request.device_key,
                hostname=request.hostname,
                agent_version=request.agent_version,
                wg_address=wg_address,
                wg_public_key=request.wg_public_key,
                new_device=new_device,
            )
            await AuditRepository(conn).record(
                actor=f"agent:{claim.agent_id}",
                tenant_id=claim.tenant_id,
                action="agent.device_changed" if new_device else "agent.enrolled",
                target=claim.site,
                params={"hostname": request.hostname, "agent_version": request.agent_version},
                result="ok",
                details={"previous_device_key": claim.device_key} if new_device else None,
            )
        log.info(
            "agent enrolled agent=%s site=%s hostname=%s new_device=%s",
            claim.agent_id,
            claim.site,
            request.hostname,
            new_device,
        )
        return Enrollment(
            agent_id=claim.agent_id,
            site=claim.site,
            tenant_slug=claim.tenant_slug,
            credential=f"{CREDENTIAL_PREFIX}_{claim.agent_id}_{secret}",
            wireguard=wireguard_peer(wireguard, wg_address),
            new_device=new_device,
        )

    async def authenticate(self, authorization: str | None) -> Agent:
        """The agent a ``Bearer ifa_<id>_<secret>`` header belongs to; Unauthorized otherwise."""
        scheme, _, credential = (authorization or "").partition(" ")
        prefix, _, rest = credential.strip().partition("_")
        agent_text, _, secret = rest.partition("_")
        if scheme.lower() != "bearer" or prefix != CREDENTIAL_PREFIX or not secret:
            raise Unauthorized(CREDENTIAL_REJECTED)
        if not (agent_text.isascii() and agent_text.isdigit()) or len(agent_text) > 18:
            raise Unauthorized(CREDENTIAL_REJECTED)
        agent = await AgentRepository(self._pool).credential(int(agent_text))
        stored = agent.credential_hash if agent is not None else None
        if agent is None or stored is None or not hmac.compare_digest(stored, sha256(secret)):
            raise Unauthorized(CREDENTIAL_REJECTED)
        return agent

    async def current_credential(self, agent_id: int) -> bytes | None:
        """The hash of the agent's live credential; None when revoked or unknown."""
        agent = await AgentRepository(self._pool).credential(agent_id)
        return agent.credential_hash if agent is not None else None

    async def current_credentials(self, agent_ids: list[int]) -> dict[int, bytes | None]:
        """current_credential of many agents in one query (None or absent: revoked, unknown)."""
        return await AgentRepository(self._pool).credentials(agent_ids)

    async def tunnels(self) -> list[AgentTunnel]:
        """The WireGuard peers the hub's interface should have: enrolled, unrevoked agents."""
        return await AgentRepository(self._pool).tunnels()

    async def revoke_agent(self, tenant_slug: str, site: str, actor: str = "cli") -> Agent:
        """Revoke the site agent's credential (and any unused token); its link closes now.

        The box can come back only with a new token (create-agent, then enroll).
        """
        site = site_name(site)
        tenant = await TenantRepository(self._pool).get_by_slug(tenant_slug)
        if tenant is None:
            raise NotFound(f"no tenant with slug {tenant_slug!r}")
        async with self._pool.acquire() as conn, conn.transaction():
            agents = AgentRepository(conn)
            agent = await agents.find(tenant.id, site)
            if agent is None:
                raise NotFound(f"no agent for site {site!r} of tenant {tenant_slug!r}")
            revoked = await agents.revoke(agent.id)
            await AuditRepository(conn).record(
                actor=actor,
                tenant_id=tenant.id,
                action="agent.revoked",
                target=f"agent:{agent.id}",
                params={"site": site},
                result="ok" if revoked else "noop",
            )
        log.info("agent credential revoked agent=%s site=%s revoked=%s", agent.id, site, revoked)
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


def wireguard_peer(wireguard: WireGuardConfig, address: str | None) -> WireGuardPeer | None:
    if not wireguard.endpoint or not wireguard.public_key or address is None:
        return None
    hub = ipaddress.ip_address(wireguard.hub_address)
    return WireGuardPeer(
        address=address,
        hub_public_key=wireguard.public_key,
        endpoint=wireguard.endpoint,
        allowed_ips=f"{hub}/{hub.max_prefixlen}",
        persistent_keepalive=PERSISTENT_KEEPALIVE,
    )


def peer_sections(tunnels: list[AgentTunnel]) -> str:
    """The hub's ``[Peer]`` sections in wg(8) format, one per agent, each allowed only its /32.

    Appended to the hub's stripped [Interface] this is the whole interface for ``wg syncconf``
    (deploy/wireguard/wg-hub.conf.template). Every value is parsed and rendered back, so a row
    that is not a key or an address can never add a line; such a row is skipped and logged.
    """
    sections = []
    for tunnel in tunnels:
        try:
            host = ipaddress.ip_interface(tunnel.address).ip
        except ValueError:
            host = None
        if host is None or not is_wireguard_key(tunnel.public_key):
            log.warning("agent tunnel skipped site=%s: bad key or address", tunnel.site)
            continue
        sections.append(
            f"[Peer]\n# {tunnel.tenant_slug}/{tunnel.site}\n"
            f"PublicKey = {tunnel.public_key}\nAllowedIPs = {host}/{host.max_prefixlen}\n"
        )
    return "\n".join(sections)


def is_wireguard_key(value: Any) -> bool:
    """A base64 Curve25519 key (32 bytes), as wg(8) prints it."""
    if not isinstance(value, str) or len(value) != 44:
        return False
    try:
        return len(base64.b64decode(value, validate=True)) == 32
    except (binascii.Error, ValueError):
        return False
