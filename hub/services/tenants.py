"""Tenants and what they own: sites, routers, customers."""

from __future__ import annotations

import re
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

import asyncpg

from hub.config import HubConfig
from hub.domain import Customer, Tenant, TenantDetails, TenantStats
from hub.errors import Conflict, InvalidInput, NotFound
from hub.phone import REGIONS, unknown_country
from hub.services.audit import AuditEntry, audited, write_audit
from hub.services.inputs import customer_username, required_text, site_name
from hub.storage.customers import CustomerRepository
from hub.storage.routers import RouterRepository, SiteRepository
from hub.storage.tenants import TENANT_UPDATABLE, TenantDetailsRepository, TenantRepository

_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}$")
_HOST = re.compile(r"^[A-Za-z0-9.:_-]{1,253}$")
_CURRENCY = re.compile(r"^[A-Z]{3}$")
TENANT_NOT_FOUND = "Tenant not found"
MAX_FEATURES = 64


def _slug(slug: str) -> str:
    if not _SLUG.fullmatch(slug):
        raise InvalidInput(
            f"invalid slug {slug!r}: 2-63 lowercase letters, digits and dashes,"
            " starting with a letter or digit"
        )
    return slug


def timezone_name(value: str) -> str:
    """An IANA zone name (Africa/Nairobi); 400 for anything zoneinfo does not know."""
    if value not in available_timezones():
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise InvalidInput(f"unknown timezone {value!r}: expected an IANA name") from exc
    return value


def tenant_values(values: dict[str, Any]) -> dict[str, Any]:
    """The columns of a /v1 tenant create or update, each checked (types came from the edge)."""
    checked: dict[str, Any] = {}
    for name, value in values.items():
        if name not in TENANT_UPDATABLE:
            continue
        if name == "name":
            value = required_text(value, "name")
        elif name == "timezone":
            value = timezone_name(value)
        elif name == "currency":
            if not isinstance(value, str) or not _CURRENCY.fullmatch(value.upper()):
                raise InvalidInput("currency must be an ISO 4217 code like KES")
            value = value.upper()
        elif name == "default_country":
            value = value.strip().upper()
            if value not in REGIONS:
                raise InvalidInput(unknown_country("country", value))
        elif name == "features" and len(value) > MAX_FEATURES:
            raise InvalidInput(f"features may have at most {MAX_FEATURES} entries")
        checked[name] = value
    return checked


class TenantService:
    def __init__(self, pool: asyncpg.Pool, config: HubConfig) -> None:
        self._pool = pool
        self._config = config

    async def create_tenant(self, slug: str, name: str, country: str = "TZ") -> Tenant:
        _slug(slug)
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

    # --- seed 004's tenant management (platform admins) -----------------------------------

    async def create_managed(self, slug: str, values: dict[str, Any], actor: str) -> TenantDetails:
        entry = AuditEntry(actor, "create_tenant", target=slug)
        async with audited(self._pool, entry):
            checked = tenant_values(values)
            if "name" not in checked:
                raise InvalidInput("name is required")
            async with self._pool.acquire() as conn, conn.transaction():
                details = await TenantDetailsRepository(conn).create(_slug(slug), checked)
                entry.tenant_id = details.tenant.id
                await write_audit(conn, entry)
            entry.recorded = True
            return details

    async def details(self, tenant_id: int) -> TenantDetails:
        details = await TenantDetailsRepository(self._pool).get(tenant_id)
        if details is None:
            raise NotFound(TENANT_NOT_FOUND)
        return details

    async def list_managed(
        self, *, is_active: bool | None, search: str | None, limit: int, offset: int
    ) -> tuple[list[TenantDetails], int]:
        return await TenantDetailsRepository(self._pool).list(
            is_active=is_active, search=search, limit=limit, offset=offset
        )

    async def update_managed(
        self, tenant_id: int, values: dict[str, Any], actor: str
    ) -> TenantDetails:
        entry = AuditEntry(actor, "update_tenant", target=str(tenant_id))
        entry.params = {"fields": sorted(values)}
        async with audited(self._pool, entry):
            checked = tenant_values(values)
            async with self._pool.acquire() as conn, conn.transaction():
                repo = TenantDetailsRepository(conn)
                details = await (
                    repo.update(tenant_id, checked) if checked else repo.get(tenant_id)
                )
                if details is None:
                    raise NotFound(TENANT_NOT_FOUND)
                await write_audit(conn, entry)
            entry.recorded = True
            return details

    async def delete_managed(self, tenant_id: int, actor: str) -> None:
        """Only a tenant that holds no routers or payments: history is never thrown away by a
        click. Deactivate (is_active false) the others."""
        entry = AuditEntry(actor, "delete_tenant", target=str(tenant_id))
        async with audited(self._pool, entry):
            async with self._pool.acquire() as conn, conn.transaction():
                repo = TenantDetailsRepository(conn)
                if await repo.get(tenant_id) is None:
                    raise NotFound(TENANT_NOT_FOUND)
                routers, payments = await repo.holdings(tenant_id)
                if routers or payments:
                    raise Conflict(
                        f"Tenant has {routers} router(s) and {payments} payment(s):"
                        " deactivate it instead (is_active false)"
                    )
                await repo.delete(tenant_id)
                await write_audit(conn, entry)
            entry.recorded = True

    async def stats(self, tenant_id: int) -> TenantStats:
        await self.details(tenant_id)
        return await TenantDetailsRepository(self._pool).stats(
            tenant_id, self._config.agent_offline_after
        )
