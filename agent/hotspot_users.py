"""One router's configured hotspot users, mirrored by name for the hub (issue 15).

The router mirror feeds this from two sides: its users listen (a change within a second) and
its periodic config print (which repairs whatever a listen missed). Both end in ``_write``:
the changed users and their ``hotspot_user.put`` / ``hotspot_user.removed`` events in one
SQLite transaction, so the cache, the outbox and the snapshot the hub gets on connect agree.
The hub keys users by name; RouterOS allows one name per hotspot server, so of several rows
with one name the lowest ``.id`` stands for it. Rows by id stay as the router sent them (only
the mirrored properties): a listen row without a name is merged into the one it updates.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable

from common import wire

from . import parse
from .routeros import Row, is_true
from .store import USERS_KNOWN_META, Store, encode

log = logging.getLogger(__name__)

WRITE_CHUNK = 500


def _id_order(item_id: str) -> tuple[int, str]:
    """RouterOS ids in creation order: ``*A`` before ``*10`` (hex after the star)."""
    try:
        return int(item_id.lstrip("*"), 16), item_id
    except ValueError:
        return 1 << 64, item_id


class HotspotUserMirror:
    """``users`` (name -> HotspotUser) is what the store holds and the hub was told."""

    def __init__(
        self, router: str, store: Store, on_bad_rows: Callable[[str, list[str]], None]
    ) -> None:
        self.router = router
        self.store = store
        self.users: dict[str, wire.HotspotUser] = {}
        self.disabled = 0  # how many of ``users`` are disabled (health, metrics)
        self.known = False  # the router's list was printed once (by this run or an earlier one)
        self._rows: dict[str, Row] = {}  # .id -> the router's row
        # name -> the id of its row (a tuple of ids in the rare case of several): 5,000 names
        # are 5,000 entries, not 5,000 containers
        self._ids: dict[str, str | tuple[str, ...]] = {}
        self._journal: list[Row] | None = None  # listen rows that came during a print
        self._on_bad_rows = on_bad_rows
        self._lock = asyncio.Lock()

    async def load(self) -> None:
        """What the last run reported: the hub already holds it, so no event repeats it."""
        self.users = {u.name: u for u in await self.store.hotspot_users(self.router)}
        self.disabled = sum(u.disabled for u in self.users.values())
        known = await self.store.get_meta(USERS_KNOWN_META.format(router=self.router))
        self.known = known is not None

    def counts(self) -> tuple[int, int] | None:
        """(users, disabled) once known; what health reports as ``hotspot_users``."""
        return (len(self.users), self.disabled) if self.known else None

    # -- the print -----------------------------------------------------------------------------

    def begin_print(self) -> None:
        """A print starts: listen rows from now on may be newer than what it returns."""
        self._journal = []

    def abort_print(self) -> None:
        self._journal = None

    async def reconcile(self, rows: list[Row]) -> None:
        """The printed list replaces the rows held; listen rows seen meanwhile go on top.
        Every name is compared again (5,000 users: some 15 ms per print)."""
        async with self._lock:
            journal, self._journal = self._journal or [], None
            self._rows, self._ids = {}, {}
            for row in rows:
                if item_id := row.get(".id"):
                    self._put_row(item_id, row)
            for row in journal:
                self._apply_row(row)
            await self._write(self._ids.keys() | self.users.keys(), known=True)

    # -- the listen ----------------------------------------------------------------------------

    async def on_listen(self, row: Row) -> None:
        """One changed (or removed: ``.dead``) user."""
        item_id = row.get(".id")
        if not item_id:
            return
        async with self._lock:
            if self._journal is not None:
                self._journal.append(row)
            await self._write(self._apply_row(row))

    # -- internals -----------------------------------------------------------------------------

    def _apply_row(self, row: Row) -> set[str]:
        """Apply one listen row to the rows held; the names it may have changed."""
        item_id = row[".id"]
        old = self._rows.get(item_id)
        names = {old["name"]} if old is not None and old.get("name") else set()
        if is_true(row.get(".dead")):
            self._drop_row(item_id)
            return names
        # A row with a name is the whole item (a property unset is absent from it).
        merged = row if "name" in row or old is None else {**old, **row}
        self._drop_row(item_id)
        self._put_row(item_id, merged)
        if merged.get("name"):
            names.add(merged["name"])
        return names

    def _ids_of(self, name: str) -> tuple[str, ...]:
        held = self._ids.get(name)
        return () if held is None else (held,) if isinstance(held, str) else held

    def _put_row(self, item_id: str, row: Row) -> None:
        self._rows[item_id] = row
        if name := row.get("name"):
            ids = self._ids_of(name)
            if item_id not in ids:
                self._ids[name] = (*ids, item_id) if ids else item_id

    def _drop_row(self, item_id: str) -> None:
        old = self._rows.pop(item_id, None)
        if old is None or not (name := old.get("name")):
            return
        ids = tuple(i for i in self._ids_of(name) if i != item_id)
        if not ids:
            self._ids.pop(name, None)
        else:
            self._ids[name] = ids if len(ids) > 1 else ids[0]

    def _current(self, name: str, bad: list[str]) -> wire.HotspotUser | None:
        """The user standing for ``name`` now (None: no row of that name)."""
        ids = self._ids_of(name)
        if not ids:
            return None
        item_id = ids[0] if len(ids) == 1 else min(ids, key=_id_order)
        try:
            user = parse.hotspot_user(self._rows[item_id])
        except ValueError as exc:
            bad.append(str(exc))
            return self.users.get(name)  # keep what was reported
        return user if user is not None else self.users.get(name)

    async def _write(self, names: Iterable[str], known: bool = False) -> None:
        """Store and report what changed among ``names``, a transaction per WRITE_CHUNK
        changes (cache and outbox agree after each; a first print of a big router does not
        hold every user's encoding at once)."""
        bad: list[str] = []
        put: dict[str, wire.HotspotUser] = {}
        removed: list[str] = []
        for name in names:
            user = self._current(name, bad)
            old = self.users.get(name)
            if user is None:
                if old is not None:
                    removed.append(name)
            elif user != old:
                put[name] = user
            if len(put) + len(removed) >= WRITE_CHUNK:
                await self._commit(put, removed, known=False)
                put, removed = {}, []
        self._on_bad_rows("hotspot_user", bad)
        await self._commit(put, removed, known)

    async def _commit(
        self, put: dict[str, wire.HotspotUser], removed: list[str], known: bool
    ) -> None:
        if not (put or removed or (known and not self.known)):
            return
        encoded = {name: encode(user) for name, user in put.items()}
        events: list[tuple[str, str | None, dict | str]] = [
            (wire.HOTSPOT_USER_REMOVED, self.router, {"name": name}) for name in removed
        ]
        events += [(wire.HOTSPOT_USER_PUT, self.router, text) for text in encoded.values()]
        async with self.store.transaction() as tx:
            await tx.delete_hotspot_users(self.router, removed)
            await tx.put_hotspot_users(self.router, encoded)
            await tx.append_events(events)
            if known and not self.known:
                await tx.set_meta(USERS_KNOWN_META.format(router=self.router), "1")
        for name in removed:
            self.users.pop(name, None)
        self.users.update(put)
        self.disabled = sum(u.disabled for u in self.users.values())
        self.known = self.known or known
        if put or removed:
            log.debug(
                "hotspot users changed router=%s put=%d removed=%d",
                self.router,
                len(put),
                len(removed),
            )
