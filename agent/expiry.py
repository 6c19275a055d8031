"""Expiry enforcement and drift repair, done by the agent with or without the hub.

Entitlements the hub pushed live in SQLite. At ``expires_at`` (checked every
``expiry_check_interval``, and woken early when the next expiry is sooner) the agent cuts
the user off or throttles it, on the router, and records an ``entitlement.enforced``
event; a router that cannot be reached is retried at the next check. Each router is
enforced by a task of its own (in expiry order within it), so a silent router holds up only
its own cuts, and a router known to be offline costs nothing (``RouterLink.call`` fails at
once). Every
``drift_interval`` it compares the entitlements with the router's users and bindings and
repairs what someone changed by hand, one ``drift.repaired`` event per repair.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass

from common import wire

from . import actions, const
from .config import AgentSettings
from .errors import RouterCommandError, RouterUnavailable
from .routeros import RouterLink, is_true
from .store import Store, StoredEntitlement

log = logging.getLogger(__name__)


@dataclass(slots=True)
class UserWanted:
    """What one hotspot user should look like, all of its entitlements taken together."""

    entitlement: wire.Entitlement
    enabled: bool
    profile: str | None


class ExpiryEnforcer:
    """Runs the expiry check and the drift reconcile for every router."""

    def __init__(self, settings: AgentSettings, store: Store, links: dict[str, RouterLink]):
        self.settings = settings
        self.store = store
        self.links = links
        self.enforced_total = 0
        self.repairs_total = 0
        self._wake = asyncio.Event()
        self._repair = asyncio.Event()
        self._unreachable: set[tuple[str, str, str]] = set()
        self._busy: dict[str, asyncio.Task] = {}  # router -> its expiry task under way

    def wake(self) -> None:
        """Entitlements changed: look at the next expiry again now."""
        self._wake.set()

    def repair_soon(self) -> None:
        """Entitlements arrived by sync (a grant missed while offline): reconcile the routers
        now rather than at the next drift pass, so a customer who paid meanwhile gets on."""
        self._repair.set()

    async def run(self) -> None:
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self._expiry_loop(), name="expiry")
            tg.create_task(self._drift_loop(), name="drift")

    # -- expiry --------------------------------------------------------------------------------

    async def _expiry_loop(self) -> None:
        """Start a task per router with due entitlements, unless that router's is still busy."""
        interval = self.settings.expiry_check_interval
        async with asyncio.TaskGroup() as tg:  # a router task that fails ends the loop (a bug)
            while True:
                self._wake.clear()
                for router, due in (await self._due_by_router()).items():
                    if router in self._busy:
                        continue  # still at it (a silent router): picked up again when done
                    task = tg.create_task(self._enforce_router(due), name=f"expiry:{router}")
                    self._busy[router] = task
                    task.add_done_callback(lambda _, router=router: self._busy.pop(router, None))
                next_at = await self.store.next_expiry()
                wait = interval
                if next_at is not None and next_at > time.time():
                    wait = min(interval, next_at - time.time())
                # (next_at in the past: a cut that waits for its router; the interval retries it)
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(wait):
                        await self._wake.wait()

    async def enforce_due(self) -> int:
        """One pass: every expired entitlement, routers concurrently; returns how many were done."""
        counts = await asyncio.gather(
            *(self._enforce_router(due) for due in (await self._due_by_router()).values())
        )
        return sum(counts)

    async def _due_by_router(self) -> dict[str, list[StoredEntitlement]]:
        by_router: dict[str, list[StoredEntitlement]] = {}
        for stored in await self.store.entitlements(due_before=time.time(), state="active"):
            by_router.setdefault(stored.router, []).append(stored)
        return by_router

    async def _enforce_router(self, due: list[StoredEntitlement]) -> int:
        """One router's due entitlements in expiry order; stops at the first unreachable."""
        done = 0
        for stored in due:
            if not await self._enforce(stored):
                break  # the router is unreachable: the rest would fail the same way
            done += 1
        return done

    async def _enforce(self, stored: StoredEntitlement) -> bool:
        ent = stored.entitlement
        key = (stored.router, ent.username, ent.mac_address or "")
        link = self.links.get(stored.router)
        errors: list[str] = []
        if link is None:
            errors.append(f"unknown router {stored.router}")
        else:
            try:
                if ent.on_expiry == "throttle":
                    result = await actions.throttle_user(link, ent)
                else:
                    others = await self._other_active(stored)
                    known = await self.store.entitlement_macs(stored.router, ent.username)
                    result = await actions.disconnect_user(
                        link,
                        ent.username,
                        ent.mac_address,
                        disable_user=not others,
                        known_macs=known,
                    )
                errors = result["errors"]
            except RouterUnavailable as exc:
                if key not in self._unreachable:
                    self._unreachable.add(key)
                    log.warning(
                        "expiry waits for router router=%s user=%s error=%s",
                        stored.router,
                        ent.username,
                        exc,
                    )
                return False
            except RouterCommandError as exc:
                errors = [str(exc)]
        self._unreachable.discard(key)
        async with self.store.transaction() as tx:
            await tx.set_entitlement_state(stored, "enforced")
            await tx.append_event(
                wire.ENTITLEMENT_ENFORCED,
                stored.router,
                {
                    "username": ent.username,
                    "mac_address": ent.mac_address,
                    "action": ent.on_expiry,
                    "errors": errors,
                },
            )
        self.enforced_total += 1
        log.info(
            "entitlement enforced router=%s user=%s mac=%s action=%s errors=%d",
            stored.router,
            ent.username,
            ent.mac_address,
            ent.on_expiry,
            len(errors),
        )
        return True

    async def _other_active(self, stored: StoredEntitlement) -> bool:
        """Does the same user still hold another, unexpired entitlement on that router?"""
        now = time.time()
        return any(
            other.router == stored.router
            and other.entitlement.username == stored.entitlement.username
            and other.entitlement.mac_address != stored.entitlement.mac_address
            and other.expires_at > now
            for other in await self.store.entitlements(state="active")
        )

    # -- drift ---------------------------------------------------------------------------------

    async def _drift_loop(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.settings.drift_interval):
                    await self._repair.wait()
            self._repair.clear()
            await self.repair_drift()

    async def repair_drift(self) -> int:
        """Compare every router with its entitlements and repair; returns the repairs made."""
        by_router: dict[str, list[StoredEntitlement]] = {}
        for stored in await self.store.entitlements():
            by_router.setdefault(stored.router, []).append(stored)
        repairs = 0
        for router, items in by_router.items():
            link = self.links.get(router)
            if link is None or not link.state.online:
                continue
            try:
                repairs += await self._repair_router(link, items)
            except (RouterUnavailable, RouterCommandError) as exc:
                log.warning("drift reconcile failed router=%s error=%s", router, exc)
        return repairs

    async def _repair_router(self, link: RouterLink, items: list[StoredEntitlement]) -> int:
        now = time.time()
        users_wanted: dict[str, UserWanted] = {}
        macs_wanted: dict[str, tuple[str, bool]] = {}  # mac -> (username, bypassed?)
        # Enforced first, so an active entitlement of the same user or MAC wins.
        ordered = sorted(items, key=lambda s: s.state == "active")
        for stored in ordered:
            ent = stored.entitlement
            if stored.suspended or (stored.state == "active" and stored.expires_at <= now):
                continue  # left alone on purpose, or the expiry check is about to act
            active = stored.state == "active"
            if active:
                wanted = UserWanted(ent, True, actions.speed_profile(ent))
            elif ent.on_expiry == "throttle":
                wanted = UserWanted(ent, True, ent.expired_profile)
            else:
                wanted = UserWanted(ent, False, None)
            users_wanted[ent.username] = wanted
            if ent.mac_address:
                macs_wanted[ent.mac_address] = (ent.username, active)
        if not users_wanted:
            return 0

        repairs: list[tuple[str, str | None, str]] = []
        try:
            users = {
                u.get("name"): u
                for u in await link.call(
                    f"{const.HOTSPOT_USER}/print", **{".proplist": const.USER_PROPLIST}
                )
            }
            for username, wanted in users_wanted.items():
                user = users.get(username)
                if user is None:
                    if wanted.enabled:
                        if wanted.profile == actions.speed_profile(wanted.entitlement):
                            await actions.ensure_speed_profile(link, wanted.entitlement)
                        await actions.ensure_user(
                            link, wanted.entitlement, enabled=True, profile=wanted.profile
                        )
                        repairs.append((username, None, "hotspot user created"))
                    continue
                if is_true(user.get("disabled")) == wanted.enabled:
                    state = "enabled" if wanted.enabled else "disabled"
                    await link.call(
                        f"{const.HOTSPOT_USER}/set",
                        **{".id": user[".id"]},
                        disabled="no" if wanted.enabled else "yes",
                    )
                    repairs.append((username, None, f"hotspot user {state}"))
                if wanted.profile and user.get("profile") != wanted.profile:
                    await link.call(
                        f"{const.HOTSPOT_USER}/set", **{".id": user[".id"]}, profile=wanted.profile
                    )
                    repairs.append((username, None, f"profile set to {wanted.profile}"))

            bindings: dict[str, list[dict[str, str]]] = {}
            for row in await link.call(
                f"{const.HOTSPOT_BINDING}/print", **{".proplist": const.BINDING_PROPLIST}
            ):
                mac = actions.row_mac(row)
                if mac:
                    bindings.setdefault(mac, []).append(row)
            for mac, (username, bypass) in macs_wanted.items():
                present = bindings.get(mac, [])
                bypassing = [
                    b
                    for b in present
                    if b.get("type") == "bypassed" and not is_true(b.get("disabled"))
                ]
                if bypass and not bypassing:
                    what = await actions.ensure_bypass(link, username, mac)
                    repairs.append((username, mac, f"ip-binding {what} as bypassed"))
                elif not bypass and any(b.get("type") == "bypassed" for b in present):
                    await actions.remove_bypass(link, mac)
                    repairs.append((username, mac, "bypassed ip-binding removed"))
        finally:
            if repairs:
                async with self.store.transaction() as tx:
                    await tx.append_events(
                        (
                            wire.DRIFT_REPAIRED,
                            link.name,
                            {"username": username, "mac_address": mac, "what": what},
                        )
                        for username, mac, what in repairs
                    )
                self.repairs_total += len(repairs)
                for username, mac, what in repairs:
                    log.info(
                        "drift repaired router=%s user=%s mac=%s what=%s",
                        link.name,
                        username,
                        mac,
                        what,
                    )
        return len(repairs)
