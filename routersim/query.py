"""The ``?`` query words of print: a small boolean stack machine, as RouterOS evaluates them.

For each row the stack starts as infinitely many ``true``; every query word pushes one result
and ``?#`` words combine results. A row passes when no ``false`` is left, so plain query
words combine as AND. Query words:

    ?name=x  ?=name=x   property equals x (yes/true and no/false are the same value)
    ?name    ?=name     row has the property
    ?-name              row lacks the property
    ?<name=x ?>name=x   property is less / greater than x (numbers, times, ids, addresses)
    ?#ops               ``!`` negate the top, ``&`` and ``|`` combine the two top values,
                        digits pick a value by position from the top (0 = top): followed by
                        another character they push a copy of it, at the end of the word they
                        replace the whole stack with it; ``.`` after an index does nothing,
                        after anything else it duplicates the top.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Mapping, Sequence

from routersim.errors import Trap
from routersim.values import parse_duration

Row = Mapping[str, str]
Predicate = Callable[[Row], bool]
_Op = Callable[[list[bool], Row], None]
_TRUTH = {"yes": "true", "no": "false"}
_MAC = re.compile(r"[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}")


def _canonical(value: str) -> str:
    if _MAC.fullmatch(value):
        return value.upper()
    return _TRUTH.get(value, value)


def _order_key(value: str) -> tuple[int, object]:
    """Sort key that compares like values by their meaning, others as text."""
    if re.fullmatch(r"-?\d+", value):
        return (0, int(value))
    if re.fullmatch(r"\*[0-9A-Fa-f]+", value):
        return (1, int(value[1:], 16))
    try:
        return (2, int(ipaddress.IPv4Address(value)))
    except ValueError:
        pass
    if re.search(r"\d[wdhms]", value):
        try:
            return (0, parse_duration(value))
        except ValueError:
            pass
    return (3, value)


def _pop(stack: list[bool]) -> bool:
    return stack.pop() if stack else True


def _test(word: str) -> Callable[[Row], bool]:
    body = word[1:]
    if body.startswith("-"):
        name = body[1:]
        return lambda row: name not in row
    if body[:1] in ("<", ">"):
        name, sep, value = body[1:].partition("=")
        if not sep:
            raise Trap(f"invalid query {word!r}", 5)
        if body[0] == "<":
            return lambda row: name in row and _compare(row[name], value) < 0
        return lambda row: name in row and _compare(row[name], value) > 0
    if body.startswith("="):
        body = body[1:]
    name, sep, value = body.partition("=")
    if not sep:
        return lambda row: name in row
    wanted = _canonical(value)
    return lambda row: name in row and _canonical(row[name]) == wanted


def _compare(value: str, other: str) -> int:
    mine, theirs = _order_key(value), _order_key(other)
    if mine[0] != theirs[0]:
        mine, theirs = (3, value), (3, other)
    return (mine > theirs) - (mine < theirs)  # type: ignore[operator]


def _stack_ops(word: str) -> list[_Op]:
    text, ops, i = word[2:], [], 0
    while i < len(text):
        char = text[i]
        if char.isdigit():
            j = i
            while j < len(text) and text[j].isdigit():
                j += 1
            ops.append(_pick(int(text[i:j]), replace=j == len(text)))
            if j < len(text) and text[j] == ".":
                j += 1
            i = j
            continue
        if char == "!":
            ops.append(lambda s, _r: s.append(not _pop(s)))
        elif char == "&":
            ops.append(lambda s, _r: s.append(_pop(s) & _pop(s)))
        elif char == "|":
            ops.append(lambda s, _r: s.append(_pop(s) | _pop(s)))
        elif char == ".":
            ops.append(lambda s, _r: s.append(s[-1] if s else True))
        else:
            raise Trap(f"unknown query operation {char!r}", 5)
        i += 1
    return ops


def _pick(index: int, replace: bool) -> _Op:
    def op(stack: list[bool], _row: Row) -> None:
        value = stack[-1 - index] if index < len(stack) else True
        if replace:
            stack[:] = [value]
        else:
            stack.append(value)

    return op


def compile_query(words: Sequence[str]) -> Predicate:
    """A predicate for rows (RouterOS strings) from the ``?`` words of one command."""
    ops: list[_Op] = []
    for word in words:
        if word.startswith("?#"):
            ops.extend(_stack_ops(word))
        else:
            test = _test(word)
            ops.append(lambda s, row, test=test: s.append(test(row)))
    if not ops:
        return lambda row: True

    def matches(row: Row) -> bool:
        stack: list[bool] = []
        for op in ops:
            op(stack, row)
        return all(stack)

    return matches
