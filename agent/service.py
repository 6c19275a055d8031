"""``Agent``: the edge agent's parts, wired together and run under one ``Supervisor``.

    async with Agent(config) as agent:     # start-up jitter, open SQLite, start the loops
        await agent.submit(command)         # a hub command, executed in the background
        seq, routers = await agent.snapshot()

Routers come from agent.toml and from the hub (devices created through /v1, wire.ROUTERS_SYNC):
``sync_routers`` starts, restarts and stops the hub's ones at runtime (``_start_router`` /
``_stop_router``), and keeps the set in SQLite so a restart with the hub away still runs them.

The supervised loops: one mirror per router, the expiry enforcer, the site access (voucher
redemption and upkeep, the billing check: agent/vouchers.py) and, when ``hub.url`` and
``hub.credential`` are set, the hub link (``agent.hublink.HubLink``). The hub link talks to
the Agent through exactly: ``config``, ``outbox``, ``router_infos()``, ``snapshot()``,
``submit()`` and ``hub_connected``. A loop never ends on its own (router and hub trouble
are handled inside): one that raises or returns is a bug, logged with its traceback, and it
stops the agent (``failed`` is set, ``on_failure`` callbacks run) so systemd restarts it.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import defaultdict
from collections.abc import Callable, Coroutine
from types import TracebackType
from typing import TYPE_CHECKING, Any

from common import wire
from common.wire import as_dict

from .billing import BillingGuard
from .commands import CommandExecutor
from .config import AgentConfig, RouterSettings
from .expiry import ExpiryEnforcer
from .mirror import RouterMirror
from .outbox import Outbox
from .routeros import RouterLink
from .store import Store
from .vouchers import SiteAccess, VoucherKeeper

if TYPE_CHECKING:
    from .hublink import HubLink

log = logging.getLogger(__name__)

SHUTDOWN_GRACE = 5.0


class Supervisor:
    """Every long-running task of the agent, named and watched, and stopped in one place.

    ``loop()`` tasks must run until cancelled: the first that raises or returns is logged
    with its traceback, kept in ``failure`` (its name in ``failed_task``), and ``failed`` is
    set. ``job()`` tasks (hub commands) end when done; one that raises is logged. ``stop()``
    lets jobs finish within the grace period, then cancels everything and waits as long again.
    """

    def __init__(self, grace: float = SHUTDOWN_GRACE) -> None:
        self.grace = grace
        self.failed = asyncio.Event()
        self.failure: BaseException | None = None
        self.failed_task: str | None = None
        self._loops: set[asyncio.Task] = set()
        self._jobs: set[asyncio.Task] = set()
        self._callbacks: list[Callable[[BaseException], None]] = []
        self._stopping = False

    async def cancel(self, task: asyncio.Task) -> None:
        """Stop one loop on purpose (a router the hub took away): not a failure."""
        task.cancel()
        await asyncio.wait({task}, timeout=self.grace)
        if not task.done():
            log.error("task did not stop in time task=%s", task.get_name())

    def loop(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task:
        task = asyncio.create_task(coro, name=name)
        self._loops.add(task)
        task.add_done_callback(self._loop_done)
        return task

    def job(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task:
        task = asyncio.create_task(coro, name=name)
        self._jobs.add(task)
        task.add_done_callback(self._job_done)
        return task

    def on_failure(self, callback: Callable[[BaseException], None]) -> None:
        """Call ``callback(exc)`` at the first failure (at once if there already was one)."""
        self._callbacks.append(callback)
        if self.failure is not None:
            callback(self.failure)

    def _loop_done(self, task: asyncio.Task) -> None:
        self._loops.discard(task)
        if self._stopping or task.cancelled():
            return
        exc = task.exception() or RuntimeError(f"task {task.get_name()} ended")
        log.error("agent task failed task=%s error=%r", task.get_name(), exc, exc_info=exc)
        if self.failure is not None:
            return
        self.failure, self.failed_task = exc, task.get_name()
        self.failed.set()
        for callback in self._callbacks:
            callback(exc)

    def _job_done(self, task: asyncio.Task) -> None:
        self._jobs.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.error("agent job failed task=%s error=%r", task.get_name(), exc, exc_info=exc)

    async def stop(self) -> None:
        self._stopping = True
        if self._jobs:  # commands under way get the grace period to record their result
            await asyncio.wait(set(self._jobs), timeout=self.grace)
        tasks = self._loops | self._jobs
        for task in tasks:
            task.cancel()
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=self.grace)
            for task in pending:
                log.error("task did not stop in time task=%s", task.get_name())


class Agent:
    """Store, outbox, router links and mirrors, command executor, expiry enforcer, vouchers
    and billing, hub link."""

    def __init__(self, config: AgentConfig) -> None:
        self.config = config
        self.hub_connected = False
        self.links = {r.name: RouterLink(r) for r in config.routers}
        # The routers the hub manages here (routers.sync), by name, as last applied.
        self.managed: dict[str, wire.ManagedRouter] = {}
        self._mirror_tasks: dict[str, asyncio.Task] = {}
        self._routers_lock = asyncio.Lock()
        self.store: Store
        self.outbox: Outbox
        self.mirrors: dict[str, RouterMirror] = {}
        self.executor: CommandExecutor
        self.enforcer: ExpiryEnforcer
        self.vouchers: VoucherKeeper
        self.billing: BillingGuard
        self.access: SiteAccess
        self.hublink: HubLink | None = None  # while a hub is configured
        self.supervisor = Supervisor(SHUTDOWN_GRACE)

    @property
    def failed(self) -> asyncio.Event:
        """Set when a supervised loop died; see ``failure``."""
        return self.supervisor.failed

    @property
    def failure(self) -> BaseException | None:
        return self.supervisor.failure

    def on_failure(self, callback: Callable[[BaseException], None]) -> None:
        self.supervisor.on_failure(callback)

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
            for managed in await self.store.managed_routers():
                if managed.name in self.links:
                    log.error("hub router skipped: agent.toml has router=%s", managed.name)
                    continue
                self.managed[managed.name] = managed
                self.links[managed.name] = RouterLink(self._managed_settings(managed))
            if forgotten := await self.store.forget_routers_except(list(self.links)):
                log.warning("cached sessions of unconfigured routers dropped count=%d", forgotten)
            self.enforcer = ExpiryEnforcer(settings, self.store, self.links)
            self.vouchers = VoucherKeeper(settings, self.store, self.links, self.enforcer.wake)
            self.billing = BillingGuard(
                self.store,
                {
                    r.name: (set(r.billing_exempt_users), set(r.billing_exempt_profiles))
                    for r in self.config.routers
                    if r.billing
                },
            )
            self.access = SiteAccess(settings, self.vouchers, self.billing, self.mirrors)
            self.executor = CommandExecutor(
                self.store,
                self.links,
                self.enforcer.wake,
                mirrors=self.mirrors,
                vouchers=self.vouchers,
                on_entitlements_synced=self.enforcer.repair_soon,
            )
            for name, link in self.links.items():
                self.mirrors[name] = await self._mirror(link)
            last_seq = await self.outbox.last_seq()
        except BaseException:
            await self.store.close()
            raise
        for name, mirror in self.mirrors.items():
            self._mirror_tasks[name] = self.supervisor.loop(mirror.run(), f"mirror:{name}")
        self.supervisor.loop(self.enforcer.run(), "enforcer")
        self.supervisor.loop(self.access.run(), "site-access")
        if self.config.hub.url and self.config.hub.credential:
            from .hublink import HubLink  # it imports this module's Agent for its types

            self.hublink = HubLink(self.config.hub, self)
            self.supervisor.loop(self.hublink.run(), "hublink")
        log.info(
            "agent started site=%s routers=%s state=%s outbox_rows=%d last_seq=%d hub=%s",
            settings.site,
            ",".join(self.links),
            settings.db_path,
            self.outbox.rows,
            last_seq,
            self.config.hub.url if self.hublink is not None else "none",
        )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.supervisor.stop()
        for link in self.links.values():
            await link.close()
        await self.store.close()
        log.info("agent stopped site=%s", self.config.agent.site)

    # -- routers at runtime --------------------------------------------------------------------

    async def _mirror(self, link: RouterLink) -> RouterMirror:
        mirror = RouterMirror(self.config.agent, link, self.store)
        mirror.on_hotspot = self.access.on_hotspot
        await mirror.load()
        return mirror

    def _managed_settings(self, router: wire.ManagedRouter) -> RouterSettings:
        """How to reach a hub router: its address and login; timeouts and backoff like the
        first agent.toml router's (the site's own tuning), else the defaults."""
        template = self.config.routers[0] if self.config.routers else None
        tuning = {}
        if template is not None:
            for key in ("connect_timeout", "command_timeout", "listen_timeout"):
                tuning[key] = getattr(template, key)
            tuning.update(backoff_min=template.backoff_min, backoff_max=template.backoff_max)
        return RouterSettings(
            name=router.name,
            host=router.host,
            port=router.port,
            username=router.username,
            password=router.password,
            tls=router.tls,
            **tuning,
        )

    async def _start_router(self, router: wire.ManagedRouter) -> None:
        link = RouterLink(self._managed_settings(router))
        self.links[router.name] = link
        mirror = await self._mirror(link)
        self.mirrors[router.name] = mirror
        self.managed[router.name] = router
        task = self.supervisor.loop(mirror.run(), f"mirror:{router.name}")
        self._mirror_tasks[router.name] = task
        log.info("hub router started router=%s address=%s", router.name, link.settings.address)

    async def _stop_router(self, name: str) -> None:
        """Stop mirroring, close the router's connections, forget what it reported."""
        self.managed.pop(name, None)
        self.mirrors.pop(name, None)
        task = self._mirror_tasks.pop(name, None)
        if task is not None:
            await self.supervisor.cancel(task)
        link = self.links.pop(name, None)
        if link is not None:
            await link.close()
        await self.store.forget_routers_except(list(self.links))
        log.info("hub router stopped router=%s", name)

    async def sync_routers(self, command: wire.Command) -> wire.CommandResult:
        """Apply a routers.sync: the hub's routers become exactly the listed ones (new ones
        started, changed ones restarted, others stopped); the set and the result are stored
        in one transaction, then reported like any command's."""
        started = time.perf_counter()
        async with self._routers_lock:
            try:
                wanted = {r.name: r for r in wire.parse_routers_sync(command.args).routers}
            except wire.WireError as exc:
                result = self._result(command, started, {}, [str(exc)])
                await self._report(result, None)
                return result
            refused = [
                f"router {name!r} is configured in agent.toml: the hub's is not run"
                for name in wanted
                if name in self.links and name not in self.managed
            ]
            wanted = {n: r for n, r in wanted.items() if n in self.managed or n not in self.links}
            stopped = [n for n in self.managed if wanted.get(n) != self.managed[n]]
            added = [n for n in wanted if self.managed.get(n) != wanted[n]]
            for name in stopped:
                await self._stop_router(name)
            for name in added:
                await self._start_router(wanted[name])
            outcome = {
                "routers": sorted(wanted),
                "started": sorted(set(added) - set(stopped)),
                "restarted": sorted(set(added) & set(stopped)),
                "stopped": sorted(set(stopped) - set(added)),
            }
            result = self._result(command, started, outcome, refused)
            await self._report(result, list(wanted.values()))
        if added or stopped:
            log.info("hub routers synced %s", outcome)
        return result

    @staticmethod
    def _result(
        command: wire.Command, started: float, outcome: dict[str, Any], errors: list[str]
    ) -> wire.CommandResult:
        latency = round((time.perf_counter() - started) * 1000, 3)
        return wire.CommandResult(
            command.id,
            command.name,
            not errors,
            {**outcome, "errors": errors},
            "; ".join(errors) or None,
            latency,
        )

    async def _report(
        self, result: wire.CommandResult, routers: list[wire.ManagedRouter] | None
    ) -> None:
        async with self.store.transaction() as tx:
            if routers is not None:
                await tx.replace_managed_routers(routers)
            await tx.append_event(wire.COMMAND_RESULT, None, as_dict(result))

    # -- what the hub link uses ----------------------------------------------------------------

    def router_infos(self) -> list[wire.RouterInfo]:
        """Every router the agent runs: agent.toml's and the hub's."""
        return [
            wire.RouterInfo(name=name, host=link.settings.host, port=link.settings.api_port)
            for name, link in self.links.items()
        ]

    async def snapshot(self) -> tuple[int, list[wire.RouterSnapshot]]:
        """(as_of_seq, every router's health, sessions and hotspot users), read in one SQLite
        transaction. A router whose users were never printed sends none (the hub keeps its)."""
        sessions: dict[str, list[wire.Session]] = defaultdict(list)
        users: dict[str, list[wire.HotspotUser]] = defaultdict(list)
        as_of_seq, session_rows, user_rows, known = await self.store.snapshot_rows()
        for router, data in session_rows:
            sessions[router].append(Store.decode_session(data))
        for router, data in user_rows:
            users[router].append(Store.decode_hotspot_user(data))
        return as_of_seq, [
            wire.RouterSnapshot(
                router=name,
                health=mirror.health(),
                sessions=sessions[name],
                hotspot_users=users[name] if name in known else None,
            )
            for name, mirror in self.mirrors.items()
        ]

    async def submit(self, command: wire.Command) -> None:
        """Run a hub command in the background; its result arrives through the outbox."""
        if command.name == wire.ROUTERS_SYNC:  # a command of the whole agent, not of a router
            self.supervisor.job(self.sync_routers(command), f"command:{command.id}")
            return
        self.supervisor.job(self.executor.run(command), f"command:{command.id}")
