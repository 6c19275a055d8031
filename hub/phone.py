"""Phone numbers (hotspot and PPP usernames) to E.164, ``+255712345678``, by libphonenumber.

Customers type their number however they like: ``0712 345 678``, ``+255 (0)712-345-678``,
``00255712345678``, ``255712345678``. Numbers without ``+`` or ``00`` are read in a default
country (``TZ`` unless told), or as international when they are not a valid number there.
Validity is libphonenumber's (``phonenumbers``): real number ranges of every country, which
M-Pesa and SMS need, not only lengths. Only the hub reads phone numbers.
"""

from __future__ import annotations

import re

import phonenumbers

REGIONS: frozenset[str] = frozenset(phonenumbers.SUPPORTED_REGIONS)  # ISO 3166-1 alpha-2

_SEPARATORS_RE = re.compile(r"[\s\-.()]")
_NUMBER_RE = re.compile(r"\+?[0-9]+", re.ASCII)
_MAX_DIGITS = 20  # E.164 has at most 15; a little slack for "00" and a trunk prefix


def unknown_country(what: str, country: object) -> str:
    """Why ``country`` is refused (one text for the phone rules and tenants)."""
    return f"unknown {what} {country!r}; expected a two-letter ISO 3166 code such as TZ, KE or US"


def normalize_phone(text: str, default_country: str = "TZ") -> str:
    """E.164 form of ``text``; numbers without a calling code are read in ``default_country``."""
    home = default_country.upper() if isinstance(default_country, str) else None
    if home not in REGIONS:
        raise ValueError(unknown_country("default country", default_country))
    try:
        return _e164(text, home)
    except ValueError as exc:
        raise ValueError(f"invalid phone number {text!r}: {exc}") from None


def _e164(text: str, home: str) -> str:
    if not isinstance(text, str):
        raise ValueError("expected a string")
    number = _SEPARATORS_RE.sub("", text)
    if not _NUMBER_RE.fullmatch(number):
        raise ValueError("only digits, an optional leading +, spaces, '-', '.' and '()' allowed")
    if len(number) > _MAX_DIGITS + 1:
        raise ValueError("too many digits")
    if number.startswith("+"):
        return _checked(number, None, "its calling code")
    if number.startswith("00"):
        return _checked("+" + number[2:], None, "its calling code")
    national = _valid(number, home)
    if national is not None:
        return national
    international = _valid("+" + number, None)
    if international is not None:
        return international
    raise ValueError(f"neither a valid {home} number nor one with a valid calling code")


def _checked(number: str, region: str | None, where: str) -> str:
    found = _valid(number, region)
    if found is None:
        raise ValueError(f"not a valid number for {where}")
    return found


def _valid(number: str, region: str | None) -> str | None:
    try:
        parsed = phonenumbers.parse(number, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(parsed):
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
