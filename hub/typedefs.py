"""Typed keys of the hub's application and request state, all in one place."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg
from aiohttp import web

from hub.config import HubConfig
from hub.domain import ApiKeyPrincipal, User
from hub.metrics import HubMetrics
from hub.ratelimit import RateLimiter
from hub.services.access import AccessService
from hub.services.agents import AgentService
from hub.services.auth import AuthService
from hub.services.portal import PortalService


@dataclass(frozen=True, slots=True)
class Services:
    """The domain services of a running hub, built once the pool (and the link) are up."""

    auth: AuthService
    portal: PortalService
    access: AccessService
    agents: AgentService


CONFIG: web.AppKey[HubConfig] = web.AppKey("config", HubConfig)
DB_POOL: web.AppKey[asyncpg.Pool] = web.AppKey("db_pool", asyncpg.Pool)
METRICS: web.AppKey[HubMetrics] = web.AppKey("metrics", HubMetrics)
SERVICES: web.AppKey[Services] = web.AppKey("services", Services)
RATE_LIMITER: web.AppKey[RateLimiter] = web.AppKey("rate_limiter", RateLimiter)

REQUEST_ID: web.RequestKey[str] = web.RequestKey("request_id", str)
TENANT_KEY: web.RequestKey[ApiKeyPrincipal] = web.RequestKey("tenant_key", ApiKeyPrincipal)
ADMIN: web.RequestKey[User] = web.RequestKey("admin", User)
