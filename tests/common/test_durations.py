"""RouterOS durations and portal clocks: examples from the wire, round trips, garbage."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from common.durations import (
    format_clock,
    format_duration,
    parse_clock,
    parse_duration,
    parse_duration_precise,
    parse_timeout,
)

TEN_YEARS = 10 * 366 * 86_400
seconds = st.integers(min_value=0, max_value=TEN_YEARS)

UNIT_SECONDS = {"w": 604_800, "d": 86_400, "h": 3_600, "m": 60, "s": 1}
UNIT_MICROS = {"ms": 1_000, "us": 1}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1w2d3h4m5s", 604_800 + 2 * 86_400 + 3 * 3_600 + 4 * 60 + 5),
        ("1h30m15s", 5_415),
        ("45m22s", 2_722),
        ("4d7h27m6s", 4 * 86_400 + 7 * 3_600 + 27 * 60 + 6),
        ("47m3s", 2_823),
        ("5s", 5),
        ("0s", 0),
        ("1m", 60),
        ("90m", 5_400),
        ("14ms612us", 0),
        ("1s500ms", 1),
        ("999ms", 0),
        ("00:30:00", 1_800),
        ("01:22:53", 4_973),
        ("1d02:03:04", 93_784),
        ("2w1d19:40:38", 2 * 604_800 + 86_400 + 19 * 3_600 + 40 * 60 + 38),
        ("23:45:30", 85_530),
        ("2:15:45", 8_145),
        ("36:00:00", 129_600),
        ("00:00:01.5", 1),
        (" 5s ", 5),
    ],
)
def test_parse_duration_examples(text: str, expected: int) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("14ms612us", 0.014612),
        ("1s500ms", 1.5),
        ("250us", 0.00025),
        ("1m1s1ms", 61.001),
        ("00:00:01.5", 1.5),
        ("00:00:00.014612", 0.014612),
        ("5s", 5.0),
        ("0s", 0.0),
    ],
)
def test_parse_duration_precise_keeps_fractions(text: str, expected: float) -> None:
    assert parse_duration_precise(text) == pytest.approx(expected, abs=1e-9)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0, "0s"),
        (1, "1s"),
        (59, "59s"),
        (60, "1m"),
        (61, "1m1s"),
        (3_600, "1h"),
        (5_415, "1h30m15s"),
        (86_400, "1d"),
        (604_800, "1w"),
        (788_645, "1w2d3h4m5s"),
        (93_784, "1d2h3m4s"),
    ],
)
def test_format_duration_examples(value: int, expected: str) -> None:
    assert format_duration(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0, "0:00:00"),
        (59, "0:00:59"),
        (60, "0:01:00"),
        (8_145, "2:15:45"),
        (85_530, "23:45:30"),
        (86_399, "23:59:59"),
        (86_400, "24:00:00"),
        (129_600, "36:00:00"),
    ],
)
def test_clock_examples(value: int, expected: str) -> None:
    assert format_clock(value) == expected
    assert parse_clock(expected) == value


@given(seconds)
def test_format_then_parse_is_identity(value: int) -> None:
    assert parse_duration(format_duration(value)) == value
    assert parse_duration_precise(format_duration(value)) == value


@given(seconds)
def test_clock_round_trip_and_legacy_duration_agree(value: int) -> None:
    clock = format_clock(value)
    assert parse_clock(clock) == value
    assert parse_duration(clock) == value


@given(seconds)
def test_format_duration_is_canonical(value: int) -> None:
    text = format_duration(value)
    assert text == "0s" or not text.startswith("0")
    # every unit below its carry: no "60s", "24h", "7d"
    remaining = value
    expected = []
    for unit, size in UNIT_SECONDS.items():
        count, remaining = divmod(remaining, size)
        if count:
            expected.append(f"{count}{unit}")
    assert text == ("".join(expected) or "0s")


@given(
    st.fixed_dictionaries(
        {},
        optional={unit: st.integers(0, 10_000) for unit in [*UNIT_SECONDS, *UNIT_MICROS]},
    ).filter(bool)
)
def test_any_ordered_unit_run_parses_to_its_sum(parts: dict[str, int]) -> None:
    order = [*UNIT_SECONDS, *UNIT_MICROS]
    text = "".join(f"{parts[unit]}{unit}" for unit in order if unit in parts)
    micros = sum(UNIT_SECONDS.get(u, 0) * 1_000_000 * n for u, n in parts.items()) + sum(
        UNIT_MICROS.get(u, 0) * n for u, n in parts.items()
    )
    assert parse_duration(text) == micros // 1_000_000
    assert parse_duration_precise(text) == pytest.approx(micros / 1_000_000, abs=1e-6)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "none",
        "1h1h",
        "1m1m",
        "5x",
        "-5s",
        "5s1h",
        "1ms1s",
        "1.5h",
        "1H",
        "5 s",
        "h",
        "s",
        "1h 30m",
        "\u0661s",  # Arabic-Indic digit one
        "12:30",
        "1:2:3",
        "00:60:00",
        "00:00:60",
        "1d24:00:00",
        "-00:30:00",
        "00:30:00:00",
        "00:00:00.",
        "1w2d3h4m5s6",
    ],
)
def test_parse_duration_rejects_garbage(text: str) -> None:
    with pytest.raises(ValueError, match="invalid duration"):
        parse_duration(text)
    with pytest.raises(ValueError, match="invalid duration"):
        parse_duration_precise(text)


@given(st.text(alphabet=st.characters(blacklist_characters="0123456789")))
def test_text_without_digits_is_never_a_duration(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


@given(seconds, st.sampled_from(["w", "d", "h", "m", "s", "ms", "us"]), st.integers(0, 99))
def test_repeated_unit_is_rejected(value: int, unit: str, extra: int) -> None:
    with pytest.raises(ValueError):
        parse_duration(f"{value}{unit}{extra}{unit}")


@given(seconds.filter(bool))
def test_negative_durations_are_rejected(value: int) -> None:
    with pytest.raises(ValueError):
        parse_duration("-" + format_duration(value))
    with pytest.raises(ValueError):
        parse_duration("-" + format_clock(value))


@pytest.mark.parametrize("value", [None, 5, 5.0, b"5s"])
def test_parse_duration_rejects_non_strings(value: object) -> None:
    with pytest.raises(ValueError, match="expected a string"):
        parse_duration(value)  # type: ignore[arg-type]


def test_parse_timeout() -> None:
    assert parse_timeout("none") is None
    assert parse_timeout("5m") == 300
    assert parse_timeout("00:05:00") == 300
    assert parse_timeout("0s") == 0
    for bad in ("", "None", "never", "5x"):
        with pytest.raises(ValueError):
            parse_timeout(bad)


@pytest.mark.parametrize("value", [-1, True, 1.5, "60", None])
def test_formatters_reject_non_seconds(value: object) -> None:
    with pytest.raises(ValueError, match="non-negative whole number of seconds"):
        format_duration(value)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="non-negative whole number of seconds"):
        format_clock(value)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "text",
    ["", "2:15", "2:5:45", "-1:00:00", "1d02:03:04", "2h15m45s", "a:bc:de", "1:60:00", "1:00:60"],
)
def test_parse_clock_rejects_garbage(text: str) -> None:
    with pytest.raises(ValueError, match="invalid clock"):
        parse_clock(text)
