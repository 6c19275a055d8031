"""Billing profiles (seed 004 section 8): validated here, stored in Postgres, and put on a router
on demand: when a customer of the profile is created or moved there (``RouterWrites.
ensure_profile``), and again on every router holding its customers when the profile changes.
"""

from __future__ import annotations

import dataclasses
import ipaddress
from decimal import Decimal, InvalidOperation

import asyncpg

from hub.config import HubConfig
from hub.domain import BillingProfile, Router, Tenant
from hub.errors import Conflict, InvalidInput, NotFound
from hub.services.audit import AuditEntry, audited, write_audit
from hub.services.inputs import required_text
from hub.services.plans import CONNECTION_TYPES, MAX_PRICE, ROUTEROS_NAME, parse_speed
from hub.services.router_menu import RouterMenu
from hub.services.subscriber_router import router_writes
from hub.storage.profiles import BillingProfileRepository
from hub.storage.routers import RouterRepository

PROFILE_NOT_FOUND = "Billing profile not found"
_CENTS = Decimal("0.01")


def profile_values(given: dict[str, object], current: BillingProfile | None) -> dict[str, object]:
    """The columns a create (``current`` None: every field) or update sets, each checked; 400
    naming the field otherwise."""
    values: dict[str, object] = {}
    if current is None or "name" in given:
        name = required_text(given.get("name"), "name")
        if not ROUTEROS_NAME.fullmatch(name):
            raise InvalidInput("name must be 1-64 characters, without control characters or '='")
        values["name"] = name
    if current is None or "type" in given:
        if given.get("type") not in CONNECTION_TYPES:
            raise InvalidInput("type must be pppoe or hotspot")
        values["type"] = given["type"]
    if current is None or "price" in given:
        values["price"] = _price(given.get("price"))
    if current is None or "rate_limit" in given:
        values["rate_limit"] = "/".join(parse_speed(given.get("rate_limit"), "rate_limit"))
    kind = values.get("type", current.type if current else None)
    for field, pool_allowed in (("local_address", False), ("remote_address", True)):
        if kind == "hotspot" or current is None or field in given:
            values[field] = _address(field, given.get(field), kind, pool_allowed=pool_allowed)
    return values


def _price(value: object) -> Decimal:
    if value is None:
        raise InvalidInput("price is required (in the tenant's currency)")
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise InvalidInput("price must be a number")
    try:
        price = Decimal(value)
        exact = price.quantize(_CENTS) == price
    except InvalidOperation:
        exact = False
    if not exact or not price.is_finite():
        raise InvalidInput("price must have at most 2 decimal places")
    if price < 0 or price > MAX_PRICE:
        raise InvalidInput(f"price must be from 0 to {MAX_PRICE}")
    return price


def _address(field: str, value: object, kind: object, *, pool_allowed: bool) -> str | None:
    """A PPP profile's local address (an IP) or remote address (an IP or an /ip/pool name)."""
    if value is None or value == "":
        return None
    if kind == "hotspot":
        raise InvalidInput(f"{field} applies to pppoe profiles only")
    if not isinstance(value, str):
        raise InvalidInput(f"{field} must be a string")
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        if pool_allowed and ROUTEROS_NAME.fullmatch(value.strip()):
            return value.strip()
    what = "an IP address or an IP pool name" if pool_allowed else "an IP address"
    raise InvalidInput(f"{field} must be {what}")


class ProfileService:
    def __init__(self, pool: asyncpg.Pool, config: HubConfig, menu: RouterMenu) -> None:
        self._pool = pool
        self._menu = menu
        self._offline_after = config.agent_offline_after

    async def create(self, tenant: Tenant, given: dict[str, object], actor: str) -> BillingProfile:
        entry = AuditEntry(actor, "create_billing_profile", tenant_id=tenant.id)
        entry.params = {key: str(value) for key, value in given.items()}
        async with audited(self._pool, entry):
            values = profile_values(given, None)
            entry.target = str(values["name"])
            async with self._pool.acquire() as conn, conn.transaction():
                profile = await BillingProfileRepository(conn).create(tenant.id, **values)  # type: ignore[arg-type]
                entry.details = {"profile_id": profile.id}
                await write_audit(conn, entry)
            entry.recorded = True
            return profile

    async def get(self, tenant: Tenant, profile_id: int) -> BillingProfile:
        profile = await BillingProfileRepository(self._pool).get(profile_id, tenant.id)
        if profile is None:
            raise NotFound(PROFILE_NOT_FOUND)
        return profile

    async def page(
        self, tenant: Tenant, *, limit: int, offset: int
    ) -> tuple[list[BillingProfile], int]:
        return await BillingProfileRepository(self._pool).page(
            tenant.id, limit=limit, offset=offset
        )

    async def update(
        self, tenant: Tenant, profile_id: int, given: dict[str, object], actor: str
    ) -> BillingProfile:
        """Change a profile; the routers holding its customers get it first (write-through:
        a router that is offline or refuses leaves every router and the profile unchanged)."""
        entry = AuditEntry(actor, "update_billing_profile", tenant_id=tenant.id)
        entry.target = str(profile_id)
        entry.params = {key: str(value) for key, value in given.items()}
        async with audited(self._pool, entry):
            profiles = BillingProfileRepository(self._pool)
            current = await self.get(tenant, profile_id)
            values = profile_values(given, current)
            values = {k: v for k, v in values.items() if getattr(current, k) != v}
            if not values:
                return current
            if "type" in values and await profiles.customers_using(current.id):
                raise Conflict("type cannot change while customers use this billing profile")
            if "name" in values:
                clash = await self._by_name(tenant, str(values["name"]))
                if clash is not None and clash != current.id:
                    raise Conflict(f"billing profile {values['name']!r} already exists")
            changed = dataclasses.replace(current, **values)  # type: ignore[arg-type]
            routers = await self._routers(tenant, await profiles.routers_using(current.id))
            async with router_writes(self._menu, actor) as writes:
                for router in routers:
                    await writes.ensure_profile(router, changed, known_as=current.name)
                async with self._pool.acquire() as conn, conn.transaction():
                    profile = await BillingProfileRepository(conn).update(current, values)
                    entry.details = {"routers": [router.id for router in routers]}
                    await write_audit(conn, entry)
            entry.recorded = True
            return profile

    async def delete(self, tenant: Tenant, profile_id: int, actor: str) -> BillingProfile:
        """Refused (409) while customers use it; it stays on the routers that have it."""
        entry = AuditEntry(actor, "delete_billing_profile", tenant_id=tenant.id)
        entry.target = str(profile_id)
        async with audited(self._pool, entry):
            async with self._pool.acquire() as conn, conn.transaction():
                profiles = BillingProfileRepository(conn)
                profile = await profiles.get(profile_id, tenant.id)
                if profile is None:
                    raise NotFound(PROFILE_NOT_FOUND)
                if used := await profiles.customers_using(profile.id):
                    raise Conflict(
                        f"Cannot delete billing profile {profile.name!r}: {used} customer(s) use it"
                    )
                try:
                    await profiles.delete(profile.id)
                except asyncpg.ForeignKeyViolationError as exc:  # a customer took it meanwhile
                    raise Conflict(
                        f"Cannot delete billing profile {profile.name!r}: customers use it"
                    ) from exc
                entry.details = {"name": profile.name}
                await write_audit(conn, entry)
            entry.recorded = True
            return profile

    async def _by_name(self, tenant: Tenant, name: str) -> int | None:
        return await BillingProfileRepository(self._pool).id_by_name(tenant.id, name)

    async def _routers(self, tenant: Tenant, router_ids: list[int]) -> list[Router]:
        routers = RouterRepository(self._pool, offline_after=self._offline_after)
        found = [await routers.get(router_id, tenant.id) for router_id in router_ids]
        return [router for router in found if router is not None]
