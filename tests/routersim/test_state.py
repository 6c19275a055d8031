"""routersim.state: sparse rows, ids, name lookups, validation before change, the feed."""

from __future__ import annotations

import pytest

from routersim.errors import Trap
from routersim.state import RouterState

USERS, PROFILES = "/ip/hotspot/user", "/ip/hotspot/user/profile"


@pytest.fixture
def state() -> RouterState:
    state = RouterState()
    state.add_table(USERS)
    state.add_table(PROFILES).insert({"name": "default"}, "*0")
    return state


def test_ids_count_up_in_hex(state: RouterState) -> None:
    ids = [state.add(USERS, {"name": f"u{n}"}) for n in range(11)]
    assert ids[0] == "*1" and ids[9] == "*A" and ids[10] == "*B"


def test_rows_are_sparse_and_render_with_defaults(state: RouterState) -> None:
    item = state.add(USERS, {"name": "u", "profile": "default", "disabled": "no"})
    assert state.table(USERS).rows[item] == {"name": "u"}  # defaults are not stored
    assert state.render(USERS, item) == {
        ".id": item,
        "name": "u",
        "profile": "default",
        "uptime": "0s",
        "bytes-in": "0",
        "bytes-out": "0",
        "packets-in": "0",
        "packets-out": "0",
        "dynamic": "false",
        "disabled": "false",
    }


def test_resolve_by_id_name_and_position(state: RouterState) -> None:
    first = state.add(USERS, {"name": "a"})
    second = state.add(USERS, {"name": "b"})
    assert state.resolve(USERS, f"{second},a") == [second, first]
    assert state.resolve(USERS, "1", positions=True) == [second]
    with pytest.raises(Trap, match=r"no such item \(4\)"):
        state.resolve(USERS, "c")
    with pytest.raises(Trap):
        state.resolve(USERS, "5", positions=True)


def test_a_refused_set_changes_nothing(state: RouterState) -> None:
    first = state.add(USERS, {"name": "a"})
    second = state.add(USERS, {"name": "b", "comment": "keep"})
    with pytest.raises(Trap):
        state.set(USERS, [first, second], {"comment": "x", "profile": "missing"})
    assert state.render(USERS, second)["comment"] == "keep"  # type: ignore[index]
    assert "comment" not in state.render(USERS, first)  # type: ignore[operator]


def test_rename_updates_the_name_index_and_references(state: RouterState) -> None:
    state.add(PROFILES, {"name": "daily"})
    user = state.add(USERS, {"name": "a", "profile": "daily"})
    (profile,) = state.table(PROFILES).named("daily")
    state.set(PROFILES, [profile], {"name": "day"})
    assert state.table(PROFILES).named("daily") == []
    assert state.table(PROFILES).named("day") == [profile]
    assert state.render(USERS, user)["profile"] == "day"  # type: ignore[index]


def test_watchers_hear_adds_changes_and_removals(state: RouterState) -> None:
    heard: list[tuple[str, bool]] = []
    unwatch = state.watch(USERS, lambda _path, item, dead: heard.append((item, dead)))
    internal = state.watch(USERS, lambda *_: None, internal=True)
    assert state.listeners(USERS) == 1
    item = state.add(USERS, {"name": "a"})
    state.set(USERS, [item], {"comment": "x"})
    state.remove(USERS, [item])
    unwatch()
    internal()
    state.add(USERS, {"name": "b"})
    assert heard == [(item, False), (item, False), (item, True)]
    assert state.listeners(USERS) == 0
