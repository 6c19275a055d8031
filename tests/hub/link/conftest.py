"""A real hub (create_app, real Postgres) and a real WebSocket client playing the agent."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import asyncpg
import msgspec
import pytest
from aiohttp.test_utils import TestServer

from common import wire
from common.timeutil import to_iso, utcnow
from hub.app import create_app
from hub.config import HubConfig
from hub.services.agents import AgentService
from hub.typedefs import DB_POOL
from tests.helpers import wait_for as wait_for

ServerFactory = Callable[..., Awaitable[TestServer]]


@pytest.fixture
def hub_config(pg_dsn: str) -> HubConfig:
    return HubConfig(
        database_url=pg_dsn,
        agent_heartbeat=0.5,
        agent_offline_after=5.0,
        command_timeout=5.0,
        metrics_refresh_interval=60.0,
    )


@pytest.fixture
def start_hub(hub_config: HubConfig, aiohttp_server: Any) -> ServerFactory:
    """Start a hub app (another one on the same database each call).

    hub_config (so the database) comes first: servers stop before the database is dropped.
    """

    async def start(config: HubConfig | None = None, **changes: Any) -> TestServer:
        config = dataclasses.replace(config or hub_config, **changes)
        return await aiohttp_server(create_app(config), host="127.0.0.1")

    return start


@pytest.fixture
async def hub(start_hub: ServerFactory) -> TestServer:
    return await start_hub()


@pytest.fixture
def pool(hub: TestServer) -> asyncpg.Pool:
    return hub.app[DB_POOL]


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def tenant_id(pool: asyncpg.Pool) -> int:
    return await make_tenant(pool, "acme")


@pytest.fixture
async def agent(http: aiohttp.ClientSession, hub: TestServer, tenant_id: int) -> FakeAgent:
    """An enrolled agent of ``tenant_id``, speaking the link protocol by hand (not connected)."""
    _, credential = await enrolled_agent(http, hub, tenant_id)
    fake = FakeAgent(http, hub, credential)
    yield fake
    await fake.close()


async def make_tenant(pool: asyncpg.Pool, slug: str) -> int:
    return await pool.fetchval(
        "INSERT INTO tenants (slug, name) VALUES ($1, $2) RETURNING id", slug, slug.title()
    )


def base_url(server: TestServer) -> str:
    return str(server.make_url("")).rstrip("/")


async def enroll_body(
    http: aiohttp.ClientSession, server: TestServer, body: Any
) -> tuple[int, Any]:
    async with http.post(base_url(server) + wire.ENROLL_PATH, json=body) as response:
        return response.status, await response.json()


def enrollment(token: str, device_key: str = "device-key-0123456789", **extra: Any) -> dict:
    return {
        "token": token,
        "device_key": device_key,
        "hostname": "box-1",
        "agent_version": "0.1.0",
        **extra,
    }


async def enrolled_agent(
    http: aiohttp.ClientSession, server: TestServer, tenant_id: int, site: str = "site-a"
) -> tuple[int, str]:
    """(agent id, credential) of a freshly enrolled agent."""
    agent_id, token = await AgentService(server.app[DB_POOL], HubConfig()).issue_token(
        tenant_id=tenant_id, site=site, ttl_hours=1
    )
    status, reply = await enroll_body(http, server, enrollment(token))
    assert status == 200, reply
    return agent_id, reply["credential"]


ROUTERS = [wire.RouterInfo(name="r1", host="127.0.0.1", port=8728)]


def session(session_id: str, username: str, **changes: Any) -> wire.Session:
    values: dict[str, Any] = {
        "session_id": session_id,
        "kind": "hotspot",
        "username": username,
        "mac_address": "AA:BB:CC:DD:EE:01",
        "ip_address": "10.5.50.2",
        "uptime_seconds": 60,
        "idle_seconds": 0,
        "bytes_in": 1000,
        "bytes_out": 5000,
        "login_by": "http-chap",
        "server": "hotspot1",
    }
    values.update(changes)
    return wire.Session(**values)


def health(status: str = "online", **changes: Any) -> wire.RouterHealth:
    return wire.RouterHealth(status=status, since=to_iso(utcnow()), **changes)


def event(seq: int, kind: str, data: Any, router: str | None = "r1") -> wire.Event:
    if isinstance(data, msgspec.Struct):
        data = msgspec.structs.asdict(data)
    return wire.Event(seq=seq, ts=to_iso(utcnow()), kind=kind, router=router, data=data)


class FakeAgent:
    """A WebSocket client speaking the agent's side of common.wire, step by step."""

    def __init__(self, http: aiohttp.ClientSession, server: TestServer, credential: str) -> None:
        self.http = http
        self.url = base_url(server) + wire.LINK_PATH
        self.credential = credential
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.inbox: list[dict[str, Any]] = []

    async def connect(
        self, *, last_seq: int = 0, routers: list[wire.RouterInfo] = ROUTERS, **hello: Any
    ) -> dict[str, Any]:
        """Dial, say hello, return the welcome."""
        self.inbox = []
        self.ws = await self.http.ws_connect(
            self.url, headers={"Authorization": f"Bearer {self.credential}"}
        )
        await self.send("hello", agent_version="test", last_seq=last_seq, routers=routers, **hello)
        return await self.expect("welcome")

    async def send(self, message_type: str, **payload: Any) -> None:
        assert self.ws is not None
        await self.ws.send_str(wire.encode(message_type, **payload))

    async def send_events(self, *events: wire.Event) -> int:
        """Send one events frame; the hub's ack seq."""
        await self.send("events", events=list(events))
        return (await self.expect("ack"))["seq"]

    async def expect(self, message_type: str, timeout: float = 5.0) -> dict[str, Any]:
        """The next frame of that type (others are kept in ``inbox``)."""
        for index, frame in enumerate(self.inbox):
            if frame["type"] == message_type:
                return self.inbox.pop(index)
        assert self.ws is not None
        async with asyncio.timeout(timeout):
            while True:
                message = await self.ws.receive()
                if message.type != aiohttp.WSMsgType.TEXT:
                    raise ConnectionError(f"link closed: {message.type} {self.ws.close_code}")
                frame = wire.decode(message.data)
                if frame["type"] == message_type:
                    return frame
                self.inbox.append(frame)

    async def command(self, timeout: float = 5.0) -> wire.Command:
        return wire.parse_command((await self.expect("command", timeout))["command"])

    async def closed(self, timeout: float = 5.0) -> int | None:
        """Wait for the hub to close the link; the close code."""
        assert self.ws is not None
        async with asyncio.timeout(timeout):
            while True:
                message = await self.ws.receive()
                if message.type in (
                    aiohttp.WSMsgType.CLOSE,
                    aiohttp.WSMsgType.CLOSED,
                    aiohttp.WSMsgType.CLOSING,
                ):
                    return self.ws.close_code
                if message.type == aiohttp.WSMsgType.TEXT:
                    self.inbox.append(wire.decode(message.data))

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()


def result_event(seq: int, command: wire.Command, ok: bool = True, **result: Any) -> wire.Event:
    return event(
        seq,
        wire.COMMAND_RESULT,
        wire.CommandResult(
            command_id=command.id, name=command.name, ok=ok, result=result, latency_ms=12.5
        ),
    )
