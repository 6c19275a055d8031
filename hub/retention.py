"""Retention: old rows leave session_history, site_events, commands and audit_log.

Policy per table in HubConfig (days to keep; 0 keeps forever). session_history is partitioned
by month (migration 0006): months wholly older than its retention are dropped as partitions,
which costs nothing however many rows they hold, and the next months' partitions are created
ahead. The other tables are pruned with batched DELETEs by their time column. The rate-limit
buckets that have refilled are forgotten too. One hub process at a time does it (an advisory
lock); the task runs under the supervisor, every ``retention_interval`` seconds.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import asyncpg

from common.timeutil import utcnow
from hub.config import HubConfig
from hub.database import CONNECTION_ERRORS
from hub.ratelimit import SharedRateLimiter
from hub.storage.retention import RetentionRepository, add_months, month_start

log = logging.getLogger(__name__)


@dataclass(slots=True)
class RetentionReport:
    """What one pass did (logged, and read by tests)."""

    partitions_created: list[str] = field(default_factory=list)
    partitions_dropped: list[str] = field(default_factory=list)
    deleted: dict[str, int] = field(default_factory=dict)
    skipped: bool = False  # another hub process held the lock


def _cutoff(now: datetime, days: int) -> datetime | None:
    return now - timedelta(days=days) if days > 0 else None


class RetentionService:
    def __init__(
        self,
        pool: asyncpg.Pool,
        config: HubConfig,
        limiter: SharedRateLimiter | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._pool = pool
        self._config = config
        self._limiter = limiter
        self._clock = clock

    async def run_once(self) -> RetentionReport:
        report = RetentionReport()
        now = self._clock()
        async with self._pool.acquire() as conn:
            repo = RetentionRepository(conn)
            if not await repo.try_lock():
                report.skipped = True
                return report
            try:
                await self._partitions(conn, repo, now, report)
                config = self._config
                for table, days, delete in (
                    (
                        "site_events",
                        config.site_events_retention_days,
                        repo.delete_site_events_before,
                    ),
                    ("commands", config.commands_retention_days, repo.delete_commands_before),
                    ("audit_log", config.audit_log_retention_days, repo.delete_audit_before),
                ):
                    if (cutoff := _cutoff(now, days)) is not None:
                        report.deleted[table] = await delete(cutoff)
            finally:
                await repo.unlock()
        if self._limiter is not None:
            report.deleted["rate_buckets"] = await self._limiter.prune()
        return report

    async def _partitions(
        self,
        conn: asyncpg.Connection,
        repo: RetentionRepository,
        now: datetime,
        report: RetentionReport,
    ) -> None:
        existing = await repo.partitions()
        months = set(existing.values())
        this_month = month_start(now)
        for n in range(self._config.session_history_months_ahead + 1):
            month = add_months(this_month, n)
            if month not in months:
                await repo.create_partition(conn, month)
                report.partitions_created.append(month.strftime("%Y-%m"))
        cutoff = _cutoff(now, self._config.session_history_retention_days)
        if cutoff is None:
            return
        for name, month in sorted(existing.items(), key=lambda item: item[1]):
            if add_months(month, 1) <= cutoff:  # the whole month is older than the cutoff
                await repo.drop_partition(name)
                report.partitions_dropped.append(name)
        report.deleted["session_history_default"] = await repo.delete_default_before(cutoff)

    async def run_forever(self) -> None:
        """A pass now, then every ``retention_interval``; outages are logged once."""
        failing = False
        while True:
            try:
                report = await self.run_once()
                if failing:
                    log.info("retention recovered")
                failing = False
                if not report.skipped and (
                    report.partitions_created
                    or report.partitions_dropped
                    or any(report.deleted.values())
                ):
                    log.info(
                        "retention created=%s dropped=%s deleted=%s",
                        report.partitions_created,
                        report.partitions_dropped,
                        report.deleted,
                    )
            except (*CONNECTION_ERRORS, asyncpg.PostgresError) as exc:
                if not failing:
                    log.warning("retention failed error=%r", exc)
                failing = True
            await asyncio.sleep(self._config.retention_interval)
