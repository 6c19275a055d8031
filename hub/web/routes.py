"""Every route of the hub's own faces (the agent link adds its routes in hub.link)."""

from __future__ import annotations

from aiohttp import web
from prometheus_client.aiohttp import make_aiohttp_handler

from hub.metrics import HubMetrics
from hub.web import admin, portal


def setup_routes(app: web.Application, metrics: HubMetrics) -> None:
    app.add_routes(portal.routes)
    app.add_routes(admin.routes)
    app.router.add_get("/metrics", make_aiohttp_handler(metrics.registry))
    app.router.add_get("/healthz", healthz)


async def healthz(request: web.Request) -> web.Response:
    """Liveness for load balancers and systemd: the process serves requests."""
    return web.json_response({"success": True, "status": "ok"})
