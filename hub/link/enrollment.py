"""The link's face of agent enrollment and credentials (the rules are hub.services.agents).

``parse_enroll_request`` checks the body a box posts, ``enrollment_reply`` shapes the answer, and
``CredentialWatch`` closes this process's link of an agent whose credential was revoked or
replaced (by any hub process: it listens on hub.storage.agents.CREDENTIAL_CHANNEL).
"""

from __future__ import annotations

import logging
from dataclasses import asdict
from typing import Any

from hub.domain import Enrollment
from hub.errors import InvalidInput
from hub.link.registry import LinkRegistry
from hub.services.agents import AgentService, EnrollRequest, is_wireguard_key

log = logging.getLogger(__name__)

CLOSE_REVOKED = 4001  # WebSocket close code: the credential this link used is no longer valid


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
    if wg_key is not None and not is_wireguard_key(wg_key):
        raise InvalidInput("wg_public_key must be a base64 Curve25519 public key")
    return EnrollRequest(wg_public_key=wg_key, **values)


def enrollment_reply(enrollment: Enrollment) -> dict[str, Any]:
    """What the box gets. No hub URL: the box keeps the one its operator typed."""
    return {
        "agent_id": enrollment.agent_id,
        "site": enrollment.site,
        "tenant": enrollment.tenant_slug,
        "credential": enrollment.credential,
        "wireguard": asdict(enrollment.wireguard) if enrollment.wireguard else None,
    }


class CredentialWatch:
    """Closes the link an agent holds here once the credential it presented stops being valid."""

    def __init__(self, registry: LinkRegistry, agents: AgentService) -> None:
        self._registry = registry
        self._agents = agents

    async def on_notice(self, payload: str) -> None:
        """A credential changed somewhere (payload: the agent id)."""
        try:
            agent_id = int(payload)
        except ValueError:
            log.warning("credential notice ignored payload=%r", payload)
            return
        conn = self._registry.get(agent_id)
        if conn is None:
            return
        current = await self._agents.current_credential(agent_id)
        if current is not None and conn.credential_hash == current:
            return  # this link already uses the new credential (a re-enrolled box)
        log.info("agent link closed: credential revoked agent=%s", agent_id)
        await conn.ws.close(code=CLOSE_REVOKED, message=b"credential revoked")
