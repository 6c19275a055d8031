"""The durable outbox: every event the hub must see, in sequence order, until acknowledged.

An event counts as done once its row is committed. The hub link reads rows after the
last acknowledged sequence, sends them in order and ``ack``s what the hub stored. When
the outbox grows past its bound, only periodic samples (``wire.THINNABLE_KINDS``) are
thinned, oldest first, with an ``outbox.thinned`` event saying how many; session events
and command results are never dropped: the agent alerts (log and metric) and keeps them.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

import msgspec

from common import wire

from .store import Store, Transaction, last_outbox_seq

log = logging.getLogger(__name__)

# Thin this much below the bound each time, so thinning is not redone on every append.
THIN_HEADROOM = 0.1


class Outbox:
    """Append, read in order, acknowledge; counters kept in memory for /metrics."""

    def __init__(self, store: Store, max_rows: int) -> None:
        self.store = store
        self.max_rows = max_rows
        self.rows = 0
        self.oldest_created: float | None = None
        self.thinned_total = 0
        self.over_bound = False
        self.over_bound_alerts = 0
        self._last_seq = 0
        self._new = asyncio.Condition()
        self._thinning = False
        store.add_commit_hook(self._after_commit)

    @classmethod
    async def open(cls, store: Store, max_rows: int) -> Outbox:
        outbox = cls(store, max_rows)
        async with store.reading() as db:
            outbox._last_seq = await last_outbox_seq(db)
            (count, oldest) = (
                await db.execute_fetchall(
                    "SELECT COUNT(*), (SELECT created FROM outbox ORDER BY seq LIMIT 1) FROM outbox"
                )
            )[0]
        outbox.rows, outbox.oldest_created = count, oldest
        return outbox

    async def append(self, kind: str, router: str | None, data: dict[str, Any]) -> int:
        """Commit one event; returns its sequence number."""
        async with self.store.transaction() as tx:
            return await tx.append_event(kind, router, data)

    async def read_after(self, seq: int, limit: int = 500) -> list[wire.Event]:
        """Events with a sequence number above ``seq``, ascending, at most ``limit``."""
        rows = await self.store.fetchall(
            "SELECT seq, ts, kind, router, data FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?",
            (seq, limit),
        )
        return [
            wire.Event(seq=s, ts=ts, kind=kind, router=router, data=json.loads(data))
            for s, ts, kind, router, data in rows
        ]

    async def read_raw_after(self, seq: int, limit: int = 500) -> list[wire.RawEvent]:
        """Like ``read_after``, with ``data`` as the JSON stored (encoded once, at append)."""
        rows = await self.store.fetchall(
            "SELECT seq, ts, kind, router, data FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?",
            (seq, limit),
        )
        return [
            wire.RawEvent(seq=s, ts=ts, kind=kind, router=router, data=msgspec.Raw(data.encode()))
            for s, ts, kind, router, data in rows
        ]

    async def ack(self, seq: int) -> int:
        """The hub stored everything up to ``seq``: delete those rows, return how many."""
        async with self.store.transaction() as tx:
            cursor = await tx.db.execute("DELETE FROM outbox WHERE seq <= ?", (seq,))
            count = cursor.rowcount
            await cursor.close()
            tx.deleted_events += count
        return count

    async def drop(self, seqs: list[int]) -> None:
        """Delete rows that can never be delivered (the link logged why)."""
        async with self.store.transaction() as tx:
            await tx.db.executemany("DELETE FROM outbox WHERE seq = ?", [(s,) for s in seqs])
            tx.deleted_events += len(seqs)

    async def wait_new(self, after_seq: int, timeout: float) -> bool:
        """True as soon as an event with a sequence number above ``after_seq`` exists."""
        async with self._new:
            try:
                async with asyncio.timeout(timeout):
                    await self._new.wait_for(lambda: self._last_seq > after_seq)
            except TimeoutError:
                return False
        return True

    async def last_seq(self) -> int:
        """The highest sequence number given out so far (0 for none)."""
        return self._last_seq

    async def depth(self) -> tuple[int, float | None]:
        """(rows waiting, age in seconds of the oldest one or None)."""
        return self.rows, self.oldest_age()

    def oldest_age(self) -> float | None:
        if self.oldest_created is None:
            return None
        return max(0.0, time.time() - self.oldest_created)

    async def _after_commit(self, tx: Transaction) -> None:
        if tx.deleted_events:
            await self._recount()
        elif tx.appended:
            self.rows += len(tx.appended)
            if self.oldest_created is None:
                self.oldest_created = time.time()
        if tx.appended:
            async with self._new:
                self._last_seq = max(self._last_seq, tx.appended[-1][0])
                self._new.notify_all()
        if self._thinning:
            return
        if self.rows > self.max_rows:
            await self._thin()
        elif self.over_bound:
            self.over_bound = False
            log.info("outbox back under its bound rows=%d bound=%d", self.rows, self.max_rows)

    async def _recount(self) -> None:
        (count, oldest) = (
            await self.store.fetchall(
                "SELECT COUNT(*), (SELECT created FROM outbox ORDER BY seq LIMIT 1) FROM outbox"
            )
        )[0]
        self.rows, self.oldest_created = count, oldest

    async def _thin(self) -> None:
        """Over the bound: drop the oldest thinnable samples; alert if that is not enough."""
        self._thinning = True
        try:
            excess = self.rows - self.max_rows + int(self.max_rows * THIN_HEADROOM)
            async with self.store.transaction() as tx:
                dropped = await tx.delete_events_of_kinds(wire.THINNABLE_KINDS, excess)
                if dropped:
                    total = sum(dropped.values())
                    await tx.append_event(
                        wire.OUTBOX_THINNED, None, {"dropped": total, "kinds": sorted(dropped)}
                    )
            if dropped:
                total = sum(dropped.values())
                self.thinned_total += total
                log.warning(
                    "outbox thinned dropped=%d kinds=%s rows=%d bound=%d",
                    total,
                    ",".join(sorted(dropped)),
                    self.rows,
                    self.max_rows,
                )
            over = self.rows > self.max_rows
            if over and not self.over_bound:
                self.over_bound_alerts += 1
                log.error(
                    "outbox over its bound rows=%d bound=%d: keeping session events and "
                    "command results, nothing dropped; is the hub reachable?",
                    self.rows,
                    self.max_rows,
                )
            self.over_bound = over
        finally:
            self._thinning = False
