"""routersim.values: the value formats only a router needs (common/ has the rest)."""

from __future__ import annotations

import pytest

from routersim.values import (
    format_duration,
    format_rtt,
    normalize_rate_pair,
    parse_duration,
    parse_ranges,
)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0s"), (5, "5s"), (2722, "45m22s"), (5415, "1h30m15s"), (788645, "1w2d3h4m5s")],
)
def test_format_duration(seconds: int, text: str) -> None:
    assert format_duration(seconds) == text
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90", 90), ("0.5", 0.5), ("00:30:00", 1800), ("1d02:03:04", 93784), ("100ms", 0.1)],
)
def test_parse_duration_other_forms(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "abc", "1x", "h1", "1h-2m"])
def test_parse_duration_refuses_garbage(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


def test_format_rtt() -> None:
    assert format_rtt(0.014612) == "14ms612us"
    assert format_rtt(0.000612) == "612us"
    assert format_rtt(1.002) == "1s2ms"


def test_rates_and_ranges() -> None:
    assert normalize_rate_pair("1M/5M") == "1000000/5000000"
    assert normalize_rate_pair("512k") == "512000/512000"
    assert parse_ranges("10.0.0.2-10.0.0.4,10.0.1.0/30") == [
        (0x0A000002, 0x0A000004),
        (0x0A000100, 0x0A000103),
    ]
    with pytest.raises(ValueError):
        parse_ranges("10.0.0.9-10.0.0.1")
