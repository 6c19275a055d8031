"""A router's own configuration menus (PPP secrets and profiles, IP pools, simple queues),
read and written through its site's agent: the hub never dials a router.

Each call is one ``router.menu`` command; the agent runs it on the LAN and refuses any menu
outside ``wire.MENU_ALLOWLIST``. A RouterOS trap comes back as the router's own message:
a duplicate name is a 409, a missing item a 404, anything else the router refused a 400.
An unreachable site is the seeds' 503 naming the router.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from common import wire
from hub.config import HubConfig
from hub.domain import Router
from hub.errors import Conflict, HubError, InvalidInput, NotFound
from hub.services.dispatch import Dispatcher, run_on_router

Row = dict[str, Any]
Params = dict[str, str | int | bool]
REFUSED = "router refused: "


def trap_error(router: Router, error: str | None) -> HubError:
    """The HTTP error for a ``router.menu`` command the agent or router refused."""
    message = (error or "the router refused the change").removeprefix(REFUSED)
    text = f"router {router.name}: {message}"
    if "already" in message:  # "already have ...", "... already exists"
        return Conflict(text)
    if "no such item" in message:
        return NotFound(text)
    return InvalidInput(text)


class RouterMenu:
    """print / add / set / remove on one menu of a router, with RouterOS' own field names."""

    def __init__(self, dispatcher: Dispatcher | None, config: HubConfig) -> None:
        self._dispatcher = dispatcher
        self._timeout = config.command_timeout

    async def _run(
        self, router: Router, menu: str, action: str, params: Params, actor: str
    ) -> dict[str, Any]:
        result = await run_on_router(
            self._dispatcher,
            router,
            name=wire.ROUTER_MENU,
            args={"menu": menu, "action": action, "params": params},
            requested_by=actor,
            command_timeout=self._timeout,
        )
        if not result.ok:
            raise trap_error(router, result.error)
        return result.result

    async def print(
        self,
        router: Router,
        menu: str,
        actor: str,
        *,
        fields: Sequence[str] | None = None,
        **where: str,
    ) -> list[Row]:
        """Every row of the menu (``where`` narrows it: ``name="alice"``, ``.id="*1A"``).

        ``fields`` limits what the router sends (``.proplist``; ``.id`` always comes): what is
        left out, a secret's password, is never in the command's stored result either."""
        params: Params = dict(where)
        if fields is not None:
            params[".proplist"] = ",".join((".id", *fields))
        result = await self._run(router, menu, "print", params, actor)
        return list(result.get("rows") or [])

    async def get(
        self,
        router: Router,
        menu: str,
        item: str,
        actor: str,
        *,
        fields: Sequence[str] | None = None,
    ) -> Row:
        """One row by RouterOS id (``*1A``) or, failing that, by name; 404 when neither."""
        key = ".id" if item.startswith("*") else "name"
        rows = await self.print(router, menu, actor, fields=fields, **{key: item})
        if not rows:
            raise NotFound(f"router {router.name}: no {menu} item {item}")
        return rows[0]

    async def add(
        self,
        router: Router,
        menu: str,
        params: Params,
        actor: str,
        *,
        fields: Sequence[str] | None = None,
    ) -> Row:
        """Add a row and return it as the router has it now."""
        result = await self._run(router, menu, "add", params, actor)
        item = result.get("id")
        if not isinstance(item, str):
            raise InvalidInput(f"router {router.name}: the router returned no id for the new item")
        return await self.get(router, menu, item, actor, fields=fields)

    async def set(
        self,
        router: Router,
        menu: str,
        item: str,
        params: Params,
        actor: str,
        *,
        fields: Sequence[str] | None = None,
    ) -> Row:
        """Change a row (by id or name) and return it as the router has it now."""
        row_id = (await self.get(router, menu, item, actor, fields=("name",)))[".id"]
        await self._run(router, menu, "set", {".id": row_id, **params}, actor)
        return await self.get(router, menu, row_id, actor, fields=fields)

    async def remove(
        self,
        router: Router,
        menu: str,
        item: str,
        actor: str,
        *,
        fields: Sequence[str] | None = None,
    ) -> Row:
        """Remove a row (by id or name); returns the row as it was."""
        row = await self.get(router, menu, item, actor, fields=fields)
        await self._run(router, menu, "remove", {".id": row[".id"]}, actor)
        return row
