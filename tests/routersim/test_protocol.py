"""routersim.protocol: word lengths at every encoding boundary, sentences, bad input."""

from __future__ import annotations

import asyncio

import pytest

from routersim.errors import ProtocolError
from routersim.protocol import (
    decode_length,
    encode_length,
    encode_sentence,
    encode_word,
    read_length,
    read_sentence,
    read_word,
)

BOUNDARIES = [
    (0, 1),
    (0x7F, 1),
    (0x80, 2),
    (0x3FFF, 2),
    (0x4000, 3),
    (0x1FFFFF, 3),
    (0x200000, 4),
    (0xFFFFFFF, 4),
    (0x10000000, 5),
    (0xFFFFFFFF, 5),
]


def reader_of(data: bytes) -> asyncio.StreamReader:
    reader = asyncio.StreamReader()
    reader.feed_data(data)
    reader.feed_eof()
    return reader


@pytest.mark.parametrize(("length", "size"), BOUNDARIES)
def test_length_prefix_round_trips_at_every_boundary(length: int, size: int) -> None:
    prefix = encode_length(length)
    assert len(prefix) == size
    assert decode_length(prefix) == length


def test_length_prefixes_match_the_documented_bytes() -> None:
    assert encode_length(0x7F) == b"\x7f"
    assert encode_length(0x80) == b"\x80\x80"
    assert encode_length(0x3FFF) == b"\xbf\xff"
    assert encode_length(0x4000) == b"\xc0\x40\x00"
    assert encode_length(0x1FFFFF) == b"\xdf\xff\xff"
    assert encode_length(0x200000) == b"\xe0\x20\x00\x00"
    assert encode_length(0xFFFFFFF) == b"\xef\xff\xff\xff"
    assert encode_length(0x10000000) == b"\xf0\x10\x00\x00\x00"


@pytest.mark.parametrize(("length", "size"), BOUNDARIES)
async def test_read_length_from_a_stream(length: int, size: int) -> None:
    assert await read_length(reader_of(encode_length(length))) == length


@pytest.mark.parametrize("length", [0x7F, 0x80, 0x3FFF, 0x4000, 0x1FFFFF, 0x200000])
async def test_whole_words_round_trip_across_boundaries(length: int) -> None:
    word = "=comment=" + "x" * (length - len("=comment="))
    encoded = encode_word(word)
    assert len(encoded) == len(encode_length(length)) + length
    assert await read_word(reader_of(encoded)) == word


async def test_sentence_round_trip_keeps_order_utf8_and_odd_bytes() -> None:
    words = ["/ip/hotspot/user/add", "=name=+255712345678", "=comment=Jüri 🚀", "=password=a=b="]
    data = encode_sentence(words)
    assert data.endswith(b"\x00")
    reader = reader_of(data + encode_sentence(["/quit"]))
    assert await read_sentence(reader) == words
    assert await read_sentence(reader) == ["/quit"]


async def test_arbitrary_bytes_survive_a_round_trip() -> None:
    data = b"\x05=a=\xff\xfe"  # not UTF-8
    word = await read_word(reader_of(data))
    assert encode_word(word) == data


async def test_empty_sentence_reads_as_empty_list() -> None:
    assert await read_sentence(reader_of(b"\x00")) == []


async def test_reserved_control_byte_is_a_protocol_error() -> None:
    with pytest.raises(ProtocolError):
        await read_word(reader_of(b"\xf8\x00\x00\x00\x00"))


async def test_word_longer_than_the_limit_is_refused() -> None:
    with pytest.raises(ProtocolError):
        await read_word(reader_of(encode_length(1000) + b"x" * 1000), max_length=999)


async def test_eof_mid_sentence_raises_incomplete_read() -> None:
    with pytest.raises(asyncio.IncompleteReadError):
        await read_sentence(reader_of(encode_word("/login")))


def test_negative_and_huge_lengths_are_value_errors() -> None:
    with pytest.raises(ValueError):
        encode_length(-1)
    with pytest.raises(ValueError):
        encode_length(1 << 32)
