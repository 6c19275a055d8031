"""A tiny real HTTP server that records what is POSTed to it: where a payment provider's
callbacks land in tests (the Daraja simulator posts to it over loopback)."""

from __future__ import annotations

from types import TracebackType

from aiohttp import web

from tests.helpers import wait_for


class CallbackReceiver:
    """Records every POST body; answers ``status`` (200 unless told)."""

    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.bodies: list[bytes] = []
        self.paths: list[str] = []
        self._runner: web.AppRunner | None = None
        self.port: int | None = None

    @property
    def url(self) -> str:
        """The callback URL to hand the provider."""
        return f"http://127.0.0.1:{self.port}/callback"

    async def _record(self, request: web.Request) -> web.Response:
        self.paths.append(request.path_qs)
        self.bodies.append(await request.read())
        return web.json_response({"ResultCode": 0, "ResultDesc": "Accepted"}, status=self.status)

    async def wait(self, count: int = 1) -> list[bytes]:
        """Poll until ``count`` bodies have arrived; return them all."""
        await wait_for(lambda: len(self.bodies) >= count)
        return self.bodies

    async def __aenter__(self) -> CallbackReceiver:
        app = web.Application()
        app.router.add_post("/{tail:.*}", self._record)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._runner is not None
        await self._runner.cleanup()
