"""No paid access, no staying online: the hotspot sessions of billing-managed routers.

A router with ``billing = true`` in agent.toml is managed by ispfleet billing: every hotspot
session the mirror holds must belong to a user with live access at this site, else it is
removed from ``/ip/hotspot/active`` at the next check (each session start and each session
print, so within one ``counters_interval``). Live access, all from SQLite and the mirror's
memory (no hub, no extra router round trip):

- an active, unexpired entitlement of that username on that router (a payment, a grant, a
  redeemed voucher), or an expired one enforced by throttling (it stays online, throttled);
- the session's MAC named by such an entitlement, or by an enabled ``bypassed`` ip-binding
  (a device the operator let through; an expired customer's binding is removed at expiry);
- an exempt user (``billing_exempt_users``) or hotspot user profile
  (``billing_exempt_profiles``), e.g. the operator's own account.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from common import wire

from . import actions
from .errors import RouterCommandError, RouterUnavailable
from .routeros import is_true
from .store import Store, StoredEntitlement

if TYPE_CHECKING:
    from .mirror import RouterMirror

log = logging.getLogger(__name__)

Redeem = Callable[[str, list[wire.Session]], Awaitable[int]]
RECUT_AFTER = 2.0  # seconds before the same session id is removed again (a slow .dead)


def live(stored: StoredEntitlement, now: float) -> bool:
    """Access this entitlement gives right now."""
    if stored.state == "active":
        return stored.expires_at > now
    return stored.entitlement.on_expiry == "throttle"  # enforced: online, throttled


class BillingGuard:
    """Cuts the unpaid hotspot sessions of the routers configured ``billing = true``."""

    def __init__(self, store: Store, managed: dict[str, tuple[set[str], set[str]]]) -> None:
        self.store = store
        self.managed = managed  # router -> (exempt users, exempt profiles)
        self.cut_total = 0
        self._cut_at: dict[str, float] = {}  # "router/session id" -> monotonic time of the cut

    def unpaid(
        self, mirror: RouterMirror, entitlements: list[StoredEntitlement], now: float
    ) -> list[wire.Session]:
        """The router's hotspot sessions without live access (nothing for an unmanaged one)."""
        exempt = self.managed.get(mirror.name)
        if exempt is None:
            return []
        users, profiles = exempt
        names: set[str] = set()
        macs: set[str] = set()
        for stored in entitlements:
            if stored.router == mirror.name and live(stored, now):
                names.add(stored.entitlement.username)
                if stored.entitlement.mac_address:
                    macs.add(stored.entitlement.mac_address)
        for binding in mirror.bindings:
            mac = actions.row_mac(binding)
            if mac and binding.get("type") == "bypassed" and not is_true(binding.get("disabled")):
                macs.add(mac)
        found = []
        for session in mirror.sessions["hotspot"].values():
            if session.username in names or session.username in users:
                continue
            if session.mac_address and session.mac_address in macs:
                continue
            rows = mirror.users.get(session.username) or []
            if profiles and any(row.get("profile") in profiles for row in rows):
                continue
            found.append(session)
        return found

    async def check(self, mirror: RouterMirror, redeem: Redeem | None = None) -> int:
        """Cut what ``unpaid`` finds on this router; returns how many sessions went.

        ``redeem`` is offered the unpaid sessions first: one of them may be a voucher's first
        login not yet handled (its start is queued behind another's)."""
        if mirror.name not in self.managed or not mirror.sessions["hotspot"]:
            return 0
        if mirror.hotspot_users is None:
            return 0  # users (their profiles) and bindings not printed yet: the next check
        unpaid = await self._unpaid_now(mirror)
        if unpaid and redeem is not None and await redeem(mirror.name, unpaid):
            unpaid = await self._unpaid_now(mirror)
        clock = time.monotonic()
        unpaid = [
            s
            for s in unpaid
            if clock - self._cut_at.get(f"{mirror.name}/{s.session_id}", -RECUT_AFTER)
            >= RECUT_AFTER
        ]
        if not unpaid:
            return 0
        try:
            gone = await actions.cut_sessions(mirror.link, [s.session_id for s in unpaid])
        except (RouterUnavailable, RouterCommandError) as exc:
            log.warning("billing cut failed router=%s error=%s", mirror.name, exc)
            return 0
        cut = [s for s in unpaid if s.session_id not in gone]
        for session in unpaid:
            self._cut_at[f"{mirror.name}/{session.session_id}"] = clock
        if len(self._cut_at) > 4096:
            self._cut_at = {k: t for k, t in self._cut_at.items() if clock - t < RECUT_AFTER}
        if cut:
            async with self.store.transaction() as tx:
                await tx.append_events(
                    (
                        wire.BILLING_CUT,
                        mirror.name,
                        {
                            "username": s.username,
                            "mac_address": s.mac_address,
                            "session_id": s.session_id,
                        },
                    )
                    for s in cut
                )
            self.cut_total += len(cut)
            for session in cut:
                log.info(
                    "unpaid session cut router=%s user=%s mac=%s",
                    mirror.name,
                    session.username,
                    session.mac_address,
                )
        return len(cut)

    async def _unpaid_now(self, mirror: RouterMirror) -> list[wire.Session]:
        return self.unpaid(mirror, await self.store.entitlements(), time.time())
