"""Every route of the hub's own faces (the agent link adds its routes in hub.link)."""

from __future__ import annotations

import hmac
import ipaddress

from aiohttp import web
from prometheus_client.aiohttp import make_aiohttp_handler

from hub.config import HubConfig
from hub.errors import Forbidden, RateLimited, Unauthorized
from hub.metrics import HubMetrics
from hub.typedefs import CLIENT_LIMITER, CONFIG
from hub.web import (
    admin,
    auth,
    billing,
    captive,
    payments,
    plans,
    portal,
    router_users,
    vouchers,
)
from hub.web import responses as out
from hub.web.apidoc import setup_apidoc
from hub.web.dashboard import add_dashboard_routes
from hub.web.handlers import client_address
from hub.web.openapi import operation
from hub.web.v1 import auth as v1_auth
from hub.web.v1 import callbacks as v1_callbacks
from hub.web.v1 import clients as v1_clients
from hub.web.v1 import customers as v1_customers
from hub.web.v1 import devices as v1_devices
from hub.web.v1 import profiles as v1_profiles
from hub.web.v1 import router_pools, router_ppp, router_queues, streams
from hub.web.v1 import tenants as v1_tenants
from hub.web.v1 import users as v1_users

NO_METRICS_TOKEN = (
    "metrics_token is not configured: /metrics is served only to direct loopback clients"
    " of a hub listening on loopback with no public_url or trusted_proxies"
)


def setup_routes(app: web.Application, metrics: HubMetrics) -> None:
    app.add_routes(portal.routes)
    app.add_routes(admin.routes)
    app.add_routes(auth.routes)
    app.add_routes(plans.routes)
    app.add_routes(vouchers.routes)
    app.add_routes(router_users.routes)
    app.add_routes(v1_auth.routes)
    app.add_routes(billing.routes)
    app.add_routes(v1_tenants.routes)
    app.add_routes(v1_users.routes)
    app.add_routes(streams.routes)  # before router_ppp: /ppp/active/stream, not /{item}
    app.add_routes(router_ppp.routes)
    app.add_routes(router_pools.routes)
    app.add_routes(router_queues.routes)
    app.add_routes(v1_callbacks.routes)
    app.add_routes(v1_devices.routes)
    app.add_routes(payments.routes)
    add_dashboard_routes(app)
    app.add_routes(captive.routes)
    app.add_routes(v1_profiles.routes)
    app.add_routes(v1_customers.routes)
    app.add_routes(v1_clients.routes)
    serve = make_aiohttp_handler(metrics.registry)

    @operation(
        "Every tenant's Prometheus metrics (the platform's scrape)",
        content_type="text/plain",
        errors=(401, 403, 429),
        security=("metricsToken",),
    )
    async def platform_metrics(request: web.Request) -> web.Response:
        """Every tenant's series: for the platform's Prometheus only (see check_scrape).

        A refused scrape costs the client address a token of the pre-authentication budget,
        so the metrics token cannot be guessed at line rate."""
        limiter, client = request.app[CLIENT_LIMITER], client_address(request)
        if wait := limiter.check(client):
            raise RateLimited(wait, "Too many unauthenticated or failed requests; retry later")
        try:
            check_scrape(request, request.app[CONFIG])
        except (Unauthorized, Forbidden):
            limiter.take(client)
            raise
        return await serve(request)

    app.router.add_get("/metrics", platform_metrics)
    app.router.add_get("/healthz", healthz)
    setup_apidoc(app)


def _loopback(host: str | None) -> bool:
    if host in ("localhost",):
        return True
    try:
        return host is not None and ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_scrape(request: web.Request, config: HubConfig) -> None:
    """The platform scrape needs ``Authorization: Bearer <metrics_token>`` (Prometheus'
    ``authorization`` setting). Without a configured token it is served only on a hub that
    listens on loopback, to loopback clients that are not a proxy forwarding someone else (a
    reverse proxy on the same host would otherwise make every client look local)."""
    if config.metrics_token:
        scheme, _, given = (request.headers.get("Authorization") or "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            given.strip().encode(), config.metrics_token.encode()
        ):
            raise Unauthorized("A valid metrics bearer token is required")
        return
    forwarded = any(h in request.headers for h in ("X-Forwarded-For", "Forwarded", "X-Real-IP"))
    if forwarded or config.trusted_proxies or config.public_url:
        raise Forbidden(NO_METRICS_TOKEN)
    if not (_loopback(config.listen_host) and _loopback(request.remote)):
        raise Forbidden(NO_METRICS_TOKEN)


@operation("Liveness: the process serves requests", response=out.HealthStatus)
async def healthz(request: web.Request) -> web.Response:
    """Liveness for load balancers and systemd: the process serves requests."""
    return web.json_response({"success": True, "status": "ok"})
