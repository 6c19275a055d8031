"""LISTEN on Postgres channels with one dedicated connection, re-established if it drops.

Notifications are dispatched as tasks to async handlers taking the payload; a handler's failure
is logged, never fatal. While the connection is down notifications are lost, which is why the
dispatcher also sweeps periodically. The listening loop runs under the hub's supervisor (named
"link-listener", restarted if it dies of anything unexpected) and each notification's task is
spawned through it, so no failure vanishes silently.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping

import asyncpg

from hub.supervisor import Supervisor

log = logging.getLogger(__name__)

Handler = Callable[[str], Awaitable[None]]
RETRY_SECONDS = 2.0
START_TIMEOUT = 30.0


class NotificationListener:
    NAME = "link-listener"

    def __init__(
        self, pool: asyncpg.Pool, handlers: Mapping[str, Handler], supervisor: Supervisor
    ) -> None:
        self._pool = pool
        self._handlers = dict(handlers)
        self._supervisor = supervisor
        self._tasks: set[asyncio.Task[None]] = set()
        self._ready = asyncio.Event()

    async def start(self) -> None:
        """Begin listening; returns once the channels are subscribed."""
        self._supervisor.start(self.NAME, self._run)
        try:
            await asyncio.wait_for(self._ready.wait(), START_TIMEOUT)
        except TimeoutError:
            await self.stop()
            raise RuntimeError("cannot LISTEN for agent link notifications") from None

    async def stop(self) -> None:
        await self._supervisor.stop(self.NAME)
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        while True:
            try:
                async with self._pool.acquire() as conn:
                    await self._listen(conn)
            except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
                log.warning("notification listener lost error=%r", exc)
            finally:
                self._ready.clear()
            await asyncio.sleep(RETRY_SECONDS)

    async def _listen(self, conn: asyncpg.Connection) -> None:
        lost = asyncio.Event()
        conn.add_termination_listener(lambda _conn: lost.set())
        for channel in self._handlers:
            await conn.add_listener(channel, self._on_notification)
        try:
            self._ready.set()
            log.info("listening channels=%s", ",".join(self._handlers))
            await lost.wait()
        finally:
            with contextlib.suppress(asyncpg.InterfaceError, asyncpg.PostgresError, OSError):
                for channel in self._handlers:
                    await conn.remove_listener(channel, self._on_notification)

    def _on_notification(
        self, _conn: asyncpg.Connection, _pid: int, channel: str, payload: str
    ) -> None:
        task = self._supervisor.spawn(f"notification-{channel}", self._dispatch(channel, payload))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _dispatch(self, channel: str, payload: str) -> None:
        try:
            await self._handlers[channel](payload)
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
            log.warning(
                "notification not handled channel=%s payload=%s error=%r", channel, payload, exc
            )
