"""Phone numbers: every way a customer writes a number gives one E.164 string."""

from __future__ import annotations

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from common.phone import COUNTRIES, normalize_phone

REQUIRED = "TZ KE UG RW BI CD ZM MW MZ NG GH ZA ET SO SS US CA GB IN".split()


def test_table_covers_the_markets() -> None:
    assert set(REQUIRED) <= set(COUNTRIES)
    assert COUNTRIES["TZ"].calling_code == "255"
    assert COUNTRIES["KE"].calling_code == "254"
    assert COUNTRIES["ZA"].calling_code == "27"
    assert COUNTRIES["US"].calling_code == COUNTRIES["CA"].calling_code == "1"


@pytest.mark.parametrize(
    ("text", "country", "expected"),
    [
        ("+255712345678", "TZ", "+255712345678"),
        ("254795635364", "TZ", "+254795635364"),
        ("0712345678", "TZ", "+255712345678"),
        ("0712 345 678", "TZ", "+255712345678"),
        ("712345678", "TZ", "+255712345678"),
        ("00255712345678", "TZ", "+255712345678"),
        ("+255 (0)712-345-678", "TZ", "+255712345678"),
        ("+255.712.345.678", "TZ", "+255712345678"),
        ("0795635364", "KE", "+254795635364"),
        ("+254 795 635 364", "UG", "+254795635364"),
        ("(212) 555-1234", "US", "+12125551234"),
        ("1 212 555 1234", "us", "+12125551234"),
        ("020 7946 0958", "GB", "+442079460958"),
        ("+44 (0)20 7946 0958", "TZ", "+442079460958"),
        ("0803 123 4567", "NG", "+2348031234567"),
        ("79 123 456", "BI", "+25779123456"),
        ("84 123 4567", "MZ", "+258841234567"),
        ("+7 912 345-67-89", "TZ", "+79123456789"),  # code not in the table, plausible length
        ("+86 138 0013 8000", "TZ", "+8613800138000"),
    ],
)
def test_examples(text: str, country: str, expected: str) -> None:
    assert normalize_phone(text, country) == expected


def test_default_country_is_tanzania() -> None:
    assert normalize_phone("0712345678") == "+255712345678"


@st.composite
def national_numbers(draw: st.DrawFn) -> tuple[str, str]:
    """A country and a national significant number of a valid length for it."""
    name = draw(st.sampled_from(sorted(COUNTRIES)))
    country = COUNTRIES[name]
    length = draw(st.sampled_from(sorted(country.lengths)))
    first = draw(st.sampled_from([d for d in "123456789" if d != country.trunk_prefix]))
    rest = draw(st.text(alphabet="0123456789", min_size=length - 1, max_size=length - 1))
    return name, first + rest


separators = st.lists(st.sampled_from(["", "", "", " ", "-", ".", "(", ")"]), min_size=20)


def spaced(digits: str, seps: list[str]) -> str:
    return "".join(d + seps[i % len(seps)] for i, d in enumerate(digits))


@given(national_numbers(), separators)
def test_every_input_form_gives_the_same_e164(number: tuple[str, str], seps: list[str]) -> None:
    name, national = number
    country = COUNTRIES[name]
    expected = f"+{country.calling_code}{national}"
    forms = [
        "+" + spaced(country.calling_code + national, seps),
        "00" + spaced(country.calling_code + national, seps),
        spaced(country.calling_code + national, seps),
        spaced(national, seps),
        f"+{country.calling_code} ({country.trunk_prefix or ''}){national}",
    ]
    if country.trunk_prefix:
        forms.append(spaced(country.trunk_prefix + national, seps))
    for text in forms:
        assert normalize_phone(text, name) == expected, text
    assert normalize_phone(expected, name) == expected


@given(national_numbers(), st.sampled_from(sorted(COUNTRIES)))
def test_international_without_plus_in_another_country(
    number: tuple[str, str], default: str
) -> None:
    name, national = number
    digits = COUNTRIES[name].calling_code + national
    home = COUNTRIES[default]
    # Only where it cannot be read as a national number of the default country.
    assume(len(digits) not in home.lengths)
    assume(not (home.trunk_prefix and digits.startswith(home.trunk_prefix)))
    assert normalize_phone(digits, default) == f"+{digits}"


@given(st.sampled_from(sorted(COUNTRIES)), st.integers(1, 12), st.data())
def test_wrong_lengths_are_rejected(name: str, length: int, data: st.DataObject) -> None:
    country = COUNTRIES[name]
    assume(length not in country.lengths)
    first = data.draw(st.sampled_from([d for d in "123456789" if d != country.trunk_prefix]))
    rest = data.draw(st.text(alphabet="0123456789", min_size=length - 1, max_size=length - 1))
    national = first + rest
    with pytest.raises(ValueError, match="invalid phone number"):
        normalize_phone(f"+{country.calling_code}{national}", name)
    if country.trunk_prefix:
        with pytest.raises(ValueError, match="invalid phone number"):
            normalize_phone(f"{country.trunk_prefix}{national}", name)


@given(st.text(alphabet="0123456789 "), st.characters(categories=["L"]), st.text())
def test_letters_are_rejected(head: str, letter: str, tail: str) -> None:
    with pytest.raises(ValueError, match="invalid phone number"):
        normalize_phone(head + letter + tail)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "+",
        "00",
        "07123",
        "071234567890",
        "+2557123456789",
        "+25571234567",
        "++255712345678",
        "+255+712345678",
        "255-712-345-67a",
        "+0123456789",  # calling codes never start with 0
        "+3801234",  # unknown code, too short for E.164
        "+9991234567890123",  # 16 digits
        "0012345",
        "1234",
        "+255 0 0712345678",
        "\u0660\u0667\u0661\u0662\u0663\u0664\u0665\u0666\u0667\u0668",  # Arabic-Indic digits
    ],
)
def test_invalid_numbers_are_rejected(text: str) -> None:
    with pytest.raises(ValueError, match="invalid phone number"):
        normalize_phone(text)


@pytest.mark.parametrize("value", [None, 255712345678, b"0712345678"])
def test_non_strings_are_rejected(value: object) -> None:
    with pytest.raises(ValueError, match="invalid phone number"):
        normalize_phone(value)  # type: ignore[arg-type]


def test_countries_without_trunk_prefix_refuse_a_leading_zero() -> None:
    with pytest.raises(ValueError, match="invalid phone number"):
        normalize_phone("079123456", "BI")


@pytest.mark.parametrize("country", ["XX", "", "Tanzania", None])
def test_unknown_default_country_is_named(country: object) -> None:
    with pytest.raises(ValueError, match=f"unknown default country {country!r}"):
        normalize_phone("+255712345678", country)  # type: ignore[arg-type]
