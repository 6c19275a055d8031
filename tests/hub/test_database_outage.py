"""Postgres going away under a running hub: 503 with a clear message, one log line for the
outage and one for the recovery (real app; the database is cut off by a real TCP proxy in
front of the real server, which then refuses connections as a stopped server does)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import replace
from urllib.parse import urlsplit, urlunsplit

import pytest

from hub.app import create_app
from hub.database import UNAVAILABLE
from hub.typedefs import DB_HEALTH, DB_POOL
from tests.helpers import free_port, wait_for
from tests.hub.conftest import Seeder


class PgProxy:
    """A TCP front for the Postgres server that can be cut (refusing) and restored."""

    def __init__(self, dsn: str) -> None:
        parts = urlsplit(dsn)
        self.port = free_port()
        host = parts.hostname or ""
        if not host and "host=" in parts.query:  # pgserver: unix socket dir in the query
            host = dict(p.split("=", 1) for p in parts.query.split("&"))["host"]
        self._unix = f"{host}/.s.PGSQL.{parts.port or 5432}" if host.startswith("/") else None
        self._target = (host or "127.0.0.1", parts.port or 5432)
        netloc = f"{parts.username or 'postgres'}"
        if parts.password:
            netloc += f":{parts.password}"
        self.dsn = urlunsplit(("postgresql", f"{netloc}@127.0.0.1:{self.port}", parts.path, "", ""))
        self._server: asyncio.Server | None = None
        self._pipes: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._unix:
            up_reader, up_writer = await asyncio.open_unix_connection(self._unix)
        else:
            up_reader, up_writer = await asyncio.open_connection(*self._target)
        self._pipes |= {writer, up_writer}

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.close()

        await asyncio.gather(pump(reader, up_writer), pump(up_reader, writer))
        self._pipes -= {writer, up_writer}

    async def cut(self) -> None:
        """The server is gone: no new connections, every open one dropped."""
        assert self._server is not None
        self._server.close()
        for pipe in list(self._pipes):
            pipe.transport.abort()
        await self._server.wait_closed()
        self._server = None

    async def close(self) -> None:
        if self._server is not None:
            await self.cut()


@pytest.fixture
async def proxy(pg_dsn):
    front = PgProxy(pg_dsn)
    await front.start()
    yield front
    await front.close()


async def test_database_down_is_503_logged_once_then_recovers(
    proxy, hub_config, aiohttp_client, caplog
):
    caplog.set_level(logging.INFO, logger="hub.database")
    config = replace(hub_config, database_url=proxy.dsn)
    client = await aiohttp_client(create_app(config))
    acme = await Seeder(client.app[DB_POOL], config).tenant("acme")
    url = "/api/portal/router/health/"
    assert (await client.get(url, headers=acme.headers)).status == 200

    await proxy.cut()

    async def unavailable() -> bool:
        resp = await client.get(url, headers=acme.headers)
        return resp.status == 503 and (await resp.json())["error"] == UNAVAILABLE

    await wait_for(unavailable, timeout=15)
    for _ in range(10):
        resp = await client.get(url, headers=acme.headers)
        assert resp.status == 503
        assert await resp.json() == {"success": False, "error": UNAVAILABLE}
    # Logins and bad keys too: never a 500.
    resp = await client.post("/api/admin/login", json={"email": "a@b.io", "password": "x"})
    assert resp.status == 503
    assert client.app[DB_HEALTH].down

    records = [r for r in caplog.records if r.name.startswith("hub.")]
    assert not [r for r in records if "unhandled error" in r.getMessage()]
    outages = [r for r in records if "database unavailable" in r.getMessage()]
    assert len(outages) == 1 and outages[0].levelno == logging.ERROR
    assert outages[0].exc_info is None  # one line, no traceback

    await proxy.start()

    async def back() -> bool:
        return (await client.get(url, headers=acme.headers)).status == 200

    await wait_for(back, timeout=15)
    await wait_for(lambda: not client.app[DB_HEALTH].down, timeout=15)
    recovered = [r for r in caplog.records if "database recovered" in r.getMessage()]
    assert len(recovered) == 1
    assert client.app[DB_HEALTH].outages == 1
