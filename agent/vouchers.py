"""Vouchers at the site: hotspot users the agent creates, redeemed on the router's own login
page, enforced here with or without the hub.

    vouchers.sync (hub) -> SQLite 'new' -> hotspot user on the router ('ready')
    first session of a voucher user (the mirror) -> in one SQLite transaction: 'redeemed'
        (MAC, redeemed_at = login, expires_at = login + the plan's duration), a local
        entitlement (the ExpiryEnforcer cuts it on time), a voucher_redeemed outbox event
        -> the user's mac-address set on the router: no second device gets in with the code
    unused past valid_until -> the hotspot user removed ('removed')

Everything after the sync is local: a voucher sold while the WAN is down works, and its
redemption reaches the hub through the outbox when the link is back. ``SiteAccess`` runs the
redemption and then the billing check (agent/billing.py) in one task, in that order, so a
voucher's first session is never cut as unpaid.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from common import wire
from common.timeutil import parse_iso, to_iso

from . import actions
from .billing import BillingGuard
from .config import AgentSettings
from .errors import CommandRejected, RouterCommandError, RouterUnavailable
from .routeros import RouterLink
from .store import Store, StoredEntitlement, StoredVoucher

if TYPE_CHECKING:
    from .mirror import RouterMirror

log = logging.getLogger(__name__)

VOUCHERS_VERSION = "vouchers_version"  # meta key: the scope version the hub last synced


def _iso(seconds: float) -> str:
    return to_iso(datetime.fromtimestamp(seconds, UTC))


def voucher_entitlement(voucher: StoredVoucher) -> StoredEntitlement:
    """The local entitlement of a redeemed voucher: the code's user, on its router, until its
    time ends. No MAC: the router's user carries it (a MAC here would make a bypass binding)."""
    assert voucher.expires_at is not None
    v = voucher.voucher
    ent = wire.Entitlement(
        username=v.code,
        mac_address=None,
        expires_at=_iso(voucher.expires_at),
        profile=v.profile,
        rate_limit=v.rate_limit,
        on_expiry=v.on_expiry,
        password=v.code,
    )
    return StoredEntitlement(voucher.router, ent, voucher.expires_at)


class VoucherKeeper:
    """Applies vouchers.sync, keeps the routers' voucher users, redeems at first login."""

    def __init__(
        self,
        settings: AgentSettings,
        store: Store,
        links: dict[str, RouterLink],
        on_entitlements_changed: Callable[[], None] = lambda: None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.links = links
        self.on_entitlements_changed = on_entitlements_changed
        self.redeemed_total = 0
        self.upkeep_due = asyncio.Event()  # set when vouchers came or a MAC lock waits
        self._failing: set[str] = set()  # routers whose upkeep failed (logged once)

    def wake(self) -> None:
        """Run the upkeep now rather than at the next interval."""
        self.upkeep_due.set()

    # -- from the hub ----------------------------------------------------------------------------

    async def apply_sync(self, args: dict[str, Any]) -> dict[str, Any]:
        """Store the vouchers (each router listed, or every router); the version counts when
        this is the last part and the agent holds ``base`` (or it is the whole scope)."""
        try:
            sync = wire.parse_vouchers_sync(args)
        except wire.WireError as exc:
            raise CommandRejected(str(exc)) from None
        rows: list[StoredVoucher] = []
        used: dict[str, list[str]] = {}  # router -> codes used or expired at the hub
        skipped: list[str] = []
        for item in sync.vouchers:
            try:
                valid_until = parse_iso(item.valid_until).timestamp()
            except ValueError:
                skipped.append(f"{item.code}: valid_until is not an ISO 8601 time")
                continue
            for name in item.routers if item.routers is not None else self.links:
                if name not in self.links:
                    continue
                if item.status == "unused":
                    rows.append(StoredVoucher(name, item, valid_until))
                else:
                    used.setdefault(name, []).append(item.code)
        async with self.store.transaction() as tx:
            added = await tx.add_vouchers(rows)
            retired = 0
            for name, codes in used.items():
                retired += await tx.retire_vouchers(name, codes, time.time())
            held_text = await tx.get_meta(VOUCHERS_VERSION)
            held = int(held_text) if held_text and held_text.isdigit() else None
            # An agent holding nothing holds version 0.
            counts = sync.last and (sync.base is None or (held or 0) >= sync.base)
            if counts and (held is None or sync.version > held or sync.base is None):
                await tx.set_meta(VOUCHERS_VERSION, str(sync.version))
        if added or retired:
            self.wake()
        return {
            "added": added,
            "retired": retired,
            "skipped": skipped,
            "version_applied": bool(counts),
        }

    async def held_version(self) -> int | None:
        """What the hello tells the hub (``vouchers_version``)."""
        text = await self.store.get_meta(VOUCHERS_VERSION)
        return int(text) if text and text.isdigit() else None

    # -- the router's users ----------------------------------------------------------------------

    async def upkeep(self) -> None:
        """Each reachable router: unused vouchers past valid_until removed, new ones created,
        redeemed ones bound to their MAC (when that failed at redemption)."""
        now = time.time()
        by_router: dict[str, list[StoredVoucher]] = {}
        for voucher in await self.store.vouchers(states=("new", "ready", "redeemed")):
            by_router.setdefault(voucher.router, []).append(voucher)
        for router, vouchers in by_router.items():
            link = self.links.get(router)
            if link is None or not link.state.online:
                continue
            try:
                await self._upkeep_router(link, vouchers, now)
            except (RouterUnavailable, RouterCommandError) as exc:
                if router not in self._failing:
                    self._failing.add(router)
                    log.warning("voucher upkeep failed router=%s error=%s", router, exc)
            else:
                if router in self._failing:
                    self._failing.discard(router)
                    log.info("voucher upkeep recovered router=%s", router)

    async def _upkeep_router(
        self, link: RouterLink, vouchers: list[StoredVoucher], now: float
    ) -> None:
        """One router's vouchers; one the router refuses (a plan profile it lacks, say) is
        logged and retried at the next upkeep, the others go on."""
        refused: list[str] = []
        for voucher in vouchers:
            try:
                await self._upkeep_voucher(link, voucher, now)
            except RouterCommandError as exc:
                refused.append(f"{voucher.voucher.code}: {exc.message}")
        if refused:
            raise RouterCommandError(f"{len(refused)} voucher(s) refused, first {refused[0]}")

    async def _upkeep_voucher(self, link: RouterLink, voucher: StoredVoucher, now: float) -> None:
        code = voucher.voucher.code
        if voucher.state in ("new", "ready") and voucher.valid_until <= now:
            await actions.remove_user(link, code)
            async with self.store.transaction() as tx:
                await tx.set_voucher_state(link.name, code, "removed")
            log.info("voucher removed unused router=%s code=%s", link.name, code)
        elif voucher.state == "new":
            await actions.create_voucher_user(link, voucher.voucher)
            async with self.store.transaction() as tx:
                await tx.set_voucher_state(link.name, code, "ready")
        elif voucher.state == "redeemed" and not voucher.locked and voucher.mac_address:
            await self._lock(link, voucher)

    async def _lock(self, link: RouterLink, voucher: StoredVoucher) -> None:
        assert voucher.mac_address is not None
        await actions.lock_user_mac(link, voucher.voucher.code, voucher.mac_address)
        async with self.store.transaction() as tx:
            await tx.set_voucher_locked(link.name, voucher.voucher.code)

    # -- first login -----------------------------------------------------------------------------

    async def on_logins(self, router: str, sessions: list[wire.Session]) -> int:
        """Redeem the unused vouchers among these hotspot sessions' users; returns how many."""
        hotspot = [s for s in sessions if s.kind == "hotspot"]
        if not hotspot:
            return 0
        held = await self.store.vouchers_named(router, (s.username for s in hotspot))
        done = 0
        now = time.time()
        for session in hotspot:
            voucher = held.get(session.username)
            if voucher is None or voucher.state not in ("new", "ready"):
                continue
            if voucher.valid_until <= now:
                continue  # too late: upkeep removes it (and billing cuts the session)
            login = now - session.uptime_seconds
            voucher.state = "redeemed"
            voucher.mac_address = session.mac_address
            voucher.redeemed_at = login
            voucher.expires_at = login + voucher.voucher.duration_seconds
            if await self._redeem(voucher):
                done += 1
        if done:
            self.on_entitlements_changed()
        return done

    async def _redeem(self, voucher: StoredVoucher) -> bool:
        """Voucher, entitlement and outbox event in one transaction, then the MAC lock."""
        assert voucher.redeemed_at is not None and voucher.expires_at is not None
        async with self.store.transaction() as tx:
            if not await tx.redeem_voucher(voucher):
                return False
            await tx.put_entitlement(voucher_entitlement(voucher))
            await tx.append_event(
                wire.VOUCHER_REDEEMED,
                voucher.router,
                wire.as_dict(
                    wire.VoucherRedeemed(
                        router=voucher.router,
                        code=voucher.voucher.code,
                        mac_address=voucher.mac_address,
                        redeemed_at=_iso(voucher.redeemed_at),
                        expires_at=_iso(voucher.expires_at),
                    )
                ),
            )
        self.redeemed_total += 1
        log.info(
            "voucher redeemed router=%s code=%s mac=%s expires_at=%s",
            voucher.router,
            voucher.voucher.code,
            voucher.mac_address,
            _iso(voucher.expires_at),
        )
        link = self.links.get(voucher.router)
        if link is not None and voucher.mac_address:
            try:
                await self._lock(link, voucher)
            except (RouterUnavailable, RouterCommandError) as exc:
                log.warning(
                    "voucher MAC lock deferred router=%s code=%s error=%s",
                    voucher.router,
                    voucher.voucher.code,
                    exc,
                )
                self.wake()
        return True


class SiteAccess:
    """One task per agent: voucher redemption, then the billing check, for each router whose
    hotspot sessions the mirror just saw; voucher upkeep every ``reconcile_interval``."""

    def __init__(
        self,
        settings: AgentSettings,
        keeper: VoucherKeeper,
        guard: BillingGuard,
        mirrors: Mapping[str, RouterMirror],
    ) -> None:
        self.settings = settings
        self.keeper = keeper
        self.guard = guard
        self.mirrors = mirrors
        self._pending: dict[str, list[wire.Session]] = {}
        self._woken = asyncio.Event()

    def on_hotspot(self, router: str, started: list[wire.Session]) -> None:
        """The mirror's hook: sessions started (or none: a print just finished)."""
        self._pending.setdefault(router, []).extend(started)
        self._woken.set()

    async def run(self) -> None:
        next_upkeep = 0.0
        while True:
            self._woken.clear()
            pending, self._pending = self._pending, {}
            for router, started in pending.items():
                await self.check(router, started)
            if time.monotonic() >= next_upkeep or self.keeper.upkeep_due.is_set():
                self.keeper.upkeep_due.clear()
                await self.keeper.upkeep()
                next_upkeep = time.monotonic() + self.settings.reconcile_interval
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(0.0, next_upkeep - time.monotonic())):
                    await _first(self._woken, self.keeper.upkeep_due)

    async def check(self, router: str, started: list[wire.Session]) -> None:
        try:
            await self.keeper.on_logins(router, started)
        except (RouterUnavailable, RouterCommandError) as exc:
            log.warning("voucher redemption failed router=%s error=%s", router, exc)
        mirror = self.mirrors.get(router)
        if mirror is not None:
            await self.guard.check(mirror, redeem=self.keeper.on_logins)


async def _first(*events: asyncio.Event) -> None:
    """Wait until any of the events is set."""
    waiters = [asyncio.ensure_future(e.wait()) for e in events]
    try:
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
