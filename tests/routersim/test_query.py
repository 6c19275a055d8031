"""routersim.query: the ? stack machine as ROUTEROS_API.md section 1 describes it."""

from __future__ import annotations

import pytest

from routersim.errors import Trap
from routersim.query import compile_query

ROWS = [
    {".id": "*1", "name": "ether1", "type": "ether", "mtu": "1500", "comment": "WAN"},
    {".id": "*2", "name": "ether2", "type": "ether", "mtu": "9000", "disabled": "true"},
    {".id": "*A", "name": "vlan10", "type": "vlan", "mtu": "1496", "comment": ""},
    {".id": "*B", "name": "br0", "type": "bridge", "mtu": "1500", "uptime": "1h30m"},
]


def names(*words: str) -> list[str]:
    match = compile_query(words)
    return [row["name"] for row in ROWS if match(row)]


def test_no_query_passes_everything() -> None:
    assert names() == ["ether1", "ether2", "vlan10", "br0"]


def test_equality_in_both_spellings() -> None:
    assert names("?type=ether") == ["ether1", "ether2"]
    assert names("?=type=vlan") == ["vlan10"]


def test_plain_words_combine_as_and() -> None:
    assert names("?type=ether", "?mtu=1500") == ["ether1"]


def test_has_and_lacks_property() -> None:
    assert names("?comment") == ["ether1", "vlan10"]
    assert names("?-comment") == ["ether2", "br0"]


def test_less_and_greater_compare_numbers_ids_and_times() -> None:
    assert names("?>mtu=1500") == ["ether2"]
    assert names("?<mtu=1500") == ["vlan10"]
    assert names("?>.id=*2") == ["vlan10", "br0"]
    assert names("?>uptime=1h") == ["br0"]


def test_greater_than_empty_means_non_empty() -> None:
    assert names("?>comment=") == ["ether1"]


def test_yes_and_true_are_the_same_value() -> None:
    assert names("?disabled=yes") == ["ether2"]
    assert names("?disabled=true") == ["ether2"]


def test_or_of_two_equalities() -> None:
    assert names("?type=ether", "?type=vlan", "?#|") == ["ether1", "ether2", "vlan10"]


def test_and_then_not_as_in_the_documentation() -> None:
    # "?>mtu=1496 ?type=ether ?#&!": everything except ethernet with mtu above 1496
    assert names("?>mtu=1496", "?type=ether", "?#&!") == ["vlan10", "br0"]


def test_librouteros_not_equal_and_in_shapes() -> None:
    assert names("?=type=ether", "?#!") == ["vlan10", "br0"]
    assert names("?=name=ether1", "?=name=br0", "?=name=nope", "?#|", "?#|") == ["ether1", "br0"]


def test_several_operations_in_one_word() -> None:
    assert names("?type=vlan", "?type=bridge", "?#|!") == ["ether1", "ether2"]


def test_index_then_char_pushes_a_copy() -> None:
    # stack [type=ether, mtu=1500]; "1" copies the older value, "&" with the top
    assert names("?type=ether", "?mtu=1500", "?#1&") == ["ether1"]


def test_index_at_end_replaces_the_stack() -> None:
    # stack [type=bridge, mtu=1500]; "?#1" keeps only the older value: bridges
    assert names("?type=bridge", "?mtu=1500", "?#1") == ["br0"]


def test_dot_duplicates_the_top_and_is_a_no_op_after_an_index() -> None:
    assert names("?type=vlan", "?#.|") == ["vlan10"]
    assert names("?type=vlan", "?#0.") == ["vlan10"]


def test_unknown_operation_is_a_trap() -> None:
    with pytest.raises(Trap):
        compile_query(["?#x"])
