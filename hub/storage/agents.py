"""Agents: enrollment tokens, credentials, WireGuard addresses, revocation.

Plain SQL on the ``agents`` table. Token and credential secrets arrive here already hashed.
Revoking or replacing a credential notifies ``CREDENTIAL_CHANNEL`` in the same transaction, so
every hub process hears of it once the change commits (and never of one that rolled back).
"""

from __future__ import annotations

from datetime import datetime

import asyncpg

from hub.domain import Agent, AgentTunnel, EnrollmentClaim
from hub.storage import Executor

CREDENTIAL_CHANNEL = "ispfleet_agent_credential"  # payload: the agent id


def _agent(row: asyncpg.Record) -> Agent:
    stored = row["credential_hash"]
    return Agent(
        id=row["id"],
        tenant_id=row["tenant_id"],
        site=row["site"],
        credential_hash=bytes(stored) if stored is not None else None,
    )


class AgentRepository:
    def __init__(self, db: Executor) -> None:
        self._db = db

    async def issue_enrollment_token(
        self, *, tenant_id: int, site: str, token_hash: bytes, ttl_hours: float
    ) -> tuple[int, datetime]:
        """A new agent for (tenant, site), or a fresh token for the existing one.

        (agent id, token expiry). Raises asyncpg.ForeignKeyViolationError for an unknown tenant.
        """
        row = await self._db.fetchrow(
            """
            INSERT INTO agents (tenant_id, site, enrollment_token_hash, enrollment_expires_at)
            VALUES ($1, $2, $3, now() + make_interval(secs => $4))
            ON CONFLICT (tenant_id, site) DO UPDATE
               SET enrollment_token_hash = EXCLUDED.enrollment_token_hash,
                   enrollment_expires_at = EXCLUDED.enrollment_expires_at
            RETURNING id, enrollment_expires_at
            """,
            tenant_id,
            site,
            token_hash,
            ttl_hours * 3600.0,
        )
        return row["id"], row["enrollment_expires_at"]

    async def claim_enrollment(self, token_hash: bytes) -> EnrollmentClaim | None:
        """The agent a live token belongs to, locked until the transaction ends."""
        row = await self._db.fetchrow(
            """
            SELECT a.id, a.tenant_id, a.site, a.device_key, a.wg_address, t.slug AS tenant_slug
              FROM agents a JOIN tenants t ON t.id = a.tenant_id
             WHERE a.enrollment_token_hash = $1 AND a.enrollment_expires_at > now()
               FOR UPDATE OF a
            """,
            token_hash,
        )
        if row is None:
            return None
        return EnrollmentClaim(
            agent_id=row["id"],
            tenant_id=row["tenant_id"],
            tenant_slug=row["tenant_slug"],
            site=row["site"],
            device_key=row["device_key"],
            wg_address=row["wg_address"],
        )

    async def lock_wireguard_pool(self) -> None:
        """Serialise address allocation across hub processes until the transaction ends."""
        await self._db.execute("SELECT pg_advisory_xact_lock(hashtext('ispfleet_wg_addresses'))")

    async def wireguard_addresses(self) -> set[str]:
        rows = await self._db.fetch("SELECT wg_address FROM agents WHERE wg_address IS NOT NULL")
        return {row["wg_address"] for row in rows}

    async def tunnels(self) -> list[AgentTunnel]:
        """Every agent holding a live credential and a tunnel (address and public key), by
        address; revoked agents are left out, so their peers go at the next sync."""
        rows = await self._db.fetch(
            """
            SELECT t.slug AS tenant_slug, a.site, a.wg_public_key, a.wg_address
              FROM agents a JOIN tenants t ON t.id = a.tenant_id
             WHERE a.credential_hash IS NOT NULL
               AND a.wg_public_key IS NOT NULL AND a.wg_address IS NOT NULL
             ORDER BY a.wg_address::inet, a.id
            """
        )
        return [
            AgentTunnel(
                tenant_slug=row["tenant_slug"],
                site=row["site"],
                public_key=row["wg_public_key"],
                address=row["wg_address"],
            )
            for row in rows
        ]

    async def complete_enrollment(
        self,
        *,
        agent_id: int,
        credential_hash: bytes,
        device_key: str,
        hostname: str,
        agent_version: str,
        wg_address: str | None,
        wg_public_key: str | None,
        new_device: bool,
    ) -> None:
        """Consume the token and set the credential; a new device starts its sequence afresh.

        A credential the agent held before is replaced, so its open link is told to close.
        """
        await self._db.execute(
            """
            UPDATE agents
               SET enrollment_token_hash = NULL, enrollment_expires_at = NULL,
                   credential_hash = $2, device_key = $3, hostname = $4, agent_version = $5,
                   wg_address = $6, wg_public_key = coalesce($7, wg_public_key),
                   last_seq = CASE WHEN $8 THEN 0 ELSE last_seq END,
                   snapshot_seq = CASE WHEN $8 THEN 0 ELSE snapshot_seq END
             WHERE id = $1
            """,
            agent_id,
            credential_hash,
            device_key,
            hostname,
            agent_version,
            wg_address,
            wg_public_key,
            new_device,
        )
        await self._notify_credential(agent_id)

    async def credential(self, agent_id: int) -> Agent | None:
        """The agent with the hash of its current credential (None in it: revoked)."""
        row = await self._db.fetchrow(
            "SELECT id, tenant_id, site, credential_hash FROM agents WHERE id = $1", agent_id
        )
        return _agent(row) if row is not None else None

    async def credentials(self, agent_ids: list[int]) -> dict[int, bytes | None]:
        """Agent id -> the hash of its current credential (None: revoked), in one query;
        unknown ids are left out."""
        rows = await self._db.fetch(
            "SELECT id, credential_hash FROM agents WHERE id = ANY($1::bigint[])", agent_ids
        )
        return {
            row["id"]: bytes(row["credential_hash"]) if row["credential_hash"] else None
            for row in rows
        }

    async def find(self, tenant_id: int, site: str) -> Agent | None:
        row = await self._db.fetchrow(
            "SELECT id, tenant_id, site, credential_hash FROM agents"
            " WHERE tenant_id = $1 AND site = $2",
            tenant_id,
            site,
        )
        return _agent(row) if row is not None else None

    async def revoke(self, agent_id: int) -> bool:
        """Forget the agent's credential and any unused token; False if it had neither."""
        status = await self._db.execute(
            """
            UPDATE agents
               SET credential_hash = NULL, enrollment_token_hash = NULL,
                   enrollment_expires_at = NULL
             WHERE id = $1 AND (credential_hash IS NOT NULL OR enrollment_token_hash IS NOT NULL)
            """,
            agent_id,
        )
        if status == "UPDATE 0":
            return False
        await self._notify_credential(agent_id)
        return True

    async def _notify_credential(self, agent_id: int) -> None:
        await self._db.execute("SELECT pg_notify($1, $2)", CREDENTIAL_CHANNEL, str(agent_id))
