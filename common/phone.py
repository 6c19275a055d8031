"""Phone numbers (hotspot and PPP usernames) to E.164, ``+255712345678``.

Customers type their number however they like: ``0712 345 678``, ``+255 (0)712-345-678``,
``00255712345678``, ``255712345678``. Numbers without ``+`` or ``00`` are read in a default
country (``TZ`` unless told), or as international when they start with a known calling code
and are too long to be national. Only lengths are checked, not number ranges: the point is one
spelling per subscriber, not telling mobile from fixed lines.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Country:
    calling_code: str
    lengths: frozenset[int]  # of the national significant number (no trunk prefix)
    trunk_prefix: str | None  # dialled before national numbers inside the country


def _country(code: str, *lengths: int, trunk: str | None = "0") -> Country:
    return Country(code, frozenset(lengths), trunk)


COUNTRIES: dict[str, Country] = {
    "TZ": _country("255", 9),
    "KE": _country("254", 9),
    "UG": _country("256", 9),
    "RW": _country("250", 9),
    "BI": _country("257", 8, trunk=None),
    "CD": _country("243", 7, 9),
    "ZM": _country("260", 9),
    "MW": _country("265", 7, 9),
    "MZ": _country("258", 8, 9, trunk=None),
    "NG": _country("234", 8, 10),
    "GH": _country("233", 9),
    "ZA": _country("27", 9),
    "ET": _country("251", 9),
    "SO": _country("252", 7, 8, 9),
    "SS": _country("211", 9),
    "US": _country("1", 10, trunk="1"),
    "CA": _country("1", 10, trunk="1"),
    "GB": _country("44", 9, 10),
    "IN": _country("91", 10),
}
_BY_CODE = {country.calling_code: country for country in COUNTRIES.values()}

_SEPARATORS_RE = re.compile(r"[\s\-.()]")
_NUMBER_RE = re.compile(r"\+?[0-9]+")
_E164_LENGTHS = range(8, 16)  # digits, calling code included


def normalize_phone(text: str, default_country: str = "TZ") -> str:
    """E.164 form of ``text``; numbers without a calling code are read in ``default_country``."""
    home = COUNTRIES.get(default_country.upper()) if isinstance(default_country, str) else None
    if home is None:
        raise ValueError(
            f"unknown default country {default_country!r}; known: {', '.join(sorted(COUNTRIES))}"
        )
    try:
        return _e164(text, home, default_country.upper())
    except ValueError as exc:
        raise ValueError(f"invalid phone number {text!r}: {exc}") from None


def _e164(text: str, home: Country, home_name: str) -> str:
    if not isinstance(text, str):
        raise ValueError("expected a string")
    number = _SEPARATORS_RE.sub("", text)
    if not _NUMBER_RE.fullmatch(number):
        raise ValueError("only digits, an optional leading +, spaces, '-', '.' and '()' allowed")
    if number.startswith("+"):
        return _international(number[1:])
    if number.startswith("00"):
        return _international(number[2:])
    trunk = home.trunk_prefix
    if trunk and number.startswith(trunk):
        return _checked(home, number[len(trunk) :], home_name)
    if len(number) in home.lengths:
        return _checked(home, number, home_name)
    if _known_code(number):
        return _international(number)
    raise ValueError(f"neither a {home_name} number nor one with a known calling code")


def _known_code(digits: str) -> str | None:
    # Calling codes are a prefix code: at most one of these matches.
    return next((digits[:n] for n in (1, 2, 3) if digits[:n] in _BY_CODE), None)


def _international(digits: str) -> str:
    code = _known_code(digits)
    if code is None:
        if digits.startswith("0") or len(digits) not in _E164_LENGTHS:
            raise ValueError("expected a calling code and 8 to 15 digits in all")
        return "+" + digits
    country = _BY_CODE[code]
    national = digits[len(code) :]
    if country.trunk_prefix and national.startswith(country.trunk_prefix):
        national = national[len(country.trunk_prefix) :]  # "+44 (0)20 ..."
    return _checked(country, national, "+" + code)


def _checked(country: Country, national: str, name: str) -> str:
    if national.startswith("0"):
        raise ValueError(f"a {name} number cannot start with 0 after the prefix")
    if len(national) not in country.lengths:
        allowed = " or ".join(str(n) for n in sorted(country.lengths))
        raise ValueError(f"a {name} number has {allowed} digits after the prefix")
    return f"+{country.calling_code}{national}"
