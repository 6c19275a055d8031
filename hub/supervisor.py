"""One supervisor for the hub's background tasks: named, logged when they die, restarted.

A supervised task is a coroutine factory run forever. When it raises, the traceback is logged
and, by rule:

- a task marked ``critical`` stops the process (``on_fatal``: SIGTERM to itself, so the hub
  shuts down cleanly, exits non-zero and systemd starts it again);
- any other task is restarted after a back-off that doubles from ``backoff_initial`` up to
  ``backoff_max`` and starts over once a run has lasted ``backoff_max``; after
  ``max_failures`` failures in a row it is treated as critical (restarting is not helping).

A task that returns is restarted the same way (these loops are meant to run until cancelled).
Short one-off tasks (e.g. one per notification) go through ``spawn``: not restarted, but their
failure is logged with its traceback instead of vanishing, and they are cancelled on close.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)

Factory = Callable[[], Awaitable[None]]
FatalHandler = Callable[[str, BaseException | None], None]


def terminate_process(name: str, exc: BaseException | None) -> None:
    """Default ``on_fatal``: a clean shutdown of this process via SIGTERM (aiohttp handles it)."""
    os.kill(os.getpid(), signal.SIGTERM)


@dataclass(slots=True)
class TaskState:
    """What the supervisor knows of one named task (read by tests and metrics)."""

    name: str
    critical: bool
    runs: int = 0  # times started
    failures: int = 0  # times it died, in total
    failing: int = 0  # failures in a row
    last_error: BaseException | None = None
    runner: asyncio.Task[None] | None = field(default=None, repr=False)


class Supervisor:
    def __init__(
        self,
        *,
        backoff_initial: float = 1.0,
        backoff_max: float = 60.0,
        max_failures: int = 10,
        on_fatal: FatalHandler = terminate_process,
        grace: float = 5.0,
    ) -> None:
        if backoff_initial <= 0 or backoff_max < backoff_initial or max_failures < 1:
            raise ValueError("supervisor needs 0 < backoff_initial <= backoff_max, max_failures>=1")
        self._backoff_initial = backoff_initial
        self._backoff_max = backoff_max
        self._max_failures = max_failures
        self._on_fatal = on_fatal
        self._grace = grace
        self._tasks: dict[str, TaskState] = {}
        self._spawned: set[asyncio.Task[Any]] = set()
        self._closed = False
        self.fatal: str | None = None  # the task that stopped the process, if one did

    @property
    def tasks(self) -> dict[str, TaskState]:
        return dict(self._tasks)

    def start(self, name: str, factory: Factory, *, critical: bool = False) -> TaskState:
        """Run ``factory()`` under supervision until ``stop(name)`` or ``close()``."""
        if self._closed:
            raise RuntimeError("supervisor is closed")
        if name in self._tasks:
            raise ValueError(f"a task named {name!r} is already supervised")
        state = self._tasks[name] = TaskState(name, critical)
        state.runner = asyncio.create_task(self._supervise(state, factory), name=name)
        return state

    @property
    def closed(self) -> bool:
        """Shutting down: nothing new should start."""
        return self._closed

    def spawn(self, name: str, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """A one-off task whose failure is logged with its traceback; cancelled on close."""
        task = asyncio.create_task(coro, name=name)
        self._spawned.add(task)
        task.add_done_callback(self._spawn_done)
        return task

    def _spawn_done(self, task: asyncio.Task[Any]) -> None:
        self._spawned.discard(task)
        if task.cancelled():
            return
        if (exc := task.exception()) is not None:
            log.error("task failed name=%s", task.get_name(), exc_info=exc)

    async def _supervise(self, state: TaskState, factory: Factory) -> None:
        loop = asyncio.get_running_loop()
        delay = self._backoff_initial
        while True:
            state.runs += 1
            started = loop.time()
            error: BaseException | None = None
            try:
                await factory()
                log.error("task returned, restarting it name=%s", state.name)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                error = exc
                log.error("task died name=%s runs=%s", state.name, state.runs, exc_info=exc)
            state.failures += 1
            state.last_error = error
            if loop.time() - started >= self._backoff_max:
                state.failing, delay = 0, self._backoff_initial  # it had been healthy a while
            state.failing += 1
            if state.critical or state.failing >= self._max_failures:
                self.fatal = state.name
                log.critical(
                    "critical task failed, stopping the hub name=%s failures_in_a_row=%s",
                    state.name,
                    state.failing,
                )
                self._on_fatal(state.name, error)
                return
            log.warning("task restarting name=%s in_seconds=%.2f", state.name, delay)
            await asyncio.sleep(delay)
            delay = min(self._backoff_max, delay * 2)

    async def stop(self, name: str) -> None:
        """Cancel one supervised task and wait for it (up to the grace period)."""
        state = self._tasks.pop(name, None)
        if state is not None and state.runner is not None:
            await self._cancel([state.runner])

    async def close(self) -> None:
        """Cancel every task, supervised and spawned; log what did not end within the grace."""
        self._closed = True
        runners = [s.runner for s in self._tasks.values() if s.runner is not None]
        self._tasks.clear()
        await self._cancel([*runners, *self._spawned])

    async def _cancel(self, tasks: list[asyncio.Task[Any]]) -> None:
        for task in tasks:
            task.cancel()
        if not tasks:
            return
        done, pending = await asyncio.wait(tasks, timeout=self._grace)
        for task in pending:
            log.error("task did not stop within grace name=%s", task.get_name())
        for task in done:
            with contextlib.suppress(asyncio.CancelledError):
                if (exc := task.exception()) is not None:
                    log.error("task failed while stopping name=%s", task.get_name(), exc_info=exc)
