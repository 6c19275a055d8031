"""Token buckets in Postgres, so every hub process draws on one budget per key."""

from __future__ import annotations

from hub.storage import Executor

# One atomic statement per take (the row lock of the upsert orders concurrent takers): refill
# by the time passed (never backwards when two hubs' clocks differ a little), cap at the
# burst, take a token when a whole one is there.
_TAKE = """
WITH args AS (SELECT $1::text AS key, $2::float8 AS burst, $3::float8 AS rate, $4::float8 AS now)
INSERT INTO rate_buckets AS b (key, tokens, updated_at, granted)
SELECT key, burst - 1, now, true FROM args
ON CONFLICT (key) DO UPDATE SET
    tokens = (SELECT CASE WHEN r.level >= 1 THEN r.level - 1 ELSE r.level END
              FROM (SELECT LEAST(a.burst, b.tokens + GREATEST(0, a.now - b.updated_at) * a.rate)
                           AS level FROM args a) r),
    granted = (SELECT LEAST(a.burst, b.tokens + GREATEST(0, a.now - b.updated_at) * a.rate) >= 1
               FROM args a),
    updated_at = GREATEST(b.updated_at, $4::float8)
RETURNING tokens, granted
"""


class RateBucketRepository:
    def __init__(self, db: Executor) -> None:
        self._db = db

    async def take(self, key: str, *, burst: float, rate: float, now: float) -> float:
        """Take a token: 0.0 when granted, else seconds until one is free."""
        row = await self._db.fetchrow(_TAKE, key, float(burst), float(rate), now)
        if row["granted"]:
            return 0.0
        return max(0.0, 1.0 - row["tokens"]) / rate

    async def prune(self, *, idle_before: float) -> int:
        """Delete buckets idle since before ``idle_before`` (they would be full by now)."""
        status = await self._db.execute(
            "DELETE FROM rate_buckets WHERE updated_at < $1", idle_before
        )
        return int(status.split()[-1])
