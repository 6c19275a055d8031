"""The agent's side of the hub link: one WebSocket, dialled out, kept up for good.

Per connection (protocol in common.wire):

    hello {last_seq, routers, entitlements_digest, vouchers_version} -> welcome {acked_seq}:
        the outbox drops what the hub stored
    snapshot {as_of_seq, routers} (in parts under max_frame_bytes): the hub replaces its view
    send loop:    outbox rows after the last sent one, in order, as stored (encoded once), in
                  frames under max_frame_bytes, a few frames in flight at most
    receive loop: ack {seq, rejected} -> outbox.ack(seq), each refused event logged once;
                  command -> agent.submit(command)

Rows leave the outbox only through ``ack``, so a lost connection loses nothing: the next
welcome says what the hub has, and sending resumes right after it. Reconnects wait a random
time below a ceiling doubling from backoff_min to backoff_max (``reconnect_delay``, full
jitter), so agents coming back after a hub outage spread out.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from dataclasses import dataclass, field
from importlib import metadata
from typing import TYPE_CHECKING

import aiohttp
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type

from agent.commands import ENTITLEMENTS_DIGEST
from agent.errors import AgentError
from common import wire

if TYPE_CHECKING:
    from agent.config import HubSettings
    from agent.service import Agent

log = logging.getLogger(__name__)

HUB_FRAME_LIMIT = 256 * 1024 * 1024  # largest frame taken from the hub (our own hub: trusted)
FRAMES_IN_FLIGHT = 4  # events frames sent but not yet acknowledged
WELCOME_TIMEOUT = 30.0
CONNECT_TIMEOUT = 10.0


class HubLinkError(AgentError):
    """The link to the hub is down."""


class CredentialRejected(HubLinkError):
    """agent credential rejected — re-enroll (ispfleet-agent enroll --hub URL --token T)"""


class LinkLost(HubLinkError):
    """The hub closed the link or stopped answering."""


_RETRYABLE = (HubLinkError, wire.WireError, aiohttp.ClientError, OSError, TimeoutError)


@dataclass(slots=True)
class _Flow:
    """Where sending stands on one connection."""

    last_sent: int
    in_flight: list[int] = field(default_factory=list)  # last seq of each unacked frame
    acked: asyncio.Event = field(default_factory=asyncio.Event)


class HubLink:
    """Keeps the agent connected to its hub until cancelled."""

    def __init__(self, settings: HubSettings, agent: Agent) -> None:
        if not settings.url or not settings.credential:
            raise ValueError("hub.url and hub.credential are required for the hub link")
        self.settings = settings
        self.agent = agent
        self.url = settings.url.rstrip("/") + wire.LINK_PATH
        self.connects = 0  # successful welcomes, for tests and logs
        self._failures = 0  # connections lost or refused since the last welcome
        self._down_since_logged = False

    async def run(self) -> None:
        """Connect, converse, reconnect after a random backoff; returns only by cancellation."""
        timeout = aiohttp.ClientTimeout(total=None, connect=CONNECT_TIMEOUT)
        async with aiohttp.ClientSession(timeout=timeout) as http:
            retrying = AsyncRetrying(
                wait=self._backoff,
                retry=retry_if_exception_type(_RETRYABLE),
                before_sleep=self._log_failure,
                reraise=True,
            )
            async for attempt in retrying:
                with attempt:
                    await self._connection(http)

    def _backoff(self, state: RetryCallState) -> float:
        failure = state.outcome.exception() if state.outcome else None
        if isinstance(failure, CredentialRejected):
            return self.settings.backoff_max
        self._failures += 1
        return reconnect_delay(self._failures, self.settings.backoff_min, self.settings.backoff_max)

    def _log_failure(self, state: RetryCallState) -> None:
        failure = state.outcome.exception() if state.outcome else None
        wait = state.upcoming_sleep
        if isinstance(failure, CredentialRejected):
            log.error("agent credential rejected — re-enroll url=%s retry_in=%.1fs", self.url, wait)
        elif not self._down_since_logged:
            self._down_since_logged = True
            log.warning("hub link down url=%s error=%r retry_in=%.1fs", self.url, failure, wait)
        else:
            log.debug("hub link still down error=%r retry_in=%.1fs", failure, wait)

    async def _connection(self, http: aiohttp.ClientSession) -> None:
        """One connection from dial to loss; always ends by raising."""
        headers = {"Authorization": f"Bearer {self.settings.credential}"}
        try:
            ws = await http.ws_connect(
                self.url,
                heartbeat=self.settings.heartbeat,
                headers=headers,
                # The hub's frames (a whole entitlement set of a big tenant: ~150 bytes each) may
                # pass aiohttp's 4 MiB default; refusing one would loop reconnect -> same frame.
                max_msg_size=HUB_FRAME_LIMIT,
            )
        except aiohttp.WSServerHandshakeError as exc:
            if exc.status == 401:
                raise CredentialRejected() from exc
            raise LinkLost(f"hub refused the link: HTTP {exc.status}") from exc
        async with ws:
            try:
                await self._converse(ws)
            finally:
                self.agent.hub_connected = False
        raise LinkLost(f"hub closed the link code={ws.close_code}")

    async def _converse(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        outbox = self.agent.outbox
        hello = wire.Hello(
            agent_version=agent_version(),
            last_seq=await outbox.last_seq(),
            routers=self.agent.router_infos(),
            entitlements_digest=await self.agent.store.get_meta(ENTITLEMENTS_DIGEST),
            vouchers_version=await self.agent.vouchers.held_version(),
        )
        await _send(ws, hello)
        welcome = await self._welcome(ws)
        acked_seq = welcome.acked_seq
        await outbox.ack(acked_seq)
        self.agent.hub_connected = True
        self.connects += 1
        self._failures = 0
        self._down_since_logged = False
        log.info(
            "hub link up url=%s agent_id=%s acked_seq=%s", self.url, welcome.agent_id, acked_seq
        )

        as_of_seq, routers = await self.agent.snapshot()
        for part in wire.split_snapshot(as_of_seq, routers, self.settings.max_frame_bytes):
            await _send(ws, part)

        flow = _Flow(last_sent=acked_seq)
        sender = asyncio.create_task(self._send_loop(ws, flow), name="hublink-send")
        receiver = asyncio.create_task(self._receive_loop(ws, flow), name="hublink-receive")
        try:
            done, _ = await asyncio.wait({sender, receiver}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (sender, receiver):
                task.cancel()
            for task in (sender, receiver):
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        for task in done:
            if (failure := task.exception()) is not None:
                raise failure

    async def _welcome(self, ws: aiohttp.ClientWebSocketResponse) -> wire.Welcome:
        message = await ws.receive(timeout=WELCOME_TIMEOUT)
        if message.type != aiohttp.WSMsgType.TEXT:
            raise LinkLost(f"no welcome from the hub (close code {ws.close_code})")
        kind = wire.frame_type(message.data)
        if kind != "welcome":
            raise wire.WireError(f"expected welcome, got {kind!r}")
        return wire.decode_as(message.data, wire.WELCOME)

    async def _send_loop(self, ws: aiohttp.ClientWebSocketResponse, flow: _Flow) -> None:
        outbox = self.agent.outbox
        while True:
            while len(flow.in_flight) >= FRAMES_IN_FLIGHT:
                flow.acked.clear()
                await flow.acked.wait()
            newest = await outbox.last_seq()
            events = await outbox.read_raw_after(flow.last_sent, self.settings.batch_size)
            if not events:
                if newest > flow.last_sent:
                    flow.last_sent = newest  # those rows were thinned away before sending
                await outbox.wait_new(flow.last_sent, timeout=self.settings.heartbeat)
                continue
            events = await self._within_frame(events)
            if not events:
                continue
            await _send(ws, wire.Events(events=events))
            flow.last_sent = events[-1].seq
            flow.in_flight.append(flow.last_sent)

    async def _within_frame(self, events: list[wire.RawEvent]) -> list[wire.RawEvent]:
        """The leading events that fit one frame; an event too big for any frame is dropped
        (logged): the hub could never take it, and it would block every event behind it."""
        limit = self.settings.max_frame_bytes - wire.FRAME_OVERHEAD
        size, fitting = 0, []
        for event in events:
            item = len(event.data) + len(event.kind) + len(event.router or "") + 128
            if item > limit and not fitting:
                log.error(
                    "event too big for a link frame dropped seq=%s kind=%s bytes=%s limit=%s",
                    event.seq,
                    event.kind,
                    item,
                    limit,
                )
                await self.agent.outbox.drop([event.seq])
                return []
            if size + item > limit:
                break
            size += item
            fitting.append(event)
        return fitting

    async def _receive_loop(self, ws: aiohttp.ClientWebSocketResponse, flow: _Flow) -> None:
        async for message in ws:
            if message.type != aiohttp.WSMsgType.TEXT:
                continue
            kind = wire.frame_type(message.data)
            if kind == "ack":
                ack = wire.decode_as(message.data, wire.ACK)
                for item in ack.rejected:
                    # Acknowledged all the same: the row leaves the outbox, logged once here.
                    log.error("hub refused event seq=%s reason=%s", item.seq, item.reason)
                await self.agent.outbox.ack(ack.seq)
                flow.in_flight = [s for s in flow.in_flight if s > ack.seq]
                flow.acked.set()
            elif kind == "command":
                frame = wire.decode_as(message.data, wire.RAW_COMMAND_FRAME)
                try:
                    command = wire.parse_command(wire.decode_as(frame.command, wire.ANY_OBJECT))
                except wire.WireError as exc:
                    log.warning("hub command refused error=%s", exc)
                    continue
                await self.agent.submit(command)
            elif kind == "snapshot.rejected":
                refused = wire.decode_as(message.data, wire.SNAPSHOT_REJECTED)
                for item in refused.rejected:
                    log.error(
                        "hub refused part of the snapshot router=%s reason=%s",
                        item.router,
                        item.reason,
                    )
            else:
                log.debug("hub frame ignored type=%s", kind)


async def _send(ws: aiohttp.ClientWebSocketResponse, frame: wire.Frame) -> None:
    """One text frame, sent as the bytes msgspec encoded (UTF-8 JSON: no str round trip)."""
    await ws.send_frame(wire.encode_frame(frame), aiohttp.WSMsgType.TEXT)


def reconnect_delay(failures: int, low: float, high: float) -> float:
    """Seconds before the next dial: a random point below a ceiling (full jitter) that is
    ``low`` for the first three failures (a hub restart refuses dials for a second or two,
    first while the old process stops, then while the new one starts), then doubles up to
    ``high``. After a hub restart a thousand agents come back spread over the first seconds,
    not in one, and not ``high`` late."""
    ceiling = min(high, low * 2 ** max(0, failures - 3))
    return random.uniform(0.0, ceiling)


def agent_version() -> str:
    try:
        return metadata.version("ispfleet")
    except metadata.PackageNotFoundError:
        return "dev"
