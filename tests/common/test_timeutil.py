"""UTC times on the wire: one spelling, aware both ways, sorting in time order."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from common.timeutil import parse_iso, to_iso, utcnow

offsets = st.builds(
    timezone, st.timedeltas(min_value=timedelta(hours=-23), max_value=timedelta(hours=23))
)
aware = st.datetimes(
    min_value=datetime(1971, 1, 1), max_value=datetime(2200, 1, 1), timezones=offsets
)


def test_utcnow_is_aware_utc_and_current() -> None:
    now = utcnow()
    assert now.tzinfo is UTC
    assert abs(now.timestamp() - time.time()) < 5


def test_to_iso_examples() -> None:
    moment = datetime(2026, 1, 15, 12, 44, 15, 123456, tzinfo=UTC)
    assert to_iso(moment) == "2026-01-15T12:44:15.123456Z"
    assert to_iso(datetime(2026, 1, 16, 10, 30, tzinfo=UTC)) == "2026-01-16T10:30:00.000000Z"
    assert to_iso(datetime(2026, 1, 16, 10, 30, tzinfo=UTC), "seconds") == "2026-01-16T10:30:00Z"
    nairobi = timezone(timedelta(hours=3))
    assert to_iso(datetime(2026, 1, 15, 15, 44, 15, tzinfo=nairobi)) == (
        "2026-01-15T12:44:15.000000Z"
    )


def test_to_iso_refuses_naive_times_and_bad_timespecs() -> None:
    with pytest.raises(ValueError, match="aware datetime"):
        to_iso(datetime(2026, 1, 15, 12, 0))
    with pytest.raises(ValueError, match="aware datetime"):
        to_iso("2026-01-15T12:00:00Z")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="timespec"):
        to_iso(utcnow(), "hours")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-01-15T12:44:15.123456Z", datetime(2026, 1, 15, 12, 44, 15, 123456, tzinfo=UTC)),
        ("2026-01-16T10:30:00Z", datetime(2026, 1, 16, 10, 30, tzinfo=UTC)),
        ("2026-01-15T15:44:15+03:00", datetime(2026, 1, 15, 12, 44, 15, tzinfo=UTC)),
        ("2026-01-15T07:44:15-05:00", datetime(2026, 1, 15, 12, 44, 15, tzinfo=UTC)),
        ("2026-01-15 12:44:15+00:00", datetime(2026, 1, 15, 12, 44, 15, tzinfo=UTC)),
    ],
)
def test_parse_iso_examples(text: str, expected: datetime) -> None:
    parsed = parse_iso(text)
    assert parsed == expected
    assert parsed.tzinfo is UTC


@pytest.mark.parametrize(
    "text", ["", "yesterday", "2026-01-15T12:44:15", "2026-01-15", "2026-13-01T00:00:00Z", None, 5]
)
def test_parse_iso_rejects_garbage_and_naive_times(text: object) -> None:
    with pytest.raises(ValueError, match="invalid ISO 8601 time"):
        parse_iso(text)  # type: ignore[arg-type]


@given(aware)
def test_round_trip_keeps_the_instant(moment: datetime) -> None:
    text = to_iso(moment)
    assert text.endswith("Z") and len(text) == len("2026-01-15T12:44:15.123456Z")
    parsed = parse_iso(text)
    assert parsed == moment
    assert parsed.tzinfo is UTC


@given(aware, aware)
def test_strings_sort_in_time_order(a: datetime, b: datetime) -> None:
    assert (to_iso(a) < to_iso(b)) == (a < b)
