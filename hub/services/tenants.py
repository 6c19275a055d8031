"""Tenants and what they own: sites, routers, customers."""

from __future__ import annotations

import re

import asyncpg

from hub.config import HubConfig
from hub.domain import Customer, Tenant
from hub.errors import InvalidInput, NotFound
from hub.phone import REGIONS, unknown_country
from hub.services.inputs import customer_username, required_text, site_name
from hub.storage.customers import CustomerRepository
from hub.storage.routers import RouterRepository, SiteRepository
from hub.storage.tenants import TenantRepository

_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}$")
_HOST = re.compile(r"^[A-Za-z0-9.:_-]{1,253}$")


class TenantService:
    def __init__(self, pool: asyncpg.Pool, config: HubConfig) -> None:
        self._pool = pool
        self._config = config

    async def create_tenant(self, slug: str, name: str, country: str = "TZ") -> Tenant:
        if not _SLUG.fullmatch(slug):
            raise InvalidInput(
                f"invalid slug {slug!r}: 2-63 lowercase letters, digits and dashes,"
                " starting with a letter or digit"
            )
        country = country.strip().upper()
        if country not in REGIONS:
            raise InvalidInput(unknown_country("country", country))
        return await TenantRepository(self._pool).create(slug, required_text(name, "name"), country)

    async def tenant(self, slug: str) -> Tenant:
        tenant = await TenantRepository(self._pool).get_by_slug(slug)
        if tenant is None:
            raise NotFound(f"no tenant with slug {slug!r}")
        return tenant

    async def add_router(
        self, tenant_slug: str, *, site: str, name: str, host: str, port: int = 8728
    ) -> int:
        """Register a router behind a site's agent (the site is created when new)."""
        site = site_name(site)
        if not _HOST.fullmatch(host):
            raise InvalidInput(f"invalid host {host!r}")
        if not 0 < port < 65536:
            raise InvalidInput(f"invalid port {port}: expected 1-65535")
        name = required_text(name, "router name")
        tenant = await self.tenant(tenant_slug)
        async with self._pool.acquire() as conn, conn.transaction():
            agent_id = await SiteRepository(conn).ensure(tenant.id, site)
            routers = RouterRepository(conn, offline_after=self._config.agent_offline_after)
            return await routers.add(
                tenant_id=tenant.id, agent_id=agent_id, name=name, host=host, port=port
            )

    async def add_customer(
        self, tenant_slug: str, username: str, full_name: str | None = None
    ) -> Customer:
        tenant = await self.tenant(tenant_slug)
        username = customer_username(required_text(username, "username"), tenant.default_country)
        return await CustomerRepository(self._pool).create(tenant.id, username, full_name)
