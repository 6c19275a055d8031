"""Customers with a subscription (seed 004 sections 4 and 9): a PPP secret or hotspot user on
one of the tenant's routers, a billing profile, a billing day, a write-only password.

Write-through: the router is written first (through its site's agent); if the site is offline
(503) or the router refuses (400/404/409), nothing is saved. Router writes made before a later
step failed are undone (``router_writes``). The password is sealed (hub.secrets, purpose
``customer:<id>:password``) and never returned, logged or audited.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import asyncpg

from hub.domain import BillingProfile, Router, Subscriber, Tenant
from hub.errors import Conflict, HubError, InvalidInput, NotFound
from hub.phone import normalize_phone
from hub.secrets import SecretBox
from hub.services.audit import AuditEntry, audited, write_audit
from hub.services.inputs import required_text
from hub.services.plans import CONNECTION_TYPES, ROUTEROS_NAME
from hub.services.router_menu import RouterMenu
from hub.services.subscriber_router import (
    ACCOUNT_MENUS,
    RouterWrites,
    account_params,
    router_writes,
)
from hub.storage.profiles import BillingProfileRepository
from hub.storage.routers import RouterRepository
from hub.storage.subscribers import (
    PAYMENTS_KEEP_CUSTOMER,
    SubscriberFilter,
    SubscriberRepository,
    duplicate_username,
)

CUSTOMER_NOT_FOUND = "Customer not found"
MAX_BATCH = 500  # items of one client-upsert or client-delete
MAX_SECRET = 128
# The router a customer goes on: the named device, or (None) the request's default router.
RouterFor = Callable[[int | None], Awaitable[Router]]


def password_purpose(customer_id: int) -> str:
    return f"customer:{customer_id}:password"


@dataclass(frozen=True, slots=True)
class ItemResult:
    """One item of a client-upsert or client-delete."""

    username: str
    action: str  # created | updated | deleted | failed
    error: str | None = None
    customer: Subscriber | None = None


@dataclass(slots=True)
class _Wanted:
    """A customer's state after a create or update, checked, before anything is written."""

    username: str
    full_name: str | None
    phone: str | None
    is_active: bool
    profile: BillingProfile
    service_type: str
    billing_day: int
    password: str  # plain text: written to the router, sealed for Postgres


def _username(value: object) -> str:
    username = required_text(value, "username")
    if not ROUTEROS_NAME.fullmatch(username) or username.startswith("*"):
        raise InvalidInput(
            "username must be 1-64 characters, without control characters or '=',"
            " and not start with '*'"
        )
    return username


def _password(value: object) -> str:
    if not isinstance(value, str) or not value:
        raise InvalidInput("password is required")
    if len(value) > MAX_SECRET or any(ord(ch) < 32 or ch == "\x7f" for ch in value):
        raise InvalidInput(f"password must be 1-{MAX_SECRET} characters without control characters")
    return value


def _billing_day(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 28:
        raise InvalidInput("billing_day must be a day of the month from 1 to 28")
    return value


def audit_params(given: dict[str, object]) -> dict[str, str]:
    """What an audit row keeps of a body: never the password."""
    return {key: str(value) for key, value in given.items() if key != "password"}


class SubscriberService:
    def __init__(
        self, pool: asyncpg.Pool, menu: RouterMenu, box: SecretBox, *, offline_after: float
    ) -> None:
        self._pool = pool
        self._menu = menu
        self._box = box
        self._offline_after = offline_after

    # -- reads ------------------------------------------------------------------------------

    async def get(self, tenant: Tenant, customer_id: int) -> Subscriber:
        customer = await SubscriberRepository(self._pool).get(customer_id, tenant.id)
        if customer is None:
            raise NotFound(CUSTOMER_NOT_FOUND)
        return customer

    async def find(
        self, tenant: Tenant, where: SubscriberFilter, *, limit: int, offset: int
    ) -> tuple[list[Subscriber], int]:
        if where.phone is not None:
            where = SubscriberFilter(
                **{**_fields(where), "phone": self._phone(tenant, where.phone)}
            )
        return await SubscriberRepository(self._pool).find(
            tenant.id, where, limit=limit, offset=offset
        )

    async def profiles_of(
        self, tenant: Tenant, customers: list[Subscriber]
    ) -> dict[int, BillingProfile]:
        ids = sorted({c.profile_id for c in customers if c.profile_id is not None})
        return await BillingProfileRepository(self._pool).by_ids(tenant.id, ids)

    # -- create / update / delete -----------------------------------------------------------

    async def create(
        self, tenant: Tenant, given: dict[str, object], router_for: RouterFor, actor: str
    ) -> Subscriber:
        entry = AuditEntry(actor, "create_customer", tenant_id=tenant.id)
        entry.params = audit_params(given)
        async with audited(self._pool, entry):
            username = _username(given.get("username"))
            entry.target = username
            wanted = await self._wanted(tenant, given, None)
            router = await router_for(_device_id(given))
            entry.router_id = router.id
            customers = SubscriberRepository(self._pool)
            if await customers.by_username(tenant.id, username) is not None:
                raise Conflict(duplicate_username(username))
            limit, used = await customers.customer_limit(tenant.id)
            if limit is not None and used >= limit:
                raise Conflict(
                    f"Tenant limit reached: at most {limit} customer(s) (max_network_users)"
                )
            customer_id = await customers.next_id()
            async with router_writes(self._menu, actor) as writes:
                await self._put_account(writes, router, wanted)
                async with self._pool.acquire() as conn, conn.transaction():
                    customer = await SubscriberRepository(conn).create(
                        tenant.id,
                        customer_id,
                        username=wanted.username,
                        full_name=wanted.full_name,
                        phone=wanted.phone,
                        is_active=wanted.is_active,
                        profile_id=wanted.profile.id,
                        service_type=wanted.service_type,
                        billing_day=wanted.billing_day,
                        router_id=router.id,
                        password_sealed=self._box.seal(
                            wanted.password, password_purpose(customer_id)
                        ),
                    )
                    entry.details = {"customer_id": customer.id}
                    await write_audit(conn, entry)
            entry.recorded = True
            return customer

    async def update(
        self,
        tenant: Tenant,
        customer_id: int,
        given: dict[str, object],
        router_for: RouterFor,
        actor: str,
    ) -> Subscriber:
        """Change a customer; a ``device_id`` moves it to that router. Its router account is
        changed first (added on the new router and removed from the old one on a move)."""
        entry = AuditEntry(actor, "update_customer", tenant_id=tenant.id, target=str(customer_id))
        entry.params = audit_params(given)
        async with audited(self._pool, entry):
            current = await self.get(tenant, customer_id)
            return await self._update(tenant, current, given, router_for, actor, entry)

    async def _update(
        self,
        tenant: Tenant,
        current: Subscriber,
        given: dict[str, object],
        router_for: RouterFor,
        actor: str,
        entry: AuditEntry,
    ) -> Subscriber:
        wanted = await self._wanted(tenant, given, current)
        device_id = _device_id(given)
        old_router = await self._router(tenant, current.router_id)
        if device_id is not None or old_router is None:
            router = await router_for(device_id)
        else:
            router = old_router
        entry.router_id = router.id
        if wanted.username != current.username:
            clash = await SubscriberRepository(self._pool).by_username(tenant.id, wanted.username)
            if clash is not None:
                raise Conflict(duplicate_username(wanted.username))
        values: dict[str, object] = {
            "username": wanted.username,
            "full_name": wanted.full_name,
            "phone": wanted.phone,
            "is_active": wanted.is_active,
            "profile_id": wanted.profile.id,
            "service_type": wanted.service_type,
            "billing_day": wanted.billing_day,
            "router_id": router.id,
        }
        if "password" in given or current.password_sealed is None:
            values["password_sealed"] = self._box.seal(
                wanted.password, password_purpose(current.id)
            )
        values = {key: value for key, value in values.items() if getattr(current, key) != value}
        if not values:
            return current
        stays = old_router is not None and old_router.id == router.id
        stays = stays and current.service_type == wanted.service_type
        async with router_writes(self._menu, actor) as writes:
            if stays:
                await self._change_account(writes, router, current, wanted, given)
            else:
                await self._put_account(writes, router, wanted)
                if old_router is not None and current.service_type is not None:
                    menu = ACCOUNT_MENUS[current.service_type]
                    await writes.remove(old_router, menu, current.username)
            async with self._pool.acquire() as conn, conn.transaction():
                customer = await SubscriberRepository(conn).update(current, values)
                entry.details = {"fields": sorted(k for k in values if k != "password_sealed")}
                await write_audit(conn, entry)
        entry.recorded = True
        return customer

    async def delete(self, tenant: Tenant, customer_id: int, actor: str) -> Subscriber:
        """Remove its router account, then the customer (409 while payments name it)."""
        entry = AuditEntry(actor, "delete_customer", tenant_id=tenant.id, target=str(customer_id))
        async with audited(self._pool, entry):
            return await self._delete(tenant, await self.get(tenant, customer_id), actor, entry)

    async def _delete(
        self, tenant: Tenant, customer: Subscriber, actor: str, entry: AuditEntry
    ) -> Subscriber:
        customers = SubscriberRepository(self._pool)
        if await customers.has_payments(customer.id):
            raise Conflict(PAYMENTS_KEEP_CUSTOMER)
        router = await self._router(tenant, customer.router_id)
        async with router_writes(self._menu, actor) as writes:
            if router is not None and customer.service_type is not None:
                entry.router_id = router.id
                menu = ACCOUNT_MENUS[customer.service_type]
                await writes.remove(router, menu, customer.username)
            async with self._pool.acquire() as conn, conn.transaction():
                await SubscriberRepository(conn).delete(customer.id)
                entry.details = {"username": customer.username}
                await write_audit(conn, entry)
        entry.recorded = True
        return customer

    # -- client operations (seed 004 section 4) ---------------------------------------------

    async def upsert(
        self, tenant: Tenant, items: list[dict[str, object]], router_for: RouterFor, actor: str
    ) -> list[ItemResult]:
        """Each item created, or updated when its username exists; one failure fails only its
        item (the answer says why)."""
        _batch(items)
        results = []
        for given in items:
            username = given.get("username")
            name = username if isinstance(username, str) else ""
            try:
                existing = await SubscriberRepository(self._pool).by_username(
                    tenant.id, _username(username)
                )
                if existing is None:
                    customer = await self.create(tenant, given, router_for, actor)
                    results.append(ItemResult(name, "created", customer=customer))
                else:
                    customer = await self.update(tenant, existing.id, given, router_for, actor)
                    results.append(ItemResult(name, "updated", customer=customer))
            except HubError as exc:
                results.append(ItemResult(name, "failed", error=exc.message))
        return results

    async def delete_many(
        self, tenant: Tenant, usernames: list[str], actor: str
    ) -> list[ItemResult]:
        _batch(usernames)
        results = []
        for username in usernames:
            entry = AuditEntry(actor, "delete_customer", tenant_id=tenant.id, target=username)
            try:
                async with audited(self._pool, entry):
                    customer = await SubscriberRepository(self._pool).by_username(
                        tenant.id, username
                    )
                    if customer is None:
                        raise NotFound(CUSTOMER_NOT_FOUND)
                    await self._delete(tenant, customer, actor, entry)
                results.append(ItemResult(username, "deleted"))
            except HubError as exc:
                results.append(ItemResult(username, "failed", error=exc.message))
        return results

    # -- helpers ----------------------------------------------------------------------------

    async def _wanted(
        self, tenant: Tenant, given: dict[str, object], current: Subscriber | None
    ) -> _Wanted:
        """The state after the change, every field checked (400 naming it) before any write."""

        def value(name: str, now: object) -> object:
            return given[name] if name in given else now

        fresh = current is None or current.service_type is None
        username = _username(value("username", current.username if current else None))
        full_name = value("name", current.full_name if current else None)
        if full_name is not None:
            full_name = required_text(full_name, "name")
        phone = value("phone", current.phone if current else None)
        if phone is not None and phone != "":
            phone = self._phone(tenant, phone)
        else:
            phone = None
        is_active = value("is_active", current.is_active if current else True)
        if not isinstance(is_active, bool):
            raise InvalidInput("is_active must be true or false")
        profile_id = value("profile_id", current.profile_id if current else None)
        if profile_id is None:
            raise InvalidInput("profile_id is required (a billing profile of this tenant)")
        profile = await BillingProfileRepository(self._pool).get(profile_id, tenant.id)  # type: ignore[arg-type]
        if profile is None:
            raise InvalidInput(f"profile_id {profile_id} is not a billing profile of this tenant")
        service_type = value("service_type", None if fresh else current.service_type)  # type: ignore[union-attr]
        if service_type is None or ("profile_id" in given and "service_type" not in given):
            service_type = profile.type
        if service_type not in CONNECTION_TYPES:
            raise InvalidInput("service_type must be pppoe or hotspot")
        if service_type != profile.type:
            raise InvalidInput(
                f"service_type {service_type} does not match the billing profile's type"
                f" {profile.type}"
            )
        billing_day = value("billing_day", current.billing_day if current else None)
        if billing_day is None:
            raise InvalidInput("billing_day is required (1 to 28)")
        if "password" in given or current is None or current.password_sealed is None:
            password = _password(given.get("password"))
        else:
            password = self._box.open(current.password_sealed, password_purpose(current.id))
        return _Wanted(
            username=username,
            full_name=full_name,  # type: ignore[arg-type]
            phone=phone,  # type: ignore[arg-type]
            is_active=is_active,
            profile=profile,
            service_type=service_type,  # type: ignore[arg-type]
            billing_day=_billing_day(billing_day),
            password=password,
        )

    def _phone(self, tenant: Tenant, phone: object) -> str:
        if not isinstance(phone, str):
            raise InvalidInput("phone must be a string")
        try:
            return normalize_phone(phone, tenant.default_country)
        except ValueError as exc:
            raise InvalidInput(f"phone: {exc}") from exc

    async def _router(self, tenant: Tenant, router_id: int | None) -> Router | None:
        if router_id is None:
            return None
        routers = RouterRepository(self._pool, offline_after=self._offline_after)
        return await routers.get(router_id, tenant.id)

    async def _put_account(self, writes: RouterWrites, router: Router, wanted: _Wanted) -> None:
        """The profile (ensured) and a new account on ``router``."""
        await writes.ensure_profile(router, wanted.profile)
        await writes.add(router, ACCOUNT_MENUS[wanted.service_type], _account(wanted))

    async def _change_account(
        self,
        writes: RouterWrites,
        router: Router,
        current: Subscriber,
        wanted: _Wanted,
        given: dict[str, object],
    ) -> None:
        """Set what differs on the account; one deleted by hand on the router is put back."""
        menu = ACCOUNT_MENUS[wanted.service_type]
        if wanted.profile.id != current.profile_id:
            await writes.ensure_profile(router, wanted.profile)
        params = _account(wanted)
        before = {
            "name": current.username,
            "profile": params["profile"] if wanted.profile.id == current.profile_id else None,
            "comment": current.full_name or "",
            "disabled": "no" if current.is_active else "yes",
        }
        changed = {k: v for k, v in params.items() if k in before and before[k] != v}
        if "password" in given or current.password_sealed is None:
            changed["password"] = wanted.password
        if not changed:
            return
        try:
            await writes.set(router, menu, current.username, changed)
        except NotFound:
            await writes.ensure_profile(router, wanted.profile)
            await writes.add(router, menu, params)


def _account(wanted: _Wanted) -> dict[str, str | int | bool]:
    return account_params(
        wanted.service_type,
        username=wanted.username,
        password=wanted.password,
        profile=wanted.profile.name,
        name=wanted.full_name,
        is_active=wanted.is_active,
    )


def _device_id(given: dict[str, object]) -> int | None:
    device_id = given.get("device_id")
    return device_id if isinstance(device_id, int) else None


def _batch(items: list) -> None:
    if not items:
        raise InvalidInput("at least one item is required")
    if len(items) > MAX_BATCH:
        raise InvalidInput(f"at most {MAX_BATCH} items per call")


def _fields(where: SubscriberFilter) -> dict[str, object]:
    return {name: getattr(where, name) for name in where.__slots__}  # type: ignore[attr-defined]
