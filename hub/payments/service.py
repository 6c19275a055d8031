"""Money in, access out: M-Pesa STK push and cash, then the same grant as a grant by hand.

    start_stk_push -> payment pending -> provider prompts the phone
        -> callback (or, when it never comes, the status query of ``settle_pending``)
        -> in ONE transaction: the payment row locked, the entitlement stored (AccessService.store),
           the payment completed, the audit row
        -> grant_access to the router's agent (offline: applied by the sync of its next connect)

A payment leaves ``pending`` once (guarded in SQL): a replayed or duplicated callback, or a query
racing a callback, changes nothing and is acknowledged. A callback naming a wrong tenant secret,
an unknown checkout or a wrong amount is logged and refused; nothing is credited.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hmac
import logging
import secrets
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

import asyncpg

from common.timeutil import to_iso, utcnow
from hub.config import HubConfig, public_url
from hub.database import CONNECTION_ERRORS
from hub.domain import Customer, Entitlement, Payment, Plan, Router, Tenant
from hub.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    ProviderFailed,
    ProviderUnavailable,
)
from hub.payments.provider import (
    InvalidCallback,
    PaymentProvider,
    PaymentResult,
    ProviderError,
    StkRequest,
)
from hub.phone import normalize_phone
from hub.services.access import AccessService, AccessTerms, Delivery
from hub.services.audit import AuditEntry, audited, write_audit
from hub.services.inputs import customer_username, optional_mac, required_text
from hub.storage.customers import CustomerRepository
from hub.storage.payments import PaymentRepository
from hub.storage.plans import PlanRepository
from hub.storage.routers import RouterRepository
from hub.storage.tenants import TenantRepository

log = logging.getLogger(__name__)

NOT_CONFIGURED = "mobile money is not configured"
PLAN_NOT_FOUND = "Plan not found"
ROUTER_NOT_FOUND = "Router not found or access denied"
PAYMENT_NOT_FOUND = "Payment not found"
CALLBACK_REFUSED = "callback refused"
CALLBACK_PATH = "/api/payments/callback/{tenant}/{secret}"
MAX_ID = 2**63 - 1
# How long a callback for a checkout this process is still saving waits for it: the provider
# may call back before its answer to the push is read and stored (Daraja's own timeout is 10 s).
PUSH_SETTLE_WAIT = 15.0


@dataclass(frozen=True, slots=True)
class StkStarted:
    """A prompt on the customer's phone; the payment stays pending until the provider says."""

    payment: Payment
    customer_message: str


@dataclass(frozen=True, slots=True)
class Paid:
    """A completed payment, the access it bought and how its router took the grant."""

    payment: Payment
    customer: Customer
    entitlement: Entitlement
    delivery: Delivery | None  # None: the payment's router is gone


@dataclass(frozen=True, slots=True)
class SettleReport:
    """What one pass of ``settle_pending`` did."""

    completed: int = 0
    failed: int = 0
    expired: int = 0
    still_pending: int = 0


@dataclass(frozen=True, slots=True)
class _Sale:
    plan: Plan
    router: Router
    username: str
    phone: str | None  # E.164 digits without "+"
    mac: str | None


@dataclass(frozen=True, slots=True)
class _Applied:
    """A provider's result applied to a payment: its row after, and what changed."""

    payment: Payment
    changed: bool
    paid: Paid | None = None


class WrongAmount(InvalidInput):
    """The provider reports another amount than the payment's: failed, nothing credited."""


def whole_amount(price: Decimal) -> int:
    """A plan price as M-Pesa takes it (whole units); a price with cents is refused (400)."""
    if price != price.to_integral_value():
        raise InvalidInput(f"plan price {price} has cents; mobile money takes whole amounts only")
    return int(price)


def phone_digits(e164: str) -> str:
    """``+254712345678`` -> ``254712345678``: how M-Pesa and seed 003 spell a phone."""
    return e164.removeprefix("+")


class PaymentService:
    def __init__(
        self,
        pool: asyncpg.Pool,
        config: HubConfig,
        provider: PaymentProvider | None,
        access: AccessService,
    ) -> None:
        self._pool = pool
        self._config = config
        self._provider = provider
        self._access = access
        self._pushing: set[asyncio.Future[None]] = set()  # pushes not yet saved
        self._deliveries: set[asyncio.Task[Delivery | None]] = set()  # after callbacks

    # -- mobile money -----------------------------------------------------------------------

    async def start_stk_push(
        self,
        tenant: Tenant,
        *,
        plan_id: int,
        phone: object,
        router_id: int,
        mac_address: object,
        actor: str,
    ) -> StkStarted:
        """Store a pending payment for the plan, then prompt the customer's phone to pay."""
        entry = AuditEntry(actor, "payment_stk_push", tenant_id=tenant.id)
        entry.params = {
            "plan_id": plan_id,
            "phone": phone,
            "router_id": router_id,
            "mac_address": mac_address,
        }
        async with audited(self._pool, entry):
            provider = self._provider
            if provider is None:
                raise ProviderUnavailable(NOT_CONFIGURED)
            sale = await self._sale(tenant, plan_id, phone, router_id, mac_address, mobile=True)
            amount = whole_amount(sale.plan.price)
            entry.target, entry.router_id = sale.username, sale.router.id
            secret = await self._callback_secret(tenant)
            async with self._pool.acquire() as conn, conn.transaction():
                customer = await self._buyer(conn, tenant, sale)
                payment = await PaymentRepository(conn).create_pending(
                    tenant_id=tenant.id,
                    customer_id=customer.id,
                    plan_id=sale.plan.id,
                    router_id=sale.router.id,
                    amount=sale.plan.price,
                    currency=tenant.currency,
                    phone=sale.phone,
                    mac_address=sale.mac,
                    provider=provider.name,
                    recorded_by=actor,
                )
            entry.details = {"payment_id": payment.id, "amount": str(payment.amount)}
            reference = f"PAY{payment.id}"[:12]
            request = StkRequest(
                amount=amount,
                phone=sale.phone or "",
                account_reference=reference,
                description=(sale.plan.name.strip() or "Internet")[:13],
                callback_url=public_url(self._config).rstrip("/")
                + CALLBACK_PATH.format(tenant=tenant.slug, secret=secret),
            )
            saved: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._pushing.add(saved)
            try:
                try:
                    accepted = await provider.stk_push(request)
                except ProviderError as exc:
                    raise await self._push_failed(payment, provider, exc, entry) from exc
                stored = await PaymentRepository(self._pool).set_checkout(
                    payment.id,
                    reference,
                    accepted.checkout_request_id,
                    accepted.merchant_request_id,
                )
            finally:
                saved.set_result(None)
                self._pushing.discard(saved)
            entry.details["checkout_request_id"] = accepted.checkout_request_id
            log.info(
                "stk push sent payment_id=%s tenant=%s checkout=%s",
                payment.id,
                tenant.slug,
                accepted.checkout_request_id,
            )
            return StkStarted(stored or payment, accepted.customer_message)

    async def _push_failed(
        self, payment: Payment, provider: PaymentProvider, exc: ProviderError, entry: AuditEntry
    ) -> ProviderFailed | ProviderUnavailable:
        """The provider did not take the push: the payment failed; 502 (503 when retryable)."""
        desc = f"{provider.name}: the payment request failed: {exc.message}"
        await PaymentRepository(self._pool).fail(payment.id, None, desc[:500])
        log.warning(
            "stk push failed payment_id=%s retryable=%s error=%s",
            payment.id,
            exc.retryable,
            exc.message,
        )
        entry.details = {"payment_id": payment.id, "error": exc.message}
        if exc.retryable:
            return ProviderUnavailable(
                f"The mobile money provider is unreachable right now; retry later ({exc.message})"
            )
        return ProviderFailed(f"The mobile money provider refused the payment: {exc.message}")

    async def handle_callback(self, tenant_slug: str, secret: str, body: bytes) -> Payment:
        """Apply the provider's callback; refused (403/404/400) unless it is for this tenant's
        secret, a known checkout and the payment's amount. A repeat changes nothing."""
        found = await PaymentRepository(self._pool).callback_tenant(tenant_slug)
        expected = found[1] if found is not None else None
        if expected is None or not hmac.compare_digest(expected.encode(), secret.encode()):
            log.warning(
                "payment callback refused: unknown tenant or wrong secret tenant=%s",
                tenant_slug[:64],
            )
            raise Forbidden(CALLBACK_REFUSED)
        assert found is not None
        tenant = found[0]
        if self._provider is None:
            log.warning(
                "payment callback while mobile money is not configured tenant=%s", tenant.slug
            )
            raise ProviderUnavailable(NOT_CONFIGURED)
        try:
            result = self._provider.parse_callback(body)
        except InvalidCallback as exc:
            log.warning("payment callback refused: %s tenant=%s", exc.message, tenant.slug)
            raise InvalidInput(f"invalid callback: {exc.message}") from exc
        if result.status == "pending":
            raise InvalidInput("a callback must carry the payment's outcome")
        actor = f"provider:{self._provider.name}"
        # The provider can call back before this process saved the push's checkout id: the
        # pushes in flight now (taken before the lookup) are waited for, then it looks again.
        in_flight = set(self._pushing)
        applied = await self._apply_result(tenant, result, actor=actor, deliver_later=True)
        if applied is None and in_flight:
            log.info(
                "payment callback waits for pushes in flight checkout=%s",
                result.checkout_request_id[:64],
            )
            await asyncio.wait(in_flight, timeout=PUSH_SETTLE_WAIT)
            applied = await self._apply_result(tenant, result, actor=actor, deliver_later=True)
        if applied is None:
            log.warning(
                "payment callback refused: unknown checkout tenant=%s checkout=%s",
                tenant.slug,
                result.checkout_request_id[:64],
            )
            raise NotFound("unknown checkout")
        if not applied.changed:
            log.info(
                "payment callback repeated: nothing to do payment_id=%s status=%s",
                applied.payment.id,
                applied.payment.status,
            )
        return applied.payment

    async def settle_pending(self) -> SettleReport:
        """Ask the provider about payments pending past ``payment_query_after`` (their callback
        was lost); apply what it says, and expire those pending past ``payment_expire_after``."""
        config = self._config
        stale = await PaymentRepository(self._pool).pending_older_than(
            timedelta(seconds=config.payment_query_after)
        )
        counts = {"completed": 0, "failed": 0, "expired": 0, "still_pending": 0}
        tenants: dict[int, Tenant | None] = {}
        for payment in stale:
            if payment.tenant_id not in tenants:
                tenants[payment.tenant_id] = await TenantRepository(self._pool).get(
                    payment.tenant_id
                )
            tenant = tenants[payment.tenant_id]
            if tenant is None:
                continue
            result = await self._query(payment)
            if result is not None and result.status != "pending":
                try:
                    applied = await self._apply_result(tenant, result, actor="settler")
                except (InvalidInput, Conflict) as exc:  # wrong amount or receipt: failed
                    log.warning(
                        "payment settled as failed payment_id=%s reason=%s", payment.id, exc.message
                    )
                    counts["failed"] += 1
                    continue
                if applied is not None and applied.changed:
                    counts[applied.payment.status] += 1
                    continue
            age = (utcnow() - payment.created_at).total_seconds()
            if age >= config.payment_expire_after:
                if await self._expire(payment):
                    counts["expired"] += 1
            else:
                counts["still_pending"] += 1
        return SettleReport(**counts)

    async def settle_forever(self) -> None:
        """``settle_pending`` every ``payment_settle_interval``; outages are logged once."""
        failing = False
        while True:
            try:
                report = await self.settle_pending()
                if failing:
                    log.info("payment settler recovered")
                failing = False
                if report.completed or report.failed or report.expired:
                    log.info("payments settled %s", report)
            except (*CONNECTION_ERRORS, asyncpg.PostgresError) as exc:
                if not failing:
                    log.warning("payment settler failed error=%r", exc)
                failing = True
            await asyncio.sleep(self._config.payment_settle_interval)

    async def _query(self, payment: Payment) -> PaymentResult | None:
        if self._provider is None or payment.checkout_request_id is None:
            return None
        try:
            return await self._provider.query(payment.checkout_request_id)
        except ProviderError as exc:
            log.info("payment status query failed payment_id=%s error=%s", payment.id, exc.message)
            return None

    async def _expire(self, payment: Payment) -> bool:
        entry = AuditEntry("settler", "payment_expire", tenant_id=payment.tenant_id)
        entry.router_id, entry.params = payment.router_id, {"payment_id": payment.id}
        async with self._pool.acquire() as conn, conn.transaction():
            expired = await PaymentRepository(conn).expire(
                payment.id, "no outcome from the provider in time"
            )
            if expired is None:
                return False
            await write_audit(conn, entry)
        log.info("payment expired payment_id=%s", payment.id)
        return True

    async def _apply_result(
        self, tenant: Tenant, result: PaymentResult, *, actor: str, deliver_later: bool = False
    ) -> _Applied | None:
        """The provider's outcome applied to the tenant's payment of that checkout (None: no
        such checkout). Completion and its entitlement commit together; delivery follows, in
        the background with ``deliver_later`` (the provider's callback is acknowledged at once
        instead of waiting for the router)."""
        try:
            applied = await self._apply_locked(tenant, result, actor)
        except Conflict as exc:  # the receipt already paid another payment: refuse, fail this
            await self._fail_checkout(tenant, result, exc.message, actor)
            raise
        if applied is None:
            return None
        if applied.payment.status == "failed" and applied.changed and result.status == "completed":
            raise WrongAmount(applied.payment.result_desc)
        if applied.paid is not None and deliver_later:
            self._deliver_later(tenant, applied.paid, actor)
        elif applied.paid is not None:
            delivery = await self._deliver(tenant, applied.paid, actor)
            applied = dataclasses.replace(
                applied, paid=dataclasses.replace(applied.paid, delivery=delivery)
            )
        return applied

    async def _apply_locked(
        self, tenant: Tenant, result: PaymentResult, actor: str
    ) -> _Applied | None:
        async with self._pool.acquire() as conn, conn.transaction():
            payments = PaymentRepository(conn)
            payment = await payments.find_by_checkout(tenant.id, result.checkout_request_id)
            if payment is None:
                return None
            if payment.status != "pending" or result.status == "pending":
                return _Applied(payment, changed=False)
            entry = AuditEntry(actor, "payment_result", tenant_id=tenant.id)
            entry.router_id = payment.router_id
            entry.params = {
                "payment_id": payment.id,
                "checkout_request_id": result.checkout_request_id,
                "result_code": result.result_code,
                "result_desc": result.result_desc[:200],
            }
            if result.status == "failed":
                failed = await payments.fail(payment.id, result.result_code, result.result_desc)
                assert failed is not None  # the row is locked and was pending
                entry.details = {"status": "failed"}
                await write_audit(conn, entry)
                log.info(
                    "payment failed payment_id=%s result_code=%s", payment.id, result.result_code
                )
                return _Applied(failed, changed=True)
            if result.amount is not None and Decimal(result.amount) != payment.amount:
                desc = (
                    f"refused: the provider reports an amount of {result.amount},"
                    f" the payment is for {payment.amount}"
                )
                failed = await payments.fail(payment.id, result.result_code, desc)
                assert failed is not None
                entry.details = {"status": "failed", "reason": desc}
                await write_audit(conn, entry, WrongAmount(desc))
                log.warning(
                    "payment refused: wrong amount payment_id=%s amount=%s expected=%s",
                    payment.id,
                    result.amount,
                    payment.amount,
                )
                return _Applied(failed, changed=True)
            paid = await self._credit(conn, tenant, payment, result)
            entry.target = paid.customer.username
            entry.details = {
                "status": "completed",
                "receipt": result.receipt,
                "entitlement_id": paid.entitlement.id,
                "expires_at": to_iso(paid.entitlement.expires_at),
            }
            await write_audit(conn, entry)
            log.info(
                "payment completed payment_id=%s entitlement_id=%s", payment.id, paid.entitlement.id
            )
            return _Applied(paid.payment, changed=True, paid=paid)

    async def _credit(
        self, conn: asyncpg.Connection, tenant: Tenant, payment: Payment, result: PaymentResult
    ) -> Paid:
        """The plan's access stored and the payment completed, on the caller's transaction."""
        plan = await PlanRepository(conn).get(payment.plan_id, tenant.id, deleted=True)
        customer = await CustomerRepository(conn).get(payment.customer_id, tenant.id)
        assert plan is not None and customer is not None  # foreign keys of the payment
        customer, entitlement = await self._access.store(
            conn,
            tenant,
            customer.username,
            mac=payment.mac_address,
            router_id=payment.router_id,
            terms=AccessTerms.of_plan(plan),
        )
        completed = await PaymentRepository(conn).complete(
            payment.id,
            receipt=result.receipt,
            paid_at=result.paid_at,
            entitlement_id=entitlement.id,
            result_code=result.result_code,
            result_desc=result.result_desc,
        )
        assert completed is not None  # the row is locked and was pending
        completed = dataclasses.replace(completed, access_expires_at=entitlement.expires_at)
        return Paid(completed, customer, entitlement, None)

    async def _fail_checkout(
        self, tenant: Tenant, result: PaymentResult, reason: str, actor: str
    ) -> None:
        entry = AuditEntry(actor, "payment_result", tenant_id=tenant.id)
        entry.params = {"checkout_request_id": result.checkout_request_id}
        async with self._pool.acquire() as conn, conn.transaction():
            payments = PaymentRepository(conn)
            payment = await payments.find_by_checkout(tenant.id, result.checkout_request_id)
            if payment is None or payment.status != "pending":
                return
            await payments.fail(payment.id, result.result_code, f"refused: {reason}")
            entry.router_id, entry.details = payment.router_id, {"status": "failed"}
            await write_audit(conn, entry, Conflict(reason))
        log.warning("payment refused: %s payment_id=%s", reason, payment.id)

    # -- cash -------------------------------------------------------------------------------

    async def record_cash(
        self,
        tenant: Tenant,
        *,
        plan_id: int,
        phone_or_username: object,
        router_id: int,
        mac_address: object,
        actor: str,
    ) -> Paid:
        """Cash an operator took: the payment completed and the access granted at once."""
        entry = AuditEntry(actor, "payment_cash", tenant_id=tenant.id)
        entry.params = {
            "plan_id": plan_id,
            "phone": phone_or_username,
            "router_id": router_id,
            "mac_address": mac_address,
        }
        async with audited(self._pool, entry):
            sale = await self._sale(
                tenant, plan_id, phone_or_username, router_id, mac_address, mobile=False
            )
            entry.target, entry.router_id = sale.username, sale.router.id
            async with self._pool.acquire() as conn, conn.transaction():
                await self._buyer(conn, tenant, sale)
                customer, entitlement = await self._access.store(
                    conn,
                    tenant,
                    sale.username,
                    mac=sale.mac,
                    router_id=sale.router.id,
                    terms=AccessTerms.of_plan(sale.plan),
                )
                payment = await PaymentRepository(conn).record_cash(
                    tenant_id=tenant.id,
                    customer_id=customer.id,
                    plan_id=sale.plan.id,
                    router_id=sale.router.id,
                    amount=sale.plan.price,
                    currency=tenant.currency,
                    phone=sale.phone,
                    mac_address=sale.mac,
                    entitlement_id=entitlement.id,
                    recorded_by=actor,
                )
                entry.details = {
                    "payment_id": payment.id,
                    "amount": str(payment.amount),
                    "entitlement_id": entitlement.id,
                    "expires_at": to_iso(entitlement.expires_at),
                }
                await write_audit(conn, entry)
            entry.recorded = True
            payment = dataclasses.replace(payment, access_expires_at=entitlement.expires_at)
            paid = Paid(payment, customer, entitlement, None)
            return dataclasses.replace(paid, delivery=await self._deliver(tenant, paid, actor))

    # -- reads ------------------------------------------------------------------------------

    async def get(self, tenant: Tenant, payment_id: int) -> Payment:
        """The tenant's payment (another tenant's is not found) with its access' end."""
        payment = await PaymentRepository(self._pool).get(payment_id, tenant.id)
        if payment is None:
            raise NotFound(PAYMENT_NOT_FOUND)
        return payment

    # -- shared -----------------------------------------------------------------------------

    async def _sale(
        self,
        tenant: Tenant,
        plan_id: int,
        phone: object,
        router_id: int,
        mac_address: object,
        *,
        mobile: bool,
    ) -> _Sale:
        """Who buys which plan where: the plan and router of this tenant, else NotFound."""
        text = required_text(phone, "phone")
        if mobile:
            try:
                e164 = normalize_phone(text, tenant.default_country)
            except ValueError as exc:
                raise InvalidInput(str(exc)) from exc
            username: str = e164
        else:
            username = customer_username(text, tenant.default_country)
        digits = phone_digits(username) if username.startswith("+") else None
        mac = optional_mac(mac_address)
        plan = (
            await PlanRepository(self._pool).get(plan_id, tenant.id) if plan_id <= MAX_ID else None
        )
        if plan is None:
            raise NotFound(PLAN_NOT_FOUND)
        routers = RouterRepository(self._pool, offline_after=self._config.agent_offline_after)
        router = await routers.get(router_id, tenant.id) if router_id <= MAX_ID else None
        if router is None:
            raise NotFound(ROUTER_NOT_FOUND)
        return _Sale(plan, router, username, digits, mac)

    async def _buyer(self, conn: asyncpg.Connection, tenant: Tenant, sale: _Sale) -> Customer:
        """The customer of the sale's username, with their phone, device, router and plan."""
        customers = CustomerRepository(conn)
        customer = await customers.ensure(tenant.id, sale.username, None)
        await customers.record_purchase(
            customer.id,
            phone=sale.phone,
            mac_address=sale.mac,
            router_id=sale.router.id,
            plan_id=sale.plan.id,
        )
        return customer

    async def _callback_secret(self, tenant: Tenant) -> str:
        """The tenant's callback secret, generated on its first payment."""
        return await PaymentRepository(self._pool).callback_secret(
            tenant.id, secrets.token_urlsafe(24)
        )

    def _deliver_later(self, tenant: Tenant, paid: Paid, actor: str) -> None:
        task = asyncio.create_task(
            self._deliver(tenant, paid, actor), name=f"payment-grant:{paid.payment.id}"
        )
        self._deliveries.add(task)
        task.add_done_callback(self._delivered)

    def _delivered(self, task: asyncio.Task[Delivery | None]) -> None:
        self._deliveries.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            # Stored all the same: the agent's next entitlement sync brings it.
            log.error("payment grant delivery failed task=%s", task.get_name(), exc_info=exc)

    async def close(self) -> None:
        """Stop deliveries still under way (each grant is stored: the sync brings it)."""
        tasks = list(self._deliveries)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _deliver(self, tenant: Tenant, paid: Paid, actor: str) -> Delivery | None:
        """Push the grant to the payment's router; offline or gone leaves it to the sync."""
        if paid.payment.router_id is None:
            return None
        routers = RouterRepository(self._pool, offline_after=self._config.agent_offline_after)
        router = await routers.get(paid.payment.router_id, tenant.id)
        if router is None:
            return None
        delivery = await self._access.deliver(router, paid.customer, paid.entitlement, actor)
        log.info(
            "payment grant %s payment_id=%s router_id=%s",
            delivery.status,
            paid.payment.id,
            router.id,
        )
        return delivery
