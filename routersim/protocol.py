"""The RouterOS API wire format: length-prefixed words grouped into sentences.

A word is its byte length (1 to 5 bytes, big-endian, the top bits saying how many) and then
its bytes; a sentence is words followed by an empty word. Words are decoded as UTF-8 with
``surrogateescape``, so arbitrary bytes survive a round trip unchanged.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from routersim.errors import ProtocolError

ENCODING = "utf-8"
_ERRORS = "surrogateescape"
# A word longer than this is refused; RouterOS values are far shorter.
MAX_WORD = 16 * 1024 * 1024


def encode_length(length: int) -> bytes:
    """The 1-5 byte length prefix of a word of ``length`` bytes."""
    if length < 0:
        raise ValueError(f"negative length {length}")
    if length < 0x80:
        return length.to_bytes(1, "big")
    if length < 0x4000:
        return (length | 0x8000).to_bytes(2, "big")
    if length < 0x200000:
        return (length | 0xC00000).to_bytes(3, "big")
    if length < 0x10000000:
        return (length | 0xE0000000).to_bytes(4, "big")
    if length < 0x100000000:
        return b"\xf0" + length.to_bytes(4, "big")
    raise ValueError(f"length {length} does not fit in a RouterOS word")


def prefix_size(first: int) -> int:
    """How many bytes a length prefix has, given its first byte."""
    if first < 0x80:
        return 1
    if first < 0xC0:
        return 2
    if first < 0xE0:
        return 3
    if first < 0xF0:
        return 4
    if first == 0xF0:
        return 5
    raise ProtocolError(f"reserved control byte 0x{first:02X}")


def decode_length(prefix: bytes) -> int:
    """The length encoded by a whole prefix (as returned by :func:`encode_length`)."""
    if not prefix or len(prefix) != prefix_size(prefix[0]):
        raise ProtocolError(f"malformed length prefix {prefix!r}")
    if len(prefix) == 5:
        return int.from_bytes(prefix[1:], "big")
    mask = (0x80, 0xC0, 0xE0, 0xF0)[len(prefix) - 1] << (8 * (len(prefix) - 1))
    return int.from_bytes(prefix, "big") & ~mask


def encode_word(word: str) -> bytes:
    data = word.encode(ENCODING, _ERRORS)
    return encode_length(len(data)) + data


def encode_sentence(words: Iterable[str]) -> bytes:
    """A whole sentence as one bytes object, so it can go out in a single write."""
    return b"".join(encode_word(word) for word in words) + b"\x00"


async def read_length(reader: asyncio.StreamReader) -> int:
    first = await reader.readexactly(1)
    size = prefix_size(first[0])
    rest = await reader.readexactly(size - 1) if size > 1 else b""
    return decode_length(first + rest)


async def read_word(reader: asyncio.StreamReader, max_length: int = MAX_WORD) -> str:
    length = await read_length(reader)
    if length > max_length:
        raise ProtocolError(f"word of {length} bytes is longer than {max_length}")
    data = await reader.readexactly(length) if length else b""
    return data.decode(ENCODING, _ERRORS)


async def read_sentence(reader: asyncio.StreamReader, max_length: int = MAX_WORD) -> list[str]:
    """The words of the next sentence (an empty list for an empty sentence).

    Raises ``asyncio.IncompleteReadError`` when the peer closes the connection.
    """
    words = []
    while word := await read_word(reader, max_length):
        words.append(word)
    return words
