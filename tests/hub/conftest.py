"""Hub test fixtures: the real app from create_app on a fresh Postgres database per test.

``Seeder`` writes what the CLI and the agent link would write, through the hub's own
services and repositories, so the API tests read exactly what production would store.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta

import asyncpg
import msgspec
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from common import wire
from common.timeutil import to_iso, utcnow
from hub.app import create_app
from hub.config import HubConfig
from hub.domain import Plan, Tenant
from hub.services.auth import AuthService
from hub.services.plans import PlanService
from hub.services.tenants import TenantService
from hub.storage.customers import CustomerRepository, EntitlementRepository
from hub.storage.routers import ReportRepository, RouterRepository, SiteRepository
from hub.typedefs import DB_POOL


@pytest.fixture
def hub_config(pg_dsn: str, tmp_path) -> HubConfig:
    return HubConfig(
        database_url=pg_dsn,
        data_dir=str(tmp_path / "hub"),
        command_timeout=1.0,
        agent_offline_after=45.0,
        rate_limit_per_minute=600,
        rate_limit_burst=100,
        metrics_refresh_interval=0.1,
    )


@pytest.fixture
async def app(hub_config: HubConfig) -> web.Application:
    return create_app(hub_config)


@pytest.fixture
async def client(app: web.Application, aiohttp_client) -> TestClient:
    # app (and so the database) first: torn down after the client, not under its feet
    return await aiohttp_client(app)


@pytest.fixture
async def pool(client: TestClient) -> asyncpg.Pool:
    return client.app[DB_POOL]


@dataclass
class SeededTenant:
    tenant: Tenant
    api_key: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}


@dataclass
class SeededUser:
    tenant: Tenant
    username: str
    password: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def session(
    session_id: str,
    username: str,
    *,
    mac: str | None = "AA:BB:CC:DD:EE:01",
    ip: str | None = "10.5.50.100",
    uptime: int = 5415,
    idle: int | None = 5,
    bytes_in: int = 104857600,  # router's side: received from the user (seed 000's bytes_out)
    bytes_out: int = 52428800,  # router's side: sent to the user (seed 000's bytes_in)
    login_by: str | None = "mac",
    kind: str = "hotspot",
) -> wire.Session:
    return wire.Session(
        session_id=session_id,
        kind=kind,
        username=username,
        mac_address=mac,
        ip_address=ip,
        uptime_seconds=uptime,
        idle_seconds=idle,
        bytes_in=bytes_in,
        bytes_out=bytes_out,
        login_by=login_by,
        server="hotspot1",
    )


def health(status: str = "online", **fields) -> wire.RouterHealth:
    base = wire.RouterHealth(
        status=status,
        since=to_iso(utcnow() - timedelta(hours=1)),
        identity="MikroTik",
        version="7.16.2 (stable)",
        board_name="hAP ac2",
        cpu_load=12,
        free_memory=45678912,
        total_memory=134217728,
        uptime_seconds=1379145,
        hotspot_active=2,
        ppp_active=0,
    )
    return msgspec.structs.replace(base, **fields)


class Seeder:
    """Creates tenants, routers, reports and customers the way the hub itself stores them."""

    def __init__(self, pool: asyncpg.Pool, config: HubConfig) -> None:
        self.pool = pool
        self.config = config
        self.tenants = TenantService(pool, config)

    async def tenant(self, slug: str, name: str | None = None, country: str = "TZ") -> SeededTenant:
        tenant = await self.tenants.create_tenant(slug, name or slug.title(), country)
        _, secret = await AuthService(self.pool, self.config).issue_api_key(slug)
        return SeededTenant(tenant, secret)

    async def router(
        self,
        owner: SeededTenant,
        name: str = "Main Office Router",
        *,
        site: str = "hq",
        host: str = "10.50.0.2",
        online: bool = True,
        agent_connected: bool = True,
        router_health: wire.RouterHealth | None = None,
    ) -> int:
        router_id = await self.tenants.add_router(
            owner.tenant.slug, site=site, name=name, host=host
        )
        agent_id = await SiteRepository(self.pool).get(owner.tenant.id, site)
        await SiteRepository(self.pool).set_presence(
            agent_id, connected=agent_connected, hub_instance="test"
        )
        reports = ReportRepository(self.pool)
        await reports.put_health(
            router_id, router_health or health("online" if online else "offline")
        )
        return router_id

    async def sessions(self, router_id: int, *sessions: wire.Session) -> None:
        await ReportRepository(self.pool).replace_sessions(router_id, list(sessions))

    async def customer(
        self, owner: SeededTenant, username: str, *, hours: float | None = None, **scope
    ) -> int:
        customer = await CustomerRepository(self.pool).ensure(owner.tenant.id, username, None)
        if hours is not None:
            now = utcnow()
            await EntitlementRepository(self.pool).add(
                tenant_id=owner.tenant.id,
                customer_id=customer.id,
                router_id=scope.get("router_id"),
                mac_address=scope.get("mac_address"),
                profile=None,
                starts_at=now - timedelta(hours=48),
                expires_at=now + timedelta(hours=hours),
            )
        return customer.id

    async def user(
        self,
        owner: SeededTenant,
        username: str,
        role: str = "admin",
        password: str = "correct horse battery",
    ) -> SeededUser:
        """A dashboard user of the tenant, logged in once (through the service) for a token."""
        auth = AuthService(self.pool, self.config)
        await auth.create_user(owner.tenant.slug, username, password, role)
        token = (await auth.login(username, password)).access_token
        return SeededUser(owner.tenant, username, password, token)

    async def plan(self, owner: SeededTenant | Tenant, name: str = "1 Hour Plan", **fields) -> Plan:
        tenant = owner.tenant if isinstance(owner, SeededTenant) else owner
        values = {
            "speed": "5M/2M",
            "price": 50,
            "duration_value": 1,
            "duration_unit": "HOURS",
            "connection_type": "hotspot",
            "router_profile": "default",
        }
        values.update(fields)
        return await PlanService(self.pool).create(tenant, name=name, actor="test", **values)

    async def router_state(self, router_id: int):
        repo = RouterRepository(self.pool, offline_after=self.config.agent_offline_after)
        return await repo.get(router_id, None)


@pytest.fixture
async def seed(pool: asyncpg.Pool, hub_config: HubConfig) -> AsyncIterator[Seeder]:
    yield Seeder(pool, hub_config)
