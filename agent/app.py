"""The agent's one aiohttp application: /metrics, /healthz, and the Agent's lifetime.

``create_app(config)`` opens the Agent in a cleanup context (and, with a hub configured,
runs the hub link beside it), serves ``GET /metrics`` and ``GET /healthz``, and sets
``app[STOP]`` when a long-running task fails, as procrastinate's worker does: the first
failure is logged and stops the program, which systemd then restarts.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Coroutine
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry, ProcessCollector
from prometheus_client.aiohttp import make_aiohttp_handler

from common.timeutil import to_iso

from .config import AgentConfig
from .metrics import AgentCollector
from .service import SHUTDOWN_GRACE, Agent

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
    config = app[CONFIG]
    registry = app[REGISTRY]
    async with Agent(config) as agent:
        app[AGENT] = agent
        collector = AgentCollector(agent)
        registry.register(collector)
        process = ProcessCollector(registry=registry)
        tasks: list[asyncio.Task] = []
        if config.hub.url and config.hub.credential:
            from .hublink import HubLink

            tasks.append(_named(HubLink(config.hub, agent).run(), "hublink"))
        monitor = _named(_monitor(app, agent, tasks), "monitor")
        try:
            yield
        finally:
            monitor.cancel()
            await _cancel(tasks)
            await asyncio.gather(monitor, return_exceptions=True)
            registry.unregister(process)
            registry.unregister(collector)


def _named(coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task:
    return asyncio.create_task(coro, name=name)


async def _monitor(app: web.Application, agent: Agent, tasks: list[asyncio.Task]) -> None:
    """Wait for the first failure of the agent's or the app's tasks, then ask to stop."""
    waiters = [asyncio.create_task(agent.failed.wait(), name="agent-failed"), *tasks]
    try:
        done, _ = await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiters[0].cancel()
    for task in done:
        if task is waiters[0]:
            failure = agent.failure
        elif task.cancelled():
            continue
        else:
            failure = task.exception() or RuntimeError(f"task {task.get_name()} ended")
            log.error(
                "app task failed task=%s error=%r", task.get_name(), failure, exc_info=failure
            )
        if failure is not None:
            app[FAILURE].append(failure)
    app[STOP].set()


async def _cancel(tasks: list[asyncio.Task]) -> None:
    for task in tasks:
        task.cancel()
    if not tasks:
        return
    _, pending = await asyncio.wait(tasks, timeout=SHUTDOWN_GRACE)
    for task in pending:
        log.error("task did not stop in time task=%s", task.get_name())
    for task in tasks:
        if task.done() and not task.cancelled() and task.exception() is not None:
            log.error(
                "task ended with an error task=%s error=%r", task.get_name(), task.exception()
            )


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
