"""Devices (seed 004 section 5): the hub as the one registry of a tenant's routers.

A device created through /v1 is a managed ``routers`` row behind one site agent; its API
password is sealed (hub/secrets.py, purpose ``router:<id>:api_password``), never returned or
logged, and opened only to go to the agent in a routers.sync (hub/link/devices.py). Every
change that alters what the agent should run is pushed after its transaction commits. The
agents' agent.toml routers are listed too, but only their agent.toml changes them: PUT,
DELETE and status answer 409 for them.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg

from hub.config import HubConfig
from hub.domain import Caller, Device, Tenant
from hub.errors import Conflict, InvalidInput, NotFound
from hub.secrets import SecretBox
from hub.services.audit import AuditEntry, audited, write_audit
from hub.services.inputs import required_text
from hub.storage.devices import DeviceRepository, DeviceValues, password_purpose

log = logging.getLogger(__name__)

DEVICE_NOT_FOUND = "Device not found"
FROM_AGENT_TOML = "This router is configured in the agent's agent.toml: change or remove it there"
API_PORT, API_SSL_PORT = 8728, 8729
_HOST = re.compile(r"^[A-Za-z0-9.:_\[\]-]{1,253}$")
STATUSES = ("active", "inactive")
# Tells a site's agent its devices changed: (tenant_id, agent_id), after the commit
# (hub/link/devices.py push_routers; None without the link).
Push = Callable[[int, int], Awaitable[None]]


def _host(value: object) -> str:
    host = required_text(value, "host")
    if not _HOST.fullmatch(host):
        raise InvalidInput("host must be a host name or an IP address")
    return host


def _optional_text(value: object) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    if "\x00" in text:
        raise InvalidInput("location must not contain NUL characters")
    return text or None


class DeviceService:
    """Create, read, change, retire devices and deliver them to their agents."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        config: HubConfig,
        secrets: SecretBox,
        push: Push | None,
    ) -> None:
        self._pool = pool
        self._config = config
        self._secrets = secrets
        self._push_to = push

    def _repo(self, db: asyncpg.Pool | asyncpg.Connection) -> DeviceRepository:
        return DeviceRepository(db, offline_after=self._config.agent_offline_after)

    # --- reads ---------------------------------------------------------------------------

    async def get(self, tenant: Tenant, device_id: int) -> Device:
        device = await self._repo(self._pool).get(device_id, tenant.id)
        if device is None:
            raise NotFound(DEVICE_NOT_FOUND)
        return device

    async def page(
        self,
        tenant: Tenant,
        *,
        search: str | None,
        status: str | None,
        site: str | None,
        limit: int,
        offset: int,
    ) -> tuple[list[Device], int]:
        return await self._repo(self._pool).page(
            tenant.id,
            search=search.strip() or None if search else None,
            status=status,
            site=site,
            limit=limit,
            offset=offset,
        )

    async def activated(self, user_id: int, tenant: Tenant) -> int | None:
        """The user's activated device in this tenant, if it still exists."""
        return await self._repo(self._pool).activated(user_id, tenant.id)

    # --- changes -------------------------------------------------------------------------

    async def create(self, caller: Caller, tenant: Tenant, given: dict[str, Any]) -> Device:
        """A new managed device behind one of the tenant's site agents (``agent_id`` or
        ``site``; with neither, the tenant's only agent)."""
        entry = AuditEntry(caller.actor, "create_device", tenant_id=tenant.id)
        entry.params = {k: v for k, v in given.items() if k != "api_password"}
        async with audited(self._pool, entry):
            tls = bool(given.get("tls", False))
            values = DeviceValues(
                name=required_text(given.get("name"), "name"),
                host=_host(given.get("host")),
                port=given.get("port") or (API_SSL_PORT if tls else API_PORT),
                api_username=required_text(given.get("api_username"), "api_username"),
                location=_optional_text(given.get("location")),
                tls=tls,
            )
            password = given.get("api_password")
            if not isinstance(password, str):  # empty is a login too (RouterOS' default admin)
                raise InvalidInput("api_password is required")
            entry.target = values.name
            async with self._pool.acquire() as conn, conn.transaction():
                repo = self._repo(conn)
                agent_id = await self._agent_of(repo, tenant, given)
                await self._name_free(repo, agent_id, values.name)
                device_id = await repo.retired_named(agent_id, values.name)
                revived = device_id is not None
                if device_id is None:
                    device_id = await repo.next_id()
                sealed = self._secrets.seal(password, password_purpose(device_id))
                if revived:
                    await repo.revive(device_id, values, sealed)
                else:
                    await repo.create(
                        device_id=device_id,
                        tenant_id=tenant.id,
                        agent_id=agent_id,
                        values=values,
                        sealed=sealed,
                    )
                entry.router_id = device_id
                await write_audit(conn, entry)
            entry.recorded = True
        await self._push(tenant.id, agent_id)
        return await self.get(tenant, device_id)

    async def update(
        self, caller: Caller, tenant: Tenant, device_id: int, given: dict[str, Any]
    ) -> Device:
        """Change what is given; the agent restarts its link to the device when it changed."""
        entry = AuditEntry(caller.actor, "update_device", tenant_id=tenant.id, router_id=device_id)
        entry.params = {"fields": sorted(given)}
        async with audited(self._pool, entry):
            if "agent_id" in given or "site" in given:
                raise InvalidInput("agent_id and site cannot change: create the device again")
            changes: dict[str, object] = {}
            if "name" in given:
                changes["name"] = required_text(given["name"], "name")
            if "host" in given:
                changes["host"] = _host(given["host"])
            if given.get("port") is not None:
                changes["port"] = given["port"]
            if "api_username" in given:
                changes["api_username"] = required_text(given["api_username"], "api_username")
            if "location" in given:
                changes["location"] = _optional_text(given["location"])
            if given.get("tls") is not None:
                changes["tls"] = bool(given["tls"])
            if "api_password" in given:
                if not isinstance(given["api_password"], str):
                    raise InvalidInput("api_password must be a string")
                changes["api_password_sealed"] = self._secrets.seal(
                    given["api_password"], password_purpose(device_id)
                )
            async with self._pool.acquire() as conn, conn.transaction():
                repo = self._repo(conn)
                device = await self._managed(repo, tenant, device_id)
                entry.target = device.router.name
                if "name" in changes and changes["name"] != device.router.name:
                    await self._name_free(repo, device.router.agent_id, str(changes["name"]))
                await repo.update(device_id, changes)
                await write_audit(conn, entry)
            entry.recorded = True
        await self._push(tenant.id, device.router.agent_id)
        return await self.get(tenant, device_id)

    async def delete(self, caller: Caller, tenant: Tenant, device_id: int) -> None:
        """Retire the device: the agent closes its link to it; its history stays."""
        entry = AuditEntry(caller.actor, "delete_device", tenant_id=tenant.id, router_id=device_id)
        async with audited(self._pool, entry):
            async with self._pool.acquire() as conn, conn.transaction():
                repo = self._repo(conn)
                device = await self._managed(repo, tenant, device_id)
                entry.target = device.router.name
                await repo.retire(device_id)
                await write_audit(conn, entry)
            entry.recorded = True
        await self._push(tenant.id, device.router.agent_id)

    async def set_status(
        self, caller: Caller, tenant: Tenant, device_id: int, status: str | None
    ) -> Device:
        entry = AuditEntry(caller.actor, "device_status", tenant_id=tenant.id, router_id=device_id)
        entry.params = {"status": status}
        async with audited(self._pool, entry):
            if status not in STATUSES:
                raise InvalidInput("status must be active or inactive")
            async with self._pool.acquire() as conn, conn.transaction():
                repo = self._repo(conn)
                device = await self._managed(repo, tenant, device_id)
                entry.target = device.router.name
                await repo.set_status(device_id, status)
                await write_audit(conn, entry)
            entry.recorded = True
        await self._push(tenant.id, device.router.agent_id)
        return await self.get(tenant, device_id)

    async def activate(self, caller: Caller, tenant: Tenant, device_id: int) -> Device:
        """The caller's working device: /v1 router calls without ``device_id`` act on it."""
        if caller.user_id is None:
            raise InvalidInput("only a signed-in user has an activated device")
        entry = AuditEntry(
            caller.actor, "activate_device", tenant_id=tenant.id, router_id=device_id
        )
        async with audited(self._pool, entry):
            async with self._pool.acquire() as conn, conn.transaction():
                repo = self._repo(conn)
                device = await repo.get(device_id, tenant.id)
                if device is None:
                    raise NotFound(DEVICE_NOT_FOUND)
                entry.target = device.router.name
                await repo.activate(caller.user_id, device_id)
                await write_audit(conn, entry)
            entry.recorded = True
        return device

    # --- helpers -------------------------------------------------------------------------

    async def _agent_of(self, repo: DeviceRepository, tenant: Tenant, given: dict) -> int:
        sites = await repo.sites(tenant.id)
        if given.get("agent_id") is not None:
            if given["agent_id"] not in sites:
                raise InvalidInput("agent_id does not name a site agent of this tenant")
            return given["agent_id"]
        if given.get("site") is not None:
            for agent_id, site in sites.items():
                if site == given["site"]:
                    return agent_id
            raise InvalidInput("site does not name a site of this tenant")
        if len(sites) == 1:
            return next(iter(sites))
        if not sites:
            raise InvalidInput("agent_id is required: this tenant has no site agent yet")
        raise InvalidInput("agent_id (or site) is required: this tenant has several sites")

    @staticmethod
    async def _name_free(repo: DeviceRepository, agent_id: int, name: str) -> None:
        managed = await repo.live_named(agent_id, name)
        if managed is False:
            raise Conflict(
                f"This site's agent already has a router named {name!r},"
                " configured in the agent's agent.toml"
            )
        if managed:
            raise Conflict(f"This site already has a device named {name!r}")

    @staticmethod
    async def _managed(repo: DeviceRepository, tenant: Tenant, device_id: int) -> Device:
        device = await repo.get(device_id, tenant.id)
        if device is None:
            raise NotFound(DEVICE_NOT_FOUND)
        if not device.managed:
            raise Conflict(FROM_AGENT_TOML)
        return device

    async def _push(self, tenant_id: int, agent_id: int) -> None:
        """The agent hears of the change now; if that fails it gets the set at its next
        connect (the change is committed either way), so a failure here is only logged."""
        if self._push_to is None:
            return
        try:
            await self._push_to(tenant_id, agent_id)
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
            log.warning("devices not pushed agent=%s error=%r", agent_id, exc)
