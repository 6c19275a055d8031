"""SimFleet: many simulated routers in one process, moved by one world ticker."""

from __future__ import annotations

import asyncio
import contextlib
from types import TracebackType

from routersim.errors import ControlError
from routersim.router import SimRouter


class SimFleet:
    """``routers`` routers named site-1..site-N, each populated with ``clients`` clients.

    With ``base_port`` 0 every router listens on a free port; otherwise router i (from 0)
    listens on ``base_port + i``.
    """

    def __init__(
        self,
        routers: int = 3,
        clients: int = 30,
        seed: int = 1,
        host: str = "127.0.0.1",
        base_port: int = 0,
        username: str = "admin",
        password: str = "",
        empty_replies: bool = True,
        phone_prefix: str = "+2557",
    ) -> None:
        if routers < 1:
            raise ControlError("a fleet needs at least one router")
        if clients < 0:
            raise ControlError("clients must not be negative")
        if not 0 <= base_port <= 65535 or (base_port and base_port + routers - 1 > 65535):
            raise ControlError(f"ports {base_port}..{base_port + routers - 1} are out of range")
        self.host = host
        self.base_port = base_port
        self.clients = clients
        self.routers = [
            SimRouter(
                name=f"site-{i + 1}",
                username=username,
                password=password,
                seed=seed * 100_003 + i,
                empty_replies=empty_replies,
                phone_prefix=phone_prefix,
            )
            for i in range(routers)
        ]
        self._ticker: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Populate every router and start listening; stops the started ones on failure."""
        try:
            for i, router in enumerate(self.routers):
                router.populate(self.clients)
                await router.start(self.host, self.base_port + i if self.base_port else 0)
        except BaseException:
            await self.stop()
            raise

    def run_world(self, interval: float = 1.0) -> asyncio.Task[None]:
        """One ticker steps every router by ``interval`` every ``interval`` seconds."""
        if not interval > 0:
            raise ControlError("interval must be positive")
        if self._ticker is not None:
            self._ticker.cancel()

        async def tick() -> None:
            while True:
                await asyncio.sleep(interval)
                for router in self.routers:
                    router.step(interval)

        self._ticker = asyncio.create_task(tick())
        return self._ticker

    async def stop(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
            self._ticker = None
        await asyncio.gather(*(router.stop() for router in self.routers))

    async def __aenter__(self) -> SimFleet:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()
