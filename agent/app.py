"""The agent's one aiohttp application: /metrics, /healthz, and the Agent's lifetime.

``create_app(config)`` opens the Agent in a cleanup context (the Agent starts and
supervises every loop, the hub link among them), serves ``GET /metrics`` and
``GET /healthz``, and sets ``app[STOP]`` when the Agent reports a failed loop: the program
stops, exits non-zero, and systemd restarts it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

from aiohttp import web
from prometheus_client import CollectorRegistry, ProcessCollector
from prometheus_client.aiohttp import make_aiohttp_handler

from common.timeutil import to_iso

from .config import AgentConfig
from .metrics import AgentCollector
from .service import Agent

log = logging.getLogger(__name__)

CONFIG = web.AppKey("config", AgentConfig)
AGENT = web.AppKey("agent", Agent)
REGISTRY = web.AppKey("registry", CollectorRegistry)
STOP = web.AppKey("stop", asyncio.Event)  # set: the program should stop (see FAILURE)
FAILURE = web.AppKey("failure", list)  # the exception that stopped it, if any


def create_app(config: AgentConfig) -> web.Application:
    app = web.Application()
    app[CONFIG] = config
    app[REGISTRY] = CollectorRegistry()
    app[STOP] = asyncio.Event()
    app[FAILURE] = []
    app.cleanup_ctx.append(_agent_context)
    app.router.add_get("/metrics", make_aiohttp_handler(app[REGISTRY]))
    app.router.add_get("/healthz", healthz)
    return app


async def _agent_context(app: web.Application) -> AsyncIterator[None]:
    """Start the Agent (and so its supervised loops) and stop it; a failure stops the app."""
    registry = app[REGISTRY]

    def failed(exc: BaseException) -> None:
        app[FAILURE].append(exc)
        app[STOP].set()

    async with Agent(app[CONFIG]) as agent:
        app[AGENT] = agent
        agent.on_failure(failed)
        collector = AgentCollector(agent)
        registry.register(collector)
        process = ProcessCollector(registry=registry)
        try:
            yield
        finally:
            registry.unregister(process)
            registry.unregister(collector)


async def healthz(request: web.Request) -> web.Response:
    """Each router's state and the outbox depth, from memory; 200 while the agent runs."""
    agent = request.app[AGENT]
    rows, age = await agent.outbox.depth()
    routers = []
    for name, mirror in agent.mirrors.items():
        state = mirror.link.state
        routers.append(
            {
                "name": name,
                "address": mirror.link.settings.address,
                "status": "online" if state.online else "offline",
                "since": to_iso(state.since),
                "error": None if state.online else state.error,
                "hotspot_active": len(mirror.sessions["hotspot"]),
                "ppp_active": len(mirror.sessions["ppp"]),
                "collectors": {
                    key: {"success": stat.success, "duration_seconds": round(stat.duration, 6)}
                    for key, stat in sorted(mirror.collectors.items())
                },
            }
        )
    online = sum(r["status"] == "online" for r in routers)
    return web.json_response(
        {
            "site": agent.config.agent.site,
            "status": "ok" if online == len(routers) else "degraded",
            "routers": routers,
            "outbox": {
                "events": rows,
                "oldest_age_seconds": age,
                "last_seq": await agent.outbox.last_seq(),
                "over_bound": agent.outbox.over_bound,
            },
            "hub_connected": agent.hub_connected,
        }
    )
