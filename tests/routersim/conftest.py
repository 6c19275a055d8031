"""Fixtures for routersim: a started SimRouter, librouteros connections, a raw API client."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import librouteros
import pytest
from librouteros.api import AsyncApi

from routersim import SimRouter
from routersim.protocol import encode_sentence, read_sentence


@pytest.fixture
async def router() -> AsyncIterator[SimRouter]:
    async with SimRouter(name="test-router", seed=7) as sim:
        yield sim


async def connect(router: SimRouter, **kwargs) -> AsyncApi:
    kwargs.setdefault("timeout", 5)
    return await librouteros.async_connect(
        router.host, router.username, router.password, port=router.port, **kwargs
    )


async def close(api: AsyncApi) -> None:
    with contextlib.suppress(Exception):
        await api.close()


@pytest.fixture
async def api(router: SimRouter) -> AsyncIterator[AsyncApi]:
    connection = await connect(router)
    yield connection
    await close(connection)


async def rows(api: AsyncApi, path: str, **kwargs) -> list[dict]:
    return [row async for row in api.path(path)("print", **kwargs)]


class RawClient:
    """A bare RouterOS API client built on routersim.protocol, for tags and /cancel."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, router: SimRouter, login: bool = True) -> RawClient:
        reader, writer = await asyncio.open_connection(router.host, router.port)
        client = cls(reader, writer)
        if login:
            await client.send("/login", f"=name={router.username}", f"=password={router.password}")
            assert await client.read() == ["!done"]
        return client

    async def send(self, *words: str) -> None:
        self.writer.write(encode_sentence(words))
        await self.writer.drain()

    async def read(self, timeout: float = 5.0) -> list[str]:
        return await asyncio.wait_for(read_sentence(self.reader), timeout)

    async def read_until_done(self, timeout: float = 5.0) -> list[list[str]]:
        sentences = []
        while True:
            sentence = await self.read(timeout)
            sentences.append(sentence)
            if sentence[0] == "!done":
                return sentences

    async def barrier(self) -> None:
        """Round-trip a command: everything sent before it has started on the server."""
        await self.send("/system/identity/print", ".tag=barrier")
        while (await self.read())[:2] != ["!done", ".tag=barrier"]:
            pass

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError):
            await self.writer.wait_closed()


@pytest.fixture
async def raw(router: SimRouter) -> AsyncIterator[RawClient]:
    client = await RawClient.open(router)
    yield client
    await client.close()


def attrs(sentence: list[str]) -> dict[str, str]:
    """The ``=k=v`` and ``.tag=`` words of a reply as a dict (``.tag`` keyed as ".tag")."""
    out = {}
    for word in sentence[1:]:
        if word.startswith("="):
            name, _, value = word[1:].partition("=")
            out[name] = value
        elif word.startswith(".tag="):
            out[".tag"] = word[5:]
    return out
