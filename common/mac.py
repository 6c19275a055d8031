"""MAC addresses in one canonical form, ``AA:BB:CC:DD:EE:FF``, whatever the vendor wrote."""

from __future__ import annotations

import re

_HEX = "[0-9A-Fa-f]"
_FORMS = (
    re.compile(":".join([f"({_HEX}{{2}})"] * 6)),  # AA:BB:CC:DD:EE:FF
    re.compile("-".join([f"({_HEX}{{2}})"] * 6)),  # aa-bb-cc-dd-ee-ff
    re.compile(f"({_HEX}{{12}})"),  # aabbccddeeff
    re.compile(r"\.".join([f"({_HEX}{{4}})"] * 3)),  # AABB.CCDD.EEFF (Cisco)
)


def normalize_mac(text: str) -> str:
    """Canonical ``AA:BB:CC:DD:EE:FF`` from any of the four common spellings."""
    if isinstance(text, str):
        candidate = text.strip()
        for form in _FORMS:
            if match := form.fullmatch(candidate):
                digits = "".join(match.groups()).upper()
                return ":".join(digits[i : i + 2] for i in range(0, 12, 2))
    raise ValueError(f"invalid MAC address {text!r}")


def is_mac(text: object) -> bool:
    """Whether ``text`` is a MAC address in one of the spellings ``normalize_mac`` takes."""
    try:
        normalize_mac(text)  # type: ignore[arg-type]
    except ValueError:
        return False
    return True
