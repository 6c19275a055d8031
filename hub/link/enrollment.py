"""The link's face of agent enrollment and credentials (the rules are hub.services.agents).

``parse_enroll_request`` checks the body a box posts, ``enrollment_reply`` shapes the answer, and
``CredentialWatch`` closes this process's sockets of an agent whose credential was revoked or
replaced (by any hub process: it listens on hub.storage.agents.CREDENTIAL_CHANNEL).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any

from aiohttp import web

from hub.domain import Agent, Enrollment
from hub.errors import InvalidInput
from hub.services.agents import AgentService, EnrollRequest, is_wireguard_key
from hub.web.schemas import EnrollBody

log = logging.getLogger(__name__)

CLOSE_REVOKED = 4001  # WebSocket close code: the credential this link used is no longer valid


def parse_enroll_request(body: EnrollBody) -> EnrollRequest:
    """The checked enroll body (hub.web.schemas.EnrollBody) as the service's request."""
    if body.wg_public_key is not None and not is_wireguard_key(body.wg_public_key):
        raise InvalidInput("wg_public_key must be a base64 Curve25519 public key")
    return EnrollRequest(
        token=body.token,  # type: ignore[arg-type]  (EnrollBody.check: all four present)
        device_key=body.device_key,  # type: ignore[arg-type]
        hostname=body.hostname,  # type: ignore[arg-type]
        agent_version=body.agent_version,  # type: ignore[arg-type]
        wg_public_key=body.wg_public_key,
    )


def enrollment_reply(enrollment: Enrollment) -> dict[str, Any]:
    """What the box gets. No hub URL: the box keeps the one its operator typed."""
    return {
        "agent_id": enrollment.agent_id,
        "site": enrollment.site,
        "tenant": enrollment.tenant_slug,
        "credential": enrollment.credential,
        "wireguard": asdict(enrollment.wireguard) if enrollment.wireguard else None,
    }


@dataclass(eq=False)
class Watched:
    """One socket and the credential it presented."""

    ws: web.WebSocketResponse
    credential_hash: bytes | None
    revoked: bool = False  # a notice found its credential stale
    open: bool = False  # prepared: a close frame can be sent


class CredentialWatch:
    """This process's agent sockets by the credential each presented; closes the stale ones.

    A socket is watched from the moment its credential was checked until its handler ends, so
    the upgrade and the wait for the agent's hello are covered too. A notice (any hub process
    revoked or replaced an agent's credential) closes that agent's sockets whose credential is
    no longer the live one; a re-enrolled box already linked with its new credential stays.
    """

    def __init__(self, agents: AgentService) -> None:
        self._agents = agents
        self._sockets: dict[int, list[Watched]] = {}

    @contextmanager
    def watching(self, agent: Agent, ws: web.WebSocketResponse) -> Iterator[Watched]:
        watched = Watched(ws, agent.credential_hash)
        self._sockets.setdefault(agent.id, []).append(watched)
        try:
            yield watched
        finally:
            sockets = self._sockets.get(agent.id, [])
            if watched in sockets:
                sockets.remove(watched)
            if not sockets:
                self._sockets.pop(agent.id, None)

    async def still_valid(self, agent: Agent) -> bool:
        """Checked once the socket is watched: a notice sent before that was not seen here."""
        current = await self._agents.current_credential(agent.id)
        return current is not None and current == agent.credential_hash

    def opened(self, watched: Watched) -> bool:
        """The socket is prepared; False if a notice revoked it meanwhile (close it then)."""
        watched.open = True
        return not watched.revoked

    async def on_notice(self, payload: str) -> None:
        """A credential changed somewhere (payload: the agent id)."""
        try:
            agent_id = int(payload)
        except ValueError:
            log.warning("credential notice ignored payload=%r", payload)
            return
        await self._check(agent_id)

    async def sweep(self) -> None:
        """Check every watched socket's credential: repairs a notice lost while this process's
        LISTEN connection was down (run with the presence heartbeat). One query for all of
        them: a round trip per agent took 18 s for 1,000 agents on a loaded hub."""
        # Only the sockets watched before the query: one that arrives meanwhile (with a
        # credential newer than what the query may have read) is checked by its own handler.
        before = {agent_id: list(sockets) for agent_id, sockets in self._sockets.items()}
        if not before:
            return
        current = await self._agents.current_credentials(list(before))
        for agent_id, sockets in before.items():
            await self._close_stale(agent_id, sockets, current.get(agent_id))

    async def _check(self, agent_id: int) -> None:
        sockets = list(self._sockets.get(agent_id, []))
        if sockets:
            current = await self._agents.current_credential(agent_id)
            await self._close_stale(agent_id, sockets, current)

    async def _close_stale(
        self, agent_id: int, sockets: list[Watched], current: bytes | None
    ) -> None:
        """Close those of ``sockets`` whose credential is not ``current`` (None: revoked)."""
        for watched in sockets:
            if current is not None and watched.credential_hash == current:
                continue
            watched.revoked = True
            if watched.open:
                log.info("agent link closed: credential revoked agent=%s", agent_id)
                await watched.ws.close(code=CLOSE_REVOKED, message=b"credential revoked")
