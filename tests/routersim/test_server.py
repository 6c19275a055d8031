"""routersim.server: login, tags, several commands in flight, /cancel, /quit, errors."""

from __future__ import annotations

import asyncio
import contextlib

import librouteros
import pytest
from librouteros.exceptions import FatalError, MultiTrapError, TrapError
from librouteros.query import Key

from routersim import SimRouter
from tests.helpers import wait_for

from .conftest import RawClient, attrs, close, connect, rows


async def test_async_login_ok_and_first_command(router: SimRouter) -> None:
    api = await connect(router)
    try:
        assert await rows(api, "/system/identity") == [{"name": "test-router"}]
    finally:
        await close(api)


async def test_async_bad_password_is_refused_like_routeros(router: SimRouter) -> None:
    with pytest.raises(TrapError) as caught:
        await librouteros.async_connect(router.host, "admin", "wrong", port=router.port, timeout=5)
    assert caught.value.message == "invalid user name or password (6)"
    assert caught.value.category is None


async def test_bad_login_keeps_the_connection_open(raw_unlogged: RawClient) -> None:
    await raw_unlogged.send("/login", "=name=admin", "=password=nope")
    assert await raw_unlogged.read_until_done() == [
        ["!trap", "=message=invalid user name or password (6)"],
        ["!done"],
    ]
    await raw_unlogged.send("/login", "=name=admin", "=password=")
    assert await raw_unlogged.read() == ["!done"]


async def test_commands_before_login_are_refused(raw_unlogged: RawClient) -> None:
    await raw_unlogged.send("/system/identity/print")
    assert await raw_unlogged.read_until_done() == [
        ["!trap", "=message=not logged in"],
        ["!done"],
    ]


async def test_configured_credentials() -> None:
    async with SimRouter(username="ops", password="s3cret") as sim:
        api = await connect(sim)
        await close(api)
        with pytest.raises(TrapError):
            await librouteros.async_connect(sim.host, "admin", "", port=sim.port, timeout=5)


async def test_sync_librouteros_login_and_print(router: SimRouter) -> None:
    def talk(password: str) -> list[dict]:
        api = librouteros.connect(router.host, "admin", password, port=router.port, timeout=5)
        try:
            return list(api.path("/system/identity"))
        finally:
            api.close()

    assert await asyncio.to_thread(talk, "") == [{"name": "test-router"}]
    with pytest.raises(TrapError, match="invalid user name or password"):
        await asyncio.to_thread(talk, "bad")


async def test_pre_643_token_login(router: SimRouter) -> None:
    router.password = "pw"
    api = await librouteros.async_connect(
        router.host,
        "admin",
        "pw",
        port=router.port,
        timeout=5,
        login_method=librouteros.async_token,
    )
    try:
        assert await rows(api, "/system/identity") == [{"name": "test-router"}]
    finally:
        await close(api)


async def test_tagged_commands_interleave_and_keep_their_tags(
    router: SimRouter, raw: RawClient
) -> None:
    router.add_hotspot_user("+255700000001", password="a")
    router.add_hotspot_user("+255700000002", password="b")
    # The ping streams slowly, the prints answer at once: replies must interleave.
    await raw.send("/ping", "=address=127.0.0.1", "=count=2", "=interval=0.2", ".tag=p")
    await raw.send("/ip/hotspot/user/print", ".tag=u")
    await raw.send("/system/identity/print", ".tag=i")
    seen: dict[str, list[str]] = {"p": [], "u": [], "i": []}
    done: list[str] = []
    while len(done) < 3:
        sentence = await raw.read()
        assert sentence[1].startswith(".tag="), sentence  # the tag right after the reply word
        tag = attrs(sentence)[".tag"]
        seen[tag].append(sentence[0])
        if sentence[0] == "!done":
            done.append(tag)
    assert seen == {
        "p": ["!re", "!re", "!done"],
        "u": ["!re", "!re", "!done"],
        "i": ["!re", "!done"],
    }
    assert done[-1] == "p"  # the slow stream finished last


async def test_untagged_commands_get_untagged_replies(raw: RawClient) -> None:
    await raw.send("/system/identity/print", ".tag=")
    for sentence in await raw.read_until_done():
        assert not any(word.startswith(".tag") for word in sentence)


async def test_cancel_a_tagged_listen(router: SimRouter, raw: RawClient) -> None:
    await raw.send("/ip/hotspot/user/listen", ".tag=l")
    await raw.barrier()
    router.add_hotspot_user("+255700000003")
    first = await raw.read()
    assert first[0] == "!re" and attrs(first)[".tag"] == "l"
    assert attrs(first)["name"] == "+255700000003"
    await raw.send("/cancel", "=tag=l", ".tag=c")
    assert await raw.read() == ["!trap", ".tag=l", "=category=2", "=message=interrupted"]
    assert await raw.read() == ["!done", ".tag=c"]
    assert await raw.read() == ["!done", ".tag=l"]
    # nothing more arrives on the cancelled listen
    router.add_hotspot_user("+255700000004")
    await raw.send("/system/identity/print", ".tag=after")
    assert attrs(await raw.read())[".tag"] == "after"


async def test_cancel_without_tag_stops_everything_else(raw: RawClient) -> None:
    await raw.send("/ip/hotspot/active/listen", ".tag=a")
    await raw.send("/ppp/active/listen", ".tag=b")
    await raw.barrier()
    await raw.send("/cancel", ".tag=c")
    replies = [await raw.read() for _ in range(5)]
    traps = sorted(attrs(r)[".tag"] for r in replies if r[0] == "!trap")
    assert traps == ["a", "b"]
    assert replies[2] == ["!done", ".tag=c"]
    assert sorted(attrs(r)[".tag"] for r in replies[3:]) == ["a", "b"]


async def test_quit_is_fatal_and_closes(raw: RawClient) -> None:
    await raw.send("/quit")
    assert await raw.read() == ["!fatal", "session terminated on request"]
    with pytest.raises(asyncio.IncompleteReadError):
        await raw.read()


async def test_librouteros_sees_quit_as_fatal(router: SimRouter) -> None:
    api = await connect(router)
    try:
        with pytest.raises(FatalError, match="session terminated on request"):
            [row async for row in api("/quit")]
    finally:
        await close(api)


async def test_unknown_directory_gives_two_traps(api) -> None:
    with pytest.raises(MultiTrapError) as caught:
        await rows(api, "/ip/adress")
    assert [t.message for t in caught.value.traps] == [
        "no such command or directory (adress)",
        "no such command prefix",
    ]
    assert caught.value.traps[0].category == 0


async def test_unknown_command_in_a_known_menu(api) -> None:
    with pytest.raises(TrapError) as caught:
        [row async for row in api("/ip/hotspot/user/frobnicate")]
    assert caught.value.message == "no such command"
    with pytest.raises(TrapError, match="no such command"):
        [row async for row in api("/ip/hotspot/active/add", user="x")]


async def test_empty_print_sends_empty_when_enabled(router: SimRouter, raw: RawClient) -> None:
    await raw.send("/ip/hotspot/user/print", ".tag=e")
    assert await raw.read_until_done() == [["!empty", ".tag=e"], ["!done", ".tag=e"]]
    router.empty_replies = False
    await raw.send("/ip/hotspot/user/print")
    assert await raw.read_until_done() == [["!done"]]


async def test_login_gets_a_bare_done_even_with_empty_replies(raw_unlogged: RawClient) -> None:
    await raw_unlogged.send("/login", "=name=admin", "=password=", ".tag=7")
    assert await raw_unlogged.read() == ["!done", ".tag=7"]


async def test_latency_holds_replies_back(router: SimRouter, api) -> None:
    router.latency = 3600.0  # far beyond the test: the reply can only come without latency
    reply = asyncio.create_task(rows(api, "/system/identity"))
    await wait_for(lambda: router.commands_in_flight == 1)
    assert not reply.done()
    reply.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await reply


async def test_long_values_cross_every_length_boundary_through_librouteros(api) -> None:
    users = api.path("/ip/hotspot/user")
    for size in (0x7F, 0x80, 0x3FFF, 0x4000, 0x1FFFFF, 0x200000):
        comment = "c" * (size - len("=comment="))  # the whole word is exactly `size` bytes
        item = await users.add(name=f"+2557{size:08d}", comment=comment)
        got = [row async for row in users.select(Key("comment")).where(Key(".id") == item)]
        assert got == [{"comment": comment}]


async def test_empty_sentences_are_ignored(raw: RawClient) -> None:
    raw.writer.write(b"\x00\x00")
    await raw.send("/system/identity/print")
    assert (await raw.read())[0] == "!re"


@pytest.fixture
async def raw_unlogged(router: SimRouter):
    client = await RawClient.open(router, login=False)
    yield client
    await client.close()
