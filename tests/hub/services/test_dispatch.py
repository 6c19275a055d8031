"""How the hub reads "the router is unreachable" out of an agent's command result."""

from __future__ import annotations

from common import wire
from hub.services.dispatch import says_router_unreachable


def result(ok: bool, error: str | None = None, **data) -> wire.CommandResult:
    return wire.CommandResult(command_id="c", name=wire.DISCONNECT, ok=ok, result=data, error=error)


def test_router_unreachable_flag_or_error():
    assert says_router_unreachable(result(False, router_unreachable=True))
    assert says_router_unreachable(result(False, "router unavailable: connection refused"))
    assert says_router_unreachable(result(False, "Router site-1 unreachable"))
    assert not says_router_unreachable(result(False, "invalid mac_address"))
    assert not says_router_unreachable(result(False, errors=["Session not found"]))
    assert not says_router_unreachable(result(True, errors=[]))
