"""RouterOS counters, pairs, booleans and versions, and human byte sizes.

RouterOS sends every value as a string; librouteros turns some of them into ``int`` and
``bool`` on the way in, so the parsers here take both. Bad input raises ``ValueError``.
"""

from __future__ import annotations

import re

_DIGITS_RE = re.compile(r"[0-9]+")
_VERSION_RE = re.compile(r"(\d+(?:\.\d+)+(?:[a-z]+\d*)?)(?:\s+\(([a-z][a-z-]*)\))?")
_BYTE_UNITS = ("B", "KB", "MB", "GB", "TB", "PB", "EB")
_TRUE = frozenset({"true", "yes"})
_FALSE = frozenset({"false", "no"})


def parse_counter(value: str | int) -> int:
    """A non-negative byte or packet counter, from ``"52428800"`` or ``52428800``."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if isinstance(value, str) and _DIGITS_RE.fullmatch(value.strip()):
        return int(value)
    raise ValueError(f"invalid counter {value!r}: expected a non-negative integer")


def parse_pair(text: str) -> tuple[int, int]:
    """An ``upload/download`` counter pair as in ``/queue/simple``: ``"123/456"``."""
    halves = text.split("/") if isinstance(text, str) else []
    if len(halves) != 2:
        raise ValueError(f"invalid counter pair {text!r}: expected N/N")
    try:
        return parse_counter(halves[0]), parse_counter(halves[1])
    except ValueError as exc:
        raise ValueError(f"invalid counter pair {text!r}: expected N/N") from exc


def format_bytes(n: int) -> str:
    """A human size in binary steps: ``0 B``, ``512 B``, ``1.50 KB``, ``1.50 GB``."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ValueError(f"expected a non-negative byte count, got {n!r}")
    size, step = float(n), 0
    # Compare the rounded size so 1048575 bytes reads "1.00 MB", never "1024.00 KB".
    while round(size, 2) >= 1024 and step < len(_BYTE_UNITS) - 1:
        size /= 1024
        step += 1
    return f"{n} B" if step == 0 else f"{size:.2f} {_BYTE_UNITS[step]}"


def parse_bool(value: str | bool) -> bool:
    """RouterOS ``true``/``yes``/``false``/``no``; booleans pass through."""
    if isinstance(value, bool):
        return value
    word = value.strip().lower() if isinstance(value, str) else None
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    raise ValueError(f"invalid boolean {value!r}: expected true, yes, false or no")


def parse_version(text: str) -> tuple[str, str | None]:
    """Version and release channel: ``"7.16.2 (stable)"`` -> ``("7.16.2", "stable")``."""
    match = _VERSION_RE.fullmatch(text.strip()) if isinstance(text, str) else None
    if match is None:
        raise ValueError(f"invalid RouterOS version {text!r}")
    return match[1], match[2]
