"""Request rate limits: token buckets, per API key across every hub process, per client here.

Each bucket holds up to ``burst`` tokens and refills at ``per_minute / 60`` tokens a second; a
request takes one. ``SharedRateLimiter`` keeps its buckets in Postgres (one atomic upsert per
take), so N hub processes on one database allow the rate once, not N times. ``RateLimiter``
keeps them in this process's memory, for the checks that must cost no database work at all
(unauthenticated and failed requests per client address), bounded in the keys it remembers.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import asyncpg

from hub.storage.ratelimit import RateBucketRepository


def _rate(per_minute: float, burst: float) -> float:
    if per_minute <= 0 or burst <= 0:
        raise ValueError("rate limit and burst must be positive")
    return per_minute / 60.0


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """In-process buckets; at most ``max_keys`` remembered (the fullest are forgotten first)."""

    def __init__(
        self,
        per_minute: float,
        burst: float,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 100_000,
    ) -> None:
        self._rate = _rate(per_minute, burst)
        self._burst = float(burst)
        self._clock = clock
        self._max_keys = max_keys
        self._buckets: dict[object, _Bucket] = {}

    def _level(self, bucket: _Bucket, now: float) -> float:
        return min(self._burst, bucket.tokens + (now - bucket.updated) * self._rate)

    def take(self, key: object, cost: float = 1.0) -> float:
        """Take ``cost`` tokens for ``key``: 0.0 when allowed, else the seconds until free."""
        now = self._clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self._max_keys:
                self._forget(now)
            bucket = self._buckets[key] = _Bucket(self._burst, now)
        bucket.tokens = self._level(bucket, now)
        bucket.updated = now
        if bucket.tokens >= cost:
            bucket.tokens -= cost
            return 0.0
        return (cost - bucket.tokens) / self._rate

    def check(self, key: object) -> float:
        """Seconds until ``key`` has a whole token (0.0: it has one now); takes nothing."""
        bucket = self._buckets.get(key)
        if bucket is None:
            return 0.0
        level = self._level(bucket, self._clock())
        return 0.0 if level >= 1.0 else (1.0 - level) / self._rate

    def _forget(self, now: float) -> None:
        """Drop full buckets (same as none); if none is full, the half that is fullest."""
        full = [k for k, b in self._buckets.items() if self._level(b, now) >= self._burst]
        if not full:
            ranked = sorted(self._buckets, key=lambda k: -self._level(self._buckets[k], now))
            full = ranked[: max(1, len(ranked) // 2)]
        for key in full:
            del self._buckets[key]

    def __len__(self) -> int:
        return len(self._buckets)


class SharedRateLimiter:
    """Buckets in Postgres shared by every hub process on the database."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        per_minute: float,
        burst: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._rate = _rate(per_minute, burst)
        self._burst = float(burst)
        self._clock = clock
        self._buckets = RateBucketRepository(pool)

    async def take(self, key: str) -> float:
        """Take a token for ``key``: 0.0 when allowed, else the seconds until one is free."""
        return await self._buckets.take(key, burst=self._burst, rate=self._rate, now=self._clock())

    async def prune(self) -> int:
        """Forget buckets that have refilled completely (run now and then)."""
        idle = self._burst / self._rate
        return await self._buckets.prune(idle_before=self._clock() - idle - 60)


@dataclass(slots=True)
class _Failures:
    count: int
    locked_until: float


class LoginGuard:
    """Lockout with back-off after repeated failed logins, per client address and per account.

    After ``after`` failures in a row a key is locked for ``base`` seconds, doubling with each
    further failure up to ``cap``; a success clears the account and the address. In memory, so
    checking costs nothing before the password hash is computed; at most ``max_keys`` kept.
    """

    def __init__(
        self,
        after: int,
        base: float,
        cap: float,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 100_000,
    ) -> None:
        if after < 1 or base <= 0 or cap < base:
            raise ValueError("lockout needs after >= 1 and 0 < base <= cap")
        self._after, self._base, self._cap = after, base, cap
        self._clock = clock
        self._max_keys = max_keys
        self._failures: dict[str, _Failures] = {}

    def retry_after(self, *keys: str) -> float:
        """Seconds until every key may try again (0.0: now)."""
        now = self._clock()
        waits = [f.locked_until - now for k in keys if (f := self._failures.get(k)) is not None]
        return max([0.0, *waits])

    def failed(self, *keys: str) -> None:
        now = self._clock()
        if len(self._failures) >= self._max_keys:
            self._failures = {
                k: f for k, f in self._failures.items() if f.locked_until > now - self._cap
            }
        for key in keys:
            entry = self._failures.setdefault(key, _Failures(0, 0.0))
            entry.count += 1
            if entry.count >= self._after:
                lock = min(self._cap, self._base * 2 ** (entry.count - self._after))
                entry.locked_until = now + lock

    def succeeded(self, *keys: str) -> None:
        for key in keys:
            self._failures.pop(key, None)
