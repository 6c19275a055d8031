"""What the agent does to a router on someone's behalf: disconnect, grant, throttle.

Shared by the command executor (the hub asked) and the expiry enforcer (time ran out),
so a manual disconnect and an expiry cut remove exactly the same things. MAC addresses
are compared normalised, never as the router happened to spell them.
"""

from __future__ import annotations

import time
from typing import Any

from common import wire
from common.mac import is_mac, normalize_mac

from . import const
from .errors import RouterCommandError
from .routeros import RouterLink, Row, is_true, where


def row_mac(row: Row, key: str = "mac-address") -> str | None:
    value = row.get(key)
    return normalize_mac(value) if value and is_mac(value) else None


async def find(link: RouterLink, menu: str, **equals: Any) -> list[Row]:
    """``print`` with equality queries (``mac_address`` -> ``mac-address``)."""
    return await link.call(f"{menu}/print", *where(**equals))


def _missing(exc: RouterCommandError) -> bool:
    return "no such item" in exc.message


async def remove(link: RouterLink, menu: str, ids: list[str]) -> None:
    """Remove items; one that went by itself meanwhile (a session ending) is not an error."""
    if not ids:
        return
    try:
        await link.call(f"{menu}/remove", **{".id": ",".join(ids)})
    except RouterCommandError as exc:
        if not _missing(exc):
            raise
        for item in ids:  # some are gone: remove the others one by one
            try:
                await link.call(f"{menu}/remove", **{".id": item})
            except RouterCommandError as one:
                if not _missing(one):
                    raise


async def bindings_of(link: RouterLink, macs: set[str]) -> list[Row]:
    """The ip-bindings of these MACs, however the router spells them."""
    if not macs:
        return []
    rows = await link.call(f"{const.HOTSPOT_BINDING}/print")
    return [row for row in rows if row_mac(row) in macs]


async def hotspot_sessions_of(link: RouterLink, username: str, mac: str | None) -> list[Row]:
    rows = await find(link, const.HOTSPOT_ACTIVE, user=username)
    return [row for row in rows if mac is None or row_mac(row) == mac]


async def sessions_of(
    link: RouterLink, username: str, mac: str | None, macs: set[str]
) -> dict[str, Row]:
    """The user's hotspot sessions (only ``mac``'s when given), plus any session that one of
    ``macs`` opened by MAC (a bypassed device is logged in under its MAC, not the user)."""
    found = {row[".id"]: row for row in await hotspot_sessions_of(link, username, mac)}
    for one in sorted(macs):
        for row in await find(link, const.HOTSPOT_ACTIVE, mac_address=one):
            if row.get("login-by") == "mac" and row_mac(row) == one:
                found[row[".id"]] = row
    return found


def owned_by(binding: Row, username: str) -> bool:
    """A binding whose comment names the user (the agent's own, or a hand-written one)."""
    return binding.get("comment") in (username, const.BINDING_COMMENT.format(username=username))


async def disconnect_user(
    link: RouterLink,
    username: str,
    mac: str | None,
    *,
    disable_user: bool = True,
    known_macs: set[str] | frozenset[str] = frozenset(),
) -> dict[str, Any]:
    """Seed 001's disconnect: sessions (only that MAC's when given), their MACs' bindings,
    the hotspot user disabled where one exists, a PPP session of that name; then verify.

    Without a MAC, the user's MACs are those of its sessions, its hotspot user's
    ``mac-address``, ``known_macs`` (its entitlements) and bindings commented with its name.
    The user is disabled and the bindings removed before the sessions go, so a client with
    a MAC cookie or a bypassed binding cannot slip straight back in. A step that the router
    refuses is reported in ``errors`` and the others still run; a lost router raises.
    """
    started = time.perf_counter()
    errors: list[str] = []
    result: dict[str, Any] = {
        "session_removed": False,
        "binding_removed": False,
        "user_disabled": False,
        "ppp_removed": False,
    }
    users = await find(link, const.HOTSPOT_USER, name=username)
    all_bindings = await link.call(f"{const.HOTSPOT_BINDING}/print")
    if mac is not None:
        macs = {mac}
    else:
        own = await hotspot_sessions_of(link, username, None)
        macs = {m for m in map(row_mac, [*own, *users]) if m} | set(known_macs)
        macs |= {m for b in all_bindings if owned_by(b, username) and (m := row_mac(b))}
    sessions = await sessions_of(link, username, mac, macs)
    bindings = [b for b in all_bindings if row_mac(b) in macs]

    if users and disable_user:
        try:
            for user in users:
                if not is_true(user.get("disabled")):
                    await link.call(
                        f"{const.HOTSPOT_USER}/set", **{".id": user[".id"]}, disabled="yes"
                    )
            result["user_disabled"] = True
        except RouterCommandError as exc:
            errors.append(f"could not disable hotspot user: {exc.message}")

    try:
        await remove(link, const.HOTSPOT_BINDING, [b[".id"] for b in bindings])
        result["binding_removed"] = bool(bindings)
    except RouterCommandError as exc:
        errors.append(f"could not remove IP binding: {exc.message}")

    try:
        await remove(link, const.HOTSPOT_ACTIVE, list(sessions))
        result["session_removed"] = bool(sessions)
    except RouterCommandError as exc:
        errors.append(f"could not remove active session: {exc.message}")

    try:
        ppp = await find(link, const.PPP_ACTIVE, name=username)
        if mac is not None:
            ppp = [p for p in ppp if row_mac(p, "caller-id") in (mac, None)]
        await remove(link, const.PPP_ACTIVE, [p[".id"] for p in ppp])
        result["ppp_removed"] = bool(ppp)
    except RouterCommandError as exc:
        errors.append(f"could not remove PPP session: {exc.message}")

    remaining = await sessions_of(link, username, mac, macs)
    if remaining:
        errors.append("session still active after removal")
    result["verified_gone"] = not remaining
    result["errors"] = errors
    result["latency_ms"] = round((time.perf_counter() - started) * 1000, 3)
    return result


async def grant_access(link: RouterLink, ent: wire.Entitlement) -> dict[str, Any]:
    """Hotspot user enabled (created if missing) and, with a MAC, a ``bypassed`` binding."""
    errors: list[str] = []
    result: dict[str, Any] = {"user": None, "binding": None}
    try:
        result["user"] = await ensure_user(link, ent, enabled=True, profile=ent.profile)
    except RouterCommandError as exc:
        errors.append(f"could not set up hotspot user: {exc.message}")
    if ent.mac_address:
        try:
            result["binding"] = await ensure_bypass(link, ent.username, ent.mac_address)
        except RouterCommandError as exc:
            errors.append(f"could not set up IP binding: {exc.message}")
    result["errors"] = errors
    return result


async def ensure_user(
    link: RouterLink, ent: wire.Entitlement, *, enabled: bool, profile: str | None
) -> str | None:
    """Create or fix the hotspot user; returns "created", "updated" or None (as wanted)."""
    users = await find(link, const.HOTSPOT_USER, name=ent.username)
    if not users:
        params: dict[str, Any] = {"name": ent.username, "password": ent.password or ""}
        if profile:
            params["profile"] = profile
        if not enabled:
            params["disabled"] = "yes"
        await link.call(f"{const.HOTSPOT_USER}/add", **params)
        return "created"
    user = users[0]
    changes: dict[str, Any] = {}
    if is_true(user.get("disabled")) == enabled:
        changes["disabled"] = "no" if enabled else "yes"
    if profile and user.get("profile") != profile:
        changes["profile"] = profile
    if ent.password is not None and user.get("password") != ent.password:
        changes["password"] = ent.password
    if not changes:
        return None
    await link.call(f"{const.HOTSPOT_USER}/set", **{".id": user[".id"]}, **changes)
    return "updated"


async def ensure_bypass(link: RouterLink, username: str, mac: str) -> str | None:
    """A single enabled ``bypassed`` binding for the MAC; "created", "updated" or None."""
    bindings = await bindings_of(link, {mac})
    if not bindings:
        await link.call(
            f"{const.HOTSPOT_BINDING}/add",
            **{"mac-address": mac, "type": "bypassed"},
            comment=const.BINDING_COMMENT.format(username=username),
        )
        return "created"
    first, extra = bindings[0], bindings[1:]
    await remove(link, const.HOTSPOT_BINDING, [b[".id"] for b in extra])
    if first.get("type") == "bypassed" and not is_true(first.get("disabled")) and not extra:
        return None
    await link.call(
        f"{const.HOTSPOT_BINDING}/set", **{".id": first[".id"]}, type="bypassed", disabled="no"
    )
    return "updated"


async def remove_bypass(link: RouterLink, mac: str) -> bool:
    """Remove the MAC's ``bypassed`` bindings (a blocked one stays); True if any went."""
    bindings = [b for b in await bindings_of(link, {mac}) if b.get("type") == "bypassed"]
    await remove(link, const.HOTSPOT_BINDING, [b[".id"] for b in bindings])
    return bool(bindings)


async def throttle_user(link: RouterLink, ent: wire.Entitlement) -> dict[str, Any]:
    """Move the user to the expired profile and drop its session so it logs in throttled.

    A bypassed binding would skip the hotspot (and so the profile): it goes. A user the
    router does not have cannot be throttled: the sessions are cut instead.
    """
    errors: list[str] = []
    result: dict[str, Any] = {
        "profile_set": False,
        "binding_removed": False,
        "session_removed": False,
    }
    mac = ent.mac_address
    own = await hotspot_sessions_of(link, ent.username, mac)
    macs = {mac} if mac else {m for m in map(row_mac, own) if m}
    sessions = await sessions_of(link, ent.username, mac, macs)
    try:
        users = await find(link, const.HOTSPOT_USER, name=ent.username)
        for user in users:
            await link.call(
                f"{const.HOTSPOT_USER}/set",
                **{".id": user[".id"]},
                profile=ent.expired_profile,
                disabled="no",
            )
        result["profile_set"] = bool(users)
        if not users:
            errors.append("no hotspot user to throttle; sessions cut instead")
    except RouterCommandError as exc:
        errors.append(f"could not set profile {ent.expired_profile!r}: {exc.message}")
    try:
        for one in sorted(macs):
            result["binding_removed"] |= await remove_bypass(link, one)
    except RouterCommandError as exc:
        errors.append(f"could not remove IP binding: {exc.message}")
    try:
        await remove(link, const.HOTSPOT_ACTIVE, list(sessions))
        result["session_removed"] = bool(sessions)
    except RouterCommandError as exc:
        errors.append(f"could not remove active session: {exc.message}")
    result["errors"] = errors
    return result
