"""``Agent``: the edge agent's parts, wired together and run as named, monitored tasks.

    async with Agent(config) as agent:     # start-up jitter, open SQLite, start the loops
        await agent.submit(command)         # a hub command, executed in the background
        seq, routers = await agent.snapshot()

The hub link (``agent.hublink``) talks to it through exactly: ``config``, ``outbox``,
``router_infos()``, ``snapshot()``, ``submit()`` and ``hub_connected``. A long-running
task that fails (a bug: router trouble is handled inside the loops) is logged and
reported through ``failed`` (an asyncio.Event), so the program can stop and systemd restart it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections import defaultdict
from types import TracebackType

from common import wire

from .commands import CommandExecutor
from .config import AgentConfig
from .expiry import ExpiryEnforcer
from .mirror import RouterMirror
from .outbox import Outbox
from .routeros import RouterLink
from .store import Store, last_outbox_seq

log = logging.getLogger(__name__)

SHUTDOWN_GRACE = 5.0


class Agent:
    """Store, outbox, router links and mirrors, command executor, expiry enforcer."""

    def __init__(self, config: AgentConfig) -> None:
        self.config = config
        self.hub_connected = False
        self.links = {r.name: RouterLink(r) for r in config.routers}
        self.store: Store
        self.outbox: Outbox
        self.mirrors: dict[str, RouterMirror] = {}
        self.executor: CommandExecutor
        self.enforcer: ExpiryEnforcer
        self.failed = asyncio.Event()  # set when a long-running task died; see ``failure``
        self.failure: BaseException | None = None
        self._tasks: list[asyncio.Task] = []
        self._command_tasks: set[asyncio.Task] = set()
        self._stopping = False

    # -- lifecycle -----------------------------------------------------------------------------

    async def __aenter__(self) -> Agent:
        settings = self.config.agent
        if settings.startup_jitter > 0:
            # A thousand agents back after a blackout must not all arrive at once.
            delay = random.uniform(0, settings.startup_jitter)
            log.info("agent start-up jitter seconds=%.2f", delay)
            await asyncio.sleep(delay)
        self.store = await Store.open(settings.db_path)
        try:
            self.outbox = await Outbox.open(self.store, settings.outbox_max_rows)
            if forgotten := await self.store.forget_routers_except(list(self.links)):
                log.warning("cached sessions of unconfigured routers dropped count=%d", forgotten)
            self.enforcer = ExpiryEnforcer(settings, self.store, self.links)
            self.executor = CommandExecutor(
                self.store, self.links, self.enforcer.wake, mirrors=self.mirrors
            )
            for name, link in self.links.items():
                mirror = RouterMirror(settings, link, self.store)
                await mirror.load()
                self.mirrors[name] = mirror
        except BaseException:
            await self.store.close()
            raise
        for name, mirror in self.mirrors.items():
            self._start(mirror.run(), f"mirror:{name}")
        self._start(self.enforcer.run(), "enforcer")
        log.info(
            "agent started site=%s routers=%s state=%s outbox_rows=%d last_seq=%d",
            settings.site,
            ",".join(self.links),
            settings.db_path,
            self.outbox.rows,
            await self.outbox.last_seq(),
        )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stopping = True
        tasks = [*self._tasks, *self._command_tasks]
        # Commands under way get the grace period to finish and record their result.
        if self._command_tasks:
            await asyncio.wait(self._command_tasks, timeout=SHUTDOWN_GRACE)
        for task in tasks:
            task.cancel()
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=SHUTDOWN_GRACE)
            for task in pending:
                log.error("task did not stop in time task=%s", task.get_name())
        for link in self.links.values():
            await link.close()
        await self.store.close()
        log.info("agent stopped site=%s", self.config.agent.site)

    def _start(self, coro, name: str) -> None:
        task = asyncio.create_task(coro, name=name)
        task.add_done_callback(self._task_done)
        self._tasks.append(task)

    def _task_done(self, task: asyncio.Task) -> None:
        if task.cancelled() or self._stopping:
            return
        exc = task.exception() or RuntimeError(f"task {task.get_name()} ended")
        log.error("agent task failed task=%s error=%r", task.get_name(), exc, exc_info=exc)
        if self.failure is None:
            self.failure = exc
        self.failed.set()

    # -- what the hub link uses ----------------------------------------------------------------

    def router_infos(self) -> list[wire.RouterInfo]:
        return [
            wire.RouterInfo(name=r.name, host=r.host, port=r.api_port) for r in self.config.routers
        ]

    async def snapshot(self) -> tuple[int, list[wire.RouterSnapshot]]:
        """(as_of_seq, every router's health and sessions), read in one SQLite transaction."""
        sessions: dict[str, list[wire.Session]] = defaultdict(list)
        async with self.store.reading() as db:
            as_of_seq = await last_outbox_seq(db)
            rows = await db.execute_fetchall(
                "SELECT router, data FROM sessions ORDER BY router, kind, session_id"
            )
        for router, data in rows:
            sessions[router].append(wire.Session(**json.loads(data)))
        return as_of_seq, [
            wire.RouterSnapshot(router=name, health=mirror.health(), sessions=sessions[name])
            for name, mirror in self.mirrors.items()
        ]

    async def submit(self, command: wire.Command) -> None:
        """Run a hub command in the background; its result arrives through the outbox."""
        task = asyncio.create_task(self.executor.run(command), name=f"command:{command.id}")
        self._command_tasks.add(task)
        task.add_done_callback(self._command_done)

    def _command_done(self, task: asyncio.Task) -> None:
        self._command_tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error(
                "command task failed task=%s error=%r",
                task.get_name(),
                task.exception(),
                exc_info=task.exception(),
            )
