"""Token buckets per key, driven by an explicit clock."""

from __future__ import annotations

import pytest

from hub.ratelimit import RateLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_burst_then_refill_per_key():
    clock = Clock()
    limiter = RateLimiter(per_minute=60, burst=3, clock=clock)
    assert [limiter.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.take("a") == pytest.approx(1.0)
    assert limiter.take("b") == 0.0  # its own bucket
    clock.now += 0.5
    assert limiter.take("a") == pytest.approx(0.5)
    clock.now += 0.5
    assert limiter.take("a") == 0.0
    clock.now += 1000  # refills only up to the burst
    assert [limiter.take("a") for _ in range(4)][-1] > 0


def test_rejects_nonsense_settings():
    with pytest.raises(ValueError):
        RateLimiter(per_minute=0, burst=1)
