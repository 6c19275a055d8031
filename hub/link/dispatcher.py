"""Commands from the hub to agents, whichever hub process holds the agent's socket.

A command is a ``commands`` row first. The process that holds the agent's socket sends it; any
other process wakes the holder with ``NOTIFY ispfleet_command '<id>'``. The result comes back as
a ``command.result`` event to the holder, which records it and sends
``NOTIFY ispfleet_command_result '<id>'``; the process that is waiting reads it and returns it.
A periodic sweep repairs anything a lost notification would have left behind.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import asyncpg

from common import wire
from common.timeutil import to_iso
from hub.domain import AgentPresence, CommandOutcome, QueuedCommand
from hub.errors import AgentUnavailable, CommandTimedOut, InvalidInput, NotFound
from hub.link.registry import AgentConnection, LinkRegistry
from hub.metrics import HubMetrics
from hub.storage import link as storage

log = logging.getLogger(__name__)


# Fills in a queued command's args as it leaves for agent <id>: a command whose args must not
# rest in the commands table (routers.sync carries router passwords) is stored empty.
Expander = Callable[[int], Awaitable[dict[str, Any]]]


class CommandDispatcher:
    """Sends commands to agents and waits for their results."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        registry: LinkRegistry,
        metrics: HubMetrics,
        *,
        offline_after: float,
    ) -> None:
        self._pool = pool
        self._commands = storage.CommandRepository(pool)
        self._registry = registry
        self._metrics = metrics
        self._offline_after = offline_after
        self._waiting: dict[str, asyncio.Future[wire.CommandResult]] = {}
        self._waiting_agent: dict[str, int] = {}  # command id -> agent id
        self.expanders: dict[str, Expander] = {}  # command name -> its args at send time

    async def execute(
        self,
        *,
        tenant_id: int,
        agent_id: int,
        router_id: int,
        router_name: str,
        name: str,
        args: dict[str, Any],
        requested_by: str,
        timeout: float,
    ) -> wire.CommandResult:
        """Run ``name`` on the agent's router and return the agent's result.

        Raises AgentUnavailable at once when no hub process holds the agent, CommandTimedOut
        when no result arrives within ``timeout`` seconds (the command then expires).
        """
        if name not in wire.COMMAND_NAMES:
            raise InvalidInput(f"unknown command {name!r}")
        if timeout <= 0:
            raise InvalidInput("timeout must be greater than 0")
        loop = asyncio.get_running_loop()
        started = loop.time()
        target = await self._commands.command_target(
            tenant_id=tenant_id, agent_id=agent_id, router_id=router_id
        )
        if target is None:
            raise NotFound("router not found")
        held = self._registry.get(agent_id)
        if held is None and not self._is_present(target):
            raise AgentUnavailable(f"the agent of router {router_name} is not connected")

        command_id = str(uuid.uuid4())
        future: asyncio.Future[wire.CommandResult] = loop.create_future()
        self._waiting[command_id] = future
        self._waiting_agent[command_id] = agent_id
        try:
            async with self._pool.acquire() as conn, conn.transaction():
                deadline = await storage.CommandRepository(conn).insert_command(
                    command_id=command_id,
                    tenant_id=tenant_id,
                    agent_id=agent_id,
                    router_id=router_id,
                    name=name,
                    args=args,
                    requested_by=requested_by,
                    timeout_seconds=timeout,
                    notify=held is None,
                )
            if held is not None:
                await self._claim_and_send([agent_id], [command_id])
            remaining = max(0.0, timeout - (loop.time() - started))
            try:
                result = await asyncio.wait_for(asyncio.shield(future), remaining)
            except TimeoutError:
                result = await self._expire(command_id, name, router_name, timeout)
        finally:
            self._waiting.pop(command_id, None)
            self._waiting_agent.pop(command_id, None)
        self._metrics.command_round_trip_seconds.labels(command=name).observe(loop.time() - started)
        log.info(
            "command done id=%s name=%s agent=%s router=%s ok=%s deadline=%s",
            command_id,
            name,
            agent_id,
            router_name,
            result.ok,
            to_iso(deadline),
        )
        return result

    def _is_present(self, target: AgentPresence) -> bool:
        silence = target.silence_seconds
        return target.connected and silence is not None and silence < self._offline_after

    async def _expire(
        self, command_id: str, name: str, router_name: str, waited: float
    ) -> wire.CommandResult:
        if await self._commands.expire_command(command_id):
            log.warning("command expired id=%s name=%s router=%s", command_id, name, router_name)
            raise CommandTimedOut(
                f"the agent of router {router_name} did not answer {name} within {waited:g} s"
            )
        # The result was recorded in the instant the wait gave up: return it.
        (outcome,) = await self._commands.finished_commands([command_id])
        if outcome.status == "lost":
            raise AgentUnavailable(outcome.error or "agent gone")
        return _result_of(outcome)

    async def queue(
        self,
        *,
        tenant_id: int,
        agent_id: int,
        name: str,
        args: dict[str, Any],
        requested_by: str,
        timeout: float,
        router_id: int | None = None,
    ) -> str:
        """Queue a command without waiting for its result (sent now if the agent is held here,
        else by its holder, or at its next connect within ``timeout``); returns its id."""
        command_id = str(uuid.uuid4())
        held = self._registry.get(agent_id) is not None
        await self._commands.insert_command(
            command_id=command_id,
            tenant_id=tenant_id,
            agent_id=agent_id,
            router_id=router_id,
            name=name,
            args=args,
            requested_by=requested_by,
            timeout_seconds=timeout,
            notify=not held,
        )
        if held:
            await self._claim_and_send([agent_id], [command_id])
        return command_id

    # --- results ------------------------------------------------------------------------------

    async def agent_gone(self, agent_id: int, reason: str) -> None:
        """The agent's link here ended: its unanswered commands fail now, here and elsewhere.

        Waiters in this process get AgentUnavailable at once; the commands become 'lost' (with
        the reason) and a result notification wakes waiters in other processes the same way.
        """
        try:
            lost = await self._commands.lose_agent_commands(agent_id, reason)
        finally:
            for command_id, waiting_agent in list(self._waiting_agent.items()):
                future = self._waiting.get(command_id)
                if waiting_agent == agent_id and future is not None and not future.done():
                    future.set_exception(AgentUnavailable(reason))
        if lost:
            log.warning("commands lost with their agent agent=%s count=%s", agent_id, len(lost))

    def resolve(self, result: wire.CommandResult) -> None:
        """A result this process ingested itself."""
        future = self._waiting.get(result.command_id)
        if future is not None and not future.done():
            future.set_result(result)

    async def on_result_notice(self, command_id: str) -> None:
        """Another process (or this one) recorded a result; wake its waiter if it is here."""
        future = self._waiting.get(command_id)
        if future is None or future.done():
            return
        await self._resolve_finished([command_id])

    async def _resolve_finished(self, command_ids: list[str]) -> None:
        for outcome in await self._commands.finished_commands(command_ids):
            if outcome.status == "lost":
                future = self._waiting.get(outcome.id)
                if future is not None and not future.done():
                    future.set_exception(AgentUnavailable(outcome.error or "agent gone"))
            else:
                self.resolve(_result_of(outcome))

    # --- sending ------------------------------------------------------------------------------

    async def on_command_notice(self, command_id: str) -> None:
        """Another process queued a command; send it if this process holds the agent."""
        if len(self._registry):
            await self._claim_and_send(self._registry.agent_ids(), [command_id])

    async def push_pending(self, conn: AgentConnection) -> int:
        """Send a (re)connected agent every command it may have missed; how many."""
        records = await self._commands.reclaim_agent_commands(conn.agent_id)
        await self._send_records(records)
        return len(records)

    async def sweep(self) -> None:
        """Repair what lost notifications would leave: unsent commands, unseen results."""
        waiting = [cid for cid, future in self._waiting.items() if not future.done()]
        if waiting:
            await self._resolve_finished(waiting)
        if len(self._registry):
            await self._claim_and_send(self._registry.agent_ids(), None)

    async def _claim_and_send(self, agent_ids: list[int], command_ids: list[str] | None) -> None:
        records = await self._commands.claim_commands(agent_ids=agent_ids, command_ids=command_ids)
        await self._send_records(records)

    async def _send_records(self, records: Iterable[QueuedCommand]) -> None:
        for record in records:
            expand = self.expanders.get(record.name)
            conn = self._registry.get(record.agent_id)
            command = wire.Command(
                id=record.id,
                name=record.name,
                router=record.router,
                args=await expand(record.agent_id) if expand and conn else record.args,
                deadline=to_iso(record.deadline),
            )
            try:
                if conn is None:
                    raise ConnectionResetError("agent left this process")
                await conn.send_command(command)
            except (ConnectionError, RuntimeError) as exc:
                log.warning("command not sent id=%s error=%s", command.id, exc)
                await self._commands.unsend_command(command.id)
            else:
                log.debug("command sent id=%s agent=%s", command.id, record.agent_id)


def _result_of(outcome: CommandOutcome) -> wire.CommandResult:
    return wire.CommandResult(
        command_id=outcome.id,
        name=outcome.name,
        ok=outcome.status == "done",
        result=outcome.result or {},
        error=outcome.error,
        latency_ms=outcome.latency_ms,
    )
