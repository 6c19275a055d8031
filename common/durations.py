"""RouterOS durations, both ways.

RouterOS 7 prints durations as unit runs, largest unit first: ``1w2d3h4m5s``, ``45m22s``,
``0s``, ``14ms612us`` (ping times). Older releases and some fields use a clock form:
``00:30:00``, ``1d02:03:04``, ``2w1d19:40:38``. The tenant portal shows time left as an
unpadded clock whose hours may pass 24 (``23:45:30``, ``2:15:45``, ``36:00:00``).

Everything here is pure; bad input raises ``ValueError`` naming the text.
"""

from __future__ import annotations

import re

_US_PER = {
    "w": 7 * 86_400_000_000,
    "d": 86_400_000_000,
    "h": 3_600_000_000,
    "m": 60_000_000,
    "s": 1_000_000,
    "ms": 1_000,
    "us": 1,
}

# Each unit at most once, in this order: "1h1h" and "5s1h" do not match.
_UNITS_RE = re.compile(
    r"(?:(?P<w>\d+)w)?(?:(?P<d>\d+)d)?(?:(?P<h>\d+)h)?(?:(?P<m>\d+)m(?!s))?"
    r"(?:(?P<s>\d+)s)?(?:(?P<ms>\d+)ms)?(?:(?P<us>\d+)us)?",
    re.ASCII,
)

# Optional week/day prefix, then H:MM:SS with an optional fraction of a second.
_CLOCK_RE = re.compile(
    r"(?:(?P<w>\d+)w)?(?:(?P<d>\d+)d)?"
    r"(?P<h>\d+):(?P<m>[0-5]\d):(?P<s>[0-5]\d)(?:\.(?P<frac>\d{1,9}))?",
    re.ASCII,
)

_SECONDS_PER = (("w", 7 * 86_400), ("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1))


def _microseconds(text: str) -> int:
    if not isinstance(text, str):
        raise ValueError(f"invalid duration {text!r}: expected a string")
    body = text.strip()
    if match := _CLOCK_RE.fullmatch(body):
        parts = match.groupdict()
        if (parts["w"] or parts["d"]) and int(parts["h"]) > 23:
            raise ValueError(f"invalid duration {text!r}: hours after days must be below 24")
        fraction_us = int((parts.pop("frac") or "").ljust(6, "0")[:6])
        return fraction_us + sum(_US_PER[unit] * int(v) for unit, v in parts.items() if v)
    match = _UNITS_RE.fullmatch(body)
    if not body or match is None:
        raise ValueError(f"invalid duration {text!r}")
    return sum(_US_PER[unit] * int(value) for unit, value in match.groupdict().items() if value)


def parse_duration(text: str) -> int:
    """Whole seconds of a RouterOS duration; sub-second parts are truncated."""
    return _microseconds(text) // 1_000_000


def parse_duration_precise(text: str) -> float:
    """Seconds of a RouterOS duration, keeping milliseconds and microseconds (ping times)."""
    return _microseconds(text) / 1_000_000


def parse_timeout(text: str) -> int | None:
    """A timeout setting in seconds; RouterOS ``none`` (no timeout) is ``None``."""
    if isinstance(text, str) and text.strip() == "none":
        return None
    return parse_duration(text)


def _check_seconds(seconds: int) -> None:
    if isinstance(seconds, bool) or not isinstance(seconds, int) or seconds < 0:
        raise ValueError(f"expected a non-negative whole number of seconds, got {seconds!r}")


def format_duration(seconds: int) -> str:
    """RouterOS form of a number of seconds: ``1w2d3h4m5s``, ``1h30m15s``, ``0s``."""
    _check_seconds(seconds)
    parts = []
    for unit, size in _SECONDS_PER:
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts) or "0s"


_PLAIN_CLOCK_RE = re.compile(r"(\d+):([0-5]\d):([0-5]\d)", re.ASCII)


def format_clock(seconds: int) -> str:
    """Clock form with unpadded hours that may pass 24: ``23:45:30``, ``2:15:45``."""
    _check_seconds(seconds)
    minutes, secs = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}"


def parse_clock(text: str) -> int:
    """Seconds of an ``H:MM:SS`` clock (hours may pass 24), the inverse of ``format_clock``."""
    match = _PLAIN_CLOCK_RE.fullmatch(text.strip()) if isinstance(text, str) else None
    if match is None:
        raise ValueError(f"invalid clock {text!r}: expected H:MM:SS")
    hours, minutes, secs = (int(group) for group in match.groups())
    return hours * 3600 + minutes * 60 + secs
