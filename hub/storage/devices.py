"""Devices (seed 004 section 5): the ``routers`` rows /v1 lists and manages (migration 0020).

A device is a router row seen with its management columns; reads reuse the router select of
hub.storage.routers (tenant, agent presence, latest health) so ``online`` means what it means
everywhere. Deleting a managed device retires its row (history kept, current sessions cleared,
as the link retires an agent's unlisted router); creating one of the same name on the same site
brings the row back (migration 0020 counts that against max_mikrotiks).
"""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from hub.domain import DeliverableDevice, Device
from hub.storage import Executor, conflict_on_duplicate, limited_by_tenant
from hub.storage.routers import _ROUTER_SELECT, _router

_DEVICE_SELECT = f"""
SELECT x.*, d.managed, d.api_username, d.location, d.status AS device_status, d.tls,
       d.created_at, d.updated_at
FROM ({_ROUTER_SELECT} WHERE r.retired_at IS NULL) x
JOIN routers d ON d.id = x.id
"""

_UPDATABLE = ("host", "port", "api_username", "api_password_sealed", "tls", "location", "name")


@dataclass(frozen=True, slots=True)
class DeviceValues:
    """What /v1 writes on a managed device (the password already sealed)."""

    name: str
    host: str
    port: int
    api_username: str
    location: str | None
    tls: bool


def password_purpose(device_id: int) -> str:
    """The associated data a device's API password is sealed with (hub/secrets.py)."""
    return f"router:{device_id}:api_password"


def _device(row: asyncpg.Record) -> Device:
    return Device(
        router=_router(row),
        managed=row["managed"],
        api_username=row["api_username"],
        location=row["location"],
        status=row["device_status"],
        tls=row["tls"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def _name_taken(name: str) -> str:
    return f"this site already has a router named {name!r}"


class DeviceRepository:
    """A tenant's devices; writes take a connection inside the caller's transaction."""

    def __init__(self, db: Executor, *, offline_after: float) -> None:
        self._db = db
        self._offline_after = float(offline_after)

    async def get(self, device_id: int, tenant_id: int) -> Device | None:
        row = await self._db.fetchrow(
            _DEVICE_SELECT + " WHERE x.id = $2 AND x.t_id = $3",
            self._offline_after,
            device_id,
            tenant_id,
        )
        return _device(row) if row else None

    async def page(
        self,
        tenant_id: int,
        *,
        search: str | None,
        status: str | None,
        site: str | None,
        limit: int,
        offset: int,
    ) -> tuple[list[Device], int]:
        """One page in id order, and how many match in all (search: name, host or location)."""
        rows = await self._db.fetch(
            f"SELECT y.*, count(*) OVER () AS total FROM ({_DEVICE_SELECT}"
            " WHERE x.t_id = $2 AND ($3::text IS NULL OR x.name ILIKE $3 OR x.host ILIKE $3"
            "      OR d.location ILIKE $3)"
            " AND ($4::text IS NULL OR d.status = $4) AND ($5::text IS NULL OR x.site = $5)) y"
            " ORDER BY y.id LIMIT $6 OFFSET $7",
            self._offline_after,
            tenant_id,
            None if search is None else "%" + _like_escape(search) + "%",
            status,
            site,
            limit,
            offset,
        )
        total = rows[0]["total"] if rows else await self._count(tenant_id, search, status, site)
        return [_device(row) for row in rows], total

    async def _count(
        self, tenant_id: int, search: str | None, status: str | None, site: str | None
    ) -> int:
        """The total when the page is past the end (no row carries it)."""
        return await self._db.fetchval(
            f"SELECT count(*) FROM ({_DEVICE_SELECT}"
            " WHERE x.t_id = $2 AND ($3::text IS NULL OR x.name ILIKE $3 OR x.host ILIKE $3"
            "      OR d.location ILIKE $3)"
            " AND ($4::text IS NULL OR d.status = $4) AND ($5::text IS NULL OR x.site = $5)) y",
            self._offline_after,
            tenant_id,
            None if search is None else "%" + _like_escape(search) + "%",
            status,
            site,
        )

    async def sites(self, tenant_id: int) -> dict[int, str]:
        """The tenant's site agents: id -> site name."""
        rows = await self._db.fetch(
            "SELECT id, site FROM agents WHERE tenant_id = $1 ORDER BY id", tenant_id
        )
        return {row["id"]: row["site"] for row in rows}

    async def live_named(self, agent_id: int, name: str) -> bool | None:
        """Whether a live router of that site and name is managed (None: there is none)."""
        return await self._db.fetchval(
            "SELECT managed FROM routers WHERE agent_id = $1 AND name = $2 AND retired_at IS NULL",
            agent_id,
            name,
        )

    async def next_id(self) -> int:
        """The id a new device will have (its password is sealed for it before the insert)."""
        return await self._db.fetchval("SELECT nextval('routers_id_seq')")

    async def retired_named(self, agent_id: int, name: str) -> int | None:
        """A retired router of that site and name (a device created again takes its row)."""
        return await self._db.fetchval(
            "SELECT id FROM routers WHERE agent_id = $1 AND name = $2 AND retired_at IS NOT NULL"
            " FOR UPDATE",
            agent_id,
            name,
        )

    async def create(
        self, *, device_id: int, tenant_id: int, agent_id: int, values: DeviceValues, sealed: bytes
    ) -> None:
        with conflict_on_duplicate(_name_taken(values.name)), limited_by_tenant():
            await self._db.execute(
                "INSERT INTO routers (id, tenant_id, agent_id, name, host, port, managed,"
                " api_username, api_password_sealed, tls, location)"
                " VALUES ($1, $2, $3, $4, $5, $6, true, $7, $8, $9, $10)",
                device_id,
                tenant_id,
                agent_id,
                values.name,
                values.host,
                values.port,
                values.api_username,
                sealed,
                values.tls,
                values.location,
            )

    async def revive(self, device_id: int, values: DeviceValues, sealed: bytes) -> None:
        """A retired row becomes this new managed device (its history stays with it)."""
        with limited_by_tenant():
            await self._db.execute(
                "UPDATE routers SET managed = true, host = $2, port = $3, api_username = $4,"
                " api_password_sealed = $5, tls = $6, location = $7, status = 'active',"
                " retired_at = NULL, created_at = now(), updated_at = now() WHERE id = $1",
                device_id,
                values.host,
                values.port,
                values.api_username,
                sealed,
                values.tls,
                values.location,
            )

    async def update(self, device_id: int, changes: dict[str, object]) -> None:
        """Set the given columns (names from _UPDATABLE) of a managed device."""
        columns = [name for name in _UPDATABLE if name in changes]
        if not columns:
            return
        sets = ", ".join(f"{name} = ${index}" for index, name in enumerate(columns, start=2))
        with conflict_on_duplicate(_name_taken(str(changes.get("name")))):
            await self._db.execute(
                f"UPDATE routers SET {sets}, updated_at = now() WHERE id = $1",
                device_id,
                *(changes[name] for name in columns),
            )

    async def set_status(self, device_id: int, status: str) -> None:
        await self._db.execute(
            "UPDATE routers SET status = $2, updated_at = now() WHERE id = $1", device_id, status
        )
        if status == "inactive":
            await self.forget_current(device_id)

    async def retire(self, device_id: int) -> None:
        """Delete a managed device: the row retired, what the agent reported of it now cleared,
        nobody's activated device any more."""
        await self._db.execute(
            "UPDATE routers SET retired_at = now(), updated_at = now() WHERE id = $1", device_id
        )
        await self.forget_current(device_id)
        await self._db.execute(
            "UPDATE users SET active_router_id = NULL WHERE active_router_id = $1", device_id
        )

    async def forget_current(self, device_id: int) -> None:
        """Nobody watches the router any more: its current sessions and health go."""
        await self._db.execute("DELETE FROM current_sessions WHERE router_id = $1", device_id)
        await self._db.execute("DELETE FROM router_health WHERE router_id = $1", device_id)

    async def deliverable(self, agent_id: int) -> list[DeliverableDevice]:
        """The agent's managed, active, live devices: what its routers.sync carries."""
        rows = await self._db.fetch(
            "SELECT id, name, host, port, api_username, api_password_sealed, tls FROM routers"
            " WHERE agent_id = $1 AND managed AND status = 'active' AND retired_at IS NULL"
            " ORDER BY id",
            agent_id,
        )
        return [DeliverableDevice(**dict(row)) for row in rows]

    async def agent_has_devices(self, agent_id: int) -> bool:
        """Whether the agent ever had a managed device (then every connect sends the set)."""
        return await self._db.fetchval(
            "SELECT EXISTS (SELECT 1 FROM routers WHERE agent_id = $1 AND managed)", agent_id
        )

    # --- the caller's activated device -----------------------------------------------------

    async def activate(self, user_id: int, device_id: int) -> None:
        await self._db.execute(
            "UPDATE users SET active_router_id = $2 WHERE id = $1", user_id, device_id
        )

    async def activated(self, user_id: int, tenant_id: int) -> int | None:
        """The user's activated device, if it is still a live router of that tenant."""
        return await self._db.fetchval(
            "SELECT r.id FROM users u JOIN routers r ON r.id = u.active_router_id"
            " WHERE u.id = $1 AND r.tenant_id = $2 AND r.retired_at IS NULL",
            user_id,
            tenant_id,
        )


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
