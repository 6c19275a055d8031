"""A router's configured hotspot users with their live sessions (seed 003
GET /api/routers/{router_id}/users), from what the router's agent mirrored: no router round
trip, and the last known list while the router or its agent is offline."""

from __future__ import annotations

import asyncpg

from hub.config import HubConfig
from hub.domain import RouterUsers
from hub.errors import NotFound
from hub.services.portal import ROUTER_NOT_FOUND
from hub.storage.router_users import HotspotUserRepository
from hub.storage.routers import RouterRepository


class RouterUsersService:
    """Reads scoped by ``tenant_id`` (None: a platform admin's view of every tenant)."""

    def __init__(self, pool: asyncpg.Pool, config: HubConfig) -> None:
        self._routers = RouterRepository(pool, offline_after=config.agent_offline_after)
        self._users = HotspotUserRepository(pool)

    async def router_users(self, router_id: int, tenant_id: int | None) -> RouterUsers:
        """NotFound for a router of another tenant, a retired or an unknown one."""
        router = await self._routers.get(router_id, tenant_id)
        if router is None:
            raise NotFound(ROUTER_NOT_FOUND)
        return RouterUsers(router=router, users=await self._users.with_sessions(router.id))
