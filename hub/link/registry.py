"""The agent sockets held by this hub process: at most one live link per agent."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from common import wire

log = logging.getLogger(__name__)


@dataclass(eq=False)
class AgentConnection:
    """One agent's WebSocket; frames are sent one at a time."""

    agent_id: int
    tenant_id: int
    site: str
    ws: web.WebSocketResponse
    routers: dict[str, int] = field(default_factory=dict)  # name -> router id
    _send_lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def send(self, message_type: str, **payload: object) -> None:
        async with self._send_lock:
            await self.ws.send_str(wire.encode(message_type, **payload))

    async def send_frame(self, frame: wire.Frame) -> None:
        data = wire.encode_frame(frame).decode()
        async with self._send_lock:
            await self.ws.send_str(data)

    async def send_command(self, command: wire.Command) -> None:
        await self.send_frame(wire.CommandFrame(command=command))


class LinkRegistry:
    """agent id -> its current connection in this process."""

    def __init__(self) -> None:
        self._links: dict[int, AgentConnection] = {}
        self._cleanups: set[asyncio.Task[Any]] = set()

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Run socket bookkeeping in the background; ``drain`` waits for it at shutdown."""
        task = asyncio.ensure_future(coro)
        self._cleanups.add(task)
        task.add_done_callback(self._cleanup_done)
        return task

    def _cleanup_done(self, task: asyncio.Task[Any]) -> None:
        """Bookkeeping that failed is logged with its traceback, never lost silently."""
        self._cleanups.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.error("link bookkeeping failed task=%s", task.get_name(), exc_info=exc)

    async def finish(self, coro: Coroutine[Any, Any, Any]) -> None:
        """Run a socket's last bookkeeping to the end, even if its handler is cancelled."""
        await asyncio.shield(self.spawn(coro))

    async def drain(self) -> None:
        """Wait for every pending bookkeeping task (shutdown)."""
        if self._cleanups:
            await asyncio.gather(*self._cleanups, return_exceptions=True)

    def add(self, conn: AgentConnection) -> AgentConnection | None:
        """Hold ``conn``; returns the connection it replaces, if any."""
        previous = self._links.get(conn.agent_id)
        self._links[conn.agent_id] = conn
        return previous if previous is not conn else None

    def remove(self, conn: AgentConnection) -> bool:
        """Forget ``conn``; False if a newer connection of its agent already replaced it."""
        if self._links.get(conn.agent_id) is conn:
            del self._links[conn.agent_id]
            return True
        return False

    def get(self, agent_id: int) -> AgentConnection | None:
        return self._links.get(agent_id)

    def agent_ids(self) -> list[int]:
        return list(self._links)

    def __len__(self) -> int:
        return len(self._links)

    def __iter__(self) -> Iterator[AgentConnection]:
        return iter(list(self._links.values()))
