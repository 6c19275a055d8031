"""Counters, pairs, booleans and versions as RouterOS sends them; human byte sizes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from common.units import format_bytes, parse_bool, parse_counter, parse_pair, parse_version

counters = st.integers(min_value=0, max_value=2**64)


@given(counters)
def test_counter_from_string_or_int(value: int) -> None:
    assert parse_counter(str(value)) == value
    assert parse_counter(value) == value


def test_counter_examples() -> None:
    assert parse_counter("52428800") == 52_428_800
    assert parse_counter("0") == 0
    assert parse_counter(" 17 ") == 17


@pytest.mark.parametrize(
    "value", ["", " ", "-1", "1.5", "abc", "0x10", "1e3", "+5", "\u0661\u0662", -5, True, 1.0, None]
)
def test_counter_rejects_garbage(value: object) -> None:
    with pytest.raises(ValueError, match="invalid counter"):
        parse_counter(value)  # type: ignore[arg-type]


@given(counters, counters)
def test_pair_round_trip(up: int, down: int) -> None:
    assert parse_pair(f"{up}/{down}") == (up, down)


@pytest.mark.parametrize("text", ["", "123", "1/2/3", "a/b", "-1/2", "1/-2", "/", "1/", " / ", 5])
def test_pair_rejects_garbage(text: object) -> None:
    with pytest.raises(ValueError, match="invalid counter pair"):
        parse_pair(text)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0, "0 B"),
        (1, "1 B"),
        (1023, "1023 B"),
        (1024, "1.00 KB"),
        (1536, "1.50 KB"),
        (1_048_575, "1.00 MB"),
        (1_048_576, "1.00 MB"),
        (52_428_800, "50.00 MB"),
        (104_857_600, "100.00 MB"),
        (3 * 2**29, "1.50 GB"),
        (2**40, "1.00 TB"),
        (2**70, "1024.00 EB"),
    ],
)
def test_format_bytes_examples(value: int, expected: str) -> None:
    assert format_bytes(value) == expected


@given(st.integers(min_value=1024, max_value=2**60))
def test_format_bytes_is_close_and_in_range(value: int) -> None:
    number, unit = format_bytes(value).split()
    step = ["KB", "MB", "GB", "TB", "PB", "EB"].index(unit) + 1
    assert 1 <= float(number) < 1024
    # Two decimals: off by at most half a hundredth of the unit (plus float error on the edge).
    assert abs(float(number) * 1024**step - value) <= 0.005 * 1024**step * (1 + 1e-9)


@pytest.mark.parametrize("value", [-1, True, 1.5, "10", None])
def test_format_bytes_rejects_non_counts(value: object) -> None:
    with pytest.raises(ValueError, match="non-negative byte count"):
        format_bytes(value)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("true", True),
        ("yes", True),
        ("false", False),
        ("no", False),
        ("TRUE", True),
        (" no ", False),
        (True, True),
        (False, False),
    ],
)
def test_parse_bool(value: object, expected: bool) -> None:
    assert parse_bool(value) is expected  # type: ignore[arg-type]


@pytest.mark.parametrize("value", ["", "1", "0", "on", "off", "maybe", "y", 1, 0, None])
def test_parse_bool_rejects_garbage(value: object) -> None:
    with pytest.raises(ValueError, match="invalid boolean"):
        parse_bool(value)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("7.16.2 (stable)", ("7.16.2", "stable")),
        ("7.16.2", ("7.16.2", None)),
        ("6.49.10 (long-term)", ("6.49.10", "long-term")),
        ("7.17rc3 (testing)", ("7.17rc3", "testing")),
        ("7.18beta2 (development)", ("7.18beta2", "development")),
        ("7.10", ("7.10", None)),
    ],
)
def test_parse_version(text: str, expected: tuple[str, str | None]) -> None:
    assert parse_version(text) == expected


@pytest.mark.parametrize(
    "text", ["", "stable", "7", "(stable)", "7.16.2 stable", "v7.16", "7.16.2 ()", "7..1", None]
)
def test_parse_version_rejects_garbage(text: object) -> None:
    with pytest.raises(ValueError, match="invalid RouterOS version"):
        parse_version(text)  # type: ignore[arg-type]
