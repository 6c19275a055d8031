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
from common.durations import parse_duration
from common.timeutil import to_iso

from . import const, parse
from .config import AgentSettings
from .errors import RouterCommandError, RouterUnavailable
from .hotspot_users import HotspotUserMirror
from .routeros import LinkState, RouterLink, Row, is_true
from .store import Store, as_dict, encode

log = logging.getLogger(__name__)

SESSION_KINDS = ("hotspot", "ppp")
STATUS_META = "router_status:{router}"
# The router clock (its uptime, seconds) when the cached sessions of a kind were last
# written: with each cached uptime it gives the login times again after an agent restart.
CLOCK_META = "router_clock:{router}:{kind}"
# A session seen again after the mirror was blind is another login when its login time (router
# clock minus uptime) is later than the one recorded by more than this: uptime is whole
# seconds, and the router clock between health polls is extrapolated.
LOGIN_SLACK = 10.0
# Seconds after which a session found already gone, still cached, counts as stale.
STALE_RECHECK = 1.0
# The config menus the disconnect reads from memory (see ``config_trusted``).
CONFIG_PARTS = frozenset({"users", "bindings", "secrets"})


@dataclass(slots=True)
class CollectorStat:
    """How the last run of one collector went."""

    duration: float = 0.0
    success: bool = False
    failing: bool = False
    runs: int = 0


@dataclass(slots=True)
class _BadRow:
    """A print row that did not parse: its id (maybe empty) and why."""

    session_id: str
    error: str


def _reportable(old: wire.Session, new: wire.Session, step_bytes: int, step_idle: float) -> bool:
    """Worth a session.updated: the address or login changed, the bytes moved by more than
    ``step_bytes`` since the last report, or the idle time by more than ``step_idle``. The
    ever-growing uptime alone never is (the login clock, cached once, keeps login times)."""
    if new.ip_address != old.ip_address or new.login_by != old.login_by or new.server != old.server:
        return True
    if abs(new.bytes_in - old.bytes_in) + abs(new.bytes_out - old.bytes_out) > step_bytes:
        return True
    if new.idle_seconds is None or old.idle_seconds is None:
        return new.idle_seconds != old.idle_seconds
    return abs(new.idle_seconds - old.idle_seconds) > step_idle


def _is_other_session(
    old: wire.Session,
    new: wire.Session,
    old_login: float | None = None,
    new_login: float | None = None,
) -> bool:
    """The router reused an id (hotspot ids follow the client IP) for another login.

    Uptime alone misses a client that logged out and in while the mirror was blind and has
    been up at least as long as the mirror last saw: then the login method, counters going
    down, or a login time (router clock minus uptime) later than the recorded one tell.
    """
    if (
        new.username != old.username
        or new.mac_address != old.mac_address
        or new.login_by != old.login_by
        or new.uptime_seconds < old.uptime_seconds
    ):
        return True
    # PPP counters come from the session's interface (absent for a moment): hotspot only.
    if new.kind == "hotspot" and (new.bytes_in < old.bytes_in or new.bytes_out < old.bytes_out):
        return True
    return old_login is not None and new_login is not None and new_login > old_login + LOGIN_SLACK


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
        # The configured hotspot users, by name, as the hub is told of them.
        self.hotspot = HotspotUserMirror(self.name, store, self._note_bad_rows)
        self.ip_bindings: dict[str, int] | None = None  # type -> count
        # The rows of the config prints, for a disconnect without prints of its own.
        self.users: dict[str, list[Row]] = {}  # hotspot user name -> rows
        self.bindings: list[Row] = []  # every ip-binding
        self.secrets: dict[str, list[Row]] = {}  # PPP secret name -> rows
        self.bad_rows = 0  # router rows that did not parse (skipped)
        self.listen_failures: dict[str, int] = {kind: 0 for kind in SESSION_KINDS}
        self.listen_ceilings: dict[str, list[float]] = {kind: [] for kind in SESSION_KINDS}
        self._config_fresh: set[str] = set()
        self._bindings_live = False  # the ip-binding listen is open: ``bindings`` follows it
        self._binding_journal: list[Row] | None = None  # listen rows during a bindings print
        self._config_generation = 0
        self._config_wake = asyncio.Event()
        self._printed: set[str] = set()  # session kinds printed since the last connect
        self._blind: set[str] = set()  # session kinds whose listen missed something
        self._login_at: dict[tuple[str, str], float] = {}  # (kind, id) -> router clock at login
        self._resource_at = 0.0  # monotonic time of ``resource``
        self._bad_logged: set[str] = set()
        self._dead_at: dict[tuple[str, str], float] = {}  # (kind, id) -> when it went
        self._departure = asyncio.Event()  # set (and replaced) whenever a session goes
        self._transitions: list[LinkState] = []
        self.collectors: dict[str, CollectorStat] = {}
        self.poll_errors = 0
        self.listening: set[str] = set()  # session kinds whose listen is open right now
        self._recorded_status: str | None = None
        self._touched: dict[tuple[str, str], float] = {}
        self._lock = asyncio.Lock()
        self._resync = asyncio.Event()
        self._status_changed = asyncio.Event()
        # Called with the hotspot sessions that started (and with none after every hotspot
        # print): voucher redemption and the billing check (agent/vouchers.py SiteAccess).
        self.on_hotspot: Callable[[str, list[wire.Session]], None] | None = None
        link.on_change(self._on_link_change)

    # -- lifecycle -----------------------------------------------------------------------------

    async def load(self) -> None:
        """Fill the in-memory mirror from the SQLite cache (what the last run saw).

        The sessions' login times come back from the router clock stored with them, and the
        mirror starts blind: the first print reads the clock, so a client that logged out and
        in while the agent was away shows as a new session even under the same id.
        """
        for _, kind, session in await self.store.sessions(self.name):
            self.sessions.setdefault(kind, {})[session.session_id] = session
        self._recorded_status = await self.store.get_meta(STATUS_META.format(router=self.name))
        await self.hotspot.load()
        logins = await self.store.session_logins(self.name)
        for kind in SESSION_KINDS:
            stored = await self.store.get_meta(CLOCK_META.format(router=self.name, kind=kind))
            try:
                clock = float(stored) if stored is not None else None
            except ValueError:
                clock = None
            if clock is None:
                continue
            for sid, session in self.sessions[kind].items():
                self._login_at[(kind, sid)] = clock - session.uptime_seconds
        self._login_at.update(logins)  # rows written since login clocks were kept
        self._blind.update(SESSION_KINDS)

    async def run(self) -> None:
        """Forever: connect with backoff, mirror until the router is lost, repeat."""
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self._status_loop(), name=f"mirror-status:{self.name}")
            tg.create_task(self._supervise(), name=f"mirror:{self.name}")

    def request_resync(self) -> None:
        """Print the sessions now rather than at the next interval."""
        self._resync.set()

    @property
    def hotspot_users(self) -> tuple[int, int] | None:
        """(configured hotspot users, of them disabled), by name; None until known."""
        return self.hotspot.counts()

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
        self._transitions.append(state)
        self._status_changed.set()

    async def _status_loop(self) -> None:
        """Record each change of online/offline once (also across restarts).

        Every transition is queued by the link's callback, so a down and up that both happen
        before this loop wakes (a short flap) are both recorded, in order.
        """
        while True:
            await self._status_changed.wait()
            self._status_changed.clear()
            while self._transitions:
                await self._record_status(self._transitions.pop(0))

    async def _record_status(self, state: LinkState) -> None:
        if state.status in ("unknown", self._recorded_status):
            return
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
            finally:
                # Whatever happened meanwhile is unknown until the next prints.
                self._printed.clear()
                self._config_fresh.clear()
                self._blind.update(SESSION_KINDS)

    async def _run_connected(self) -> None:
        """Listens and polls until one of them finds the router gone (RouterUnavailable)."""
        self.identity = None
        s = self.settings
        async with asyncio.TaskGroup() as tg:
            for kind in SESSION_KINDS:
                tg.create_task(self._listen_loop(kind), name=f"listen:{self.name}:{kind}")
            tg.create_task(self._bindings_listen_loop(), name=f"listen:{self.name}:bindings")
            tg.create_task(self._users_listen_loop(), name=f"listen:{self.name}:users")
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
                self._every(
                    s.reconcile_interval,
                    [
                        ("hotspot_config", self.poll_hotspot_config),
                        ("ppp_config", self.poll_ppp_config),
                    ],
                    wake=self._config_wake,
                ),
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
        """Print one session menu and diff it against the cache.

        A row that does not parse is skipped (counted, logged once): its session keeps what
        the cache holds, and every other row still counts. After the mirror was blind (router
        lost, listen reopened) the router clock is read first, so a login reusing an id shows
        by its login time.
        """
        blind = kind in self._blind
        if blind and kind in self.listening:
            self._blind.discard(kind)  # the listen sees every change from here on
        poll_started = time.monotonic()
        clock = await self.read_router_clock() if blind else None
        parser = parse.SESSION_PARSERS[kind]

        def parsed(row: Row) -> wire.Session | _BadRow | None:
            """Each row parsed as it is read: the print is never held as a list of dicts."""
            try:
                return parser(row)
            except ValueError as exc:
                return _BadRow(row.get(".id", ""), str(exc))

        rows = await self.link.call_parsed(
            f"{const.SESSION_MENUS[kind]}/print",
            parsed,
            **{".proplist": const.SESSION_PROPLIST[kind]},
        )
        fresh: dict[str, wire.Session] = {}
        bad: list[str] = []
        for session in rows:
            if type(session) is _BadRow:
                bad.append(session.error)
                kept = self.sessions[kind].get(session.session_id)
                if kept is not None:
                    fresh[kept.session_id] = kept
            elif session is not None:
                fresh[session.session_id] = session
        self._note_bad_rows(kind, bad)
        if kind == "ppp":
            for session in fresh.values():
                self._ppp_counters(session)
        started = await self._apply(kind, fresh, poll_started, clock)
        self._printed.add(kind)
        if kind == "hotspot" and self.on_hotspot is not None:
            self.on_hotspot(self.name, started)

    def _note_bad_rows(self, what: str, bad: list[str]) -> None:
        """Count unparsable rows; log the first of a run once, and once when they stop."""
        if bad:
            self.bad_rows += len(bad)
            if what not in self._bad_logged:
                self._bad_logged.add(what)
                log.warning(
                    "router rows skipped router=%s menu=%s count=%d error=%s",
                    self.name,
                    what,
                    len(bad),
                    bad[0],
                )
        elif what in self._bad_logged:
            self._bad_logged.discard(what)
            log.info("router rows readable again router=%s menu=%s", self.name, what)

    async def read_router_clock(self) -> float | None:
        """The router's uptime now (one print); also refreshes the extrapolation base."""
        rows = await self.link.call(f"{const.SYSTEM_RESOURCE}/print", **{".proplist": "uptime"})
        uptime = rows[0].get("uptime") if rows else None
        if not uptime:
            return None
        seconds = float(parse_duration(uptime))
        if self.resource is not None:
            self.resource.uptime_seconds = int(seconds)
        self._resource_at = time.monotonic()
        return seconds

    def router_clock(self, at: float | None = None) -> float | None:
        """The router's uptime at monotonic time ``at`` (now), extrapolated from the last
        health poll (no round trip)."""
        res = self.resource
        if res is None or res.uptime_seconds is None:
            return None
        return res.uptime_seconds + ((at or time.monotonic()) - self._resource_at)

    def _note_login(self, kind: str, session: wire.Session, clock: float | None) -> None:
        clock = clock if clock is not None else self.router_clock()
        if clock is not None:
            self._login_at[(kind, session.session_id)] = clock - session.uptime_seconds

    def _note_gone(self, kind: str, sid: str) -> None:
        self._login_at.pop((kind, sid), None)
        self._note_dead(kind, sid)

    def _note_dead(self, kind: str, sid: str) -> None:
        now = time.monotonic()
        self._dead_at[(kind, sid)] = now
        if len(self._dead_at) > 4096:
            self._dead_at = {k: t for k, t in self._dead_at.items() if now - t < 60.0}
        self._departure.set()
        self._departure = asyncio.Event()

    def _ppp_counters(self, session: wire.Session) -> None:
        """A PPP session's bytes are those of its ``<pppoe-NAME>`` interface (rx = from client)."""
        iface = self.interfaces.get(f"<{session.login_by}-{session.username}>")
        if iface is not None:
            session.bytes_in, session.bytes_out = iface.rx_bytes, iface.tx_bytes

    async def _apply(
        self,
        kind: str,
        fresh: dict[str, wire.Session],
        poll_started: float,
        clock: float | None = None,
    ) -> list[wire.Session]:
        """Diff a print against the cache; ``clock`` (router uptime) is given after blindness.
        Returns the sessions that started."""
        async with self._lock:
            cached = self.sessions[kind]
            # Items a listen reported after the print started are newer than the print.
            recent = {
                sid for (k, sid), t in self._touched.items() if k == kind and t >= poll_started
            }
            self._touched = {key: t for key, t in self._touched.items() if t >= poll_started}
            started: list[wire.Session] = []
            updated: list[wire.Session] = []
            ended: list[wire.Session] = []
            steps = (self.settings.counters_step_bytes, self.settings.counters_step_idle)
            print_clock = clock if clock is not None else self.router_clock(poll_started)
            noted: dict[str, float] = {}  # session id -> login clock, for unreported sessions
            for sid, new in fresh.items():
                old = cached.get(sid)
                if old is None:
                    if sid not in recent:
                        started.append(new)
                elif _is_other_session(
                    old,
                    new,
                    self._login_at.get((kind, sid)),
                    None if clock is None else clock - new.uptime_seconds,
                ):
                    ended.append(old)
                    started.append(new)
                elif _reportable(old, new, *steps):
                    updated.append(new)
                elif (kind, sid) not in self._login_at and print_clock is not None:
                    # First seen before the router clock was known: its login time, kept.
                    self._note_login(kind, new, print_clock)
                    noted[sid] = self._login_at[(kind, sid)]
            gone = [old for sid, old in cached.items() if sid not in fresh and sid not in recent]
            ended.extend(gone)
            if not (started or updated or ended or noted):
                return started
            # Each reported session encoded once: the cache row and the outbox row share it.
            written = started + updated
            encoded = {s.session_id: encode(s) for s in written}
            events = [(wire.SESSION_ENDED, self.name, encode(s)) for s in ended]
            events += [(wire.SESSION_STARTED, self.name, encoded[s.session_id]) for s in started]
            events += [(wire.SESSION_UPDATED, self.name, encoded[s.session_id]) for s in updated]
            # Login clocks: new for arrivals (and sessions first seen before the clock was
            # known), else the one held; set in memory once the ends are noted, after commit.
            now_clock = clock if clock is not None else self.router_clock()
            fresh_logins: dict[str, float] = {}
            logins: dict[str, float] = {}
            arrived = {s.session_id for s in started}
            for session in written:
                sid = session.session_id
                held = self._login_at.get((kind, sid))
                if (held is None or sid in arrived) and now_clock is not None:
                    fresh_logins[sid] = held = now_clock - session.uptime_seconds
                if held is not None:
                    logins[sid] = held
            async with self.store.transaction() as tx:
                await tx.delete_sessions(self.name, kind, [s.session_id for s in gone])
                await tx.put_sessions(self.name, kind, written, encoded=encoded, logins=logins)
                await tx.append_events(events)
                await tx.set_session_logins(self.name, kind, noted)
                if print_clock is not None and started:
                    meta = CLOCK_META.format(router=self.name, kind=kind)
                    await tx.set_meta(meta, f"{print_clock:.3f}")
            for session in ended:
                self._note_gone(kind, session.session_id)
            for session in gone:
                del cached[session.session_id]
            for sid, at in fresh_logins.items():
                self._login_at[(kind, sid)] = at
            for session in written:
                cached[session.session_id] = session
            return started

    def _listen_backoff(self, kind: str) -> float:
        """Jittered exponential backoff between failed listens (full jitter, capped)."""
        settings = self.link.settings
        failures = self.listen_failures[kind] = self.listen_failures[kind] + 1
        ceiling = min(settings.backoff_max, settings.backoff_min * 2 ** (failures - 1))
        ceilings = self.listen_ceilings[kind]
        ceilings.append(ceiling)
        del ceilings[:-20]
        return random.uniform(0, ceiling)

    async def _listen_loop(self, kind: str) -> None:
        """Arrivals and departures as they happen; any trouble -> reopen and re-print.

        A listen that fails again and again (the router's API session limit, say) is retried
        with jittered exponential backoff, reset once a listen has stayed up.
        """
        menu = const.SESSION_MENUS[kind]
        reopened = False
        while True:
            opened = None
            try:
                async with self.link.listener(menu) as listener:
                    opened = time.monotonic()
                    self.listening.add(kind)
                    try:
                        if reopened:
                            self.request_resync()
                        while True:
                            row = await listener.next()
                            self.listen_failures[kind] = 0  # it works: a row came
                            await self._on_listen(kind, row)
                    finally:
                        self.listening.discard(kind)
            except RouterCommandError as exc:
                # The menu does not exist here (no hotspot package, say): the prints cover it.
                log.info("listen unavailable router=%s menu=%s error=%s", self.name, menu, exc)
                await asyncio.sleep(self.settings.reconcile_interval)
            except RouterUnavailable as exc:
                log.debug("listen interrupted router=%s menu=%s error=%s", self.name, menu, exc)
                self._blind.add(kind)
                self.request_resync()
                stayed = opened is not None and time.monotonic() - opened >= (
                    self.link.settings.backoff_max
                )
                if stayed:
                    self.listen_failures[kind] = 0
                await asyncio.sleep(self._listen_backoff(kind))
            reopened = True

    async def _on_listen(self, kind: str, row: Row) -> None:
        sid = row.get(".id")
        if not sid:
            return
        if is_true(row.get(".dead")):
            # The router says it is gone: a disconnect waiting on it need not wait for the
            # cache and outbox write below (an fsync).
            self._note_dead(kind, sid)
        async with self._lock:
            self._touched[(kind, sid)] = time.monotonic()
            cached = self.sessions[kind]
            old = cached.get(sid)
            if is_true(row.get(".dead")):
                if old is not None:
                    async with self.store.transaction() as tx:
                        await tx.delete_sessions(self.name, kind, [sid])
                        await tx.append_event(wire.SESSION_ENDED, self.name, encode(old))
                    del cached[sid]
                    self._note_gone(kind, sid)
                return
            if old is not None:
                return  # counters and idle are the prints' business
            try:
                new = parse.SESSION_PARSERS[kind](row)
            except ValueError as exc:
                self._note_bad_rows(f"{kind}/listen", [str(exc)])
                new = None
            if new is None:
                self.request_resync()
                return
            if kind == "ppp":
                self._ppp_counters(new)
            clock = self.router_clock()
            self._note_login(kind, new, clock)
            data = encode(new)
            login = self._login_at.get((kind, sid))
            async with self.store.transaction() as tx:
                await tx.put_sessions(
                    self.name,
                    kind,
                    [new],
                    encoded={sid: data},
                    logins={sid: login} if login is not None else None,
                )
                await tx.append_event(wire.SESSION_STARTED, self.name, data)
                if clock is not None:
                    meta = CLOCK_META.format(router=self.name, kind=kind)
                    await tx.set_meta(meta, f"{clock:.3f}")
            cached[sid] = new
        if kind == "hotspot" and self.on_hotspot is not None:
            self.on_hotspot(self.name, [new])

    # -- what a disconnect reads from memory ---------------------------------------------------

    def sessions_trusted(self) -> bool:
        """Both session menus are printed since the last connect and their listens are open:
        the cache holds every session but one that began in the last instant."""
        return self._printed >= set(SESSION_KINDS) and self.listening >= set(SESSION_KINDS)

    def config_trusted(self) -> bool:
        """Users, bindings and PPP secrets were printed since the last connect, the agent
        changed none of them since (``config_changed``), and the ip-binding listen keeps
        ``bindings`` live (a binding made by hand counts at once). Users and secrets made by
        hand since are found by name (see ``actions.disconnect_user``)."""
        return self._bindings_live and self._config_fresh >= CONFIG_PARTS

    async def _bindings_listen_loop(self) -> None:
        """Follow ``/ip/hotspot/ip-binding`` so the disconnect never misses a binding."""

        def live(now: bool) -> None:
            self._bindings_live = now
            if now:  # what changed while no listen was open: print the bindings again
                self._config_fresh.discard("bindings")
                self._config_wake.set()

        await self._follow(const.HOTSPOT_BINDING, self._on_binding, live)

    async def _users_listen_loop(self) -> None:
        """Follow ``/ip/hotspot/user`` so the hub hears of a user added, changed or removed
        within a second; a (re)opened listen prints the users again for what it missed."""

        def live(now: bool) -> None:
            if now:
                self._config_wake.set()

        await self._follow(const.HOTSPOT_USER, self.hotspot.on_listen, live)

    async def _follow(
        self,
        menu: str,
        on_row: Callable[[Row], Awaitable[None] | None],
        live: Callable[[bool], None],
    ) -> None:
        """Listen on a config menu forever: each row to ``on_row``; ``live(True)`` once the
        listen is open, ``live(False)`` when it closes; jittered backoff between failures."""
        failures = 0
        while True:
            opened = None
            try:
                async with self.link.listener(menu) as listener:
                    opened = time.monotonic()
                    live(True)
                    try:
                        while True:
                            handled = on_row(await listener.next())
                            if handled is not None:
                                await handled
                            failures = 0
                    finally:
                        live(False)
            except RouterCommandError as exc:
                log.info("listen unavailable router=%s menu=%s error=%s", self.name, menu, exc)
                await asyncio.sleep(self.settings.reconcile_interval)
            except RouterUnavailable as exc:
                log.debug("listen interrupted router=%s menu=%s error=%s", self.name, menu, exc)
                settings = self.link.settings
                if opened is not None and time.monotonic() - opened >= settings.backoff_max:
                    failures = 0
                failures += 1
                ceiling = min(settings.backoff_max, settings.backoff_min * 2 ** (failures - 1))
                await asyncio.sleep(random.uniform(0, ceiling))

    def _on_binding(self, row: Row) -> None:
        if not row.get(".id"):
            return
        if self._binding_journal is not None:
            self._binding_journal.append(row)
        self._apply_binding(row)

    def _apply_binding(self, row: Row) -> None:
        item = row[".id"]
        rest = [b for b in self.bindings if b.get(".id") != item]
        if is_true(row.get(".dead")):
            self.bindings = rest
        else:
            old = next((b for b in self.bindings if b.get(".id") == item), {})
            self.bindings = [*rest, {**old, **row}]

    def config_changed(self) -> None:
        """The agent changed users or bindings in a way the cache cannot follow: print anew."""
        self._config_generation += 1
        self._config_fresh.clear()
        self._config_wake.set()

    def note_users_disabled(self, ids: set[str]) -> None:
        """Keep the cache true after the agent disabled these hotspot users."""
        for rows in self.users.values():
            for row in rows:
                if row.get(".id") in ids:
                    row["disabled"] = "true"

    def note_secrets_disabled(self, ids: set[str]) -> None:
        for rows in self.secrets.values():
            for row in rows:
                if row.get(".id") in ids:
                    row["disabled"] = "true"

    def note_bindings_removed(self, ids: set[str]) -> None:
        self.bindings = [b for b in self.bindings if b.get(".id") not in ids]

    def is_gone(self, kind: str, sid: str, since: float, strict: bool = False) -> bool:
        """The listen showed the session go (``.dead``) at or after ``since``, or (unless
        ``strict``: a session the mirror had not seen yet) it is no longer in the cache."""
        if self._dead_at.get((kind, sid), -1.0) >= since:
            return True
        return not strict and sid not in self.sessions[kind]

    def check_stale(self, keys: set[tuple[str, str]], since: float, settled: set[str]) -> None:
        """Sessions a disconnect found already gone from the router: if the cache still holds
        one, print again (its ``.dead`` was missed). Where the listen of that kind has shown
        a later removal (``settled``), any earlier ``.dead`` is in already; else look again
        in a second, when it would have come."""

        def stale() -> list[tuple[str, str]]:
            return [(k, sid) for k, sid in keys if not self.is_gone(k, sid, since)]

        now = stale()
        if any(kind in settled for kind, _ in now):
            self.request_resync()
        elif now:
            loop = asyncio.get_running_loop()
            loop.call_later(STALE_RECHECK, lambda: stale() and self.request_resync())

    async def wait_gone(
        self,
        wanted: list[tuple[str, str]],
        since: float,
        within: float,
        strict: set[tuple[str, str]] | frozenset[tuple[str, str]] = frozenset(),
    ) -> bool:
        """Wait (at most ``within`` s) until the listen has seen each (kind, id) go."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within

        def all_gone() -> bool:
            return all(self.is_gone(k, sid, since, (k, sid) in strict) for k, sid in wanted)

        while not all_gone():
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            departure = self._departure
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(remaining):
                    await departure.wait()
        return True

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
        self._resource_at = time.monotonic()
        await self.store_event(wire.ROUTER_HEALTH, as_dict(self.health()))

    async def poll_interfaces(self) -> None:
        rows = await self.link.call(
            f"{const.INTERFACE}/print", **{".proplist": const.INTERFACE_PROPLIST}
        )
        interfaces: dict[str, parse.InterfaceCounters] = {}
        bad: list[str] = []
        for row in rows:
            try:
                counters = parse.interface(row)
            except ValueError as exc:
                bad.append(str(exc))
                if (kept := self.interfaces.get(row.get("name", ""))) is not None:
                    interfaces[kept.name] = kept
                continue
            if counters is not None:
                interfaces[counters.name] = counters
        self._note_bad_rows("interface", bad)
        self.interfaces = interfaces

    async def poll_hotspot_config(self) -> None:
        generation = self._config_generation
        self.hotspot.begin_print()
        try:
            users = await self.link.call(
                f"{const.HOTSPOT_USER}/print", **{".proplist": const.USER_MIRROR_PROPLIST}
            )
        except BaseException:
            self.hotspot.abort_print()
            raise
        await self.hotspot.reconcile(users)
        by_name: dict[str, list[Row]] = {}
        for user in users:
            by_name.setdefault(user.get("name", ""), []).append(user)
        self.users = by_name
        self._binding_journal = []
        try:
            bindings = await self.link.call(
                f"{const.HOTSPOT_BINDING}/print", **{".proplist": const.BINDING_PROPLIST}
            )
        except BaseException:
            self._binding_journal = None
            raise
        by_type: dict[str, int] = {}
        for binding in bindings:
            kind = binding.get("type", "regular")
            by_type[kind] = by_type.get(kind, 0) + 1
        self.ip_bindings = by_type
        self.bindings = bindings
        journal, self._binding_journal = self._binding_journal or [], None
        for row in journal:  # the listen saw these during the print: they may be newer
            self._apply_binding(row)
        if generation == self._config_generation:
            self._config_fresh |= {"users", "bindings"}

    async def poll_ppp_config(self) -> None:
        generation = self._config_generation
        secrets = await self.link.call(
            f"{const.PPP_SECRET}/print", **{".proplist": const.SECRET_PROPLIST}
        )
        by_name: dict[str, list[Row]] = {}
        for secret in secrets:
            by_name.setdefault(secret.get("name", ""), []).append(secret)
        self.secrets = by_name
        if generation == self._config_generation:
            self._config_fresh.add("secrets")

    async def store_event(self, kind: str, data: dict) -> None:
        async with self.store.transaction() as tx:
            await tx.append_event(kind, self.name, data)
