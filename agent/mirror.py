"""The session mirror of one router: listen + periodic prints -> diff -> outbox events.

Coordinator style: the mirror is the only thing that polls its router; it keeps the last
good data (health, sessions, interfaces) in memory for /metrics and the hub's snapshots,
logs a failing collector once and its recovery once, and never lets one failing menu
stop the others. Arrivals and departures come from ``listen`` within a second; a print
every ``counters_interval`` refreshes counters and repairs whatever a listen missed.

Every diff is written with its events in one transaction, so the cache and the outbox
always agree, across reconnects and restarts: a session that ended while the agent was
away gives exactly one ``session.ended`` at the first print after it is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from common import wire
from common.timeutil import to_iso

from . import const, parse
from .config import AgentSettings
from .errors import RouterCommandError, RouterUnavailable
from .routeros import LinkState, RouterLink, Row, is_true
from .store import Store, as_dict

log = logging.getLogger(__name__)

SESSION_KINDS = ("hotspot", "ppp")
STATUS_META = "router_status:{router}"


@dataclass(slots=True)
class CollectorStat:
    """How the last run of one collector went."""

    duration: float = 0.0
    success: bool = False
    failing: bool = False
    runs: int = 0


def _activity(session: wire.Session) -> tuple:
    """Everything a hub cares to be told about, i.e. all but the ever-growing uptime."""
    return (
        session.bytes_in,
        session.bytes_out,
        session.idle_seconds,
        session.ip_address,
        session.login_by,
        session.server,
    )


def _is_other_session(old: wire.Session, new: wire.Session) -> bool:
    """The router reused an id (hotspot ids follow the client IP) for another login."""
    return (
        new.username != old.username
        or new.mac_address != old.mac_address
        or new.uptime_seconds < old.uptime_seconds
    )


class RouterMirror:
    """One router's coordinator."""

    def __init__(self, settings: AgentSettings, link: RouterLink, store: Store) -> None:
        self.settings = settings
        self.link = link
        self.name = link.name
        self.store = store
        self.sessions: dict[str, dict[str, wire.Session]] = {kind: {} for kind in SESSION_KINDS}
        self.identity: str | None = None
        self.resource: parse.Resource | None = None
        self.interfaces: dict[str, parse.InterfaceCounters] = {}
        self.hotspot_users: tuple[int, int] | None = None  # (total, disabled)
        self.ip_bindings: dict[str, int] | None = None  # type -> count
        self.collectors: dict[str, CollectorStat] = {}
        self.poll_errors = 0
        self.listening: set[str] = set()  # session kinds whose listen is open right now
        self._recorded_status: str | None = None
        self._touched: dict[tuple[str, str], float] = {}
        self._lock = asyncio.Lock()
        self._resync = asyncio.Event()
        self._status_changed = asyncio.Event()
        link.on_change(self._on_link_change)

    # -- lifecycle -----------------------------------------------------------------------------

    async def load(self) -> None:
        """Fill the in-memory mirror from the SQLite cache (what the last run saw)."""
        for _, kind, session in await self.store.sessions(self.name):
            self.sessions.setdefault(kind, {})[session.session_id] = session
        self._recorded_status = await self.store.get_meta(STATUS_META.format(router=self.name))

    async def run(self) -> None:
        """Forever: connect with backoff, mirror until the router is lost, repeat."""
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self._status_loop(), name=f"mirror-status:{self.name}")
            tg.create_task(self._supervise(), name=f"mirror:{self.name}")

    def request_resync(self) -> None:
        """Print the sessions now rather than at the next interval."""
        self._resync.set()

    def health(self) -> wire.RouterHealth:
        """The router's health from what the mirror already holds (no router round trip)."""
        state = self.link.state
        res = self.resource
        return wire.RouterHealth(
            status="online" if state.online else "offline",
            since=to_iso(state.since),
            error=None if state.online else state.error,
            identity=self.identity,
            version=res.version if res else None,
            board_name=res.board_name if res else None,
            cpu_load=res.cpu_load if res else None,
            free_memory=res.free_memory if res else None,
            total_memory=res.total_memory if res else None,
            uptime_seconds=res.uptime_seconds if res else None,
            hotspot_active=len(self.sessions["hotspot"]),
            ppp_active=len(self.sessions["ppp"]),
            hotspot_users=self.hotspot_users[0] if self.hotspot_users else None,
        )

    # -- router up / down ----------------------------------------------------------------------

    def _on_link_change(self, state: LinkState) -> None:
        self._status_changed.set()

    async def _status_loop(self) -> None:
        """Record each change of online/offline once (also across restarts)."""
        while True:
            await self._status_changed.wait()
            self._status_changed.clear()
            state = self.link.state
            if state.status in ("unknown", self._recorded_status):
                continue
            if state.online:
                kind, data = wire.ROUTER_UP, {"since": to_iso(state.since)}
            else:
                kind, data = wire.ROUTER_DOWN, {"since": to_iso(state.since), "error": state.error}
            async with self.store.transaction() as tx:
                await tx.append_event(kind, self.name, data)
                await tx.set_meta(STATUS_META.format(router=self.name), state.status)
            self._recorded_status = state.status

    # -- the connected phase -------------------------------------------------------------------

    async def _supervise(self) -> None:
        while True:
            await self.link.connect_with_backoff()
            try:
                await self._run_connected()
            except* RouterUnavailable as group:
                log.debug("mirror lost router=%s error=%s", self.name, group.exceptions[0])

    async def _run_connected(self) -> None:
        """Listens and polls until one of them finds the router gone (RouterUnavailable)."""
        self.identity = None
        s = self.settings
        async with asyncio.TaskGroup() as tg:
            for kind in SESSION_KINDS:
                tg.create_task(self._listen_loop(kind), name=f"listen:{self.name}:{kind}")
            # PPP sessions take their byte counters from their dynamic interfaces: read the
            # interfaces just before them.
            tg.create_task(
                self._every(
                    min(s.counters_interval, s.reconcile_interval),
                    [
                        ("hotspot_sessions", self._sessions_poller("hotspot")),
                        ("interfaces", self.poll_interfaces),
                        ("ppp_sessions", self._sessions_poller("ppp")),
                    ],
                    wake=self._resync,
                ),
                name=f"poll-sessions:{self.name}",
            )
            tg.create_task(
                self._every(s.health_interval, [("health", self.poll_health)]),
                name=f"poll-health:{self.name}",
            )
            tg.create_task(
                self._every(s.reconcile_interval, [("hotspot_config", self.poll_hotspot_config)]),
                name=f"poll-hotspot-config:{self.name}",
            )

    async def _every(
        self,
        interval: float,
        collectors: list[tuple[str, Callable[[], Awaitable[None]]]],
        wake: asyncio.Event | None = None,
    ) -> None:
        """Run the collectors now and then every ``interval`` (sooner when woken)."""
        while True:
            if wake is not None:
                wake.clear()
            for name, collect in collectors:
                await self._collect(name, collect)
            if wake is None:
                await asyncio.sleep(interval)
            else:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(interval):
                        await wake.wait()

    async def _collect(self, name: str, collect: Callable[[], Awaitable[None]]) -> None:
        stat = self.collectors.get(name) or CollectorStat()
        started = time.perf_counter()
        try:
            await collect()
        except (RouterCommandError, ValueError) as exc:
            self._collector_failed(name, stat, exc)
        except RouterUnavailable as exc:
            self._collector_failed(name, stat, exc, quiet=True)
            raise
        else:
            if stat.failing:
                log.info("collector recovered router=%s collector=%s", self.name, name)
            stat.success, stat.failing = True, False
        finally:
            stat.duration = time.perf_counter() - started
            stat.runs += 1
            self.collectors[name] = stat  # listed only once it has run

    def _collector_failed(
        self, name: str, stat: CollectorStat, exc: Exception, quiet: bool = False
    ) -> None:
        self.poll_errors += 1
        if not stat.failing and not quiet:
            log.warning("collector failing router=%s collector=%s error=%s", self.name, name, exc)
        stat.success, stat.failing = False, True

    # -- sessions ------------------------------------------------------------------------------

    def _sessions_poller(self, kind: str) -> Callable[[], Awaitable[None]]:
        async def poll() -> None:
            await self.poll_sessions(kind)

        return poll

    async def poll_sessions(self, kind: str) -> None:
        """Print one session menu and diff it against the cache."""
        poll_started = time.monotonic()
        rows = await self.link.call(
            f"{const.SESSION_MENUS[kind]}/print", **{".proplist": const.SESSION_PROPLIST[kind]}
        )
        parser = parse.SESSION_PARSERS[kind]
        fresh: dict[str, wire.Session] = {}
        for row in rows:
            session = parser(row)
            if session is not None:
                fresh[session.session_id] = session
        if kind == "ppp":
            for session in fresh.values():
                self._ppp_counters(session)
        await self._apply(kind, fresh, poll_started)

    def _ppp_counters(self, session: wire.Session) -> None:
        """A PPP session's bytes are those of its ``<pppoe-NAME>`` interface (rx = from client)."""
        iface = self.interfaces.get(f"<{session.login_by}-{session.username}>")
        if iface is not None:
            session.bytes_in, session.bytes_out = iface.rx_bytes, iface.tx_bytes

    async def _apply(self, kind: str, fresh: dict[str, wire.Session], poll_started: float) -> None:
        async with self._lock:
            cached = self.sessions[kind]
            # Items a listen reported after the print started are newer than the print.
            recent = {
                sid for (k, sid), t in self._touched.items() if k == kind and t >= poll_started
            }
            self._touched = {key: t for key, t in self._touched.items() if t >= poll_started}
            started: list[wire.Session] = []
            changed: list[wire.Session] = []
            updated: list[wire.Session] = []
            ended: list[wire.Session] = []
            for sid, new in fresh.items():
                old = cached.get(sid)
                if old is None:
                    if sid not in recent:
                        started.append(new)
                elif _is_other_session(old, new):
                    ended.append(old)
                    started.append(new)
                elif new != old:
                    changed.append(new)
                    if _activity(new) != _activity(old):
                        updated.append(new)
            gone = [old for sid, old in cached.items() if sid not in fresh and sid not in recent]
            ended.extend(gone)
            if not (started or changed or ended):
                return
            events = [(wire.SESSION_ENDED, self.name, as_dict(s)) for s in ended]
            events += [(wire.SESSION_STARTED, self.name, as_dict(s)) for s in started]
            events += [(wire.SESSION_UPDATED, self.name, as_dict(s)) for s in updated]
            async with self.store.transaction() as tx:
                await tx.delete_sessions(self.name, kind, [s.session_id for s in gone])
                await tx.put_sessions(self.name, kind, started + changed)
                await tx.append_events(events)
            for session in gone:
                del cached[session.session_id]
            for session in started + changed:
                cached[session.session_id] = session

    async def _listen_loop(self, kind: str) -> None:
        """Arrivals and departures as they happen; any trouble -> reopen and re-print."""
        menu = const.SESSION_MENUS[kind]
        reopened = False
        while True:
            try:
                async with self.link.listener(menu) as listener:
                    self.listening.add(kind)
                    try:
                        if reopened:
                            self.request_resync()
                        while True:
                            await self._on_listen(kind, await listener.next())
                    finally:
                        self.listening.discard(kind)
            except RouterCommandError as exc:
                # The menu does not exist here (no hotspot package, say): the prints cover it.
                log.info("listen unavailable router=%s menu=%s error=%s", self.name, menu, exc)
                await asyncio.sleep(self.settings.reconcile_interval)
            except RouterUnavailable as exc:
                log.debug("listen interrupted router=%s menu=%s error=%s", self.name, menu, exc)
                self.request_resync()
                await asyncio.sleep(random.uniform(0.2, 1.0))
            reopened = True

    async def _on_listen(self, kind: str, row: Row) -> None:
        sid = row.get(".id")
        if not sid:
            return
        async with self._lock:
            self._touched[(kind, sid)] = time.monotonic()
            cached = self.sessions[kind]
            old = cached.get(sid)
            if is_true(row.get(".dead")):
                if old is not None:
                    async with self.store.transaction() as tx:
                        await tx.delete_sessions(self.name, kind, [sid])
                        await tx.append_event(wire.SESSION_ENDED, self.name, as_dict(old))
                    del cached[sid]
                return
            if old is not None:
                return  # counters and idle are the prints' business
            try:
                new = parse.SESSION_PARSERS[kind](row)
            except ValueError as exc:
                log.warning("listen row unreadable router=%s error=%s", self.name, exc)
                new = None
            if new is None:
                self.request_resync()
                return
            if kind == "ppp":
                self._ppp_counters(new)
            async with self.store.transaction() as tx:
                await tx.put_sessions(self.name, kind, [new])
                await tx.append_event(wire.SESSION_STARTED, self.name, as_dict(new))
            cached[sid] = new

    # -- health, interfaces, hotspot configuration ---------------------------------------------

    async def poll_health(self) -> None:
        if self.identity is None:
            rows = await self.link.call(f"{const.SYSTEM_IDENTITY}/print")
            self.identity = rows[0].get("name") if rows else None
        rows = await self.link.call(
            f"{const.SYSTEM_RESOURCE}/print", **{".proplist": const.RESOURCE_PROPLIST}
        )
        if not rows:
            raise ValueError("/system/resource returned no row")
        self.resource = parse.resource(rows[0])
        await self.store_event(wire.ROUTER_HEALTH, as_dict(self.health()))

    async def poll_interfaces(self) -> None:
        rows = await self.link.call(
            f"{const.INTERFACE}/print", **{".proplist": const.INTERFACE_PROPLIST}
        )
        counters = (parse.interface(row) for row in rows)
        self.interfaces = {c.name: c for c in counters if c is not None}

    async def poll_hotspot_config(self) -> None:
        users = await self.link.call(
            f"{const.HOTSPOT_USER}/print", **{".proplist": const.USER_PROPLIST}
        )
        self.hotspot_users = (len(users), sum(is_true(u.get("disabled")) for u in users))
        bindings = await self.link.call(
            f"{const.HOTSPOT_BINDING}/print", **{".proplist": const.BINDING_PROPLIST}
        )
        by_type: dict[str, int] = {}
        for binding in bindings:
            kind = binding.get("type", "regular")
            by_type[kind] = by_type.get(kind, 0) + 1
        self.ip_bindings = by_type

    async def store_event(self, kind: str, data: dict) -> None:
        async with self.store.transaction() as tx:
            await tx.append_event(kind, self.name, data)
