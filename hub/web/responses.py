"""What every face answers, as msgspec Structs: one type per JSON shape, declared once.

Handlers still build their answers as dicts (hub.web.bodies, the face modules); these types
describe those dicts for ``@operation(response=...)`` and so for the OpenAPI document
(hub.web.apidoc), and the schemathesis test (tests/hub/web/test_openapi.py) checks every
answer against them. A key that is there only sometimes is ``X | UnsetType = UNSET`` (not
required); a key always there but possibly null is ``X | None``. Unknown keys are forbidden,
so an answer that grows a key must grow its type too.

Amounts are ``Money``: a JSON number (an exact Decimal or an int on the wire, never a string).
"""

from __future__ import annotations

import datetime
from typing import Any

import msgspec
from msgspec import UNSET, UnsetType

Money = float  # a JSON number: exact Decimal (730.00) or a whole price (50) on the wire
Timestamp = datetime.datetime  # common.timeutil.to_iso: 2026-01-15T12:44:15.123456Z


class Answer(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Base of every answer type (no extra keys; each subclass says kw_only too, as msgspec
    applies it per class)."""


# --- errors, one per face -----------------------------------------------------------------------


class ErrorBody(Answer, kw_only=True):
    """The portal's, admin's, agent link's and platform's error (seeds 000/001)."""

    success: bool
    error: str
    details: list[str] | UnsetType = UNSET  # a command's failed steps (seed 001's 500)


class DetailError(Answer, kw_only=True):
    """The billing face's error, FastAPI's shape (seed 003's clients read ``detail``)."""

    detail: str
    details: list[str] | UnsetType = UNSET


class Metadata(Answer, kw_only=True):
    """Seed 004's paging metadata (zeros on answers that are no list)."""

    total: int
    limit: int
    offset: int


class V1Error(Answer, kw_only=True):
    """Seed 004's envelope of an error."""

    success: bool
    data: None
    metadata: Metadata
    error: str


class CallbackAck(Answer, kw_only=True):
    """A payment provider's acknowledgement (Daraja's shape), refusals too."""

    ResultCode: int
    ResultDesc: str


# --- shared pieces ------------------------------------------------------------------------------


class TenantRef(Answer, kw_only=True):
    id: int
    slug: str
    name: str


class RouterRef(Answer, kw_only=True):
    id: int
    name: str


class RouterSummary(Answer, kw_only=True):
    id: int
    name: str
    host: str
    status: str


class Message(Answer, kw_only=True):
    """``{"success": true, "message": ...}``."""

    success: bool
    message: str


class MessageData(Answer, kw_only=True):
    """/v1's ``data`` of an action without a resource to show (logout, delete)."""

    message: str


class HealthStatus(Answer, kw_only=True):
    success: bool
    status: str


# --- portal and admin (seeds 000-002) -----------------------------------------------------------


class DatabaseInfo(Answer, kw_only=True):
    user_id: int | None
    is_active: bool
    has_active_access: bool
    access_expires_at: Timestamp | None
    time_remaining: str | None
    note: str | UnsetType = UNSET  # a username that is no customer


class SessionFields(Answer, kw_only=True):
    """A session as RouterOS shows it (strings; counters as decimal strings)."""

    session_id: str
    username: str
    mac_address: str
    ip_address: str
    uptime: str
    bytes_in: str  # what the user downloaded, a decimal string
    bytes_out: str
    idle_time: str
    login_time: str


class ActiveUser(SessionFields, kw_only=True):
    database_info: DatabaseInfo


class ActiveUsers(Answer, kw_only=True):
    """Seed 000: a router's active users (the admin face adds the tenant)."""

    success: bool
    router: RouterSummary
    tenant: TenantRef | UnsetType = UNSET
    active_users: list[ActiveUser]
    total_count: int
    timestamp: Timestamp


class DisconnectDetails(Answer, kw_only=True):
    session_removed: bool
    binding_removed: bool
    user_disabled: bool
    ppp_secret_disabled: bool


class Disconnected(Answer, kw_only=True):
    """Seed 001: a user disconnected from one router."""

    success: bool
    message: str
    router: RouterRef
    details: DisconnectDetails


class RouterResult(Answer, kw_only=True):
    """One router's part of a multi-router disconnect."""

    router: RouterRef
    success: bool
    details: DisconnectDetails | list[str] | UnsetType = UNSET
    note: str | UnsetType = UNSET
    error: str | UnsetType | None = UNSET
    tenant: TenantRef | UnsetType = UNSET


class AdminDisconnected(Answer, kw_only=True):
    """The admin face's disconnect: on one router (with its tenant) or wherever the user is."""

    success: bool
    message: str
    router: RouterRef | UnsetType = UNSET
    tenant: TenantRef | UnsetType = UNSET
    details: DisconnectDetails
    results: list[RouterResult] | UnsetType = UNSET


class AdminDisconnectFailed(ErrorBody, kw_only=True):
    """The admin face's disconnect that failed somewhere: each router's result."""

    results: list[RouterResult] | UnsetType = UNSET


class ActiveUserCounts(Answer, kw_only=True):
    hotspot: int
    ppp: int
    total: int


class RouterHealth(Answer, kw_only=True):
    """A router's last reported health, with its status now."""

    id: int
    name: str
    host: str
    status: str
    site: str
    error: str | None
    cpu_load: int | None
    free_memory: int | None
    total_memory: int | None
    memory_used_percent: float | None
    uptime: str | None
    version: str | None
    board_name: str | None
    identity: str | None
    active_users: ActiveUserCounts
    status_since: Timestamp | None
    reported_at: Timestamp | None
    agent_last_seen_at: Timestamp | None
    stale: bool
    last_seen: Timestamp | None
    tenant: TenantRef | UnsetType = UNSET  # the admin face's fleet


class Monitoring(Answer, kw_only=True):
    success: bool
    router: RouterHealth
    tenant: TenantRef | UnsetType = UNSET
    timestamp: Timestamp


class FleetSummary(Answer, kw_only=True):
    total: int
    online: int
    offline: int


class FleetHealth(Answer, kw_only=True):
    success: bool
    routers: list[RouterHealth]
    summary: FleetSummary
    timestamp: Timestamp


class CustomerDetails(Answer, kw_only=True):
    id: int
    username: str
    full_name: str | None
    email: str | None
    is_active: bool
    created_at: Timestamp | None
    has_active_access: bool
    access_expires_at: Timestamp | None
    time_remaining: str | None


class AccessItem(Answer, kw_only=True):
    id: int
    router_id: int | None
    mac_address: str | None
    profile: str | None
    starts_at: Timestamp | None
    expires_at: Timestamp | None
    active: bool


class CustomerSession(SessionFields, kw_only=True):
    router: RouterRef


class Customer(Answer, kw_only=True):
    """GET /api/portal/users/{id}/."""

    success: bool
    user: CustomerDetails
    access: list[AccessItem]
    active_sessions: list[CustomerSession]
    timestamp: Timestamp


class DisconnectedEverywhere(Answer, kw_only=True):
    success: bool
    user_id: int
    disconnected_everywhere: bool
    results: list[RouterResult]
    timestamp: Timestamp


class DeliveryItem(Answer, kw_only=True):
    router: RouterRef
    status: str
    error: str | None


class Granted(Answer, kw_only=True):
    success: bool
    user_id: int
    username: str
    access_expires_at: Timestamp | None
    router_id: int | None
    mac_address: str | None
    delivery: list[DeliveryItem]
    timestamp: Timestamp


class LocationRouterStatus(Answer, kw_only=True):
    isOnline: bool
    uptime: str | None
    version: str | None
    cpuLoad: int | None
    freeMemory: int | None
    totalMemory: int | None


class LocationStats(Answer, kw_only=True):
    """Seed 002: one location (site, or site/router)."""

    routerId: int
    name: str
    site: str
    activeUsers: int
    totalUsers: int
    totalBytesIn: int
    totalBytesOut: int
    lastActivity: str | None  # a time, or "Connection failed"
    status: str
    routerStatus: LocationRouterStatus


HotspotStats = dict[str, LocationStats]  # keyed by location id, as seed 002's client indexes it


class AdminToken(Answer, kw_only=True):
    success: bool
    token: str
    token_type: str
    expires_at: Timestamp


# --- billing face (seed 003) --------------------------------------------------------------------


class AccessToken(Answer, kw_only=True):
    access_token: str
    token_type: str
    expires_in: int


class PlanRef(Answer, kw_only=True):
    id: int
    name: str
    price: Money


class BillingCustomer(Answer, kw_only=True):
    id: int
    name: str | None
    phone: str | None
    mac_address: str | None
    status: str
    expiry: Timestamp | None
    plan: PlanRef | None
    router: RouterRef | None


class ActiveCustomer(BillingCustomer, kw_only=True):
    hours_remaining: float


class Revenue(Answer, kw_only=True):
    today: Money
    this_week: Money
    this_month: Money
    all_time: Money


class CustomerCounts(Answer, kw_only=True):
    total: int
    active: int
    inactive: int


class RouterRevenue(Answer, kw_only=True):
    router_id: int
    router_name: str
    transaction_count: int
    revenue: Money


class PlanRevenue(Answer, kw_only=True):
    plan_id: int
    plan_name: str
    plan_price: Money
    sales_count: int
    revenue: Money


class RecentTransaction(Answer, kw_only=True):
    payment_id: int
    amount: Money
    customer_name: str | None
    customer_phone: str | None
    plan_name: str | None
    payment_date: Timestamp
    payment_method: str


class Overview(Answer, kw_only=True):
    revenue: Revenue
    customers: CustomerCounts
    revenue_by_router: list[RouterRevenue]
    revenue_by_plan: list[PlanRevenue]
    recent_transactions: list[RecentTransaction]
    expiring_soon: list[ActiveCustomer]
    generated_at: Timestamp


class Period(Answer, kw_only=True):
    start_date: datetime.date
    end_date: datetime.date


class PlanPerformanceItem(Answer, kw_only=True):
    plan_id: int
    plan_name: str
    plan_price: Money
    duration: str
    total_customers: int
    total_sales: int
    total_revenue: Money
    average_revenue_per_sale: Money
    active_customers: int


class PlanPerformance(Answer, kw_only=True):
    plans: list[PlanPerformanceItem]
    period: Period


class TransactionCustomer(Answer, kw_only=True):
    id: int
    name: str | None
    phone: str | None
    mac_address: str | None
    status: str


class TransactionRouter(Answer, kw_only=True):
    id: int
    name: str
    ip_address: str


class TransactionPlan(Answer, kw_only=True):
    id: int
    name: str
    price: Money
    duration_value: int
    duration_unit: str


class TransactionItem(Answer, kw_only=True):
    transaction_id: int
    checkout_request_id: str | None
    phone_number: str | None
    amount: Money
    reference: str | None
    lipay_tx_no: str | None
    status: str
    mpesa_receipt_number: str | None
    transaction_date: Timestamp | None
    created_at: Timestamp | None
    customer: TransactionCustomer
    router: TransactionRouter | None
    plan: TransactionPlan


class CountAmount(Answer, kw_only=True):
    count: int
    amount: Money


class RouterCountAmount(CountAmount, kw_only=True):
    router_id: int


class TransactionSummary(Answer, kw_only=True):
    total_transactions: int
    total_amount: Money
    status_breakdown: dict[str, CountAmount]
    router_breakdown: dict[str, RouterCountAmount]  # by router name ("name (#id)" if shared)
    period: Period


class BillingRouter(Answer, kw_only=True):
    id: int
    name: str
    ip_address: str
    port: int


class PlanItem(Answer, kw_only=True):
    id: int
    name: str
    price: Money
    duration_value: int
    duration_unit: str
    download_speed: str | None
    upload_speed: str | None
    connection_type: str
    router_profile: str | None
    on_expiry: str | None


class PlanCreated(Answer, kw_only=True):
    id: int
    name: str
    speed: str | None
    price: Money
    duration_value: int
    duration_unit: str
    connection_type: str
    router_profile: str | None
    on_expiry: str | None
    user_id: int
    created_at: Timestamp


class HotspotSession(Answer, kw_only=True):
    address: str
    login_time: Timestamp
    uptime: str
    bytes_in: str
    bytes_out: str


class HotspotUser(Answer, kw_only=True):
    username: str
    profile: str
    disabled: bool
    comment: str
    uptime_limit: str | None
    active: bool
    session: HotspotSession | None


class RouterUsers(Answer, kw_only=True):
    """Seed 003 GET /api/routers/{id}/users."""

    router_id: int
    router_name: str
    users: list[HotspotUser]
    total_users: int
    active_sessions: int


class VoucherCounts(Answer, kw_only=True):
    unused: int
    active: int
    expired: int
    redeemed: int


class VoucherBatch(Answer, kw_only=True):
    id: int
    plan_id: int | None
    plan_name: str | None
    duration_value: int
    duration_unit: str
    router_id: int | None
    count: int
    code_length: int
    alphabet: str
    prefix: str
    price: Money
    currency: str
    valid_until: Timestamp
    hotspot_login_url: str | None
    created_by: str | None
    created_at: Timestamp
    counts: VoucherCounts
    sales: Money


class VoucherBatchCreated(Answer, kw_only=True):
    batch: VoucherBatch
    vouchers: list[str]  # the codes, in the sheet's order


class VoucherBatchPage(Answer, kw_only=True):
    batches: list[VoucherBatch]
    total: int
    limit: int
    offset: int


class VoucherItem(Answer, kw_only=True):
    id: int
    batch_id: int
    code: str
    status: str
    valid_until: Timestamp
    mac_address: str | None
    router_id: int | None
    redeemed_at: Timestamp | None
    expires_at: Timestamp | None


class VoucherPage(Answer, kw_only=True):
    vouchers: list[VoucherItem]
    total: int
    limit: int
    offset: int


class PaymentStatus(Answer, kw_only=True):
    """A payment as GET /api/payments/{id} shows it."""

    payment_id: int
    status: str
    method: str
    amount: Money
    currency: str
    phone: str | None
    mac_address: str | None
    plan_id: int | None
    router_id: int | None
    customer_id: int | None
    checkout_request_id: str | None
    receipt: str | None
    result_desc: str | None
    created_at: Timestamp
    completed_at: Timestamp | None
    expires_at: Timestamp | None


class CashPaid(PaymentStatus, kw_only=True):
    username: str
    delivery: str | None


class StkPushStarted(Answer, kw_only=True):
    payment_id: int
    checkout_request_id: str | None
    status: str
    customer_message: str | None


# --- /v1 (seed 004): the ``data`` of each envelope ----------------------------------------------


class V1User(Answer, kw_only=True):
    id: int
    username: str | None  # None for a platform admin made by ``create-admin`` (email only)
    email: str | None
    fullname: str | None
    phone: str | None
    user_role: str
    tenant_id: int | None


class V1Tokens(Answer, kw_only=True):
    access_token: str
    token_type: str
    expires_in: int
    refresh_token: str
    refresh_expires_in: int


class V1SignedIn(V1Tokens, kw_only=True):
    user: V1User


class V1Refreshed(V1Tokens, kw_only=True):
    rotation: bool


class V1Profile(Answer, kw_only=True):
    """GET /v1/auth/profile: a user (V1User's keys), or a tenant API key (``api_key``, no
    person behind it). One type: msgspec's schemas cannot union untagged Structs."""

    id: int | UnsetType = UNSET
    username: str | UnsetType | None = UNSET
    email: str | UnsetType | None = UNSET
    fullname: str | UnsetType | None = UNSET
    phone: str | UnsetType | None = UNSET
    api_key: str | UnsetType = UNSET
    user_role: str
    tenant_id: int | None


class V1Tenant(Answer, kw_only=True):
    id: int
    name: str
    subdomain: str
    company_name: str | None
    phone: str | None
    timezone: str
    currency: str
    language: str | UnsetType = UNSET  # en | sw, once tenants have a language (migration 0022)
    country: str
    max_mikrotiks: int | None
    max_network_users: int | None
    features: dict[str, Any]
    is_active: bool
    status: str
    created_at: Timestamp
    updated_at: Timestamp


class V1TenantStats(Answer, kw_only=True):
    tenant_id: int
    routers: int
    sites: int
    sites_online: int
    active_sessions: int
    customers: int
    revenue_this_month: Money


class V1UserPage(Answer, kw_only=True):
    users: list[V1User]
    total: int


# --- the agent link -----------------------------------------------------------------------------


class WireGuardPeer(Answer, kw_only=True):
    address: str
    hub_public_key: str
    endpoint: str
    allowed_ips: str
    persistent_keepalive: int


class Enrolled(Answer, kw_only=True):
    """POST /agent/v1/enroll: the box's long-lived credential (shown once) and tunnel."""

    agent_id: int
    site: str
    tenant: str
    credential: str
    wireguard: WireGuardPeer | None


OpenApiDocument = dict[str, Any]


# --- the operator dashboard (hub/web/dashboard) ------------------------------------------------


class DashboardActionResult(Answer, kw_only=True):
    """A dashboard button's outcome, worded for the operator in the page's language."""

    ok: bool
    message: str
    disconnected: int | UnsetType = UNSET  # "disconnect all expired": how many went
    failed: int | UnsetType = UNSET  # ... and how many could not be disconnected


# --- /v1 router resources (seed 004 sections 6, 7): RouterOS values as the router has them --


class V1PppSecret(Answer, kw_only=True):
    """A PPP secret (never its password)."""

    id: str  # RouterOS id, "*1A"
    name: str | None
    service: str | None
    profile: str | None
    caller_id: str | None
    local_address: str | None
    remote_address: str | None
    routes: str | None
    limit_bytes_in: str | None
    limit_bytes_out: str | None
    comment: str | None
    disabled: bool | None
    last_logged_out: str | None
    last_caller_id: str | None
    last_disconnect_reason: str | None


class V1PppProfile(Answer, kw_only=True):
    id: str
    name: str | None
    local_address: str | None
    remote_address: str | None
    rate_limit: str | None
    only_one: str | None
    session_timeout: str | None
    idle_timeout: str | None
    use_encryption: str | None
    dns_server: str | None
    address_list: str | None
    on_up: str | None
    on_down: str | None
    comment: str | None
    default: bool | None


class V1PppActive(Answer, kw_only=True):
    """A PPP session as the site's agent reported it."""

    id: str  # /ppp/active id, "*80000077"
    name: str
    service: str | None
    caller_id: str | None
    address: str | None
    interface: str | None  # "<pppoe-NAME>"
    uptime_seconds: int
    bytes_in: int  # router's side: received from the client
    bytes_out: int


class V1IpPool(Answer, kw_only=True):
    id: str
    name: str | None
    ranges: str | None
    next_pool: str | None
    comment: str | None
    total: str | None
    used: str | None
    available: str | None


class V1SimpleQueue(Answer, kw_only=True):
    id: str
    name: str | None
    target: str | None
    dst: str | None
    parent: str | None
    priority: str | None
    queue: str | None
    limit_at: str | None
    max_limit: str | None
    burst_limit: str | None
    burst_threshold: str | None
    burst_time: str | None
    comment: str | None
    disabled: bool | None
    dynamic: bool | None
    invalid: bool | None
    bytes: str | None
    packets: str | None
    rate: str | None


class V1StreamTicket(Answer, kw_only=True):
    ticket: str  # opens one /v1 WebSocket: ?ticket= or subprotocols "ispfleet.ticket, <ticket>"
    expires_in: int  # seconds


class V1CallbackResult(Answer, kw_only=True):
    router: str
    action: str  # "up" | "down"
    name: str
    changed: bool  # False: this event was seen before (nothing changed)


class V1Ping(Answer, kw_only=True):
    status: str  # "ok"
    time: Timestamp


# --- the captive portal (hub/web/captive.py) ------------------------------------------------


class CaptivePaymentStarted(Answer, kw_only=True):
    """A prompt is on the customer's phone; ``payment`` is this browser's status token."""

    payment: str
    status: str  # "pending"
    message: str  # the provider's words to the customer


class CaptivePaymentState(Answer, kw_only=True):
    """One payment as its own browser sees it (nothing else of it, nothing of another)."""

    status: str  # pending | granting | online | failed | cancelled | timeout
    reason: str | None  # failed: insufficient_funds | wrong_pin | null
    expires_at: Timestamp | None  # the access bought, once paid
