"""What the services need from the agent link to run a command at a site.

hub.link's CommandDispatcher satisfies this protocol; the services depend on the protocol only,
so the core stays importable and testable without the link.
"""

from __future__ import annotations

from typing import Any, Protocol

from common import wire
from hub.domain import Router
from hub.errors import AgentUnavailable


class Dispatcher(Protocol):
    async def execute(
        self,
        *,
        tenant_id: int,
        agent_id: int,
        router_id: int,
        router_name: str,
        name: str,
        args: dict[str, Any],
        requested_by: str,
        timeout: float,
    ) -> wire.CommandResult: ...


def unreachable(router: Router) -> AgentUnavailable:
    """The seeds' 503 for a router the hub cannot reach now."""
    return AgentUnavailable(
        f"Cannot connect to router {router.name}. Please check router configuration."
    )


def says_router_unreachable(result: wire.CommandResult) -> bool:
    """The agent ran nothing because it could not reach the router.

    Only the agent's ``result["router_unreachable"] = true`` says so: error text is the
    router's or the agent's prose (a RouterOS trap may well read "router unavailable") and
    must never turn a failed step into a 503.
    """
    return result.result.get("router_unreachable") is True


async def run_on_router(
    dispatcher: Dispatcher | None,
    router: Router,
    *,
    name: str,
    args: dict[str, Any],
    requested_by: str,
    command_timeout: float,
) -> wire.CommandResult:
    """Send a command to the router's agent and wait for the result; 503 when it can't be."""
    if dispatcher is None or not router.online:
        raise unreachable(router)
    try:
        result = await dispatcher.execute(
            tenant_id=router.tenant.id,
            agent_id=router.agent_id,
            router_id=router.id,
            router_name=router.name,
            name=name,
            args=args,
            requested_by=requested_by,
            timeout=command_timeout,
        )
    except AgentUnavailable as exc:  # CommandTimedOut included
        raise unreachable(router) from exc
    if says_router_unreachable(result):
        raise unreachable(router)
    return result
