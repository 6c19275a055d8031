"""A router's PPP secrets and profiles, IP pools and simple queues as /v1 resources (seed 004
sections 6 and 7), and its PPP sessions as the agent mirrors them.

Each resource is a table row (``Resource``): the RouterOS menu, the fields an answer shows
(RouterOS names; the JSON keys are their snake_case spelling) and the fields that are written
but never shown (a secret's password). Reads and writes go through ``RouterMenu`` (one
``router.menu`` command each, run by the site's agent); every print names its fields, so a
password is never read back from the router, never in a command's stored result and never in
an answer. PPP active sessions come from what the agent reported (``current_sessions``), not
from the router: milliseconds, and the same data the streams show.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from hub.domain import ActiveSession, Router
from hub.errors import InvalidInput, NotFound
from hub.services.audit import AuditEntry, audited
from hub.services.router_menu import Params, RouterMenu, Row
from hub.storage.routers import ReportRepository

FLAG_FIELDS = frozenset({"disabled", "dynamic", "invalid", "default"})
MAX_ITEM = 255  # a RouterOS id (``*1A``) or a name in a path


@dataclass(frozen=True, slots=True)
class Resource:
    """One router menu as a /v1 resource."""

    noun: str  # in messages: "PPP secret"
    menu: str  # "/ppp/secret" (one of wire.MENU_ALLOWLIST)
    shown: tuple[str, ...]  # RouterOS names an answer carries, besides ``id``
    required: tuple[str, ...] = ("name",)  # on create (snake_case)
    write_only: frozenset[str] = field(default_factory=frozenset)  # RouterOS names

    def to_router(self, values: Mapping[str, object]) -> Params:
        """A body's given fields as RouterOS parameters (``local_address`` -> ``local-address``)."""
        params: Params = {}
        for key, value in values.items():
            name = key.replace("_", "-")
            if isinstance(value, bool):
                params[name] = "yes" if value else "no"
            elif isinstance(value, str | int):
                params[name] = str(value) if isinstance(value, int) else value
        return params

    def from_router(self, row: Row) -> dict[str, Any]:
        """The answer for a router row: ``id`` and every shown field (null when unset there)."""
        answer: dict[str, Any] = {"id": str(row.get(".id", ""))}
        for name in self.shown:
            value = row.get(name)
            key = name.replace("-", "_")
            if value is None:
                answer[key] = None
            elif name in FLAG_FIELDS:
                answer[key] = value in (True, "true", "yes")
            else:
                answer[key] = str(value)
        return answer


PPP_SECRET = Resource(
    "PPP secret",
    "/ppp/secret",
    (
        "name",
        "service",
        "profile",
        "caller-id",
        "local-address",
        "remote-address",
        "routes",
        "limit-bytes-in",
        "limit-bytes-out",
        "comment",
        "disabled",
        "last-logged-out",
        "last-caller-id",
        "last-disconnect-reason",
    ),
    write_only=frozenset({"password"}),
)
PPP_PROFILE = Resource(
    "PPP profile",
    "/ppp/profile",
    (
        "name",
        "local-address",
        "remote-address",
        "rate-limit",
        "only-one",
        "session-timeout",
        "idle-timeout",
        "use-encryption",
        "dns-server",
        "address-list",
        "on-up",
        "on-down",
        "comment",
        "default",
    ),
)
IP_POOL = Resource(
    "IP pool",
    "/ip/pool",
    ("name", "ranges", "next-pool", "comment", "total", "used", "available"),
    required=("name", "ranges"),
)
SIMPLE_QUEUE = Resource(
    "simple queue",
    "/queue/simple",
    (
        "name",
        "target",
        "dst",
        "parent",
        "priority",
        "queue",
        "limit-at",
        "max-limit",
        "burst-limit",
        "burst-threshold",
        "burst-time",
        "comment",
        "disabled",
        "dynamic",
        "invalid",
        "bytes",
        "packets",
        "rate",
    ),
    required=("target",),  # RouterOS names a queue itself ("queue1") when no name is given
)


def check_item(item: str) -> str:
    """A path's ``{item}``: a RouterOS id (``*1A``, URL-encoded ``%2A1A``) or a name."""
    item = item.strip()
    if not item or len(item) > MAX_ITEM:
        raise InvalidInput(f"id must be a RouterOS id like *1A or a name of at most {MAX_ITEM}")
    if item.startswith("*"):
        digits = item[1:]
        if not digits or any(c not in "0123456789ABCDEFabcdef" for c in digits):
            raise InvalidInput(f"id {item!r} is not a RouterOS id (* and hex digits, like *1A)")
        item = "*" + digits.upper()
    return item


def ppp_interface(session: ActiveSession) -> str | None:
    """The dynamic server interface RouterOS gives a PPP session: ``<pppoe-NAME>``."""
    service = session.server or session.login_by
    return f"<{service}-{session.username}>" if service else None


def ppp_active_body(session: ActiveSession) -> dict[str, Any]:
    """A PPP session as /v1 shows it (seed 004's model.PPPActive, RouterOS' own fields)."""
    return {
        "id": session.session_id,
        "name": session.username,
        "service": session.server or session.login_by,
        "caller_id": session.mac_address,
        "address": session.ip_address,
        "interface": ppp_interface(session),
        "uptime_seconds": session.uptime_seconds,
        "bytes_in": session.bytes_in,
        "bytes_out": session.bytes_out,
    }


class RouterResources:
    """CRUD of the menus above on one router, audited; PPP sessions from the agent's reports."""

    def __init__(self, pool: asyncpg.Pool, menu: RouterMenu) -> None:
        self._pool = pool
        self._menu = menu

    async def list(self, router: Router, resource: Resource, actor: str) -> list[dict[str, Any]]:
        rows = await self._menu.print(router, resource.menu, actor, fields=resource.shown)
        return [resource.from_router(row) for row in rows]

    async def get(
        self, router: Router, resource: Resource, item: str, actor: str
    ) -> dict[str, Any]:
        row = await self._menu.get(
            router, resource.menu, check_item(item), actor, fields=resource.shown
        )
        return resource.from_router(row)

    async def create(
        self, router: Router, resource: Resource, values: Mapping[str, object], actor: str
    ) -> dict[str, Any]:
        for name in resource.required:
            if values.get(name) in (None, ""):
                raise InvalidInput(f"{name} is required")
        params = resource.to_router(values)
        async with audited(self._pool, self._entry(router, resource, "create", params, actor)):
            row = await self._menu.add(router, resource.menu, params, actor, fields=resource.shown)
        return resource.from_router(row)

    async def update(
        self,
        router: Router,
        resource: Resource,
        item: str,
        values: Mapping[str, object],
        actor: str,
    ) -> dict[str, Any]:
        item = check_item(item)
        params = resource.to_router(values)
        if not params:
            raise InvalidInput("nothing to change: give at least one field")
        if "name" in values and values["name"] in (None, ""):
            raise InvalidInput("name must not be empty")
        entry = self._entry(router, resource, "update", params, actor, target=item)
        async with audited(self._pool, entry):
            row = await self._menu.set(
                router, resource.menu, item, params, actor, fields=resource.shown
            )
        return resource.from_router(row)

    async def delete(
        self, router: Router, resource: Resource, item: str, actor: str
    ) -> dict[str, Any]:
        item = check_item(item)
        async with audited(self._pool, self._entry(router, resource, "delete", {}, actor, item)):
            row = await self._menu.remove(router, resource.menu, item, actor, fields=resource.shown)
        return resource.from_router(row)

    def _entry(
        self,
        router: Router,
        resource: Resource,
        verb: str,
        params: Params,
        actor: str,
        target: str | None = None,
    ) -> AuditEntry:
        """The audit row: what was asked, with write-only values (passwords) left out."""
        shown = {k: v for k, v in params.items() if k not in resource.write_only}
        return AuditEntry(
            actor=actor,
            action=f"{resource.menu.strip('/').replace('/', '_')}_{verb}",
            tenant_id=router.tenant.id,
            router_id=router.id,
            target=target or str(params.get("name") or "") or None,
            params=shown,
        )

    # --- PPP sessions ------------------------------------------------------------------------

    async def ppp_sessions(self, router: Router) -> list[ActiveSession]:
        """The router's PPP sessions as its agent last reported them."""
        sessions = await ReportRepository(self._pool).sessions(router.id)
        return [s for s in sessions if s.kind == "ppp"]

    async def ppp_active(self, router: Router) -> list[dict[str, Any]]:
        return [ppp_active_body(s) for s in await self.ppp_sessions(router)]

    async def ppp_active_one(self, router: Router, item: str) -> dict[str, Any]:
        """One session by its /ppp/active id (``*80000077``) or the PPP user's name."""
        item = check_item(item)
        for session in await self.ppp_sessions(router):
            if item in (session.session_id, session.username):
                return ppp_active_body(session)
        raise NotFound(f"router {router.name}: no active PPP session {item}")

    async def ppp_secrets(self, router: Router, actor: str) -> list[dict[str, Any]]:
        return await self.list(router, PPP_SECRET, actor)

    async def ppp_inactive(self, router: Router, actor: str) -> list[dict[str, Any]]:
        """The secrets with no active session (the secrets from the router, the sessions from
        the agent's reports)."""
        secrets = await self.ppp_secrets(router, actor)
        return inactive(secrets, await self.ppp_sessions(router))


def inactive(secrets: list[dict[str, Any]], sessions: list[ActiveSession]) -> list[dict[str, Any]]:
    """The secrets (answers of PPP_SECRET) whose name has no session."""
    online = {s.username for s in sessions}
    return [secret for secret in secrets if secret["name"] not in online]
