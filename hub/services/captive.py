"""The captive portal: a hotspot client buys a plan on its phone before it is online.

    GET /hotspot/<tenant>?mac=&ip=&router=&link-login-only=   (from the router's login.html)
      -> the tenant's hotspot plans
    pay -> PaymentService.start_stk_push for that MAC on that router -> a status token
    status(token) -> pending | granting | online | failed | cancelled | timeout

Everything here is public: the caller is a device not yet online. So every input is checked
before anything is stored (the MAC, the IP, a router and a plan of this tenant, the phone),
prompts are rate limited per client address and per phone (in this process), and a payment's
status is read only with the token handed to the browser that started it: the payment id
sealed (AES-GCM, hub.secrets.SecretBox) for this tenant, so it cannot be guessed, altered, or
read under another tenant's portal. The answer carries the state and the access' end, never
the phone, the receipt or anything of another payment.

A voucher is not redeemed here: its code is a hotspot user on the router, so the page posts it
to the router's own login form (``link-login-only``), the way the site redeems it with or
without the hub (agent/vouchers.py).
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

import asyncpg

from common.mac import normalize_mac
from hub.config import HubConfig
from hub.domain import Payment, Plan, Router, Tenant
from hub.errors import InvalidInput, NotFound, RateLimited
from hub.payments.service import PaymentService
from hub.phone import normalize_phone
from hub.ratelimit import RateLimiter
from hub.secrets import SecretBox
from hub.storage.captive import CaptiveRepository
from hub.storage.payments import PaymentRepository
from hub.storage.plans import PlanRepository
from hub.storage.routers import RouterRepository
from hub.storage.tenants import TenantRepository

HOTSPOT_NOT_FOUND = "No such hotspot"
PAYMENT_NOT_FOUND = "Payment not found"
MAX_ID = 2**63 - 1
MAX_LOGIN_URL = 255
_SLUG = re.compile(r"[a-z0-9][a-z0-9-]{1,62}")
_HOST = re.compile(r"[A-Za-z0-9]([A-Za-z0-9-]{0,62})(\.[A-Za-z0-9]([A-Za-z0-9-]{0,62}))*")
# Daraja's result codes the page explains in its own words (docs/payments.md).
CANCELLED, TIMED_OUT, INSUFFICIENT, WRONG_PIN = 1032, 1037, 1, 2001
STATES = ("pending", "granting", "online", "failed", "cancelled", "timeout")


@dataclass(frozen=True, slots=True)
class CaptiveSite:
    """A tenant's portal: who sells, and the hotspot plans on offer."""

    tenant: Tenant
    plans: list[Plan]


@dataclass(frozen=True, slots=True)
class HotspotClient:
    """The device the router sent: its MAC, its address and the router it is behind."""

    mac: str
    ip: str | None
    router: Router


@dataclass(frozen=True, slots=True)
class CaptivePayment:
    token: str  # the status token for this browser
    payment: Payment
    customer_message: str


@dataclass(frozen=True, slots=True)
class PaymentState:
    """What the page may show of one payment."""

    status: str  # one of STATES
    reason: str | None  # for "failed": "insufficient_funds" | "wrong_pin" | None
    expires_at: datetime | None  # the access bought (granting / online)


def login_url(value: str | None) -> str | None:
    """The router's ``$(link-login-only)``: an http(s) URL with a plain host (a name or an IP
    address), no credentials, query or fragment; the voucher form posts there."""
    if value is None or value == "":
        return None
    if len(value) > MAX_LOGIN_URL:
        raise InvalidInput(f"link-login-only must be at most {MAX_LOGIN_URL} characters")
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 (a bad port raises here)
    except ValueError as exc:
        raise InvalidInput("link-login-only is not a valid URL") from exc
    host = parts.hostname or ""
    if (
        parts.scheme not in ("http", "https")
        or not _plain_host(host)
        or parts.username is not None
        or parts.password is not None
        or parts.query
        or parts.fragment
    ):
        raise InvalidInput("link-login-only must be the router's http(s) login URL")
    return value


def origin_of(url: str) -> str:
    """``scheme://host[:port]`` of a URL ``login_url`` accepted (for the page's CSP)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    return f"{parts.scheme}://{host}" + (f":{parts.port}" if parts.port else "")


def _plain_host(host: str) -> bool:
    """A DNS name or an IP address: nothing that could bend a CSP source or a URL."""
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return len(host) <= 253 and _HOST.fullmatch(host) is not None


def origin_url(value: str | None) -> str | None:
    """``$(link-orig)``, the page the client first asked for: kept only as an http(s) link."""
    if not value:
        return None
    try:
        scheme = urlsplit(value).scheme
    except ValueError:
        return None
    return value if scheme in ("http", "https") and len(value) <= 2048 else None


def client_mac(value: str | None) -> str:
    if value is None or value == "":
        raise InvalidInput("mac is required: open this page through the hotspot's login page")
    try:
        return normalize_mac(value)
    except ValueError as exc:
        raise InvalidInput(f"mac is not a MAC address: {value[:64]!r}") from exc


def client_ip(value: str | None) -> str | None:
    if value is None or value == "":
        return None
    try:
        return str(ipaddress.ip_address(value))
    except ValueError as exc:
        raise InvalidInput(f"ip is not an IP address: {value[:64]!r}") from exc


class CaptiveService:
    def __init__(
        self,
        pool: asyncpg.Pool,
        config: HubConfig,
        payments: PaymentService,
        secrets: SecretBox,
    ) -> None:
        self._pool = pool
        self._config = config
        self._payments = payments
        self._secrets = secrets
        self._per_address = RateLimiter(config.captive_pushes_per_minute, config.captive_push_burst)
        self._per_phone = RateLimiter(
            config.captive_phone_pushes_per_minute, config.captive_phone_push_burst
        )
        self._per_payment = RateLimiter(config.captive_polls_per_minute, config.captive_poll_burst)
        self._bad_tokens = RateLimiter(config.auth_failures_per_minute, config.auth_failure_burst)

    async def tenant(self, slug: str) -> Tenant:
        """The active tenant of the slug; NotFound for anything else (also a malformed slug)."""
        tenant = None
        if _SLUG.fullmatch(slug):
            tenant = await TenantRepository(self._pool).get_by_slug(slug)
        if tenant is None or not tenant.is_active:
            raise NotFound(HOTSPOT_NOT_FOUND)
        return tenant

    async def site(self, slug: str) -> CaptiveSite:
        tenant = await self.tenant(slug)
        plans = await PlanRepository(self._pool).list(tenant.id, "hotspot")
        return CaptiveSite(tenant, plans)

    async def client(
        self, tenant: Tenant, *, mac: str | None, ip: str | None, router_id: int | None
    ) -> HotspotClient:
        """The device as the router named it; 400 naming the field that is wrong."""
        found_mac, found_ip = client_mac(mac), client_ip(ip)
        if router_id is None:
            raise InvalidInput("router is required: open this page through the hotspot's login")
        routers = RouterRepository(self._pool, offline_after=self._config.agent_offline_after)
        router = await routers.get(router_id, tenant.id) if 0 < router_id <= MAX_ID else None
        if router is None:
            raise InvalidInput("router is not a router of this hotspot")
        return HotspotClient(found_mac, found_ip, router)

    async def pay(
        self,
        slug: str,
        *,
        plan_id: int | None,
        phone: str | None,
        mac: str | None,
        ip: str | None,
        router_id: int | None,
        address: str,
    ) -> CaptivePayment:
        """Prompt the phone to pay for the plan, for this client on its router."""
        tenant = await self.tenant(slug)
        client = await self.client(tenant, mac=mac, ip=ip, router_id=router_id)
        if not phone or not phone.strip():
            raise InvalidInput("phone is required")
        try:
            e164 = normalize_phone(phone, tenant.default_country)
        except ValueError as exc:
            raise InvalidInput(f"phone: {exc}") from exc
        plan = None
        if plan_id is not None and 0 < plan_id <= MAX_ID:
            plan = await PlanRepository(self._pool).get(plan_id, tenant.id)
        if plan is None or plan.connection_type != "hotspot":
            raise InvalidInput("plan_id is not a plan of this hotspot")
        self._take(
            self._per_address,
            ("address", tenant.id, address),
            "Too many payment requests from this address",
        )
        self._take(self._per_phone, ("phone", e164), "Too many payment prompts to this phone")
        started = await self._payments.start_stk_push(
            tenant,
            plan_id=plan.id,
            phone=e164,
            router_id=client.router.id,
            mac_address=client.mac,
            actor=f"captive:{address}"[:120],
        )
        token = self.token(tenant, started.payment.id)
        return CaptivePayment(token, started.payment, started.customer_message)

    async def state(self, slug: str, token: str, *, address: str) -> PaymentState:
        """The state of the payment the token names, under this tenant's portal only."""
        tenant = await self.tenant(slug)
        if wait := self._bad_tokens.check(address):
            raise RateLimited(wait, "Too many unknown payments asked about; retry later")
        payment_id = self._payment_id(tenant, token)
        payment = None
        if payment_id is not None:
            payment = await PaymentRepository(self._pool).get(payment_id, tenant.id)
        if payment is None:
            self._bad_tokens.take(address)
            raise NotFound(PAYMENT_NOT_FOUND)
        self._take(self._per_payment, ("payment", payment.id), "Asked too often")
        return await self._state_of(tenant, payment)

    async def _state_of(self, tenant: Tenant, payment: Payment) -> PaymentState:
        if payment.status == "pending":
            return PaymentState("pending", None, None)
        if payment.status == "expired":
            return PaymentState("timeout", None, None)
        if payment.status == "failed":
            code = payment.result_code
            if code == CANCELLED:
                return PaymentState("cancelled", None, None)
            if code == TIMED_OUT:
                return PaymentState("timeout", None, None)
            reason = {INSUFFICIENT: "insufficient_funds", WRONG_PIN: "wrong_pin"}.get(code or -1)
            return PaymentState("failed", reason, None)
        applied = await CaptiveRepository(self._pool).access_applied(payment.id, tenant.id)
        return PaymentState("online" if applied else "granting", None, payment.access_expires_at)

    def token(self, tenant: Tenant, payment_id: int) -> str:
        """The payment id sealed for this tenant's portal, URL-safe."""
        sealed = self._secrets.seal(str(payment_id), self._purpose(tenant))
        return base64.urlsafe_b64encode(sealed).decode().rstrip("=")

    def _payment_id(self, tenant: Tenant, token: str) -> int | None:
        if len(token) > 128:
            return None
        try:
            sealed = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
            text = self._secrets.open(sealed, self._purpose(tenant))
        except (ValueError, binascii.Error):
            return None
        return int(text) if text.isdigit() and int(text) <= MAX_ID else None

    @staticmethod
    def _purpose(tenant: Tenant) -> str:
        return f"captive:{tenant.id}:payment"

    @staticmethod
    def _take(limiter: RateLimiter, key: object, message: str = "Too many requests") -> None:
        if wait := limiter.take(key):
            raise RateLimited(wait, f"{message}; retry later")
