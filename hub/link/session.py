"""One agent's WebSocket conversation with this hub process (protocol in common.wire).

hello -> routers upserted (unlisted ones retired), presence here -> welcome {agent_id, acked_seq}
      -> one entitlements.sync if the hello's token is not the scope's current one (only what
         changed since the token's version, when the agent holds an older one), vouchers.sync
         likewise by the hello's vouchers_version (hub/link/vouchers.py), the agent's
      devices as one routers.sync when it has any (hub/link/devices.py), pending commands
snapshot -> current state replaced;  events -> stored, deduplicated -> ack {seq}
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
import uuid

import aiohttp
import asyncpg
import msgspec
from aiohttp import web

from common import wire
from common.timeutil import to_iso
from common.wire import WireError
from hub.domain import Agent, WantedEntitlement, WantedRevocation
from hub.link.devices import connect_command as devices_command
from hub.link.dispatcher import CommandDispatcher
from hub.link.ingest import Ingest
from hub.link.registry import AgentConnection, LinkRegistry
from hub.link.vouchers import connect_commands, push_batch
from hub.metrics import HubMetrics
from hub.secrets import SecretBox
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
        agent: Agent,
        ws: web.WebSocketResponse,
        max_routers: int = 64,
        max_tenant_routers: int = 0,
        secrets: SecretBox | None = None,
    ) -> None:
        self._pool = pool
        self._secrets = secrets  # opens the devices' passwords for routers.sync (None: no sync)
        self._commands = storage.CommandRepository(pool)
        self._presence = storage.PresenceRepository(pool)
        self._registry = registry
        self._dispatcher = dispatcher
        self._metrics = metrics
        self._instance = instance
        self._ws = ws
        self._ingest = Ingest(
            pool,
            agent_id=agent.id,
            tenant_id=agent.tenant_id,
            max_tenant_routers=max_tenant_routers,
        )
        self._site = agent.site
        self._max_routers = max_routers

    @property
    def agent_id(self) -> int:
        return self._ingest.agent_id

    async def run(self) -> None:
        conn: AgentConnection | None = None
        try:
            hello = await self._receive_hello()
            if hello is None:
                return
            named = len({r.name for r in hello.routers})
            if named > self._max_routers:
                raise WireError(
                    f"hello names {named} routers; this hub allows {self._max_routers} per agent"
                )
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
            await storage.announce_change(self._pool, self._ingest.tenant_id, self.agent_id)
            await self._push_state(conn, hello.entitlements_digest, hello.vouchers_version)
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
            await self._presence.end_link(agent_id=self.agent_id, instance=self._instance)
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
            log.warning("agent presence not updated agent=%s error=%r", self.agent_id, exc)
        try:  # its waiters here fail even when the database does not answer
            await self._dispatcher.agent_gone(self.agent_id, reason)
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
            log.warning("agent commands not marked lost agent=%s error=%r", self.agent_id, exc)
        await storage.announce_change(self._pool, self._ingest.tenant_id, self.agent_id)
        log.info(
            "agent disconnected agent=%s site=%s close_code=%s silent=%s",
            self.agent_id,
            self._site,
            self._ws.close_code,
            silent,
        )

    async def _push_state(
        self, conn: AgentConnection, held: str | None, vouchers_held: int | None = None
    ) -> None:
        """What the agent must hold: its entitlements, its vouchers (by version, as
        hub/link/vouchers.py says), then every command it may have missed.

        ``held`` is the sync token of the agent's hello: the version of its scope (its
        routers' entitlements and the tenant-wide ones) and its routers, as last sent to it.
        The same token: nothing is sent (two index lookups, whatever the set's size). An older
        version of the same routers: one sync with only what changed since (puts and
        deletes). Anything else (a new agent, other routers, an unknown token): the whole set.
        """
        routers = sorted(conn.routers)
        synced = False
        active: list[WantedEntitlement] = []
        revoked: list[WantedRevocation] = []
        if routers:
            version = await self._commands.entitlements_version(
                self._ingest.tenant_id, list(conn.routers.values())
            )
            token = sync_token(version, routers)
            base = held_version(held, routers)
            if held != token:
                changed_after = base if base is not None and base < version else None
                active = await self._commands.active_entitlements(
                    self.agent_id, changed_after=changed_after
                )
                revoked = await self._commands.revoked_entitlements(
                    self.agent_id, changed_after=changed_after
                )
                # Nothing wanted and nothing claimed (a new agent): nothing to say.
                if changed_after is not None or active or revoked or held is not None:
                    sync = entitlements_sync(
                        active,
                        revoked,
                        routers=routers,
                        token=token,
                        base=held if changed_after is not None else None,
                    )
                    await conn.send_command(_sync_command(sync, router=routers[0]))
                    synced = True
        vouchers = await connect_commands(
            self._pool,
            agent_id=self.agent_id,
            tenant_id=self._ingest.tenant_id,
            routers=conn.routers,
            held=vouchers_held,
        )
        for command in vouchers:
            await conn.send_command(command)
        devices = None
        if self._secrets is not None:
            devices = await devices_command(self._pool, self._secrets, self.agent_id)
            if devices is not None:
                await conn.send_command(devices)
        pending = await self._dispatcher.push_pending(conn)
        if synced or pending or vouchers or devices:
            log.info(
                "agent state pushed agent=%s entitlements=%s revoked=%s synced=%s"
                " voucher_parts=%s devices=%s commands=%s",
                self.agent_id,
                len(active),
                len(revoked),
                synced,
                len(vouchers),
                len(devices.args["routers"]) if devices else None,
                pending,
            )

    async def _retire_elsewhere(self, batch_id: int) -> None:
        """A voucher of this batch was just redeemed here: the batch's other agents hear of
        it now (their copy is retired), not at their next connect."""
        try:
            await push_batch(self._pool, tenant_id=self._ingest.tenant_id, batch_id=batch_id)
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
            log.warning("voucher redemption not pushed batch=%s error=%r", batch_id, exc)

    async def _handle(self, conn: AgentConnection, data: bytes) -> None:
        kind = wire.frame_type(data)
        started = time.perf_counter()
        if kind == "events":
            outcome = await self._ingest.events(data)
            self._metrics.ingest_frame_seconds.labels("events").observe(
                time.perf_counter() - started
            )
            self._metrics.ingested_events.inc(outcome.stored)
            for result in outcome.results:
                self._dispatcher.resolve(result)
            await conn.send_frame(wire.Ack(seq=outcome.acked_seq, rejected=outcome.rejected))
            await storage.announce_change(self._pool, self._ingest.tenant_id, self.agent_id)
            for batch_id in outcome.redeemed_batches:
                await self._retire_elsewhere(batch_id)
        elif kind == "snapshot":
            as_of_seq, rejected = await self._ingest.snapshot(data)
            self._metrics.ingest_frame_seconds.labels("snapshot").observe(
                time.perf_counter() - started
            )
            await storage.announce_change(self._pool, self._ingest.tenant_id, self.agent_id)
            if rejected:
                await conn.send_frame(wire.SnapshotRejected(as_of_seq=as_of_seq, rejected=rejected))
        else:
            log.debug("agent frame ignored agent=%s type=%s", self.agent_id, kind)


TOKEN_PREFIX = "v2"


def sync_token(version: int, routers: list[str]) -> str:
    """What an agent holding its scope's entitlements up to ``version`` echoes in its hello."""
    names = hashlib.sha256("\n".join(sorted(routers)).encode()).hexdigest()[:16]
    return f"{TOKEN_PREFIX}:{version}:{names}"


def held_version(token: str | None, routers: list[str]) -> int | None:
    """The version a hello's token says the agent holds, if it is for these routers."""
    if token is None or token.count(":") != 2:
        return None
    prefix, version, _ = token.split(":")
    if prefix != TOKEN_PREFIX or not version.isdigit():
        return None
    number = int(version)
    return number if sync_token(number, routers) == token else None


def entitlements_sync(
    active: list[WantedEntitlement],
    revoked: list[WantedRevocation],
    *,
    routers: list[str],
    token: str,
    base: str | None = None,
) -> wire.EntitlementsSync:
    """The wanted entitlements (the whole set, or with ``base`` what changed since it).

    An entitlement on every router of the agent (a tenant-wide one) is listed once, with
    ``routers`` None.
    """
    every = set(routers)
    grouped: dict[tuple, list[str]] = {}
    for row in active:
        key = (
            row.username,
            row.mac_address,
            to_iso(row.expires_at),
            row.profile,
            row.rate_limit,
            row.on_expiry,
        )
        grouped.setdefault(key, []).append(row.router)
    gone: dict[tuple, list[str]] = {}
    for row in revoked:
        gone.setdefault((row.username, row.mac_address), []).append(row.router)

    def scope(names: list[str]) -> list[str] | None:
        return None if set(names) >= every else sorted(set(names))

    def order(item: tuple) -> str:
        return json.dumps(item[0])

    entitlements = [
        wire.SyncedEntitlement(
            username=username,
            mac_address=mac,
            expires_at=expires_at,
            profile=profile,
            rate_limit=rate_limit,
            on_expiry=on_expiry,
            routers=scope(names),
        )
        for (username, mac, expires_at, profile, rate_limit, on_expiry), names in sorted(
            grouped.items(), key=order
        )
    ]
    revocations = [
        wire.SyncedRevocation(username=username, mac_address=mac, routers=scope(names))
        for (username, mac), names in sorted(gone.items(), key=order)
    ]
    return wire.EntitlementsSync(
        digest=token, base=base, entitlements=entitlements, revoked=revocations
    )


def _sync_command(sync: wire.EntitlementsSync, *, router: str) -> wire.Command:
    """Its id follows what it takes the agent from and to: the agent applies it once, however
    often it is sent."""
    return wire.Command(
        id=str(uuid.uuid5(_SYNC_NAMESPACE, f"{sync.base or ''}>{sync.digest}")),
        name=wire.ENTITLEMENTS_SYNC,
        router=router,
        args=msgspec.to_builtins(sync),
    )


def _reason(exc: Exception) -> bytes:
    """A close reason must fit in 123 bytes."""
    return str(exc).encode()[:120]
