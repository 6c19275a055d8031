"""Typed keys of the hub's application and request state, all in one place."""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Network, IPv6Network

import asyncpg
from aiohttp import web

from hub.config import HubConfig
from hub.database import DatabaseHealth
from hub.domain import ApiKeyPrincipal, Caller, User
from hub.live import LiveFeed
from hub.metrics import HubMetrics
from hub.payments.provider import PaymentProvider
from hub.payments.service import PaymentService
from hub.ratelimit import LoginGuard, RateLimiter, SharedRateLimiter
from hub.secrets import SecretBox
from hub.services.access import AccessService
from hub.services.agents import AgentService
from hub.services.auth import AuthService
from hub.services.callbacks import CallbackService
from hub.services.captive import CaptiveService
from hub.services.devices import DeviceService
from hub.services.plans import PlanService
from hub.services.portal import PortalService
from hub.services.profiles import ProfileService
from hub.services.reports import ReportService
from hub.services.router_menu import RouterMenu
from hub.services.router_resources import RouterResources
from hub.services.router_users import RouterUsersService
from hub.services.subscribers import SubscriberService
from hub.services.tenants import TenantService
from hub.services.users import UserService
from hub.services.vouchers import VoucherService
from hub.supervisor import Supervisor
from hub.web.openapi import ApiDocument

IPNetwork = IPv4Network | IPv6Network


@dataclass(frozen=True, slots=True)
class Services:
    """The domain services of a running hub, built once the pool (and the link) are up."""

    auth: AuthService
    portal: PortalService
    access: AccessService
    agents: AgentService
    plans: PlanService
    reports: ReportService
    tenants: TenantService
    users: UserService
    vouchers: VoucherService
    router_users: RouterUsersService
    router_menu: RouterMenu
    router_resources: RouterResources  # /v1 PPP, pools, queues (through router_menu)
    callbacks: CallbackService  # routers' PPPoE on-up/on-down callbacks
    secrets: SecretBox  # seals router API and customer passwords (hub/secrets.py)
    payments: PaymentService
    captive: CaptiveService  # the public captive portal (hub/web/captive.py)
    profiles: ProfileService  # billing profiles (seed 004 section 8)
    subscribers: SubscriberService  # customers and client operations (seed 004 sections 4, 9)
    devices: DeviceService  # /v1 devices: the routers registry, delivered to the agents


CONFIG: web.AppKey[HubConfig] = web.AppKey("config", HubConfig)
DB_POOL: web.AppKey[asyncpg.Pool] = web.AppKey("db_pool", asyncpg.Pool)
METRICS: web.AppKey[HubMetrics] = web.AppKey("metrics", HubMetrics)
SERVICES: web.AppKey[Services] = web.AppKey("services", Services)
# The configured mobile-money provider (None: not configured), opened and closed in a cleanup_ctx.
PAYMENT_PROVIDER: web.AppKey[PaymentProvider | None] = web.AppKey("payment_provider")
# Wakes live pages and streams when an agent's routers change (any hub process, hub/live.py).
LIVE_FEED: web.AppKey[LiveFeed] = web.AppKey("live_feed", LiveFeed)
DB_HEALTH: web.AppKey[DatabaseHealth] = web.AppKey("db_health", DatabaseHealth)
# Every background task of the hub runs under it (opened/closed in a cleanup context).
SUPERVISOR: web.AppKey[Supervisor] = web.AppKey("supervisor", Supervisor)
# Per API key, shared by every hub process through Postgres.
RATE_LIMITER: web.AppKey[SharedRateLimiter] = web.AppKey("rate_limiter", SharedRateLimiter)
# Per client address, in this process, before any database or password work.
CLIENT_LIMITER: web.AppKey[RateLimiter] = web.AppKey("client_limiter", RateLimiter)
LOGIN_GUARD: web.AppKey[LoginGuard] = web.AppKey("login_guard", LoginGuard)
# The networks of trusted reverse proxies (HubConfig.trusted_proxies, parsed once).
API_DOCUMENT: web.AppKey[ApiDocument] = web.AppKey("api_document", ApiDocument)
TRUSTED_PROXIES: web.AppKey[tuple[IPNetwork, ...]] = web.AppKey("trusted_proxies", tuple)

REQUEST_ID: web.RequestKey[str] = web.RequestKey("request_id", str)
CLIENT: web.RequestKey[str] = web.RequestKey("client", str)  # the client's address
TENANT_KEY: web.RequestKey[ApiKeyPrincipal] = web.RequestKey("tenant_key", ApiKeyPrincipal)
ADMIN: web.RequestKey[User] = web.RequestKey("admin", User)
# Who a billing-face request speaks for (a dashboard user or a tenant API key).
CALLER: web.RequestKey[Caller] = web.RequestKey("caller", Caller)
