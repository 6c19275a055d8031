"""The hub's domain objects, as the storage layer returns them to the services."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

# Dashboard roles, weakest first: a role may do what every role before it may.
ROLES = ("viewer", "operator", "admin", "owner")
_RANKS = {**{role: rank for rank, role in enumerate(ROLES)}, "platform_admin": len(ROLES)}


def role_rank(role: str) -> int:
    """Where a role stands: ROLES in order, then platform_admin (seed 004's super_admin)."""
    return _RANKS[role]


@dataclass(frozen=True, slots=True)
class Tenant:
    id: int
    slug: str
    name: str
    default_country: str
    currency: str = "KES"
    timezone: str = "Africa/Nairobi"
    language: str = "en"  # of its dashboard and captive portal (hub/web/i18n.py)
    is_active: bool = True  # a deactivated tenant's users and keys are refused (403)


@dataclass(frozen=True, slots=True)
class TenantDetails:
    """A tenant as seed 004 manages it: company details, limits, feature flags, active switch."""

    tenant: Tenant
    company_name: str | None
    phone: str | None
    max_mikrotiks: int | None  # None: no limit
    max_network_users: int | None
    features: dict[str, Any]
    is_active: bool
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class TenantStats:
    routers: int
    sites: int
    sites_online: int
    active_sessions: int
    customers: int
    revenue_this_month: Decimal


@dataclass(frozen=True, slots=True)
class ApiKey:
    id: int
    tenant_id: int
    name: str
    prefix: str
    last_used_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class ApiKeyPrincipal:
    """Who a portal request speaks for: one key of one tenant."""

    key: ApiKey
    tenant: Tenant

    @property
    def actor(self) -> str:
        return f"api_key:{self.key.prefix}"


@dataclass(frozen=True, slots=True)
class User:
    id: int
    tenant_id: int | None
    email: str | None
    role: str
    username: str | None = None
    fullname: str | None = None
    phone: str | None = None

    @property
    def actor(self) -> str:
        return f"user:{self.username or self.email}"


@dataclass(frozen=True, slots=True)
class Caller:
    """Who a billing-face request speaks for: a dashboard user or a tenant API key.

    ``tenant`` is None for a platform admin, who names the tenant per request (seed 003's
    ``user_id``); for everyone else the tenant comes from the credentials and nothing else.
    """

    tenant: Tenant | None
    role: str  # "platform_admin" or one of ROLES (an API key acts as "admin")
    actor: str  # the audit log's "who"
    user_id: int | None = None
    user: User | None = None  # None for an API key

    def may(self, role: str) -> bool:
        """At least ``role`` (platform admins may do everything)."""
        return role_rank(self.role) >= role_rank(role)


@dataclass(frozen=True, slots=True)
class Plan:
    """What a customer buys: time online at a speed, on hotspot or PPPoE."""

    id: int
    tenant_id: int
    name: str
    price: Decimal
    duration_value: int
    duration_unit: str  # "minutes" | "hours" | "days"
    download_speed: str  # the customer's view: "5M" down ...
    upload_speed: str  # ... "2M" up
    connection_type: str  # "hotspot" | "pppoe"
    router_profile: str | None
    on_expiry: str  # "cut" | "throttle"
    created_at: datetime
    deleted_at: datetime | None = None

    @property
    def duration(self) -> timedelta:
        return timedelta(**{self.duration_unit: self.duration_value})

    @property
    def speed(self) -> str:
        return f"{self.download_speed}/{self.upload_speed}"

    @property
    def rate_limit(self) -> str:
        """RouterOS rate-limit is rx/tx from the router's side: the customer's upload first."""
        return f"{self.upload_speed}/{self.download_speed}"


@dataclass(frozen=True, slots=True)
class RouterHealth:
    """The latest health an agent reported for a router."""

    status: str  # "online" | "offline", as the agent sees the router
    since: datetime | None
    error: str | None
    identity: str | None
    version: str | None
    board_name: str | None
    cpu_load: int | None
    free_memory: int | None
    total_memory: int | None
    uptime_seconds: int | None
    hotspot_active: int | None
    ppp_active: int | None
    hotspot_users: int | None  # hotspot users configured on the router; None: not reported
    reported_at: datetime


@dataclass(frozen=True, slots=True)
class Router:
    """A router with what the hub knows about its reachability right now."""

    id: int
    tenant: Tenant
    agent_id: int
    site: str
    name: str
    host: str
    port: int
    agent_online: bool  # agent connected and heard from within agent_offline_after
    agent_last_seen_at: datetime | None
    health: RouterHealth | None

    @property
    def online(self) -> bool:
        """Reachable now: its agent is online and reports the router up."""
        return self.agent_online and self.health is not None and self.health.status == "online"

    @property
    def status(self) -> str:
        return "online" if self.online else "offline"


@dataclass(frozen=True, slots=True)
class RouterActivity:
    """A router with the totals of its current hotspot sessions (seed 002's stats)."""

    router: Router
    hotspot_sessions: int
    bytes_in: int  # router's side: received from the users
    bytes_out: int  # router's side: sent to the users
    last_login: datetime | None  # the latest login among the current sessions


@dataclass(frozen=True, slots=True)
class ActiveSession:
    router_id: int
    session_id: str
    kind: str  # "hotspot" | "ppp"
    username: str
    mac_address: str | None
    ip_address: str | None
    uptime_seconds: int
    idle_seconds: int | None
    bytes_in: int
    bytes_out: int
    login_by: str | None
    server: str | None
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class RouterHotspotUser:
    """A hotspot user configured on a router (its agent's mirror), with its live session."""

    router_id: int
    name: str
    user_id: str  # RouterOS .id
    profile: str | None
    disabled: bool
    comment: str | None
    limit_uptime_seconds: int | None  # None: no limit-uptime
    mac_address: str | None
    session: ActiveSession | None  # the user's latest hotspot login there, if online


@dataclass(frozen=True, slots=True)
class RouterUsers:
    """GET /api/routers/{id}/users: a router and its configured hotspot users."""

    router: Router
    users: list[RouterHotspotUser]

    @property
    def active_sessions(self) -> int:
        return sum(user.session is not None for user in self.users)


@dataclass(frozen=True, slots=True)
class Customer:
    id: int
    tenant_id: int
    username: str
    full_name: str | None
    email: str | None
    is_active: bool
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Entitlement:
    id: int
    tenant_id: int
    customer_id: int
    router_id: int | None  # None: every router of the tenant
    mac_address: str | None
    profile: str | None
    rate_limit: str | None
    on_expiry: str
    starts_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    plan_id: int | None = None  # the plan a payment or voucher bought it with


@dataclass(frozen=True, slots=True)
class CustomerAccess:
    """A customer with the end of their current paid access (None: no access now)."""

    customer: Customer
    access_expires_at: datetime | None

    def has_access(self, now: datetime) -> bool:
        return self.access_expires_at is not None and self.access_expires_at > now


# --- billing reports (seed 003's read API) -----------------------------------------------------


@dataclass(frozen=True, slots=True)
class PlanRef:
    """A plan as a report names it (deleted plans too: their sales stay counted)."""

    id: int
    name: str
    price: Decimal
    duration_value: int
    duration_unit: str


@dataclass(frozen=True, slots=True)
class RouterRef:
    """A router as a report names it: ``host`` is seed 003's ``ip_address``."""

    id: int
    name: str
    host: str


@dataclass(frozen=True, slots=True)
class BillingCustomer:
    """A customer with the status their entitlements give them (seed 003's customers).

    ``status``: "active" (a live entitlement now), "expired" (had one, none live) or
    "inactive" (never had one, or switched off: ``customers.is_active`` false).
    ``expiry``: when their latest access ends or ended (None: never had any).
    """

    id: int
    username: str
    full_name: str | None
    phone: str | None
    mac_address: str | None
    status: str
    expiry: datetime | None
    plan: PlanRef | None
    router: RouterRef | None

    @property
    def display_name(self) -> str:
        """The full name, else "Guest NNNN" (the phone's last 4 digits), else the username."""
        return guest_name(self.full_name, self.phone, self.username)


def guest_name(full_name: str | None, phone: str | None, username: str) -> str:
    """Seed 003's customer ``name``: a customer who paid by phone is "Guest 5364"."""
    if full_name and full_name.strip():
        return full_name.strip()
    digits = "".join(ch for ch in phone or "" if ch.isdigit())
    return f"Guest {digits[-4:]}" if len(digits) >= 4 else username


@dataclass(frozen=True, slots=True)
class Revenue:
    """Completed payments' total, by the tenant's local calendar (week starts Monday)."""

    today: Decimal
    this_week: Decimal
    this_month: Decimal
    all_time: Decimal


@dataclass(frozen=True, slots=True)
class DayRevenue:
    """Completed payments of one local day of the tenant (zero on a day without any)."""

    day: date
    amount: Decimal
    count: int


@dataclass(frozen=True, slots=True)
class DayUsage:
    """Sessions of a router that ended on one local day, and their traffic (router's side:
    ``bytes_in`` received from the users, their upload)."""

    day: date
    sessions: int
    bytes_in: int
    bytes_out: int


@dataclass(frozen=True, slots=True)
class RouterRevenue:
    router: RouterRef
    count: int
    amount: Decimal


@dataclass(frozen=True, slots=True)
class PlanRevenue:
    plan: PlanRef
    sales_count: int
    revenue: Decimal


@dataclass(frozen=True, slots=True)
class RecentPayment:
    """A completed payment as the overview lists it (``completed_at``: the money arrived)."""

    id: int
    amount: Decimal
    method: str
    completed_at: datetime
    customer_name: str
    customer_phone: str | None
    plan_name: str


@dataclass(frozen=True, slots=True)
class PlanPerformance:
    """A plan's completed sales over a period, and its customers with live access now."""

    plan: PlanRef
    total_customers: int
    total_sales: int
    total_revenue: Decimal
    average_revenue_per_sale: Decimal
    active_customers: int


@dataclass(frozen=True, slots=True)
class Transaction:
    """A mobile-money payment with its customer, router and plan (seed 003's transactions)."""

    id: int
    checkout_request_id: str | None
    merchant_request_id: str | None
    phone: str | None
    amount: Decimal
    reference: str | None
    status: str
    receipt: str | None
    completed_at: datetime | None
    created_at: datetime
    customer: BillingCustomer
    router: RouterRef | None
    plan: PlanRef


@dataclass(frozen=True, slots=True)
class StatusTotal:
    count: int
    amount: Decimal


@dataclass(frozen=True, slots=True)
class TransactionTotals:
    """Counts and sums of the transactions a filter selects, overall, by status, by router."""

    count: int
    amount: Decimal
    by_status: dict[str, StatusTotal]
    by_router: list[RouterRevenue]
    first_date: date | None  # the tenant's local date of the earliest one (None: none)


@dataclass(frozen=True, slots=True)
class Agent:
    """A site's agent as its link sees it: who it speaks for, and the credential it holds."""

    id: int
    tenant_id: int
    site: str
    credential_hash: bytes | None = field(default=None, repr=False)  # sha256; None: none issued


@dataclass(frozen=True, slots=True)
class EnrollmentTicket:
    """A freshly issued one-time enrollment token (shown once, stored only hashed)."""

    agent_id: int
    token: str
    expires_at: datetime

    def __iter__(self) -> Iterator[int | str]:
        """``agent_id, token = ticket``, as callers used to unpack it."""
        return iter((self.agent_id, self.token))


@dataclass(frozen=True, slots=True)
class EnrollmentClaim:
    """The agent a live enrollment token belongs to, while the enrollment is in progress."""

    agent_id: int
    tenant_id: int
    tenant_slug: str
    site: str
    device_key: str | None  # of the box enrolled before, None: never enrolled
    wg_address: str | None


@dataclass(frozen=True, slots=True)
class WireGuardPeer:
    """What an enrolled agent needs to bring up its tunnel to the hub."""

    address: str
    hub_public_key: str
    endpoint: str
    allowed_ips: str
    persistent_keepalive: int


@dataclass(frozen=True, slots=True)
class AgentTunnel:
    """An enrolled agent's end of the WireGuard tunnel: one [Peer] on the hub's interface."""

    tenant_slug: str
    site: str
    public_key: str
    address: str  # as enrollment assigned it, "10.99.0.2/32"


@dataclass(frozen=True, slots=True)
class Enrollment:
    """An agent just enrolled: its credential (shown to the box once) and tunnel."""

    agent_id: int
    site: str
    tenant_slug: str
    credential: str = field(repr=False)
    wireguard: WireGuardPeer | None
    new_device: bool


# --- the agent link ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AgentPresence:
    """Whether a live hub process holds the agent of a router, and since when it is quiet."""

    connected: bool  # marked connected by a hub process whose lease is live
    last_seen_at: datetime | None
    silence_seconds: float | None


@dataclass(frozen=True, slots=True)
class QueuedCommand:
    """A command claimed for sending to its agent."""

    id: str
    agent_id: int
    name: str
    router: str
    args: dict[str, Any]
    deadline: datetime


@dataclass(frozen=True, slots=True)
class CommandOutcome:
    """How a command ended: done, failed (the agent's result) or lost with its agent."""

    id: str
    name: str
    status: str
    result: dict[str, Any] | None
    error: str | None
    latency_ms: float | None


@dataclass(frozen=True, slots=True)
class WantedEntitlement:
    """A live entitlement the hub wants enforced on one router of an agent."""

    router: str
    username: str
    mac_address: str | None
    expires_at: datetime
    profile: str | None
    rate_limit: str | None
    on_expiry: str


@dataclass(frozen=True, slots=True)
class WantedRevocation:
    """A revoked, unexpired entitlement the agent may still enforce: it must drop it."""

    router: str
    username: str
    mac_address: str | None


@dataclass(frozen=True, slots=True)
class DeliverableVoucher:
    """An unused voucher an agent must create as a hotspot user (router None: every router
    of its tenant); ``version`` orders deliveries (hub/storage/redemptions.py)."""

    code: str
    batch_id: int
    router_id: int | None
    valid_until: datetime
    duration_seconds: int
    profile: str | None
    rate_limit: str
    on_expiry: str
    version: int
    status: str = "unused"  # the hub's: "unused" | "active" | "expired"


@dataclass(frozen=True, slots=True)
class Redemption:
    """A voucher's first login as the hub recorded it; ``recorded`` False when it was
    recorded before (a replayed report changes nothing)."""

    voucher_id: int
    batch_id: int
    customer_id: int
    entitlement_id: int | None
    payment_id: int | None
    recorded: bool


@dataclass(frozen=True, slots=True)
class VoucherTarget:
    """An agent with routers in a batch's scope, and its routers (name -> id)."""

    agent_id: int
    routers: dict[str, int]


# --- vouchers ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class VoucherBatch:
    """Vouchers printed together for one plan: sold for cash, redeemed on the router."""

    id: int
    tenant_id: int
    plan_id: int
    plan_name: str
    duration_value: int  # the plan's, as bought: a voucher runs that long from its first login
    duration_unit: str  # "minutes" | "hours" | "days"
    router_id: int | None  # the router whose agent creates the codes; None: every router
    count: int
    code_length: int  # random characters after the prefix
    alphabet: str
    prefix: str
    price: Decimal
    valid_until: datetime  # an unused voucher can be redeemed until then
    hotspot_login_url: str | None  # the sheet's QR codes open it, logged in; None: bare code
    created_by: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class VoucherCounts:
    """A batch's vouchers by status as of a moment (see VoucherRepository on "expired")."""

    unused: int
    active: int
    expired: int
    redeemed: int  # sold: ever logged in (active, or expired after use)


@dataclass(frozen=True, slots=True)
class VoucherBatchSummary:
    batch: VoucherBatch
    counts: VoucherCounts

    @property
    def sales(self) -> Decimal:
        """Revenue of the batch: every redeemed voucher was sold at the batch's price."""
        return self.batch.price * self.counts.redeemed


@dataclass(frozen=True, slots=True)
class Voucher:
    id: int
    batch_id: int
    code: str
    status: str  # "unused" | "active" | "expired", as of the moment asked
    valid_until: datetime
    mac_address: str | None  # the device that locked it at its first login
    router_id: int | None  # where it was redeemed
    redeemed_at: datetime | None
    expires_at: datetime | None


@dataclass(frozen=True, slots=True)
class Payment:
    """Money for a plan: M-Pesa (pending until the provider says), cash or a voucher."""

    id: int
    tenant_id: int
    customer_id: int
    plan_id: int
    router_id: int | None
    method: str  # "mobile_money" | "cash" | "voucher"
    provider: str | None  # "mpesa" for mobile money
    status: str  # "pending" | "completed" | "failed" | "expired"
    amount: Decimal
    currency: str
    phone: str | None  # E.164 digits without "+", as M-Pesa and seed 003 spell it
    mac_address: str | None
    reference: str | None
    checkout_request_id: str | None
    merchant_request_id: str | None
    receipt: str | None
    result_code: int | None
    result_desc: str | None
    entitlement_id: int | None
    recorded_by: str
    created_at: datetime
    completed_at: datetime | None
    updated_at: datetime
    # The end of the access it bought (its entitlement), when read with it.
    access_expires_at: datetime | None = None


# --- subscriptions (seed 004's billing profiles and customers) ----------------------------------


@dataclass(frozen=True, slots=True)
class BillingProfile:
    """What a tenant sells by the month; on a router, a PPP profile or hotspot user profile of
    the same name (``type`` says which)."""

    id: int
    tenant_id: int
    name: str
    type: str  # "pppoe" | "hotspot"
    price: Decimal  # in the tenant's currency
    rate_limit: str  # RouterOS rate-limit, "50M/50M"
    local_address: str | None  # PPP only
    remote_address: str | None  # PPP only: an address or an /ip/pool name
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class Subscriber:
    """A customer row with its subscription: for seed 003's phone customers the subscription
    fields are None until one is given."""

    id: int
    tenant_id: int
    username: str
    full_name: str | None
    phone: str | None
    is_active: bool
    profile_id: int | None
    service_type: str | None  # "pppoe" | "hotspot"
    billing_day: int | None
    router_id: int | None  # the router holding its PPP secret or hotspot user
    password_sealed: bytes | None = field(repr=False)  # hub.secrets; never leaves the hub
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class Device:
    """A router as /v1 manages it (seed 004's MikrotikResponse): a ``routers`` row. ``managed``
    devices were created through /v1 (their credentials held by the hub, sealed); the others
    are the agents' agent.toml routers, listed but read-only."""

    router: Router
    managed: bool
    api_username: str | None
    location: str | None
    status: str  # "active" | "inactive" (inactive: the agent does not connect to it)
    tls: bool
    created_at: datetime
    updated_at: datetime

    @property
    def online(self) -> bool:
        return self.status == "active" and self.router.online

    @property
    def last_seen(self) -> datetime | None:
        """When the agent last reported on the router (health), else heard from at all."""
        if self.router.health is not None and self.router.health.reported_at is not None:
            return self.router.health.reported_at
        return self.router.agent_last_seen_at


@dataclass(frozen=True, slots=True)
class DeliverableDevice:
    """A managed, active device as its agent gets it (the password still sealed)."""

    id: int
    name: str
    host: str
    port: int
    api_username: str
    api_password_sealed: bytes
    tls: bool
