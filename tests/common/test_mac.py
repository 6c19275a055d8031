"""MAC addresses: every spelling of the same six bytes becomes one canonical string."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from common.mac import is_mac, normalize_mac

six_bytes = st.binary(min_size=6, max_size=6)


def spellings(raw: bytes) -> list[str]:
    digits = raw.hex()
    pairs = [digits[i : i + 2] for i in range(0, 12, 2)]
    quads = [digits[i : i + 4] for i in range(0, 12, 4)]
    return [":".join(pairs), "-".join(pairs), digits, ".".join(quads)]


@given(six_bytes, st.booleans())
def test_all_four_spellings_normalise_alike(raw: bytes, upper: bool) -> None:
    canonical = ":".join(f"{b:02X}" for b in raw)
    for text in spellings(raw):
        text = text.upper() if upper else text
        assert is_mac(text)
        assert normalize_mac(text) == canonical
    assert normalize_mac(canonical) == canonical


def test_examples() -> None:
    assert normalize_mac("aa:bb:cc:dd:ee:ff") == "AA:BB:CC:DD:EE:FF"
    assert normalize_mac("AA-BB-CC-DD-EE-01") == "AA:BB:CC:DD:EE:01"
    assert normalize_mac("aabbccddee02") == "AA:BB:CC:DD:EE:02"
    assert normalize_mac("AABB.CCDD.EE03") == "AA:BB:CC:DD:EE:03"
    assert normalize_mac(" aa:bb:cc:dd:ee:ff\n") == "AA:BB:CC:DD:EE:FF"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "AA:BB:CC:DD:EE",
        "AA:BB:CC:DD:EE:FF:00",
        "GG:BB:CC:DD:EE:FF",
        "AA-BB:CC-DD:EE-FF",
        "AAB.BCC.DDEEFF",
        "a:b:c:d:e:f",
        "AABBCCDDEEF",
        "AABBCCDDEEFF0",
        "AA BB CC DD EE FF",
        "AA:BB:CC:DD:EE:F\u0661",
        None,
        0xAABBCCDDEEFF,
    ],
)
def test_garbage_is_rejected(text: object) -> None:
    assert not is_mac(text)
    with pytest.raises(ValueError, match="invalid MAC address"):
        normalize_mac(text)  # type: ignore[arg-type]


@given(st.text(), st.sampled_from("ghijklmnopqrstuvwxyzGXZ!@#/_+ \u00e9"), st.text())
def test_text_with_a_non_mac_character_is_rejected(head: str, bad: str, tail: str) -> None:
    text = head + bad + tail
    if bad == " ":  # surrounding whitespace is forgiven; whitespace inside is not
        text = f"aa{text}bb"
    assert not is_mac(text)
    with pytest.raises(ValueError):
        normalize_mac(text)
