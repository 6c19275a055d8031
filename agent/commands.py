"""Commands from the hub, executed on the LAN, each exactly once per command id.

``CommandExecutor.run`` validates the arguments (bad ones -> ``ok=False`` and nothing
touched), runs the command against its router, records the result under the command id
and appends a ``command.result`` event in the same transaction. A repeated id re-sends the
recorded result without running anything again.
"""

from __future__ import annotations

import ipaddress
import logging
import re
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

from common import wire
from common.durations import parse_duration_precise
from common.mac import normalize_mac
from common.timeutil import parse_iso, to_iso, utcnow

from . import actions, const
from .errors import AgentError, CommandRejected, RouterCommandError, RouterUnavailable
from .routeros import RouterLink, where
from .store import Store, StoredEntitlement, Transaction, as_dict

if TYPE_CHECKING:
    from .mirror import RouterMirror
    from .vouchers import VoucherKeeper

log = logging.getLogger(__name__)

MAX_PING_COUNT = 20
MAX_LOG_LINES = 1000
_PARAM_NAME = re.compile(r"^\.?[a-z0-9][a-z0-9-]*$")

ENTITLEMENTS_DIGEST = "entitlements_digest"  # meta key: the last entitlements.sync applied
UNLISTED_GRACE = 300.0  # seconds: a whole set drops no unlisted entitlement expiring sooner
Handler = Callable[[RouterLink, str, dict[str, Any]], Awaitable[dict[str, Any]]]


# -- argument validation ---------------------------------------------------------------------


def _text(args: dict[str, Any], key: str, *, required: bool = True) -> str | None:
    value = args.get(key)
    if value is None or value == "":
        if required:
            raise CommandRejected(f"{key} is required")
        return None
    if not isinstance(value, str):
        raise CommandRejected(f"{key} must be a string")
    value = value.strip()
    if not value and required:
        raise CommandRejected(f"{key} is required")
    return value or None


def _mac(args: dict[str, Any], key: str = "mac_address") -> str | None:
    value = _text(args, key, required=False)
    if value is None:
        return None
    try:
        return normalize_mac(value)
    except ValueError:
        raise CommandRejected(f"{key} is not a MAC address: {value!r}") from None


def _int(args: dict[str, Any], key: str, default: int, low: int, high: int) -> int:
    value = args.get(key, default)
    if value is None:
        value = default
    if isinstance(value, bool) or not isinstance(value, int):
        raise CommandRejected(f"{key} must be an integer")
    if not low <= value <= high:
        raise CommandRejected(f"{key} must be between {low} and {high}")
    return value


def entitlement_from_args(args: dict[str, Any]) -> tuple[wire.Entitlement, float]:
    """A validated entitlement (MAC normalised) and its expiry as unix seconds."""
    username = _text(args, "username")
    mac = _mac(args)
    expires_text = _text(args, "expires_at")
    try:
        expires_at = parse_iso(expires_text).timestamp()  # type: ignore[arg-type]
    except ValueError:
        raise CommandRejected(f"expires_at is not an ISO 8601 time: {expires_text!r}") from None
    on_expiry = args.get("on_expiry", "cut")
    if on_expiry not in ("cut", "throttle"):
        raise CommandRejected("on_expiry must be 'cut' or 'throttle'")
    expired_profile = _text(args, "expired_profile", required=False) or "expired"
    for key in ("profile", "rate_limit", "password"):
        if args.get(key) is not None and not isinstance(args[key], str):
            raise CommandRejected(f"{key} must be a string")
    ent = wire.Entitlement(
        username=username,  # type: ignore[arg-type]
        mac_address=mac,
        expires_at=expires_text,  # type: ignore[arg-type]
        profile=args.get("profile") or None,
        rate_limit=args.get("rate_limit") or None,
        on_expiry=on_expiry,
        expired_profile=expired_profile,
        password=args.get("password"),
    )
    return ent, expires_at


def _menu_params(params: Any) -> dict[str, str | int | bool]:
    if params is None:
        return {}
    if not isinstance(params, dict):
        raise CommandRejected("params must be an object")
    clean: dict[str, str | int | bool] = {}
    for key, value in params.items():
        if not isinstance(key, str) or not _PARAM_NAME.match(key):
            raise CommandRejected(f"bad parameter name {key!r}")
        if not isinstance(value, str | int | bool):
            raise CommandRejected(f"parameter {key!r} must be a string, number or boolean")
        clean[key] = value
    return clean


# -- the executor ----------------------------------------------------------------------------


class CommandExecutor:
    """Runs ``wire.Command``s by name against the agent's routers."""

    def __init__(
        self,
        store: Store,
        links: dict[str, RouterLink],
        on_entitlements_changed: Callable[[], None] = lambda: None,
        mirrors: Mapping[str, RouterMirror] | None = None,
        vouchers: VoucherKeeper | None = None,
        on_entitlements_synced: Callable[[], None] = lambda: None,
    ) -> None:
        self.store = store
        # A sync stores what the hub wants without touching the routers: the enforcer's
        # reconcile applies it (at once, not at its next drift pass).
        self.on_entitlements_synced = on_entitlements_synced
        self.vouchers = vouchers
        self.links = links
        # Each router's mirror: what a disconnect removes comes from its memory.
        self.mirrors: Mapping[str, RouterMirror] = mirrors if mirrors is not None else {}
        self.on_entitlements_changed = on_entitlements_changed
        self.counts: Counter[tuple[str, str]] = Counter()  # (command, "ok" | "error")
        self._running: set[str] = set()
        self._handlers: dict[str, Handler] = {
            wire.DISCONNECT: self._disconnect,
            wire.GRANT_ACCESS: self._grant_access,
            wire.REVOKE_ACCESS: self._revoke_access,
            wire.ENTITLEMENT_PUT: self._entitlement_put,
            wire.ENTITLEMENT_DELETE: self._entitlement_delete,
            wire.ENTITLEMENTS_SYNC: self._entitlements_sync,
            wire.VOUCHERS_SYNC: self._vouchers_sync,
            wire.ROUTER_MENU: self._router_menu,
            wire.PING: self._ping,
            wire.MONITOR_TRAFFIC: self._monitor_traffic,
            wire.LOG_READ: self._log_read,
        }

    async def run(self, command: wire.Command) -> wire.CommandResult | None:
        """Execute once, record, report; None if the same id is already running."""
        if command.id in self._running:
            return None
        self._running.add(command.id)
        try:
            recorded = await self.store.command_result(command.id)
            if recorded is not None:
                log.info(
                    "command repeated id=%s name=%s: resending result", command.id, command.name
                )
                await self._report(recorded, command.router, record=False)
                return recorded
            result = await self._execute(command)
            await self._report(result, command.router, record=True)
            self.counts[(command.name, "ok" if result.ok else "error")] += 1
            return result
        finally:
            self._running.discard(command.id)

    async def _report(self, result: wire.CommandResult, router: str, *, record: bool) -> None:
        async with self.store.transaction() as tx:
            if record:
                await tx.record_command(result, router)
            await tx.append_event(wire.COMMAND_RESULT, router, as_dict(result))

    async def _execute(self, command: wire.Command) -> wire.CommandResult:
        started = time.perf_counter()

        def done(ok: bool, result: dict[str, Any] | None = None, error: str | None = None):
            latency = round((time.perf_counter() - started) * 1000, 3)
            return wire.CommandResult(command.id, command.name, ok, result or {}, error, latency)

        handler = self._handlers.get(command.name)
        if handler is None:
            return done(False, error=f"unknown command {command.name!r}")
        link = self.links.get(command.router)
        if link is None:
            return done(False, error=f"unknown router {command.router}")
        if command.deadline is not None:
            try:
                late = parse_iso(command.deadline) < utcnow()
            except ValueError:
                return done(False, error=f"deadline is not an ISO 8601 time: {command.deadline!r}")
            if late:
                return done(False, error="deadline passed before the command could run")
        if not isinstance(command.args, dict):
            return done(False, error="args must be an object")
        try:
            result = await handler(link, command.router, command.args)
        except CommandRejected as exc:
            return done(False, error=str(exc))
        except RouterCommandError as exc:
            return done(False, error=f"router refused: {exc.message}")
        except RouterUnavailable as exc:
            # The hub answers 503 "Cannot connect to router" on this flag, not a 500.
            return done(False, {"router_unreachable": True}, f"router unavailable: {exc}")
        except AgentError as exc:
            return done(False, error=str(exc))
        except Exception as exc:
            log.exception("command crashed id=%s name=%s", command.id, command.name)
            return done(False, error=f"internal error: {type(exc).__name__}")
        errors = result.get("errors") or []
        return done(not errors, result, "; ".join(errors) if errors else None)

    # -- access ------------------------------------------------------------------------------

    async def _disconnect(self, link: RouterLink, router: str, args: dict) -> dict[str, Any]:
        username, mac = _text(args, "username"), _mac(args)
        assert username is not None
        known = await self.store.entitlement_macs(router, username)
        # Seed 001: with a MAC only that device goes; the user stays enabled for its others.
        # No session of the user (or of that MAC) here: nothing is touched ("Session not found").
        result = await actions.disconnect_user(
            link,
            username,
            mac,
            disable_user=mac is None,
            known_macs=known,
            mirror=self.mirrors.get(router),
            cut_without_session=False,
        )
        if result["sessions_found"]:
            # Cut on purpose: drift repair must not bring this user (or this device) back.
            async with self.store.transaction() as tx:
                await tx.set_entitlements_suspended(router, username, mac, True)
        return result

    async def _grant_access(self, link: RouterLink, router: str, args: dict) -> dict[str, Any]:
        ent, expires_at = entitlement_from_args(args)
        await self._store_entitlement(StoredEntitlement(router, ent, expires_at))
        if expires_at <= time.time():
            return {"stored": True, "applied": False, "errors": [], "note": "already expired"}
        try:
            result = await actions.grant_access(link, ent)
        except RouterUnavailable as exc:
            self._config_changed(router)
            raise RouterUnavailable(
                f"{exc}; the entitlement is stored and will be applied when the router is back"
            ) from exc
        self._config_changed(router)
        return {"stored": True, "applied": True, **result}

    async def _revoke_access(self, link: RouterLink, router: str, args: dict) -> dict[str, Any]:
        """Access ends now: the user's entitlements become one cut, already enforced here,
        or left due for the enforcer when the router cannot be reached."""
        username, mac = _text(args, "username"), _mac(args)
        assert username is not None
        now = utcnow()
        ent = wire.Entitlement(username, mac, to_iso(now), on_expiry="cut")
        stored = StoredEntitlement(router, ent, now.timestamp(), state="enforced")
        known = await self.store.entitlement_macs(router, username)
        async with self.store.transaction() as tx:
            replaced = await tx.delete_entitlements(router, username, mac)
            await tx.put_entitlement(stored)
        try:
            result = await actions.disconnect_user(
                link, username, mac, known_macs=known, mirror=self.mirrors.get(router)
            )
        except RouterUnavailable as exc:
            async with self.store.transaction() as tx:
                await tx.set_entitlement_state(stored, "active")
            self.on_entitlements_changed()
            raise RouterUnavailable(f"{exc}; access will be cut when the router is back") from exc
        self.on_entitlements_changed()
        return {"entitlements_replaced": replaced, **result}

    def _config_changed(self, router: str) -> None:
        """Users or bindings were added or changed: the mirror prints them anew."""
        if (mirror := self.mirrors.get(router)) is not None:
            mirror.config_changed()

    async def _entitlement_put(self, link: RouterLink, router: str, args: dict) -> dict[str, Any]:
        ent, expires_at = entitlement_from_args(args)
        await self._store_entitlement(StoredEntitlement(router, ent, expires_at))
        return {"stored": True, "expires_at": ent.expires_at}

    async def _entitlement_delete(self, link: RouterLink, router: str, args: dict) -> dict:
        username, mac = _text(args, "username"), _mac(args)
        assert username is not None
        async with self.store.transaction() as tx:
            removed = await tx.delete_entitlements(router, username, mac)
        self.on_entitlements_changed()
        return {"deleted": removed}

    async def _entitlements_sync(self, link: RouterLink, router: str, args: dict) -> dict:
        """Entitlements the hub wants here, applied in one transaction; unchanged entries keep
        their state (a manual cut stays suspended). The whole set (no ``base``) also drops
        unexpired entitlements it does not list; a difference applies only on the token it
        was computed from. The new token is echoed in the next hello."""
        try:
            sync = wire.parse_entitlements_sync(args)
        except wire.WireError as exc:
            raise CommandRejected(str(exc)) from None
        async with self.store.transaction() as tx:
            token = await tx.get_meta(ENTITLEMENTS_DIGEST)
            if sync.base is not None and token == sync.digest:
                return {"stored": 0, "deleted": 0, "skipped": [], "applied_already": True}
            if sync.base is not None and token != sync.base:
                # Not the set it was computed on: the next hello asks for the whole set.
                await tx.delete_meta(ENTITLEMENTS_DIGEST)
                result = None
            else:
                result = await self._apply_sync(tx, sync)
                await tx.set_meta(ENTITLEMENTS_DIGEST, sync.digest)
        if result is None:
            raise CommandRejected(
                f"entitlements difference from {sync.base!r}, but this agent held {token!r}"
            )
        self.on_entitlements_changed()
        self.on_entitlements_synced()
        return result

    async def _apply_sync(self, tx: Transaction, sync: wire.EntitlementsSync) -> dict:
        held = {
            (s.router, s.entitlement.username, s.entitlement.mac_address or ""): s
            for s in await tx.entitlements()
        }
        stored = deleted = 0
        skipped: list[str] = []
        listed: set[tuple[str, str, str]] = set()
        for item in sync.entitlements:
            fields = {k: v for k, v in as_dict(item).items() if k != "routers"}
            try:
                ent, expires_at = entitlement_from_args(fields)
            except CommandRejected as exc:
                skipped.append(f"{item.username}: {exc}")
                continue
            for name in item.routers if item.routers is not None else self.links:
                if name not in self.links:
                    continue
                key = (name, ent.username, ent.mac_address or "")
                listed.add(key)
                known = held.get(key)
                if known is not None and known.entitlement == ent:
                    continue
                await tx.put_entitlement(StoredEntitlement(name, ent, expires_at))
                stored += 1
        for gone in sync.revoked:
            for name in gone.routers if gone.routers is not None else self.links:
                if name in self.links:
                    deleted += await tx.delete_entitlements(
                        name, gone.username, _mac(as_dict(gone))
                    )
        if sync.base is None:  # the whole set: an unexpired entitlement it leaves out goes,
            # unless it expires soon: the hub may have left it out as expired by its clock, and
            # the enforcer must still cut it here. A voucher redeemed here is the agent's own
            # (the hub may not have its redemption yet): it stays.
            keep_until = time.time() + UNLISTED_GRACE
            own = await tx.redeemed_voucher_codes()
            for (name, username, mac), known in held.items():
                if (name, username) in own:
                    continue
                if (name, username, mac) not in listed and known.expires_at > keep_until:
                    deleted += await tx.delete_entitlements(name, username, mac)
        return {"stored": stored, "deleted": deleted, "skipped": skipped}

    async def _vouchers_sync(self, link: RouterLink, router: str, args: dict) -> dict:
        """Vouchers to create as hotspot users (agent/vouchers.py); works with routers down."""
        if self.vouchers is None:
            raise CommandRejected("this agent keeps no vouchers")
        return await self.vouchers.apply_sync(args)

    async def _store_entitlement(self, stored: StoredEntitlement) -> None:
        async with self.store.transaction() as tx:
            await tx.put_entitlement(stored)
        self.on_entitlements_changed()

    # -- router menus and tools --------------------------------------------------------------

    async def _router_menu(self, link: RouterLink, router: str, args: dict) -> dict[str, Any]:
        menu = _text(args, "menu")
        if menu not in wire.MENU_ALLOWLIST:
            raise CommandRejected(
                f"menu {menu!r} is not allowed (allowed: {', '.join(sorted(wire.MENU_ALLOWLIST))})"
            )
        action = args.get("action")
        params = _menu_params(args.get("params"))
        if action == "print":
            # ``.proplist`` names the fields to read (the hub leaves out a secret's password,
            # so it never reaches the command's stored result); the rest are query equalities.
            proplist = params.pop(".proplist", None)
            shown = {".proplist": proplist} if isinstance(proplist, str) and proplist else {}
            rows = await link.call(f"{menu}/print", *where(**params), **shown)
            return {"rows": rows}
        if action == "add":
            if not params:
                raise CommandRejected("add needs params")
            rows = await link.call(f"{menu}/add", **params)
            return {"id": rows[0].get("ret") if rows else None}
        if action in ("set", "remove"):
            item = params.pop(".id", None)
            if not isinstance(item, str) or not item:
                raise CommandRejected(f"{action} needs params['.id']")
            if action == "set":
                if not params:
                    raise CommandRejected("set needs at least one property to change")
                await link.call(f"{menu}/set", **{".id": item}, **params)
            else:
                if params:
                    raise CommandRejected("remove takes only params['.id']")
                await link.call(f"{menu}/remove", **{".id": item})
            return {"id": item}
        raise CommandRejected("action must be one of print, add, set, remove")

    async def _ping(self, link: RouterLink, router: str, args: dict) -> dict[str, Any]:
        address = _text(args, "address")
        try:
            ipaddress.ip_address(address)  # type: ignore[arg-type]
        except ValueError:
            raise CommandRejected(f"address is not an IP address: {address!r}") from None
        count = _int(args, "count", 4, 1, MAX_PING_COUNT)
        # A ping takes ``count`` seconds: on a connection of its own, so the polls go on.
        rows = await link.call_separately(
            const.PING,
            address=address,
            count=count,
            within=count * 2.0 + link.settings.command_timeout,
        )
        replies = [
            {
                "seq": int(row.get("seq", index)),
                "time_ms": _ms(row.get("time")),
                "status": row.get("status") or "ok",
            }
            for index, row in enumerate(r for r in rows if "seq" in r)
        ]
        last = rows[-1] if rows else {}
        sent = int(last.get("sent", len(replies)))
        received = int(last.get("received", sum(r["status"] == "ok" for r in replies)))
        return {
            "address": address,
            "sent": sent,
            "received": received,
            "packet_loss": int(
                last.get("packet-loss", 0 if not sent else 100 - 100 * received // sent)
            ),
            "min_rtt_ms": _ms(last.get("min-rtt")),
            "avg_rtt_ms": _ms(last.get("avg-rtt")),
            "max_rtt_ms": _ms(last.get("max-rtt")),
            "replies": replies,
        }

    async def _monitor_traffic(self, link: RouterLink, router: str, args: dict) -> dict:
        interface = _text(args, "interface")
        assert interface is not None
        if "," in interface:
            raise CommandRejected("interface must name one interface")
        rows = await link.call(const.INTERFACE_MONITOR, interface=interface, once="")
        if not rows:
            raise CommandRejected(f"no such interface {interface!r}")
        row = rows[0]
        keys = (
            "rx-bits-per-second",
            "tx-bits-per-second",
            "rx-packets-per-second",
            "tx-packets-per-second",
            "rx-drops-per-second",
            "tx-drops-per-second",
            "rx-errors-per-second",
            "tx-errors-per-second",
        )
        result: dict[str, Any] = {"interface": row.get("name", interface)}
        for key in keys:
            if key in row:
                result[key.replace("-", "_")] = int(row[key])
        return result

    async def _log_read(self, link: RouterLink, router: str, args: dict) -> dict[str, Any]:
        limit = _int(args, "limit", 100, 1, MAX_LOG_LINES)
        topics_text = _text(args, "topics", required=False)
        wanted = {t.strip() for t in topics_text.split(",") if t.strip()} if topics_text else set()
        rows = await link.call(f"{const.LOG}/print")
        entries = [
            {
                "id": row.get(".id"),
                "time": row.get("time"),
                "topics": row.get("topics", ""),
                "message": row.get("message", ""),
            }
            for row in rows
            if not wanted or wanted & set(row.get("topics", "").split(","))
        ]
        return {"entries": entries[-limit:]}


def _ms(text: str | None) -> float | None:
    if not text:
        return None
    try:
        return round(parse_duration_precise(text) * 1000, 3)
    except ValueError:
        return None
