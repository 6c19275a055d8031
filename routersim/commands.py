"""What each API command does: print/listen, add/set/remove, monitor-traffic, ping.

A handler gets the router, the parsed :class:`Request` and a ``send(word, attrs)`` coroutine
that tags and writes one reply sentence. It ends with ``!done`` unless it streams until
``/cancel``; a refusal is raised as :class:`~routersim.errors.Trap` and written by the server.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from routersim.errors import Trap
from routersim.menus import MENUS, PRINT_VERBS
from routersim.query import compile_query
from routersim.state import NO_SUCH_ITEM, Row
from routersim.values import format_rtt, normalize_ip, parse_duration

if TYPE_CHECKING:
    from routersim.router import SimRouter

Send = Callable[..., Awaitable[None]]
Handler = Callable[["SimRouter", "Request", Send], Awaitable[None]]

PRINT_ARGS = frozenset(
    {
        ".proplist",
        "count-only",
        "detail",
        "stats",
        "terse",
        "without-paging",
        "follow",
        "follow-only",
        "interval",
        "from",
    }
)
MONITOR_ARGS = frozenset({"interface", "once", "interval", "aggregate", ".proplist", "duration"})
PING_ARGS = frozenset(
    {
        "address",
        "count",
        "interval",
        "size",
        "ttl",
        "src-address",
        "interface",
        "do-not-fragment",
        "routing-table",
        "arp-ping",
        ".proplist",
    }
)
# Every directory that exists: all prefixes of menu paths.
DIRECTORIES = frozenset(
    "/" + "/".join(parts[:n])
    for parts in (path.strip("/").split("/") for path in MENUS)
    for n in range(1, len(parts) + 1)
)


@dataclass(eq=False)
class Request:
    """One command sentence, parsed."""

    word: str
    tag: str | None = None
    args: dict[str, str] = field(default_factory=dict)
    queries: list[str] = field(default_factory=list)
    path: str = ""
    verb: str = ""
    interrupted: bool = False  # set by /cancel
    task: asyncio.Task[None] | None = None

    @classmethod
    def parse(cls, words: list[str]) -> Request:
        request = cls(words[0])
        for word in words[1:]:
            if word.startswith("="):
                name, _, value = word[1:].partition("=")
                request.args[name] = value
            elif word.startswith("?"):
                request.queries.append(word)
            elif word.startswith(".tag="):
                request.tag = word[5:] or None
            elif word.startswith(".") and "=" in word:
                name, _, value = word.partition("=")
                request.args[name] = value
        return request


def lookup(request: Request) -> Handler:
    """The handler of a command word, or the Trap RouterOS answers for an unknown one."""
    word = request.word
    if word in ("/ping",):
        request.path, request.verb = "", "ping"
        return ping
    if not word.startswith("/") or word == "/":
        raise Trap("no such command prefix")
    parts = word[1:].split("/")
    walked = ""
    for part in parts[:-1]:
        walked += "/" + part
        if walked not in DIRECTORIES:
            raise Trap(
                f"no such command or directory ({part})", 0, ("no such command prefix", None)
            )
    path, verb = "/" + "/".join(parts[:-1]), parts[-1]
    menu = MENUS.get(path)
    handler = _VERBS.get(verb)
    if menu is None or handler is None:
        raise Trap("no such command", 0)  # category UNCONFIRMED
    action = "print" if verb in PRINT_VERBS else verb
    switchless = verb in ("enable", "disable") and menu.field("disabled") is None
    if action not in menu.actions or switchless:  # pools and profiles have no disable
        raise Trap("no such command", 0)
    request.path, request.verb = path, verb
    return handler


def _check_args(request: Request, allowed: Iterable[str]) -> None:
    unknown = set(request.args) - set(allowed)
    if unknown:
        raise Trap("unknown parameter")  # category UNCONFIRMED


def _projector(request: Request) -> Callable[[Row], Row]:
    proplist = request.args.get(".proplist")
    if not proplist:
        return lambda row: row
    names = [n for n in proplist.split(",") if n]
    return lambda row: {n: row[n] for n in names if n in row}


def _interval(text: str) -> float:
    try:
        seconds = parse_duration(text)
    except ValueError as exc:
        raise Trap("invalid value for argument interval", 1) from exc
    if seconds <= 0:
        raise Trap("invalid value for argument interval", 1)
    return seconds


async def print_(router: SimRouter, request: Request, send: Send) -> None:
    """print, getall and listen; with follow, follow-only or interval it streams."""
    state, path = router.state, request.path
    listen = request.verb == "listen"
    _check_args(request, PRINT_ARGS if not listen else {".proplist"})
    match = compile_query(request.queries)
    project = _projector(request)
    args = request.args
    if listen or "follow-only" in args:
        await _stream(router, request, match, project, send)
        return
    only = set(state.resolve(path, args["from"])) if "from" in args else None

    def current() -> list[Row]:
        return [
            row
            for row in state.rows(path)
            if match(row) and (only is None or row.get(".id") in only)
        ]

    if "count-only" in args:
        await send("!done", {"ret": str(len(current()))})
        return
    if "interval" in args:
        seconds = _interval(args["interval"])
        while True:
            for row in current():
                await send("!re", project(row))
            await asyncio.sleep(seconds)
    rows = current()
    if "follow" in args:
        await _stream(router, request, match, project, send, first=rows)
        return
    for row in rows:
        await send("!re", project(row))
    if not rows and router.empty_replies:
        await send("!empty")
    await send("!done")


async def _stream(
    router: SimRouter,
    request: Request,
    match: Callable[[Row], bool],
    project: Callable[[Row], Row],
    send: Send,
    first: Iterable[Row] = (),
) -> None:
    """One ``!re`` per change until /cancel; a removal is ``=.id=... =.dead=yes``.

    Rows are rendered when the change happens, so a burst of changes is reported as it was.
    Removals are always sent: a removed row can no longer be matched against the query.
    """
    state = router.state
    changes: asyncio.Queue[Row] = asyncio.Queue()

    def changed(path: str, item_id: str, dead: bool) -> None:
        if dead:
            changes.put_nowait({".id": item_id, ".dead": "yes"})
            return
        row = state.render(path, item_id)
        if row is not None and match(row):
            changes.put_nowait(project(row))

    unwatch = state.watch(request.path, changed)
    try:
        for row in first:
            await send("!re", project(row))
        while True:
            await send("!re", await changes.get())
    finally:
        unwatch()


def _targets(router: SimRouter, request: Request) -> list[str]:
    """Ids from ``.id`` or ``numbers`` (removed from the args); singletons need none."""
    state, path = router.state, request.path
    if ".id" in request.args:
        return state.resolve(path, request.args.pop(".id"))
    if "numbers" in request.args:
        return state.resolve(path, request.args.pop("numbers"), positions=True)
    if MENUS[path].singleton:
        return state.resolve(path, "")
    # Wording UNCONFIRMED: RouterOS needs to know which items to change.
    raise Trap("missing value(s) of argument(s) numbers", 1)


async def add(router: SimRouter, request: Request, send: Send) -> None:
    item_id = router.state.add(request.path, request.args)
    await send("!done", {"ret": item_id})


async def set_(router: SimRouter, request: Request, send: Send) -> None:
    ids = _targets(router, request)
    router.state.set(request.path, ids, request.args)
    await send("!done")


async def unset(router: SimRouter, request: Request, send: Send) -> None:
    ids = _targets(router, request)
    names = request.args.pop("value-name", "")
    _check_args(request, ())
    router.state.unset(request.path, ids, [n for n in names.split(",") if n])
    await send("!done")


async def remove(router: SimRouter, request: Request, send: Send) -> None:
    ids = _targets(router, request)
    _check_args(request, ())
    router.state.remove(request.path, ids)
    await send("!done")


def _switch(disabled: str) -> Handler:
    async def handler(router: SimRouter, request: Request, send: Send) -> None:
        ids = _targets(router, request)
        _check_args(request, ())
        router.state.set(request.path, ids, {"disabled": disabled})
        await send("!done")

    return handler


async def monitor_traffic(router: SimRouter, request: Request, send: Send) -> None:
    """Rates per interface: once, or about one sample per interface per interval."""
    _check_args(request, MONITOR_ARGS)
    if not request.args.get("interface"):
        raise Trap("missing value(s) of argument(s) interface", 1)
    state, world = router.state, router.world
    ids = []
    for name in request.args["interface"].split(","):
        try:
            ids.extend(state.resolve("/interface", name))
        except Trap as exc:
            raise Trap("input does not match any value of interface", 1) from exc
    interval = _interval(request.args.get("interval") or str(router.monitor_interval))
    project = _projector(request)
    while True:
        for item_id in ids:
            row = state.render("/interface", item_id)
            if row is None:
                raise Trap(NO_SUCH_ITEM)
            rx_bits, tx_bits, rx_packets, tx_packets = world.interface_rates(item_id)
            sample = {
                "name": row["name"],
                "rx-packets-per-second": str(rx_packets),
                "rx-bits-per-second": str(rx_bits),
                "fp-rx-packets-per-second": "0",
                "fp-rx-bits-per-second": "0",
                "rx-drops-per-second": "0",
                "rx-errors-per-second": "0",
                "tx-packets-per-second": str(tx_packets),
                "tx-bits-per-second": str(tx_bits),
                "fp-tx-packets-per-second": "0",
                "fp-tx-bits-per-second": "0",
                "tx-drops-per-second": "0",
                "tx-queue-drops-per-second": "0",
                "tx-errors-per-second": "0",
            }
            await send("!re", project(sample))
        if "once" in request.args:
            await send("!done")
            return
        await asyncio.sleep(interval)


async def ping(router: SimRouter, request: Request, send: Send) -> None:
    """One ``!re`` per probe; ``!done`` after ``count`` probes, else until /cancel."""
    _check_args(request, PING_ARGS)
    args = request.args
    if not args.get("address"):
        raise Trap("missing value(s) of argument(s) address", 1)
    try:
        address = normalize_ip(args["address"])
    except ValueError as exc:
        raise Trap("invalid value for argument address", 1) from exc
    count = args.get("count")
    if count is not None and not count.isdigit():
        raise Trap("invalid value for argument count", 1)
    size = args.get("size") or "56"
    interval = _interval(args.get("interval") or str(router.ping_interval))
    project = _projector(request)
    sent = received = 0
    rtts: list[float] = []
    while count is None or sent < int(count):
        if sent:
            await asyncio.sleep(interval)
        rtt = router.world.ping_rtt(address)
        row: dict[str, str] = {"seq": str(sent), "host": address}
        sent += 1
        if rtt is None:
            row["status"] = "timeout"
        else:
            received += 1
            rtts.append(rtt)
            row.update({"size": size, "ttl": "64", "time": format_rtt(rtt)})
        row.update(
            {
                "sent": str(sent),
                "received": str(received),
                "packet-loss": str(100 * (sent - received) // sent),
            }
        )
        if rtts:
            row.update(
                {
                    "min-rtt": format_rtt(min(rtts)),
                    "avg-rtt": format_rtt(sum(rtts) / len(rtts)),
                    "max-rtt": format_rtt(max(rtts)),
                }
            )
        await send("!re", project(row))
    await send("!done")


_VERBS: Mapping[str, Handler] = {
    "print": print_,
    "getall": print_,
    "listen": print_,
    "add": add,
    "set": set_,
    "unset": unset,
    "remove": remove,
    "enable": _switch("no"),
    "disable": _switch("yes"),
    "monitor-traffic": monitor_traffic,
}
