"""One agent's WebSocket conversation with this hub process (protocol in common.wire).

hello -> routers upserted, presence here -> welcome {agent_id, acked_seq}
      -> entitlements and pending commands pushed
snapshot -> current state replaced;  events -> stored, deduplicated -> ack {seq}
"""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

import aiohttp
import asyncpg
from aiohttp import web

from common import wire
from common.timeutil import to_iso
from common.wire import WireError
from hub.link.dispatcher import CommandDispatcher
from hub.link.ingest import Ingest
from hub.link.registry import AgentConnection, LinkRegistry
from hub.metrics import HubMetrics
from hub.storage import link as storage

log = logging.getLogger(__name__)

HELLO_TIMEOUT = 30.0  # seconds an agent has to introduce itself after the upgrade
CLOSE_REPLACED = 4000  # a newer connection of the same agent took over
_SYNC_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "ispfleet:entitlement-sync")


class LinkSession:
    """Runs the conversation until the socket closes; presence is kept up to date."""

    def __init__(
        self,
        *,
        pool: asyncpg.Pool,
        registry: LinkRegistry,
        dispatcher: CommandDispatcher,
        metrics: HubMetrics,
        instance: str,
        agent: asyncpg.Record,
        ws: web.WebSocketResponse,
    ) -> None:
        self._pool = pool
        self._registry = registry
        self._dispatcher = dispatcher
        self._metrics = metrics
        self._instance = instance
        self._ws = ws
        self._ingest = Ingest(pool, agent_id=agent["id"], tenant_id=agent["tenant_id"])
        self._site = agent["site"]

    @property
    def agent_id(self) -> int:
        return self._ingest.agent_id

    async def run(self) -> None:
        conn: AgentConnection | None = None
        try:
            hello = await self._receive_hello()
            if hello is None:
                return
            acked_seq = await self._ingest.hello(hello, instance=self._instance)
            conn = AgentConnection(
                agent_id=self.agent_id,
                tenant_id=self._ingest.tenant_id,
                site=self._site,
                ws=self._ws,
                routers=self._ingest.routers,
            )
            await conn.send("welcome", agent_id=self.agent_id, acked_seq=acked_seq)
            await self._hold(conn)
            log.info(
                "agent connected agent=%s site=%s acked_seq=%s routers=%s",
                self.agent_id,
                self._site,
                acked_seq,
                len(conn.routers),
            )
            await self._push_state(conn)
            async for message in self._ws:
                if message.type == aiohttp.WSMsgType.TEXT:
                    await self._handle(conn, message.data.encode())
                elif message.type == aiohttp.WSMsgType.BINARY:
                    raise WireError("binary frames are not part of the protocol")
        except WireError as exc:
            log.warning("agent frame refused agent=%s error=%s", self.agent_id, exc)
            await self._ws.close(code=aiohttp.WSCloseCode.POLICY_VIOLATION, message=_reason(exc))
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
            log.error("agent link storage error agent=%s error=%r", self.agent_id, exc)
            await self._ws.close(code=aiohttp.WSCloseCode.INTERNAL_ERROR, message=b"hub error")
        finally:
            if conn is not None:
                await self._registry.finish(self._release(conn))

    async def _receive_hello(self) -> wire.Hello | None:
        try:
            message = await self._ws.receive(timeout=HELLO_TIMEOUT)
        except TimeoutError:
            raise WireError(f"no hello within {HELLO_TIMEOUT:g} s") from None
        if message.type != aiohttp.WSMsgType.TEXT:
            return None  # closed (or junk) before saying hello
        kind = wire.frame_type(message.data)
        if kind != "hello":
            raise WireError(f"expected hello, got {kind!r}")
        return wire.decode_as(message.data, wire.HELLO)

    async def _hold(self, conn: AgentConnection) -> None:
        previous = self._registry.add(conn)
        self._metrics.agents_connected.set(len(self._registry))
        if previous is not None:
            log.info("agent link replaced agent=%s", self.agent_id)
            self._registry.spawn(previous.ws.close(code=CLOSE_REPLACED, message=b"replaced"))

    async def _release(self, conn: AgentConnection) -> None:
        if not self._registry.remove(conn):
            return  # replaced: the newer connection owns the presence now
        self._metrics.agents_connected.set(len(self._registry))
        silent = self._ws.close_code == aiohttp.WSCloseCode.ABNORMAL_CLOSURE
        reason = (
            f"agent gone: the agent of site {self._site} stopped answering the link heartbeat"
            if silent
            else f"agent gone: the agent of site {self._site} left (link closed)"
        )
        try:
            await storage.end_link(self._pool, agent_id=self.agent_id, instance=self._instance)
            await self._dispatcher.agent_gone(self.agent_id, reason)
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
            log.warning("agent presence not updated agent=%s error=%r", self.agent_id, exc)
        log.info(
            "agent disconnected agent=%s site=%s close_code=%s silent=%s",
            self.agent_id,
            self._site,
            self._ws.close_code,
            silent,
        )

    async def _push_state(self, conn: AgentConnection) -> None:
        """What the agent must hold: live entitlements, revocations, missed commands."""
        active = await storage.active_entitlements(self._pool, self.agent_id)
        revoked = await storage.revoked_entitlements(self._pool, self.agent_id)
        for command in entitlement_commands(active, revoked):
            await conn.send_command(command)
        pending = await self._dispatcher.push_pending(conn)
        if active or revoked or pending:
            log.info(
                "agent state pushed agent=%s entitlements=%s revoked=%s commands=%s",
                self.agent_id,
                len(active),
                len(revoked),
                pending,
            )

    async def _handle(self, conn: AgentConnection, data: bytes) -> None:
        kind = wire.frame_type(data)
        if kind == "events":
            outcome = await self._ingest.events(data)
            for result in outcome.results:
                self._dispatcher.resolve(result)
            await conn.send_frame(wire.Ack(seq=outcome.acked_seq, rejected=outcome.rejected))
        elif kind == "snapshot":
            as_of_seq, rejected = await self._ingest.snapshot(data)
            if rejected:
                await conn.send_frame(wire.SnapshotRejected(as_of_seq=as_of_seq, rejected=rejected))
        else:
            log.debug("agent frame ignored agent=%s type=%s", self.agent_id, kind)


def entitlement_commands(
    active: list[asyncpg.Record], revoked: list[asyncpg.Record]
) -> list[wire.Command]:
    """Entitlement sync as commands whose ids follow their content.

    The agent runs a command id once, so pushing the same entitlement on every reconnect costs
    nothing, while a changed one (new expiry, profile, ...) gets a new id and is applied.
    """
    commands = []
    for row in active:
        entitlement = wire.Entitlement(
            username=row["username"],
            mac_address=row["mac_address"],
            expires_at=to_iso(row["expires_at"]),
            profile=row["profile"],
            rate_limit=row["rate_limit"],
            on_expiry=row["on_expiry"],
        )
        commands.append(
            _sync_command(wire.ENTITLEMENT_PUT, row["router"], wire.as_dict(entitlement))
        )
    for row in revoked:
        args = {"username": row["username"], "mac_address": row["mac_address"]}
        commands.append(_sync_command(wire.ENTITLEMENT_DELETE, row["router"], args))
    return commands


def _sync_command(name: str, router: str, args: dict[str, Any]) -> wire.Command:
    content = json.dumps([name, router, args], sort_keys=True)
    return wire.Command(
        id=str(uuid.uuid5(_SYNC_NAMESPACE, content)), name=name, router=router, args=args
    )


def _reason(exc: Exception) -> bytes:
    """A close reason must fit in 123 bytes."""
    return str(exc).encode()[:120]
