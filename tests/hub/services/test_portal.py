"""Pure parts of the portal service: access arithmetic and reading an agent's disconnect result."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from common import wire
from hub.domain import Entitlement, Router, RouterHealth, Tenant
from hub.errors import CommandFailed, SessionNotFound
from hub.services.portal import disconnect_outcome, latest_expiry

NOW = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)


def entitlement(hours: float, router_id=None, mac=None) -> Entitlement:
    return Entitlement(
        id=1,
        tenant_id=1,
        customer_id=1,
        router_id=router_id,
        mac_address=mac,
        profile=None,
        rate_limit=None,
        on_expiry="cut",
        starts_at=NOW - timedelta(days=1),
        expires_at=NOW + timedelta(hours=hours),
        revoked_at=None,
    )


ROUTER = Router(
    id=7,
    tenant=Tenant(1, "acme", "Acme", "TZ"),
    agent_id=3,
    site="hq",
    name="Main Office Router",
    host="10.50.0.2",
    port=8728,
    agent_online=True,
    agent_last_seen_at=NOW,
    health=RouterHealth(
        "online", NOW, None, None, None, None, None, None, None, None, None, None, None, NOW
    ),
)


def test_latest_expiry_respects_router_and_mac_scope():
    everywhere = entitlement(1)
    this_router = entitlement(5, router_id=7)
    other_router = entitlement(9, router_id=8)
    one_device = entitlement(3, mac="AA:BB:CC:DD:EE:01")
    all_of_them = [everywhere, this_router, other_router, one_device]
    assert latest_expiry(all_of_them, 7, "AA:BB:CC:DD:EE:02") == this_router.expires_at
    assert latest_expiry([everywhere, other_router, one_device], 7, "AA:BB:CC:DD:EE:01") == (
        one_device.expires_at
    )
    assert latest_expiry([other_router], 7, None) is None
    assert latest_expiry(all_of_them, None, None) == other_router.expires_at
    assert latest_expiry([], 7, None) is None


def result(ok: bool, error: str | None = None, **data) -> wire.CommandResult:
    return wire.CommandResult(
        command_id="c1", name=wire.DISCONNECT, ok=ok, result=data, error=error
    )


def test_disconnect_outcome_success_carries_the_seed_details():
    outcome = disconnect_outcome(
        ROUTER,
        "+255712345678",
        result(True, session_removed=True, binding_removed=True, user_disabled=False, errors=[]),
    )
    assert (outcome.session_removed, outcome.binding_removed, outcome.user_disabled) == (
        True,
        True,
        False,
    )
    assert outcome.ppp_secret_disabled is False
    ppp = disconnect_outcome(ROUTER, "u", result(True, ppp_removed=True, ppp_secret_disabled=True))
    assert ppp.session_removed is True and ppp.ppp_secret_disabled is True


@pytest.mark.parametrize(
    "data",
    [
        {"errors": []},  # today's agent: nothing removed
        {"sessions_found": 0, "errors": []},  # the agent said it matched nothing
        {"sessions_found": 0, "user_disabled": False, "binding_removed": False},
    ],
)
def test_a_disconnect_that_found_nothing_is_session_not_found(data):
    with pytest.raises(SessionNotFound) as caught:
        disconnect_outcome(ROUTER, "u", result(True, **data))
    assert caught.value.message == "Failed to disconnect user from Main Office Router"
    assert caught.value.extra["details"] == ["Session not found"]
    assert caught.value.status == 500


def test_disconnect_outcome_failed_steps_become_command_failed_with_details():
    with pytest.raises(CommandFailed) as caught:
        disconnect_outcome(
            ROUTER,
            "u",
            result(False, errors=["Session not found", "Could not remove IP binding"]),
        )
    assert caught.value.message == "Failed to disconnect user from Main Office Router"
    assert caught.value.extra["details"] == ["Session not found", "Could not remove IP binding"]
    with pytest.raises(CommandFailed) as caught:
        disconnect_outcome(ROUTER, "u", result(False, error="invalid args: username"))
    assert caught.value.extra["details"] == ["invalid args: username"]
