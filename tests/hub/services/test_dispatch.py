"""How the hub reads "the router is unreachable" out of an agent's command result."""

from __future__ import annotations

from common import wire
from hub.services.dispatch import says_router_unreachable


def result(ok: bool, error: str | None = None, **data) -> wire.CommandResult:
    return wire.CommandResult(command_id="c", name=wire.DISCONNECT, ok=ok, result=data, error=error)


def test_only_the_agents_flag_means_router_unreachable():
    assert says_router_unreachable(result(False, "router unavailable: x", router_unreachable=True))
    assert says_router_unreachable(result(False, router_unreachable=True))
    assert not says_router_unreachable(result(False, "invalid mac_address"))
    assert not says_router_unreachable(result(False, errors=["Session not found"]))
    assert not says_router_unreachable(result(True, errors=[]))


def test_error_text_naming_the_router_unavailable_is_not_unreachable():
    """A RouterOS trap text is prose: without the flag it is a failed step, not a 503."""
    trap = "could not remove active session: router unavailable, try again"
    assert not says_router_unreachable(result(False, trap, errors=[trap]))
    assert not says_router_unreachable(result(False, "Router site-1 unreachable"))
    assert not says_router_unreachable(result(False, "router unavailable: connection refused"))
