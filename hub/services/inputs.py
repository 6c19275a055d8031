"""Input rules the services share: usernames, MAC addresses, site names, required text."""

from __future__ import annotations

import re

from common.mac import normalize_mac
from hub.errors import InvalidInput
from hub.phone import normalize_phone

_SITE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")


def customer_username(text: str, default_country: str) -> str:
    """A phone number in E.164 when it reads as one, else the name as given (vouchers etc.)."""
    try:
        return normalize_phone(text, default_country)
    except ValueError:
        return text.strip()


def optional_mac(value: object) -> str | None:
    """A MAC in canonical form, None when absent; InvalidInput when it is not a MAC."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise InvalidInput("mac_address must be a string")
    try:
        return normalize_mac(value)
    except ValueError as exc:
        raise InvalidInput(f"invalid mac_address {value!r}") from exc


def required_text(value: object, what: str) -> str:
    """Non-blank text, stripped; Postgres text cannot hold NUL, so it is refused here."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"{what} is required")
    if "\x00" in value:
        raise InvalidInput(f"{what} must not contain NUL characters")
    return value.strip()


def site_name(value: object) -> str:
    """A site's name: it names the agent's box in configs and logs, so kept to a safe alphabet."""
    if not isinstance(value, str) or not _SITE.fullmatch(value):
        raise InvalidInput(f"invalid site name {value!r}: letters, digits, '.', '_' and '-'")
    return value
