"""SimRouter: one simulated MikroTik router with its API port and its world.

The control methods (``add_hotspot_user``, ``hotspot_login``, ``step`` ...) are synchronous
and take effect at once; API clients and ``listen`` streams see them like any other change.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from types import TracebackType

from routersim.errors import ControlError, Trap
from routersim.server import Connection
from routersim.state import RouterState, Row
from routersim.world import World

logger = logging.getLogger(__name__)


class SimRouter:
    """A RouterOS API server (plain API, like port 8728) in front of a simulated world."""

    def __init__(
        self,
        name: str = "router",
        username: str = "admin",
        password: str = "",
        seed: int = 0,
        empty_replies: bool = True,
        version: str = "7.16.2 (stable)",
        phone_prefix: str = "+2557",
    ) -> None:
        self.name = name
        self.username = username
        self.password = password
        self.seed = seed
        self.empty_replies = empty_replies  # RouterOS 7.18+ answers an empty print with !empty
        self.version = version
        self.latency = 0.0  # seconds added before each command's replies
        self.monitor_interval = 1.0  # seconds between monitor-traffic samples
        self.ping_interval = 1.0  # default seconds between ping probes
        # ``/ip service set api max-sessions=N``: a connection beyond N is closed at once
        # (RouterOS drops it before login; the exact close is UNCONFIRMED). None: no limit.
        self.max_sessions: int | None = None
        self.state = RouterState()
        self.world = World(self.state, name, seed, version, phone_prefix)
        self.host: str | None = None
        self.port: int | None = None
        self._server: asyncio.Server | None = None
        self._starting: asyncio.Task[None] | None = None
        self._listeners: set[asyncio.Task[None]] = set()
        self._generation = 0  # bumped when going offline: a late-starting server closes itself
        self._listening = False
        self._connections: set[Connection] = set()
        self._handlers: set[asyncio.Task[None]] = set()
        self._world_task: asyncio.Task[None] | None = None
        self._offline = False

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        """Listen on ``host:port`` (0: a free port); ``self.port`` tells which."""
        if self._listening:
            raise ControlError(f"router {self.name} is already started")
        self.host, self._offline = host, False
        self._listen(port)
        assert self._starting is not None
        await self._starting

    async def stop(self) -> None:
        """Stop the world ticker, drop every connection and stop listening."""
        if self._world_task is not None:
            self._world_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._world_task
            self._world_task = None
        self.set_offline(True)
        pending = self._handlers | self._listeners
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
        self._offline = False

    async def __aenter__(self) -> SimRouter:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    def set_offline(self, offline: bool) -> None:
        """Offline: drop every connection abruptly and refuse new ones. Online: listen again.

        Synchronous: the listening socket is closed, or bound again on the same port, before
        this returns, so a connect right after it is refused or accepted.
        """
        if offline:
            self._offline, self._listening = True, False
            self._generation += 1
            if self._server is not None:
                self._server.close()
                self._server = None
            for connection in list(self._connections):
                connection.abort()
            self._connections.clear()
        elif self._offline:
            if self.port is None:
                raise ControlError(f"router {self.name} was never started")
            self._offline = False
            self._listen(self.port)

    @property
    def online(self) -> bool:
        return self._listening

    @property
    def connections(self) -> int:
        """Open API connections."""
        return len(self._connections)

    @property
    def commands_in_flight(self) -> int:
        """Commands received and not answered to the end yet (a listen stays in flight)."""
        return sum(len(connection.requests) for connection in self._connections)

    def _listen(self, port: int) -> None:
        assert self.host is not None
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        # IPPROTO_TCP (not 0) so asyncio sets TCP_NODELAY on accepted connections:
        # otherwise Nagle holds each reply sentence back for the peer's delayed ACK.
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.host, port))
            sock.listen(128)
            sock.setblocking(False)
        except OSError:
            sock.close()
            raise
        self.port = sock.getsockname()[1]
        self._listening = True
        generation = self._generation

        async def serve() -> None:
            server = await asyncio.start_server(self._accept, sock=sock)
            if generation != self._generation:  # went offline while starting
                server.close()
            else:
                self._server = server

        self._starting = asyncio.create_task(serve())
        self._listeners.add(self._starting)
        self._starting.add_done_callback(self._listeners.discard)
        logger.debug("listening router=%s address=%s:%s", self.name, self.host, self.port)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._offline or (
            self.max_sessions is not None and len(self._connections) >= self.max_sessions
        ):
            writer.transport.abort()
            return
        connection = Connection(self, reader, writer)
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(connection)
        self._handlers.add(task)
        try:
            await connection.serve()
        finally:
            self._connections.discard(connection)
            self._handlers.discard(task)

    # -- world -----------------------------------------------------------------------------

    def step(self, seconds: float = 1.0) -> None:
        """Advance the world: arrivals, traffic, idling, timeouts and departures."""
        self.world.step(seconds)

    def run_world(self, interval: float = 1.0) -> asyncio.Task[None]:
        """Call ``step(interval)`` every ``interval`` seconds until ``stop()``."""
        if not interval > 0:
            raise ControlError("interval must be positive")
        if self._world_task is not None:
            self._world_task.cancel()

        async def tick() -> None:
            while True:
                await asyncio.sleep(interval)
                self.step(interval)

        self._world_task = asyncio.create_task(tick())
        return self._world_task

    def populate(self, clients: int = 100) -> None:
        """Add simulated clients (hotspot users, MAC-bypassed devices, PPPoE subscribers)."""
        self.world.populate(clients)

    def add_hotspot_user(
        self,
        name: str,
        password: str | None = None,
        profile: str = "default",
        mac_address: str | None = None,
        disabled: bool = False,
        **extra: str,
    ) -> str:
        """Add an /ip/hotspot/user row; returns its id. ``extra``: other fields (comment=...)."""
        values = {"name": name, "profile": profile, "disabled": "yes" if disabled else "no"}
        values |= {"password": password, "mac-address": mac_address}
        return self._add("/ip/hotspot/user", values, extra)

    def add_ip_binding(
        self, mac_address: str, type: str = "bypassed", disabled: bool = False, **extra: str
    ) -> str:
        values = {"mac-address": mac_address, "type": type, "disabled": "yes" if disabled else "no"}
        return self._add("/ip/hotspot/ip-binding", values, extra)

    def add_ppp_secret(
        self,
        name: str,
        password: str = "",
        profile: str = "default",
        service: str = "any",
        disabled: bool = False,
        **extra: str,
    ) -> str:
        values = {"name": name, "password": password, "profile": profile, "service": service}
        values["disabled"] = "yes" if disabled else "no"
        return self._add("/ppp/secret", values, extra)

    def _add(self, path: str, values: dict[str, str | None], extra: dict[str, str]) -> str:
        clean = {k: v for k, v in values.items() if v is not None}
        clean |= {k.replace("_", "-"): v for k, v in extra.items()}
        try:
            return self.state.add(path, clean)
        except Trap as exc:
            raise ControlError(f"{path}: {exc}") from exc

    def hotspot_login(
        self,
        username: str,
        mac_address: str | None = None,
        ip_address: str | None = None,
        login_by: str = "http-chap",
    ) -> str:
        """Log a client in to the hotspot; returns its /ip/hotspot/active id.

        Raises LoginRefused for an unknown or disabled user or a blocked MAC.
        """
        return self.world.hotspot_login(username, mac_address, ip_address, login_by)

    def mac_login(self, mac_address: str, username: str | None = None) -> str:
        """Log a MAC in by ``mac`` (needs a bypassed binding or a user with that MAC)."""
        return self.world.mac_login(mac_address, username)

    def ppp_login(
        self,
        name: str,
        caller_id: str | None = None,
        service: str = "pppoe",
        password: str | None = None,
    ) -> str:
        """Start a PPP session (needs an enabled /ppp/secret, and its password when one is
        given: a dial-in with the wrong password is refused); returns its /ppp/active id."""
        return self.world.ppp_login(name, caller_id, service, password)

    def add_traffic(self, session_id: str, bytes_in: int = 0, bytes_out: int = 0) -> None:
        self.world.add_traffic(session_id, bytes_in, bytes_out)

    def logout(self, session_id: str) -> None:
        """The client logs out and leaves (it does not come back by itself)."""
        self.world.logout(session_id)

    def listeners(self, path: str) -> int:
        """API streams (listen, print follow) watching ``path``: lets tests wait for them."""
        return self.state.listeners(path)

    def rows(self, path: str) -> list[Row]:
        """A snapshot of a menu as RouterOS strings, as ``print`` would return it."""
        if not self.state.has(path):
            raise ControlError(f"no such menu {path!r}")
        return self.state.rows(path)
