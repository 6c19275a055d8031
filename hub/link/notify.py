"""LISTEN on Postgres channels with one dedicated connection, re-established if it drops.

Notifications are dispatched as tasks to async handlers taking the payload; a handler's failure
is logged, never fatal. While the connection is down notifications are lost, which is why the
dispatcher also sweeps periodically.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping

import asyncpg

log = logging.getLogger(__name__)

Handler = Callable[[str], Awaitable[None]]
RETRY_SECONDS = 2.0
START_TIMEOUT = 30.0


class NotificationListener:
    def __init__(self, pool: asyncpg.Pool, handlers: Mapping[str, Handler]) -> None:
        self._pool = pool
        self._handlers = dict(handlers)
        self._tasks: set[asyncio.Task[None]] = set()
        self._ready = asyncio.Event()
        self._runner: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Begin listening; returns once the channels are subscribed."""
        self._runner = asyncio.create_task(self._run(), name="link-listener")
        ready = asyncio.create_task(self._ready.wait())
        done, _ = await asyncio.wait(
            {ready, self._runner}, timeout=START_TIMEOUT, return_when=asyncio.FIRST_COMPLETED
        )
        if ready not in done:
            ready.cancel()
            await self.stop()
            raise RuntimeError("cannot LISTEN for agent link notifications")

    async def stop(self) -> None:
        tasks = [t for t in (self._runner, *self._tasks) if t is not None]
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
        task = asyncio.create_task(self._dispatch(channel, payload))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _dispatch(self, channel: str, payload: str) -> None:
        try:
            await self._handlers[channel](payload)
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
            log.warning(
                "notification not handled channel=%s payload=%s error=%r", channel, payload, exc
            )
