"""The portal's reads and actions (seeds 000, 001, 002), for tenants and platform admins alike.

Every method takes ``tenant_id``: a tenant sees only its own routers and users (another
tenant's are "not found"); None is a platform admin's view of every tenant. Reads come from
what agents reported (no router round trip); actions go to the site's agent and wait.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from common import wire
from common.timeutil import utcnow
from hub.config import HubConfig
from hub.domain import ActiveSession, Customer, Entitlement, Router, RouterActivity
from hub.errors import CommandFailed, HubError, NotFound, SessionNotFound
from hub.services.audit import AuditEntry, audited
from hub.services.dispatch import Dispatcher, run_on_router, unreachable
from hub.services.inputs import customer_username, optional_mac, required_text
from hub.services.snapshots import (
    ActiveUsersSnapshot,
    FleetHealthSnapshot,
    SessionAccess,
    SnapshotCache,
)
from hub.storage.customers import CustomerRepository, EntitlementRepository
from hub.storage.routers import ReportRepository, RouterRepository
from hub.storage.tenants import TenantRepository

ROUTER_NOT_FOUND = "Router not found or access denied"
USER_NOT_FOUND = "User not found or does not belong to your tenant"
SESSION_NOT_FOUND = "Session not found"
NO_SESSION_ANYWHERE = "User has no active session on any router"


@dataclass(frozen=True, slots=True)
class Access:
    """A customer's paid access as it applies to one session or to the customer overall."""

    customer: Customer
    expires_at: datetime | None  # the latest expiry that applies, past or future

    def active(self, now: datetime) -> bool:
        return self.expires_at is not None and self.expires_at > now


@dataclass(frozen=True, slots=True)
class SessionView:
    session: ActiveSession
    access: Access | None  # None: the username is not a customer of the tenant


@dataclass(frozen=True, slots=True)
class ActiveUsers:
    router: Router
    sessions: list[SessionView]
    now: datetime


@dataclass(frozen=True, slots=True)
class Disconnected:
    router: Router
    username: str
    session_removed: bool  # a hotspot or PPP session was removed
    binding_removed: bool
    user_disabled: bool
    ppp_secret_disabled: bool

    def details(self) -> dict[str, bool]:
        """Seed 001's ``details``, plus the PPP secret."""
        return {
            "session_removed": self.session_removed,
            "binding_removed": self.binding_removed,
            "user_disabled": self.user_disabled,
            "ppp_secret_disabled": self.ppp_secret_disabled,
        }


@dataclass(frozen=True, slots=True)
class RouterOutcome:
    """One router's part of a tenant-wide action."""

    router: Router
    disconnected: Disconnected | None
    error: str | None
    session_found: bool = True  # False: the router had no session of the user (not an error)
    details: list[str] | None = None  # the failed steps, with ``error``


@dataclass(frozen=True, slots=True)
class CustomerView:
    customer: Customer
    access: Access
    entitlements: list[Entitlement]
    sessions: list[tuple[Router, ActiveSession]]
    now: datetime


def latest_expiry(
    entitlements: list[Entitlement], router_id: int | None, mac_address: str | None
) -> datetime | None:
    """The latest expiry among entitlements covering this router and device.

    An entitlement without router covers every router; one without MAC covers every device.
    ``router_id``/``mac_address`` None ask about the customer as a whole.
    """
    ends = [
        e.expires_at
        for e in entitlements
        if (router_id is None or e.router_id in (None, router_id))
        and (mac_address is None or e.mac_address in (None, mac_address))
    ]
    return max(ends, default=None)


def disconnect_outcome(router: Router, username: str, result: wire.CommandResult) -> Disconnected:
    """The seed's details from an agent's disconnect result, or the error it amounts to.

    A disconnect that removed nothing is seed 001's failure "Session not found": agents report
    ``sessions_found`` (0: nothing was touched); an agent without that key counts as not found
    when it removed nothing at all (no hotspot or PPP session, no binding).
    """
    data = result.result
    errors = data.get("errors") or []
    if not isinstance(errors, list):
        errors = [str(errors)]
    if not result.ok and not errors:
        errors = [result.error or "the agent reported a failure"]
    failed = f"Failed to disconnect user from {router.name}"
    if errors:
        raise CommandFailed(failed, details=[str(e) for e in errors])
    session_removed = bool(data.get("session_removed")) or bool(data.get("ppp_removed"))
    binding_removed = bool(data.get("binding_removed"))
    found = data.get("sessions_found")
    if isinstance(found, int) and not isinstance(found, bool):
        nothing = found == 0
    else:
        nothing = not (session_removed or binding_removed)
    if nothing:
        raise SessionNotFound(failed, details=[SESSION_NOT_FOUND])
    return Disconnected(
        router=router,
        username=username,
        session_removed=session_removed,
        binding_removed=binding_removed,
        user_disabled=bool(data.get("user_disabled")),
        ppp_secret_disabled=bool(data.get("ppp_secret_disabled")),
    )


class PortalService:
    def __init__(
        self, pool: asyncpg.Pool, config: HubConfig, dispatcher: Dispatcher | None = None
    ) -> None:
        self._pool = pool
        self._config = config
        self._dispatcher = dispatcher
        self._routers = RouterRepository(pool, offline_after=config.agent_offline_after)
        self._snapshots = SnapshotCache[ActiveUsersSnapshot]()
        self._fleets = SnapshotCache[FleetHealthSnapshot](size=256)

    async def router(self, router_id: int, tenant_id: int | None) -> Router:
        router = await self._routers.get(router_id, tenant_id)
        if router is None:
            raise NotFound(ROUTER_NOT_FOUND)
        return router

    async def routers(self, tenant_id: int | None) -> list[Router]:
        return await self._routers.find(tenant_id)

    async def fleet_health(self, tenant_id: int) -> FleetHealthSnapshot:
        """Every router of the tenant for the fleet health answer: one single-row query when
        nothing it shows changed since this process last answered (the version says so), else
        the routers read again. The version is read first: a write in between makes the next
        request read them again, never serve older data."""
        version = await self._routers.fleet_version(tenant_id)
        snapshot = self._fleets.get(tenant_id, version)
        if snapshot is None:
            previous = self._fleets.get(tenant_id, None)
            snapshot = FleetHealthSnapshot(version, await self._routers.find(tenant_id))
            if previous is not None:
                snapshot.parts = previous.parts  # the unchanged routers' entries, reused
            self._fleets.put(tenant_id, snapshot)
        return snapshot

    async def hotspot_stats(self, tenant_id: int) -> list[RouterActivity]:
        """Seed 002: every router of the tenant with its hotspot totals, as agents reported."""
        return await self._routers.activity(tenant_id)

    async def active_users(
        self, router_id: int, tenant_id: int | None, *, router: Router | None = None
    ) -> ActiveUsers:
        """The sessions the router's agent last reported, joined with the customers' access."""
        if router is None:
            router = await self.router(router_id, tenant_id)
        if not router.online:
            raise unreachable(router)
        sessions = await ReportRepository(self._pool).sessions(router.id)
        customers = await CustomerRepository(self._pool).by_usernames(
            router.tenant.id, sorted({s.username for s in sessions})
        )
        entitlements = await self._entitlements(list(customers.values()))
        views = []
        for session in sessions:
            customer = customers.get(session.username)
            access = None
            if customer is not None:
                expiry = latest_expiry(
                    entitlements.get(customer.id, []), router.id, session.mac_address
                )
                access = Access(customer, expiry)
            views.append(SessionView(session, access))
        return ActiveUsers(router, views, utcnow())

    async def active_users_snapshot(
        self, router_id: int, tenant_id: int | None
    ) -> tuple[Router, ActiveUsersSnapshot]:
        """The router and its ready active-users snapshot: one query when nothing changed since
        this process last answered for it (the version says so), else rebuilt from Postgres."""
        found = await self._routers.get_versioned(router_id, tenant_id)
        if found is None:
            raise NotFound(ROUTER_NOT_FOUND)
        router, version = found
        if not router.online:
            raise unreachable(router)
        snapshot = self._snapshots.get(router.id, version)
        if snapshot is None:
            snapshot = await self._build_snapshot(router, version)
            self._snapshots.put(router.id, snapshot)
        return router, snapshot

    async def _build_snapshot(self, router: Router, version: str) -> ActiveUsersSnapshot:
        """What active_users computes, kept. The version was read before these queries: a
        write in between makes the next request rebuild again, never serve older data."""
        view = await self.active_users(router.id, router.tenant.id, router=router)
        access = [
            None
            if item.access is None
            else SessionAccess(
                user_id=item.access.customer.id,
                is_active=item.access.customer.is_active,
                expires_at=item.access.expires_at,
            )
            for item in view.sessions
        ]
        return ActiveUsersSnapshot(version, [item.session for item in view.sessions], access)

    async def disconnect_user(
        self,
        router_id: int,
        tenant_id: int | None,
        *,
        username: Any,
        mac_address: Any = None,
        actor: str,
    ) -> Disconnected:
        """Seed 001: kick a user off one router through its site's agent; always audited."""
        entry = AuditEntry(actor, "disconnect_user", tenant_id=tenant_id)
        entry.params = {"router_id": router_id, "username": username, "mac_address": mac_address}
        async with audited(self._pool, entry):
            router = await self.router(router_id, tenant_id)
            entry.tenant_id, entry.router_id = router.tenant.id, router.id
            username = required_text(username, "username")
            mac = optional_mac(mac_address)
            wanted = customer_username(username, router.tenant.default_country)
            entry.target = wanted
            target, is_customer = await self._disconnect_target(router, username, wanted)
            entry.target = target
            entry.params["customer"] = is_customer  # False: a session without a customer record
            outcome = await self._disconnect(router, target, mac, actor)
            entry.details = outcome.details()
            return outcome

    async def _disconnect_target(self, router: Router, given: str, wanted: str) -> tuple[str, bool]:
        """The username to disconnect on this router: a customer of its tenant, or a session
        the router's agent reports (the router is the tenant's, so are its sessions, even one
        made by hand on the router); USER_NOT_FOUND when neither."""
        found = await CustomerRepository(self._pool).by_usernames(router.tenant.id, [wanted])
        if wanted in found:
            return wanted, True
        reported = {s.username for s in await ReportRepository(self._pool).sessions(router.id)}
        for candidate in (wanted, given):
            if candidate in reported:
                return candidate, False
        raise NotFound(USER_NOT_FOUND)

    async def disconnect_anywhere(
        self, *, username: Any, mac_address: Any = None, actor: str
    ) -> tuple[str, list[RouterOutcome]]:
        """Seed 001's admin face: a username off every router, of any tenant, where its agent
        reports a session of it; each router's attempt audited on its own."""
        entry = AuditEntry(actor, "disconnect_user")
        entry.params = {"username": username, "mac_address": mac_address, "scope": "anywhere"}
        async with audited(self._pool, entry):
            given = required_text(username, "username")
            mac = optional_mac(mac_address)
            entry.target = given
            countries = await TenantRepository(self._pool).countries()
            candidates = sorted({given, *(customer_username(given, c) for c in countries)})
            where = await ReportRepository(self._pool).routers_with_session(candidates)
            routers = [r for r in await self._routers.find() if r.id in where]
            if not routers:
                raise NotFound(NO_SESSION_ANYWHERE)
            entry.recorded = True  # from here on each router's attempt is its own entry
        outcomes = await asyncio.gather(
            *(
                self.disconnect_on(
                    router,
                    where[router.id],
                    mac,
                    AuditEntry(
                        actor,
                        "disconnect_user",
                        tenant_id=router.tenant.id,
                        router_id=router.id,
                        target=where[router.id],
                        params={**entry.params, "router_id": router.id},
                    ),
                )
                for router in routers
            )
        )
        matched = {where[router.id] for router in routers}
        return (matched.pop() if len(matched) == 1 else given), list(outcomes)

    async def customer(self, customer_id: int, tenant_id: int | None) -> CustomerView:
        """A customer, their access and where they are online now."""
        customer = await CustomerRepository(self._pool).get(customer_id, tenant_id)
        if customer is None:
            raise NotFound(USER_NOT_FOUND)
        entitlements = (await self._entitlements([customer])).get(customer.id, [])
        sessions = await ReportRepository(self._pool).sessions_of(
            customer.tenant_id, customer.username
        )
        routers = {r.id: r for r in await self._routers.find(customer.tenant_id)}
        return CustomerView(
            customer=customer,
            access=Access(customer, latest_expiry(entitlements, None, None)),
            entitlements=entitlements,
            sessions=[(routers[s.router_id], s) for s in sessions if s.router_id in routers],
            now=utcnow(),
        )

    async def disconnect_customer(
        self, customer_id: int, tenant_id: int | None, *, actor: str
    ) -> tuple[Customer, list[RouterOutcome]]:
        """Disconnect a customer from every router of their tenant, in parallel."""
        customer = await CustomerRepository(self._pool).get(customer_id, tenant_id)
        if customer is None:
            raise NotFound(USER_NOT_FOUND)
        routers = await self._routers.find(customer.tenant_id)
        outcomes = await asyncio.gather(
            *(self._disconnect_audited(router, customer, actor) for router in routers)
        )
        return customer, list(outcomes)

    async def _disconnect_audited(
        self, router: Router, customer: Customer, actor: str
    ) -> RouterOutcome:
        entry = AuditEntry(
            actor,
            "disconnect_user",
            tenant_id=router.tenant.id,
            router_id=router.id,
            target=customer.username,
            params={"user_id": customer.id, "username": customer.username},
        )
        return await self.disconnect_on(router, customer.username, None, entry)

    async def disconnect_on(
        self, router: Router, username: str, mac: str | None, entry: AuditEntry
    ) -> RouterOutcome:
        """One router's part of a multi-router disconnect, audited on its own.

        "Session not found" is no failure here (the user is simply not on that router). Any
        other error of this router (unreachable, refused, retired meanwhile, its audit write) is
        this router's outcome, never the whole request's: the other routers' results still count.
        """
        try:
            async with audited(self._pool, entry):
                outcome = await self._disconnect(router, username, mac, entry.actor)
                entry.details = outcome.details()
        except SessionNotFound:
            return RouterOutcome(router, None, None, session_found=False)
        except HubError as exc:
            return RouterOutcome(router, None, exc.message, details=exc.extra.get("details"))
        return RouterOutcome(router, outcome, None)

    async def _disconnect(
        self, router: Router, username: str, mac: str | None, actor: str
    ) -> Disconnected:
        result = await run_on_router(
            self._dispatcher,
            router,
            name=wire.DISCONNECT,
            args={"username": username, "mac_address": mac},
            requested_by=actor,
            command_timeout=self._config.command_timeout,
        )
        return disconnect_outcome(router, username, result)

    async def _entitlements(self, customers: list[Customer]) -> dict[int, list[Entitlement]]:
        by_customer: dict[int, list[Entitlement]] = {}
        if customers:
            latest = await EntitlementRepository(self._pool).latest_for([c.id for c in customers])
            for entitlement in latest:
                by_customer.setdefault(entitlement.customer_id, []).append(entitlement)
        return by_customer
