"""A subscription as its router holds it: the profile (``/ppp/profile`` or
``/ip/hotspot/user/profile``) and the account (``/ppp/secret`` or ``/ip/hotspot/user``).

Writes go through ``RouterMenu`` (one ``router.menu`` command each, via the site's agent).
``RouterWrites`` remembers how to undo each write, so a change that fails after the router was
written (the next router refused, the database refused) leaves the routers as they were.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from hub.domain import BillingProfile, Router
from hub.errors import HubError, NotFound
from hub.services.router_menu import Params, RouterMenu, Row

log = logging.getLogger(__name__)

PROFILE_MENUS = {"pppoe": "/ppp/profile", "hotspot": "/ip/hotspot/user/profile"}
ACCOUNT_MENUS = {"pppoe": "/ppp/secret", "hotspot": "/ip/hotspot/user"}
# The account fields the hub writes: what an undone removal puts back.
_ACCOUNT_FIELDS = ("name", "password", "profile", "service", "comment", "disabled")


def profile_params(profile: BillingProfile) -> Params:
    """The profile's RouterOS values (a hotspot user profile has no addresses)."""
    params: Params = {"name": profile.name, "rate-limit": profile.rate_limit}
    if profile.type == "pppoe":
        params["local-address"] = profile.local_address or ""
        params["remote-address"] = profile.remote_address or ""
    return params


def account_params(
    service_type: str,
    *,
    username: str,
    password: str,
    profile: str,
    name: str | None,
    is_active: bool,
) -> Params:
    """A PPP secret (service pppoe) or hotspot user of the customer; comment = their name."""
    params: Params = {"name": username, "password": password, "profile": profile}
    if service_type == "pppoe":
        params["service"] = "pppoe"
    params["comment"] = name or ""
    params["disabled"] = "no" if is_active else "yes"
    return params


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    return "" if value is None else str(value)


class RouterWrites:
    """The router writes of one change, each with its undo, run in reverse by ``undo()``."""

    def __init__(self, menu: RouterMenu, actor: str) -> None:
        self._menu = menu
        self._actor = actor
        self._undo: list[tuple[str, Callable[[], Awaitable[object]]]] = []

    async def ensure_profile(
        self, router: Router, profile: BillingProfile, *, known_as: str | None = None
    ) -> None:
        """Put the profile on the router: add it, or set what differs (a renamed profile is
        found by its old name ``known_as`` and renamed; its accounts follow, RouterOS links by
        id)."""
        menu, wanted = PROFILE_MENUS[profile.type], profile_params(profile)
        row: Row | None = None
        for name in dict.fromkeys((known_as or profile.name, profile.name)):
            rows = await self._menu.print(router, menu, self._actor, name=name)
            if rows:
                row = rows[0]
                break
        if row is None:
            await self.add(router, menu, wanted)
            return
        changed = {key: value for key, value in wanted.items() if _text(row.get(key)) != value}
        if changed:
            await self.set(router, menu, row, changed)

    async def add(self, router: Router, menu: str, params: Params) -> Row:
        row = await self._menu.add(router, menu, params, self._actor)
        self._remember(
            f"remove {menu} {row['.id']} from {router.name}",
            lambda: self._menu.remove(router, menu, row[".id"], self._actor),
        )
        return row

    async def set(self, router: Router, menu: str, row: Row | str, params: Params) -> Row:
        """Change a row (given as printed, or by id or name); the undo sets the old values."""
        if isinstance(row, str):
            row = await self._menu.get(router, menu, row, self._actor)
        before = {key: _text(row.get(key)) for key in params}
        changed = await self._menu.set(router, menu, row[".id"], params, self._actor)
        self._remember(
            f"restore {menu} {row['.id']} on {router.name}",
            lambda: self._menu.set(router, menu, row[".id"], before, self._actor),
        )
        return changed

    async def remove(self, router: Router, menu: str, item: str) -> Row | None:
        """Remove a row by id or name; None when the router has no such row (already gone)."""
        try:
            row = await self._menu.remove(router, menu, item, self._actor)
        except NotFound:
            return None
        again = {key: _text(row[key]) for key in _ACCOUNT_FIELDS if key in row}
        self._remember(
            f"re-add {menu} {item} on {router.name}",
            lambda: self._menu.add(router, menu, again, self._actor),
        )
        return row

    def _remember(self, what: str, undo: Callable[[], Awaitable[object]]) -> None:
        self._undo.append((what, undo))

    async def undo(self) -> None:
        """Undo every write, last first; a failed undo is logged (the router keeps it)."""
        while self._undo:
            what, undo = self._undo.pop()
            try:
                await undo()
            except HubError as exc:
                log.error("router write not undone: %s: %s", what, exc)

    def keep(self) -> None:
        """The change is saved: nothing to undo any more."""
        self._undo.clear()


@asynccontextmanager
async def router_writes(menu: RouterMenu, actor: str) -> AsyncIterator[RouterWrites]:
    """Writes that stand only if the block succeeds: any error undoes them, then propagates."""
    writes = RouterWrites(menu, actor)
    try:
        yield writes
    except BaseException:
        await writes.undo()
        raise
    writes.keep()
