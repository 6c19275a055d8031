"""Aware UTC times and their one ISO 8601 spelling on the wire, ``2026-01-15T12:44:15.123456Z``.

Always six fractional digits by default, so the strings sort in time order. Naive datetimes
are refused both ways: a time without a zone is a bug waiting for a server in another one.
"""

from __future__ import annotations

from datetime import UTC, datetime

_TIMESPECS = frozenset({"seconds", "milliseconds", "microseconds"})


def utcnow() -> datetime:
    """The current time, aware, in UTC."""
    return datetime.now(UTC)


def to_iso(dt: datetime, timespec: str = "microseconds") -> str:
    """``2026-01-15T12:44:15.123456Z``; ``timespec="seconds"`` gives ``2026-01-16T10:30:00Z``."""
    if not isinstance(dt, datetime) or dt.utcoffset() is None:
        raise ValueError(f"expected an aware datetime, got {dt!r}")
    if timespec not in _TIMESPECS:
        raise ValueError(f"timespec must be one of {sorted(_TIMESPECS)}, got {timespec!r}")
    return dt.astimezone(UTC).replace(tzinfo=None).isoformat(timespec=timespec) + "Z"


def parse_iso(text: str) -> datetime:
    """An aware UTC datetime from ISO 8601 text with ``Z`` or an offset."""
    try:
        dt = datetime.fromisoformat(text)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"invalid ISO 8601 time {text!r}") from exc
    if dt.utcoffset() is None:
        raise ValueError(f"invalid ISO 8601 time {text!r}: no zone (add Z or an offset)")
    return dt.astimezone(UTC)
