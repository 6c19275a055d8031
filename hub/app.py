"""The hub's application factory: config, database, link, services, middlewares, routes."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from functools import partial

from aiohttp import web

from common import wire
from hub.config import HubConfig
from hub.database import DatabaseHealth, open_database
from hub.link.devices import push_routers, routers_sync_args
from hub.link.vouchers import push_batch
from hub.live import LiveFeed
from hub.metrics import HubMetrics
from hub.payments.daraja import DarajaProvider, DarajaSettings
from hub.payments.service import PaymentService
from hub.ratelimit import LoginGuard, RateLimiter, SharedRateLimiter
from hub.retention import RetentionService
from hub.secrets import SecretBox
from hub.services.access import AccessService
from hub.services.agents import AgentService
from hub.services.auth import AuthService
from hub.services.callbacks import CallbackService
from hub.services.captive import CaptiveService
from hub.services.devices import DeviceService
from hub.services.dispatch import Dispatcher
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
from hub.supervisor import FatalHandler, Supervisor, terminate_process
from hub.typedefs import (
    CLIENT_LIMITER,
    CONFIG,
    DB_HEALTH,
    DB_POOL,
    LIVE_FEED,
    LOGIN_GUARD,
    METRICS,
    PAYMENT_PROVIDER,
    RATE_LIMITER,
    SERVICES,
    SUPERVISOR,
    TRUSTED_PROXIES,
    Services,
)
from hub.web.handlers import trusted_networks
from hub.web.middlewares import (
    auth_middleware,
    cors_middleware,
    error_middleware,
    metrics_middleware,
)
from hub.web.pages import setup_pages
from hub.web.routes import setup_routes
from hub.web.slashes import add_slash_aliases

log = logging.getLogger(__name__)


def create_app(
    config: HubConfig, *, with_link: bool = True, on_fatal: FatalHandler = terminate_process
) -> web.Application:
    """A hub ready to run; ``with_link=False`` leaves out the agent link (commands then 503).

    ``on_fatal`` is what the supervisor does when a critical background task dies: by default
    a clean shutdown of the process (``hub serve`` then exits 1 for systemd to restart it).
    """
    app = web.Application(
        middlewares=[cors_middleware, error_middleware, metrics_middleware, auth_middleware]
    )
    metrics = HubMetrics()
    app[CONFIG] = config
    app[METRICS] = metrics
    app[LIVE_FEED] = LiveFeed()
    app.on_shutdown.append(_close_live_feed)
    app[TRUSTED_PROXIES] = trusted_networks(config.trusted_proxies)
    app[CLIENT_LIMITER] = RateLimiter(config.auth_failures_per_minute, config.auth_failure_burst)
    app[LOGIN_GUARD] = LoginGuard(
        config.login_lockout_after, config.login_lockout_seconds, config.login_lockout_max
    )
    app.cleanup_ctx.append(_database)
    app.cleanup_ctx.append(_supervisor(on_fatal))
    dispatcher_key = None
    if with_link:
        from hub.link import DISPATCHER, setup_link

        setup_link(app)
        dispatcher_key = DISPATCHER
    app.cleanup_ctx.append(_payment_provider)
    app.cleanup_ctx.append(_services(dispatcher_key))
    app.cleanup_ctx.append(_payment_settler)
    app.cleanup_ctx.append(_metrics_refresher)
    app.cleanup_ctx.append(_retention)
    setup_pages(app)
    setup_routes(app, metrics)
    # Last, at startup: every route any module added by then answers both slash spellings.
    app.on_startup.append(add_slash_aliases)
    return app


async def _close_live_feed(app: web.Application) -> None:
    """Live streams (the dashboard's server-sent events) end before the server waits for them."""
    app[LIVE_FEED].close()


async def _database(app: web.Application) -> AsyncIterator[None]:
    """The migrated pool (embedded Postgres or DATABASE_URL) for the app's lifetime."""
    config = app[CONFIG]
    async with open_database(config) as pool:
        app[DB_POOL] = pool
        app[RATE_LIMITER] = SharedRateLimiter(
            pool, config.rate_limit_per_minute, config.rate_limit_burst
        )
        yield


def _services(
    dispatcher_key: web.AppKey[Dispatcher] | None,
) -> Callable[[web.Application], AsyncIterator[None]]:
    """Domain services over the pool, with the link's dispatcher when there is one."""

    async def context(app: web.Application) -> AsyncIterator[None]:
        config, pool = app[CONFIG], app[DB_POOL]
        dispatcher = app[dispatcher_key] if dispatcher_key is not None else None
        access = AccessService(pool, config, dispatcher)
        router_menu = RouterMenu(dispatcher, config)
        secrets = SecretBox.from_config(config)
        payments = PaymentService(pool, config, app[PAYMENT_PROVIDER], access)
        if dispatcher is not None:  # a routers.sync's passwords are opened as it is sent
            dispatcher.expanders[wire.ROUTERS_SYNC] = partial(routers_sync_args, pool, secrets)
        app[SERVICES] = Services(
            auth=AuthService(pool, config),
            portal=PortalService(pool, config, dispatcher),
            access=access,
            agents=AgentService(pool, config),
            plans=PlanService(pool),
            reports=ReportService(pool, config),
            router_users=RouterUsersService(pool, config),
            router_menu=router_menu,
            router_resources=RouterResources(pool, router_menu),
            callbacks=CallbackService(pool, config),
            secrets=secrets,
            tenants=TenantService(pool, config),
            users=UserService(pool),
            # A new batch goes to the connected agents of its scope at once (through the link).
            vouchers=VoucherService(
                pool, config, partial(push_batch, pool) if dispatcher is not None else None
            ),
            payments=payments,
            captive=CaptiveService(pool, config, payments, secrets),
            profiles=ProfileService(pool, config, router_menu),
            subscribers=SubscriberService(
                pool, router_menu, secrets, offline_after=config.agent_offline_after
            ),
            devices=DeviceService(
                pool, config, secrets, partial(push_routers, dispatcher) if dispatcher else None
            ),
        )
        yield

    return context


def _supervisor(on_fatal: FatalHandler) -> Callable[[web.Application], AsyncIterator[None]]:
    """The supervisor of every background task; closing it cancels whatever still runs."""

    async def context(app: web.Application) -> AsyncIterator[None]:
        config = app[CONFIG]
        supervisor = Supervisor(
            backoff_initial=config.supervisor_backoff_initial,
            backoff_max=config.supervisor_backoff_max,
            max_failures=config.supervisor_max_failures,
            on_fatal=on_fatal,
        )
        app[SUPERVISOR] = supervisor
        app[DB_HEALTH] = DatabaseHealth(app[DB_POOL], supervisor)
        try:
            yield
        finally:
            await supervisor.close()

    return context


async def _payment_provider(app: web.Application) -> AsyncIterator[None]:
    """The M-Pesa provider when ``[mpesa]`` is configured (its HTTP session closed after)."""
    mpesa = app[CONFIG].mpesa
    if not mpesa.configured:
        app[PAYMENT_PROVIDER] = None
        yield
        return
    assert mpesa.consumer_key and mpesa.consumer_secret and mpesa.shortcode and mpesa.passkey
    provider = DarajaProvider(
        DarajaSettings(
            base_url=mpesa.base_url,
            consumer_key=mpesa.consumer_key,
            consumer_secret=mpesa.consumer_secret,
            shortcode=mpesa.shortcode,
            passkey=mpesa.passkey,
        )
    )
    app[PAYMENT_PROVIDER] = provider
    try:
        yield
    finally:
        await provider.close()


async def _payment_settler(app: web.Application) -> AsyncIterator[None]:
    """Settle mobile-money payments whose callback never came (status query, then expiry)."""
    payments = app[SERVICES].payments
    app[SUPERVISOR].start("payment-settler", payments.settle_forever)
    yield
    await app[SUPERVISOR].stop("payment-settler")
    await payments.close()


async def _metrics_refresher(app: web.Application) -> AsyncIterator[None]:
    """Keep the /metrics fleet snapshot fresh in the background."""
    config, metrics, pool, supervisor = app[CONFIG], app[METRICS], app[DB_POOL], app[SUPERVISOR]
    supervisor.start(
        "metrics-refresher",
        lambda: metrics.refresh_forever(
            pool, config.agent_offline_after, config.metrics_refresh_interval
        ),
    )
    yield
    await supervisor.stop("metrics-refresher")


async def _retention(app: web.Application) -> AsyncIterator[None]:
    """Prune old rows and keep session_history's partitions ahead, in the background."""
    service = RetentionService(app[DB_POOL], app[CONFIG], app[RATE_LIMITER])
    app[SUPERVISOR].start("retention", service.run_forever)
    yield
    await app[SUPERVISOR].stop("retention")
