"""routersim.menus: value normalization as RouterOS does it, with its error messages."""

from __future__ import annotations

import pytest

from routersim.errors import Trap
from routersim.menus import HOTSPOT_USER, IP_BINDING, MENUS, QUEUE_SIMPLE, normalize

PROFILE = HOTSPOT_USER.by_name["profile"]


@pytest.mark.parametrize(
    ("field", "raw", "stored"),
    [
        (HOTSPOT_USER.by_name["disabled"], "yes", "true"),
        (HOTSPOT_USER.by_name["disabled"], "false", "false"),
        (HOTSPOT_USER.by_name["limit-uptime"], "90m", "1h30m"),
        (HOTSPOT_USER.by_name["limit-uptime"], "3600", "1h"),
        (HOTSPOT_USER.by_name["mac-address"], "aabb.ccdd.eeff", "AA:BB:CC:DD:EE:FF"),
        (HOTSPOT_USER.by_name["limit-bytes-total"], "0100", "100"),
        (IP_BINDING.by_name["type"], "bypassed", "bypassed"),
        (IP_BINDING.by_name["type"], "byp", "bypassed"),
        (QUEUE_SIMPLE.by_name["max-limit"], "2M/10M", "2000000/10000000"),
        (MENUS["/ip/hotspot/user/profile"].by_name["idle-timeout"], "none", "none"),
    ],
)
def test_values_are_stored_in_routeros_form(field, raw: str, stored: str) -> None:
    assert normalize(field, raw) == stored


@pytest.mark.parametrize(
    ("field", "raw", "message"),
    [
        (HOTSPOT_USER.by_name["disabled"], "maybe", "input does not match any value of disabled"),
        (IP_BINDING.by_name["type"], "open", "input does not match any value of type"),
        (HOTSPOT_USER.by_name["limit-uptime"], "soon", "invalid value for argument limit-uptime"),
        (HOTSPOT_USER.by_name["address"], "10.0.0.300", "invalid value for argument address"),
        (HOTSPOT_USER.by_name["limit-bytes-in"], "-5", "invalid value for argument limit-bytes-in"),
    ],
)
def test_bad_values_are_category_1_traps(field, raw: str, message: str) -> None:
    with pytest.raises(Trap) as caught:
        normalize(field, raw)
    assert caught.value.traps == ((message, 1),)


def test_references_match_names_exactly_or_by_unique_prefix() -> None:
    assert normalize(PROFILE, "daily", ["default", "daily"]) == "daily"
    assert normalize(PROFILE, "def", ["default", "daily"]) == "default"
    with pytest.raises(Trap, match="ambiguous value of profile"):
        normalize(PROFILE, "d", ["default", "daily"])
    with pytest.raises(Trap, match="input does not match any value of profile"):
        normalize(PROFILE, "weekly", ["default", "daily"])


def test_every_menu_lists_print_and_unique_menus_say_why() -> None:
    for menu in MENUS.values():
        assert "print" in menu.actions
        assert not menu.unique or menu.duplicate.startswith("failure:")
