"""Paid access: who may be online until when, and telling the sites about it.

The entitlement is stored first: agents receive every unexpired entitlement of their routers
when they connect (the link reads the entitlements table), so a grant made while a site is
offline, or from the CLI with no hub running, still arrives. With a dispatcher (inside the
running hub) each affected router's agent also gets a ``grant_access`` command at once.

A grant by hand (hours) and a paid plan (hub.services.payments) go through the same ``store``
and ``deliver``; a payment calls ``store`` inside its own transaction so that the credit and the
payment's completion commit together.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import timedelta

import asyncpg

from common import wire
from common.timeutil import to_iso, utcnow
from hub.config import HubConfig
from hub.domain import Customer, Entitlement, Plan, Router, Tenant
from hub.errors import HubError, InvalidInput, NotFound
from hub.services.audit import AuditEntry, audited, write_audit
from hub.services.dispatch import Dispatcher, run_on_router
from hub.services.inputs import customer_username, optional_mac, required_text
from hub.storage.customers import CustomerRepository, EntitlementRepository
from hub.storage.routers import RouterRepository

log = logging.getLogger(__name__)

MAX_HOURS = 24 * 366


@dataclass(frozen=True, slots=True)
class Delivery:
    """How one router's agent took the grant: "sent", "pending" (on reconnect) or "failed"."""

    router: Router
    status: str
    error: str | None = None


@dataclass(frozen=True, slots=True)
class AccessTerms:
    """What a grant gives: for how long, and how the router treats the user during and after."""

    duration: timedelta
    profile: str | None = None  # hotspot user profile while entitled
    rate_limit: str | None = None  # the router's "rx/tx"
    on_expiry: str = "cut"  # "cut" | "throttle"
    plan_id: int | None = None

    @classmethod
    def of_plan(cls, plan: Plan) -> AccessTerms:
        return cls(
            duration=plan.duration,
            profile=plan.router_profile,
            rate_limit=plan.rate_limit,
            on_expiry=plan.on_expiry,
            plan_id=plan.id,
        )


@dataclass(frozen=True, slots=True)
class Grant:
    customer: Customer
    entitlement: Entitlement
    deliveries: list[Delivery]


class AccessService:
    def __init__(
        self, pool: asyncpg.Pool, config: HubConfig, dispatcher: Dispatcher | None = None
    ) -> None:
        self._pool = pool
        self._config = config
        self._dispatcher = dispatcher

    async def grant(
        self,
        tenant: Tenant,
        *,
        username: object,
        hours: object,
        actor: str,
        mac_address: object = None,
        router_id: object = None,
        profile: str | None = None,
    ) -> Grant:
        """Store access for ``hours`` more (extending access still running), then push it."""
        entry = AuditEntry(actor, "grant_access", tenant_id=tenant.id)
        entry.params = {
            "username": username,
            "hours": hours,
            "mac_address": mac_address,
            "router_id": router_id,
        }
        async with audited(self._pool, entry):
            username = customer_username(
                required_text(username, "username"), tenant.default_country
            )
            if isinstance(hours, bool) or not isinstance(hours, int | float):
                raise InvalidInput("hours must be a number")
            if not 0 < hours <= MAX_HOURS:
                raise InvalidInput(f"hours must be more than 0 and at most {MAX_HOURS}")
            if router_id is not None and (
                isinstance(router_id, bool) or not isinstance(router_id, int)
            ):
                raise InvalidInput("router_id must be an integer")
            mac = optional_mac(mac_address)
            entry.target = username
            routers = RouterRepository(self._pool, offline_after=self._config.agent_offline_after)
            if router_id is not None:
                router = await routers.get(router_id, tenant.id) if router_id < 2**63 else None
                if router is None:
                    raise NotFound("Router not found or access denied")
                entry.router_id = router.id
                targets = [router]
            else:
                targets = await routers.find(tenant.id)
            async with self._pool.acquire() as conn, conn.transaction():
                terms = AccessTerms(duration=timedelta(hours=hours), profile=profile)
                customer, entitlement = await self.store(
                    conn, tenant, username, mac=mac, router_id=router_id, terms=terms
                )
                # The audit row commits with the entitlement or not at all. Delivery outcomes
                # are in the commands table (one row per router, requested_by = the actor).
                entry.details = {
                    "entitlement_id": entitlement.id,
                    "expires_at": to_iso(entitlement.expires_at),
                    "routers": [router.name for router in targets],
                }
                await write_audit(conn, entry)
            entry.recorded = True
            deliveries = await asyncio.gather(
                *(self.deliver(router, customer, entitlement, actor) for router in targets)
            )
            return Grant(customer, entitlement, list(deliveries))

    async def store(
        self,
        conn: asyncpg.Connection,
        tenant: Tenant,
        username: str,
        *,
        mac: str | None,
        router_id: int | None,
        terms: AccessTerms,
    ) -> tuple[Customer, Entitlement]:
        """Extend the customer's access by ``terms``, inside the caller's transaction.

        The customer's row is locked (SELECT ... FOR UPDATE) before the latest expiry is read,
        so concurrent grants for one customer queue up and each extends the one before it.
        """
        customers = CustomerRepository(conn)
        customer = await customers.ensure(tenant.id, username, None)
        await customers.lock(customer.id)
        entitlements = EntitlementRepository(conn)
        now = utcnow()
        start = now
        for current in await entitlements.latest_for([customer.id], started_only=False):
            same_scope = (current.router_id, current.mac_address) == (router_id, mac)
            if same_scope and current.expires_at > start:
                start = current.expires_at
        entitlement = await entitlements.add(
            tenant_id=tenant.id,
            customer_id=customer.id,
            router_id=router_id,
            mac_address=mac,
            profile=terms.profile,
            starts_at=now,
            expires_at=start + terms.duration,
            rate_limit=terms.rate_limit,
            on_expiry=terms.on_expiry,
            plan_id=terms.plan_id,
        )
        return customer, entitlement

    async def deliver(
        self, router: Router, customer: Customer, entitlement: Entitlement, actor: str
    ) -> Delivery:
        """Send the stored entitlement to the router's agent now, or leave it for the sync
        of its next connect (an offline router is "pending", never an error)."""
        if self._dispatcher is None or not router.online:
            return Delivery(router, "pending")
        args = wire.as_dict(
            wire.Entitlement(
                username=customer.username,
                mac_address=entitlement.mac_address,
                expires_at=to_iso(entitlement.expires_at),
                profile=entitlement.profile,
                rate_limit=entitlement.rate_limit,
                on_expiry=entitlement.on_expiry,
            )
        )
        try:
            result = await run_on_router(
                self._dispatcher,
                router,
                name=wire.GRANT_ACCESS,
                args=args,
                requested_by=actor,
                command_timeout=self._config.command_timeout,
            )
        except HubError as exc:
            log.info("grant pending router_id=%s reason=%s", router.id, exc.message)
            return Delivery(router, "pending", exc.message)
        if not result.ok:
            return Delivery(router, "failed", result.error or "command failed")
        return Delivery(router, "sent")
