"""Phone numbers: every way a customer writes a valid number gives one E.164 string.

Validity is libphonenumber's: the properties draw numbers it calls valid, in every region it
knows, and numbers it calls invalid must be refused whichever way they are read.
"""

from __future__ import annotations

import phonenumbers
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from hub.phone import REGIONS, normalize_phone

REQUIRED = "TZ KE UG RW BI CD ZM MW MZ NG GH ZA ET SO SS US CA GB IN".split()
TYPES = [
    phonenumbers.PhoneNumberType.MOBILE,
    phonenumbers.PhoneNumberType.FIXED_LINE,
    phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
]


def test_every_country_is_known() -> None:
    assert set(REQUIRED) <= REGIONS
    assert len(REGIONS) > 200  # the 19 of the old length table and every other country


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
        # Countries the old length table refused:
        ("0151 1234 5678", "DE", "+4915112345678"),
        ("06 12 34 56 78", "FR", "+33612345678"),
        ("(11) 98765-4321", "BR", "+5511987654321"),
        ("+49 151 12345678", "TZ", "+4915112345678"),
    ],
)
def test_examples(text: str, country: str, expected: str) -> None:
    assert normalize_phone(text, country) == expected


def test_default_country_is_tanzania() -> None:
    assert normalize_phone("0712345678") == "+255712345678"


@st.composite
def valid_numbers(draw: st.DrawFn) -> tuple[str, phonenumbers.PhoneNumber]:
    """A region and a number libphonenumber calls valid, near the region's example number."""
    region = draw(st.sampled_from(sorted(REGIONS)))
    example = phonenumbers.example_number_for_type(region, draw(st.sampled_from(TYPES)))
    assume(example is not None)
    national = phonenumbers.national_significant_number(example)
    keep = len(national) - draw(st.integers(0, min(3, len(national) - 1)))
    tail = draw(st.text("0123456789", min_size=len(national) - keep, max_size=len(national) - keep))
    number = phonenumbers.parse(f"+{example.country_code}{national[:keep]}{tail}")
    assume(phonenumbers.is_valid_number(number))
    return region, number


def e164(number: phonenumbers.PhoneNumber) -> str:
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


separators = st.lists(st.sampled_from(["", "", "", " ", "-", ".", "(", ")"]), min_size=20)


def spaced(digits: str, seps: list[str]) -> str:
    return "".join(d + seps[i % len(seps)] for i, d in enumerate(digits))


@given(valid_numbers(), separators)
def test_every_input_form_gives_the_same_e164(
    drawn: tuple[str, phonenumbers.PhoneNumber], seps: list[str]
) -> None:
    region, number = drawn
    expected = e164(number)
    international = expected[1:]
    forms = [
        "+" + spaced(international, seps),
        "00" + spaced(international, seps),
        phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL),
        phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL),
        expected,
    ]
    for text in forms:
        assert normalize_phone(text, region) == expected, text


@given(valid_numbers(), st.sampled_from(sorted(REGIONS)))
def test_international_without_plus_in_another_country(
    drawn: tuple[str, phonenumbers.PhoneNumber], default: str
) -> None:
    _, number = drawn
    digits = e164(number)[1:]
    # Only where it cannot be read as a valid national number of the default country.
    try:
        national = phonenumbers.parse(digits, default)
    except phonenumbers.NumberParseException:
        national = None
    assume(national is None or not phonenumbers.is_valid_number(national))
    assert normalize_phone(digits, default) == f"+{digits}"


@given(valid_numbers(), st.integers(1, 6), st.data())
def test_numbers_libphonenumber_calls_invalid_are_refused(
    drawn: tuple[str, phonenumbers.PhoneNumber], cut: int, data: st.DataObject
) -> None:
    region, number = drawn
    digits = e164(number)[1:]
    wrong = data.draw(st.sampled_from([digits[:-cut], digits + "0" * cut, digits + "9" * cut]))
    assume(len(wrong) > 1)

    def valid(text: str, where: str | None) -> bool:
        try:
            return phonenumbers.is_valid_number(phonenumbers.parse(text, where))
        except phonenumbers.NumberParseException:
            return False

    assume(not valid("+" + wrong, None))
    with pytest.raises(ValueError, match="invalid phone number"):
        normalize_phone("+" + wrong, region)
    with pytest.raises(ValueError, match="invalid phone number"):
        normalize_phone("00" + wrong, region)
    if not valid(wrong, region):
        with pytest.raises(ValueError, match="invalid phone number"):
            normalize_phone(wrong, region)


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
        "+3801234",  # too short for Ukraine
        "+9991234567890123",  # 16 digits
        "0012345",
        "1234",
        "+255 0 0712345678",
        "+255 512 345 678",  # the right length, but no such Tanzanian range
        "0912 345 678",
        "+55 11 9876 5432",  # a Brazilian mobile needs its ninth digit
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


@pytest.mark.parametrize("country", ["XX", "", "Tanzania", None, "ZZ"])
def test_unknown_default_country_is_named(country: object) -> None:
    with pytest.raises(ValueError, match=f"unknown default country {country!r}"):
        normalize_phone("+255712345678", country)  # type: ignore[arg-type]
