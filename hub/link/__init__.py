"""The hub side of the hub <-> agent link.

``setup_link(app)`` adds enrollment (``POST /agent/v1/enroll``), the agents' WebSocket
(``GET /agent/v1/link``), and a cleanup context that owns the link's moving parts: the command
dispatcher, the registry of this process's agent sockets, a connection that LISTENs for commands
and results from other hub processes, and the presence heartbeat. On shutdown the agents'
sockets are closed (1001) and their presence here released. The instance lease is renewed
by a task of its own on a connection of its own, so that neither slow sweeps nor a busy pool
let it lapse while this process is alive.

Needs ``hub.typedefs.CONFIG``, ``DB_POOL``, ``METRICS`` and ``SUPERVISOR`` set by an earlier
cleanup context; the listener and the presence loop run under the supervisor.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
from collections.abc import AsyncIterator

import aiohttp
import asyncpg
from aiohttp import web

from common import wire
from hub.config import HubConfig
from hub.link.dispatcher import CommandDispatcher
from hub.link.enrollment import CredentialWatch
from hub.link.keys import CREDENTIAL_WATCH, DISPATCHER, INSTANCE, LINK_REGISTRY
from hub.link.notify import NotificationListener
from hub.link.registry import LinkRegistry
from hub.link.views import enroll, link
from hub.services.agents import AgentService
from hub.storage import link as storage
from hub.storage.agents import CREDENTIAL_CHANNEL
from hub.typedefs import CONFIG, DB_POOL, LIVE_FEED, METRICS, SUPERVISOR

__all__ = ["DISPATCHER", "LINK_REGISTRY", "CommandDispatcher", "LinkRegistry", "setup_link"]

log = logging.getLogger(__name__)


def setup_link(app: web.Application) -> None:
    """Register the link's routes, its cleanup context and its shutdown step."""
    app.router.add_post(wire.ENROLL_PATH, enroll)
    app.router.add_get(wire.LINK_PATH, link)
    app.cleanup_ctx.append(_link_context)
    app.on_shutdown.append(_close_agent_links)


async def _link_context(app: web.Application) -> AsyncIterator[None]:
    config, pool, metrics, supervisor = app[CONFIG], app[DB_POOL], app[METRICS], app[SUPERVISOR]
    # Must be unique among live hub processes (presence is keyed by it); the default also
    # keeps two apps in one process apart.
    instance = config.instance_name or (
        f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"
    )
    registry = LinkRegistry()
    dispatcher = CommandDispatcher(
        pool, registry, metrics, offline_after=config.agent_offline_after
    )
    app[INSTANCE] = instance
    app[LINK_REGISTRY] = registry
    app[DISPATCHER] = dispatcher
    watch = app[CREDENTIAL_WATCH] = CredentialWatch(AgentService(pool, config))
    listener = NotificationListener(
        pool,
        {
            storage.COMMAND_CHANNEL: dispatcher.on_command_notice,
            storage.RESULT_CHANNEL: dispatcher.on_result_notice,
            CREDENTIAL_CHANNEL: watch.on_notice,
            storage.LIVE_CHANNEL: app[LIVE_FEED].on_notice,
        },
        supervisor,
    )
    # Presence an earlier process of this name left behind (it crashed) is not ours to keep.
    cleared = await storage.PresenceRepository(pool).start_instance(
        instance, lease_seconds=config.instance_lease
    )
    if cleared:
        log.warning(
            "agent presence of a previous run cleared instance=%s agents=%s", instance, cleared
        )
    await listener.start()
    supervisor.start("link-lease", lambda: _lease_loop(pool, instance, config))
    supervisor.start(
        "link-presence", lambda: _presence_loop(pool, registry, dispatcher, watch, instance, config)
    )
    log.info("agent link ready instance=%s", instance)
    try:
        yield
    finally:
        await supervisor.stop("link-presence")
        await supervisor.stop("link-lease")
        await listener.stop()


async def _lease_loop(pool: asyncpg.Pool, instance: str, config: HubConfig) -> None:
    """Renew this process's lease every instance_heartbeat, and do nothing else, on a
    connection of its own: every agent held here reads offline once the lease lapses, so
    neither other work (the sweeps once delayed it by 18 s under 1,000 agents, and the portal
    answered 503 for a live router) nor a queue for the pool may delay it."""
    while True:
        try:
            async with pool.acquire() as conn:
                presence = storage.PresenceRepository(conn)
                while True:
                    # A half-open connection would hang here while the lease ran out silently.
                    async with asyncio.timeout(config.instance_lease / 2):
                        await presence.renew_instance(instance, lease_seconds=config.instance_lease)
                    await asyncio.sleep(config.instance_heartbeat)
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError) as exc:
            log.warning("hub lease renewal failed instance=%s error=%r", instance, exc)
        await asyncio.sleep(config.instance_heartbeat)


async def _presence_loop(
    pool: asyncpg.Pool,
    registry: LinkRegistry,
    dispatcher: CommandDispatcher,
    watch: CredentialWatch,
    instance: str,
    config: HubConfig,
) -> None:
    """Every agent_heartbeat, one presence UPDATE for all agents held here, then the sweeps
    that repair lost notifications: the dispatcher's (commands) and the credential watch's
    (revocations). However long they take, the lease (_lease_loop) runs on its own."""
    while True:
        await asyncio.sleep(config.agent_heartbeat)
        try:
            if len(registry):
                await storage.PresenceRepository(pool).touch_agents(
                    agent_ids=registry.agent_ids(), instance=instance
                )
            await dispatcher.sweep()
            await watch.sweep()
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
            log.warning("agent presence heartbeat failed instance=%s error=%r", instance, exc)


async def _close_agent_links(app: web.Application) -> None:
    registry, instance = app[LINK_REGISTRY], app[INSTANCE]
    presence = storage.PresenceRepository(app[DB_POOL])
    links = list(registry)
    await asyncio.gather(
        *(
            c.ws.close(code=aiohttp.WSCloseCode.GOING_AWAY, message=b"hub shutting down")
            for c in links
        ),
        return_exceptions=True,
    )
    await registry.drain()
    await app[SUPERVISOR].stop("link-lease")  # no renewal after the lease is given up below
    try:
        released = await presence.release_instance(instance)
        await presence.stop_instance(instance)
    except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
        log.warning("agent presence not released instance=%s error=%r", instance, exc)
        return
    log.info(
        "agent links closed instance=%s sockets=%s released=%s", instance, len(links), released
    )
