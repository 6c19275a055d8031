"""One router's API connections over librouteros' async client.

``RouterLink`` holds the command connection (one command at a time, guarded by a lock,
each under the command timeout) and opens ``Listener``s, each on a connection of its own
(``listen`` never ends with ``!done``, so it is read sentence by sentence). A command that
does not read its reply to the end, for whatever reason (a cancellation, a deadline around
an action, any exception), closes the connection: the next command dials a fresh one rather
than reading someone else's reply. A command on a router known to be offline fails at once:
reconnecting is the business of the mirror's ``connect_with_backoff``. librouteros
errors are translated into ``agent.errors`` here and nowhere else. Values come back as
the RouterOS strings the router sent (``BufferedApi``), so parsing happens in one place,
``agent.parse``, with ``common.durations``/``common.units``.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from sys import intern
from typing import Any, TypeVar

from librouteros import async_connect
from librouteros.api import AsyncApi
from librouteros.exceptions import (
    ConnectionClosed,
    FatalError,
    LibRouterosError,
    MultiTrapError,
    ProtocolError,
    TrapError,
)
from librouteros.protocol import compose_word
from tenacity import AsyncRetrying, retry_if_exception_type, wait_random_exponential

from common.timeutil import utcnow

from .config import RouterSettings
from .const import LOGIN_REFUSED_MARKERS
from .errors import (
    BadCredentials,
    RouterCommandError,
    RouterTimeout,
    RouterUnavailable,
    ServiceUnreachable,
)

log = logging.getLogger(__name__)
T = TypeVar("T")

Row = dict[str, str]

# Buckets of the API round-trip histogram, seconds.
ROUND_TRIP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def ros_str(value: Any) -> str:
    """A Python value as RouterOS writes it: True -> "true", 42 -> "42"."""
    if value is True:
        return "true"
    if value is False:
        return "false"
    return str(value)


def is_true(value: str | None) -> bool:
    """A RouterOS boolean: "true"/"yes" (v7 prints true, listen and v6 say yes)."""
    return value in ("true", "yes")


def where(**equals: Any) -> list[str]:
    """Query words matching every ``key=value`` (``mac_address`` -> ``mac-address``)."""
    return [f"?={key.replace('_', '-')}={ros_str(value)}" for key, value in equals.items()]


@dataclass(slots=True)
class RoundTrips:
    """A histogram of API round trips, kept in memory for /metrics."""

    buckets: list[int] = field(default_factory=lambda: [0] * len(ROUND_TRIP_BUCKETS))
    count: int = 0
    total: float = 0.0

    def observe(self, seconds: float) -> None:
        self.count += 1
        self.total += seconds
        for index, bound in enumerate(ROUND_TRIP_BUCKETS):
            if seconds <= bound:
                self.buckets[index] += 1


@dataclass(slots=True, frozen=True)
class LinkState:
    """Where the command connection stands: "unknown" until the first attempt."""

    status: str  # "unknown" | "online" | "offline"
    since: datetime
    error: str | None = None

    @property
    def online(self) -> bool:
        return self.status == "online"


class BufferedApi(AsyncApi):
    """librouteros' AsyncApi reading the socket in chunks and keeping values as strings.

    librouteros awaits two or three small reads per word: a 2,000-session print is some
    40,000 words, and that dominated the agent's CPU. This decodes whole sentences from a
    buffer instead (same length prefixes, same ``!fatal`` handling), and leaves values as
    the router sent them, which is what the agent parses anyway. Everything else (login,
    ``readResponse``, traps) is librouteros' own.
    """

    def __init__(self, protocol: Any) -> None:
        super().__init__(protocol)
        self._buffer = bytearray()
        self._pos = 0
        # Applied to each row as it is read (RouterLink.call_parsed): a 5,000-row print is
        # never held as 5,000 dicts. It must not raise (the reply would be left half read).
        self.transform: Callable[[Row], Any] | None = None

    async def readResponse(self) -> list[Any]:
        """librouteros' readResponse (rows up to ``!done``, traps raised after it), with each
        row passed through ``transform`` as it arrives."""
        transform = self.transform
        traps: list[TrapError] = []
        reply: str | None = None
        response: list[Any] = []
        while reply != "!done":
            reply, words = await self.readSentence()
            if reply == "!trap":
                traps.append(TrapError(**words))
            elif reply in ("!re", "!done") and words:
                response.append(words if transform is None else transform(words))
        if len(traps) > 1:
            raise MultiTrapError(*traps)
        if traps:
            raise traps[0]
        return response

    async def readSentence(self) -> tuple[str, dict[str, Any]]:
        while (sentence := self._take_sentence()) is None:
            del self._buffer[: self._pos]
            self._pos = 0
            chunk = await self.protocol.transport.reader.read(65536)
            if not chunk:
                raise ConnectionClosed("Connection unexpectedly closed.")
            self._buffer += chunk
        reply, attributes = sentence
        if reply == "!fatal":
            await self.protocol.transport.close()
            raise FatalError(next(iter(attributes), ""))
        if reply == "!trap" and str(attributes.get("category", "")).isdigit():
            attributes["category"] = int(attributes["category"])
        return reply, attributes

    def _take_sentence(self) -> tuple[str, dict[str, Any]] | None:
        """The next whole sentence in the buffer (consumed) as (reply word, attributes), or
        None if it is not all there. Words go straight into the row's dict (a 5,000-row
        print is some 60,000 words: no list of them in between)."""
        buffer, pos, end = self._buffer, self._pos, len(self._buffer)
        reply: str | None = None
        attributes: dict[str, Any] = {}
        while True:
            if pos >= end:
                return None
            first = buffer[pos]
            if first < 0x80:
                length, size = first, 1
            elif first < 0xC0:
                length, size = int.from_bytes(buffer[pos : pos + 2], "big") ^ 0x8000, 2
            elif first < 0xE0:
                length, size = int.from_bytes(buffer[pos : pos + 3], "big") ^ 0xC00000, 3
            elif first < 0xF0:
                length, size = int.from_bytes(buffer[pos : pos + 4], "big") ^ 0xE0000000, 4
            else:
                raise ProtocolError(f"Unknown control byte {first:#x}")
            if pos + size + length > end:
                return None
            pos += size
            if length == 0:
                if reply is not None:
                    self._pos = pos
                    return reply, attributes
                continue  # an empty sentence is ignored
            word = buffer[pos : pos + length].decode("utf-8", errors="replace")
            pos += length
            if reply is None:
                reply = word
            elif word[0] == "=":
                key, _, value = word[1:].partition("=")
                # One string per property name, not one per row: 5,000 held user rows of
                # seven properties are some 2 MB of repeated keys otherwise.
                attributes[intern(key)] = value
            else:
                key, _, value = word.partition("=")
                attributes[key] = value


def _ssl_context(settings: RouterSettings) -> ssl.SSLContext | None:
    if not settings.tls:
        return None
    context = ssl.create_default_context()
    if not settings.tls_verify:
        # RouterOS api-ssl often runs on a self-signed certificate.
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


async def open_api(settings: RouterSettings) -> AsyncApi:
    """Connect and log in once, within ``connect_timeout``; errors translated.

    librouteros' own per-read timeouts are switched off (``timeout=None``): they use
    ``asyncio.wait_for``, which on Python 3.11 can swallow a cancellation that arrives as a
    read completes, and a task that ignores its cancellation never stops. Every caller
    bounds its reads with ``asyncio.timeout`` instead.
    """
    where_ = f"{settings.name} ({settings.address})"
    try:
        async with asyncio.timeout(settings.connect_timeout):
            api = await async_connect(
                settings.host,
                settings.username,
                settings.password,
                port=settings.api_port,
                timeout=None,  # type: ignore[arg-type]
                ssl_wrapper=_ssl_context(settings),
                encoding="utf-8",
                subclass=BufferedApi,
            )
    except ConnectionRefusedError as exc:
        raise ServiceUnreachable(
            f"{where_}: connection refused: API service disabled or wrong port"
        ) from exc
    except TimeoutError as exc:
        raise RouterTimeout(
            f"{where_}: timeout: no answer within {settings.connect_timeout}s"
        ) from exc
    except (TrapError, MultiTrapError) as exc:
        if any(marker in str(exc).lower() for marker in LOGIN_REFUSED_MARKERS):
            raise BadCredentials(
                f"{where_}: bad credentials for user {settings.username!r}"
            ) from exc
        raise RouterUnavailable(f"{where_}: login failed: {exc}") from exc
    except ssl.SSLError as exc:
        raise RouterUnavailable(f"{where_}: TLS handshake failed: {exc}") from exc
    except (LibRouterosError, OSError, EOFError) as exc:
        raise RouterUnavailable(f"{where_}: cannot connect: {exc or type(exc).__name__}") from exc
    return api


async def close_api(api: AsyncApi) -> None:
    """Close without letting a dead peer or a second error get in the way."""
    try:
        async with asyncio.timeout(2.0):
            await api.close()
    except (TimeoutError, OSError, LibRouterosError):
        pass


def abort_api(api: AsyncApi) -> None:
    """Close a connection at once, without awaiting: for a reply left unread.

    Synchronous on purpose: it runs while a cancellation unwinds, and an await there could
    itself be cancelled and leave the connection open.
    """
    try:
        api.protocol.transport.writer.close()
    except (OSError, RuntimeError):
        pass


async def _collect(api: AsyncApi, command: str, words: list[str]) -> list[Row]:
    return [row async for row in api.rawCmd(command, *words)]  # type: ignore[misc]


class RouterLink:
    """The command connection to one router, with its state and round-trip figures."""

    def __init__(self, settings: RouterSettings) -> None:
        self.settings = settings
        self.name = settings.name
        self.state = LinkState("unknown", utcnow(), "not connected yet")
        self.round_trips = RoundTrips()
        self._api: AsyncApi | None = None
        self._lock = asyncio.Lock()
        self._listeners: list[Callable[[LinkState], None]] = []
        self._dialing = False  # a connect attempt is under way (under the lock)
        self._failed_at = 0.0  # monotonic time the router was last found unreachable

    def on_change(self, callback: Callable[[LinkState], None]) -> None:
        """Call ``callback(state)`` whenever the router goes online or offline."""
        self._listeners.append(callback)

    def _set_state(self, status: str, error: str | None = None) -> None:
        if status == "offline":
            self._failed_at = time.monotonic()
        if status == self.state.status:
            if error != self.state.error:
                self.state = LinkState(status, self.state.since, error)
            return
        self.state = LinkState(status, utcnow(), error)
        if status == "online":
            log.info("router online router=%s address=%s", self.name, self.settings.address)
        else:
            log.warning("router offline router=%s error=%s", self.name, error)
        for callback in self._listeners:
            callback(self.state)

    @property
    def known_offline(self) -> bool:
        """Offline, and either a connect attempt is under way or the last one is recent.

        Recent: within ``backoff_max``, the longest the mirror's backoff waits between two
        attempts. While a mirror runs, a command never dials an offline router (it would wait
        the connect timeout under the lock, stalling every command behind it); without one
        (``ispfleet-agent check``, a bare link) a command dials again once that has passed.
        "unknown" (never tried) is not offline: the first command dials.
        """
        if self.state.status != "offline":
            return False
        return self._dialing or time.monotonic() - self._failed_at < self.settings.backoff_max

    def _refuse_offline(self) -> None:
        if self.known_offline:
            raise RouterUnavailable(
                f"{self.name}: offline, reconnecting in the background: {self.state.error}"
            )

    async def connect(self) -> None:
        """Make sure the command connection is up (one attempt; always dials if it is down)."""
        async with self._lock:
            await self._ensure_api()

    async def connect_with_backoff(self) -> None:
        """Connect, retrying forever with jittered exponential backoff."""
        retrying = AsyncRetrying(
            retry=retry_if_exception_type(RouterUnavailable),
            wait=wait_random_exponential(
                multiplier=self.settings.backoff_min, max=self.settings.backoff_max
            ),
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                await self.connect()

    async def _ensure_api(self) -> AsyncApi:
        if self._api is None:
            self._dialing = True
            try:
                self._api = await open_api(self.settings)
            except RouterUnavailable as exc:
                self._set_state("offline", str(exc))
                raise
            finally:
                self._dialing = False
            self._set_state("online")
        return self._api

    async def drop(self, error: str) -> None:
        """Forget the command connection (it is broken) and mark the router offline."""
        api, self._api = self._api, None
        if api is not None:
            await close_api(api)
        self._set_state("offline", error)

    async def call_parsed(
        self, command: str, transform: Callable[[Row], T], **params: Any
    ) -> list[T]:
        """``call``, each row turned into ``transform(row)`` as it is read (a long print is
        never held as dicts). ``transform`` must not raise: return a marker for a bad row."""
        return await self.call(command, _transform=transform, **params)

    async def call(
        self,
        command: str,
        *words: str,
        within: float | None = None,
        _transform: Callable[[Row], Any] | None = None,
        **params: Any,
    ) -> list[Row]:
        """Run one command; rows as RouterOS strings. ``params`` become ``=key=value`` words.

        ``within`` replaces the command timeout for a slow command. A ``!trap`` raises
        RouterCommandError (the connection stays up); a broken or silent connection raises
        RouterUnavailable and marks the router offline; a router known to be offline raises
        RouterUnavailable at once, without dialling (see ``known_offline``). Cancelled or
        interrupted mid-reply, the call closes the connection (the router stays "online"):
        its unread reply must not reach the next caller.
        """
        limit = within or self.settings.command_timeout
        self._refuse_offline()
        async with self._lock:
            if self._api is None:
                self._refuse_offline()  # found offline while this call waited for the lock
            api = await self._ensure_api()
            started = time.monotonic()
            try:
                if isinstance(api, BufferedApi):
                    api.transform = _transform
                try:
                    rows = await self._run(api, command, words, params, limit)
                finally:
                    if isinstance(api, BufferedApi):
                        api.transform = None
            except RouterUnavailable as exc:
                await self.drop(str(exc))
                raise
            except RouterCommandError:
                raise  # the trap was read to its !done: the connection is in step
            except BaseException:
                self._abandon(api)
                raise
            self.round_trips.observe(time.monotonic() - started)
        return rows

    def _abandon(self, api: AsyncApi) -> None:
        """Forget and close a connection whose reply was not read to the end."""
        if self._api is api:
            self._api = None
        abort_api(api)

    async def call_separately(
        self, command: str, *words: str, within: float, **params: Any
    ) -> list[Row]:
        """A long command (ping) on a short-lived connection of its own: polls go on."""
        self._refuse_offline()
        api = await open_api(self.settings)
        try:
            rows = await self._run(api, command, words, params, within)
        except BaseException:
            abort_api(api)  # cancelled or broken: no goodbye owed
            raise
        await close_api(api)
        return rows

    async def _run(
        self,
        api: AsyncApi,
        command: str,
        words: tuple[str, ...],
        params: dict[str, Any],
        limit: float,
    ) -> list[Row]:
        sentence = [*(compose_word(k, v) for k, v in params.items()), *words]
        try:
            async with asyncio.timeout(limit):
                return await _collect(api, command, sentence)
        except MultiTrapError as exc:
            raise RouterCommandError(str(exc), exc.traps[0].category, command) from exc
        except TrapError as exc:
            raise RouterCommandError(str(exc), exc.category, command) from exc
        except TimeoutError as exc:
            raise RouterTimeout(
                f"{self.name}: timeout: no answer to {command} in {limit}s"
            ) from exc
        except (OSError, LibRouterosError) as exc:
            reason = str(exc) or type(exc).__name__
            raise RouterUnavailable(f"{self.name}: {command}: connection lost: {reason}") from exc

    async def close(self) -> None:
        async with self._lock:
            api, self._api = self._api, None
            if api is not None:
                await close_api(api)

    def listener(self, menu: str) -> Listener:
        return Listener(self.settings, menu)


class Listener:
    """``<menu>/listen`` on a connection of its own; one change per ``next()``.

    A quiet menu runs into the listen timeout: that raises RouterTimeout and the caller
    reopens and reconciles (a read cut mid-sentence leaves the stream out of step).
    """

    def __init__(self, settings: RouterSettings, menu: str) -> None:
        self.settings = settings
        self.menu = menu
        self._api: AsyncApi | None = None

    async def __aenter__(self) -> Listener:
        self._api = api = await open_api(self.settings)
        try:
            async with asyncio.timeout(self.settings.command_timeout):
                await api.protocol.writeSentence(f"{self.menu}/listen")
        except (TimeoutError, OSError, LibRouterosError) as exc:
            await self.close()
            raise RouterUnavailable(f"{self.settings.name}: {self.menu}/listen: {exc}") from exc
        except BaseException:
            self._api = None
            abort_api(api)  # cancelled while opening: ``async with`` will not close it
            raise
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def next(self) -> Row:
        """The next changed (or removed: ``.dead`` = "yes") item."""
        assert self._api is not None
        traps: list[str] = []
        while True:
            try:
                async with asyncio.timeout(self.settings.listen_timeout):
                    reply, words = await self._api.readSentence()
            except TimeoutError as exc:
                raise RouterTimeout(
                    f"{self.settings.name}: {self.menu}/listen quiet for "
                    f"{self.settings.listen_timeout}s"
                ) from exc
            except (OSError, LibRouterosError) as exc:
                raise RouterUnavailable(
                    f"{self.settings.name}: {self.menu}/listen: connection lost: {exc}"
                ) from exc
            if reply == "!re":
                return words
            if reply == "!trap":
                traps.append(words.get("message", ""))
            elif reply == "!done":
                if traps:
                    raise RouterCommandError(", ".join(traps), command=f"{self.menu}/listen")
                raise RouterUnavailable(f"{self.settings.name}: {self.menu}/listen ended")

    async def close(self) -> None:
        """``/cancel`` politely (best effort), then close the connection."""
        api, self._api = self._api, None
        if api is None:
            return
        try:
            async with asyncio.timeout(1.0):
                await self._cancel(api)
        except (TimeoutError, OSError, LibRouterosError):
            pass
        await close_api(api)

    @staticmethod
    async def _cancel(api: AsyncApi) -> None:
        await api.protocol.writeSentence("/cancel")
        # Replies: the listen's trap "interrupted", then !done for /cancel and for the listen.
        done = 0
        while done < 2:
            reply, _ = await api.readSentence()
            if reply == "!done":
                done += 1
