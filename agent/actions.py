"""What the agent does to a router on someone's behalf: disconnect, grant, throttle.

Shared by the command executor (the hub asked) and the expiry enforcer (time ran out),
so a manual disconnect and an expiry cut remove exactly the same things. MAC addresses
are compared normalised, never as the router happened to spell them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from common import wire
from common.mac import is_mac, normalize_mac

from . import const, parse
from .errors import RouterCommandError
from .routeros import RouterLink, Row, is_true, where

if TYPE_CHECKING:
    from .mirror import RouterMirror


def row_mac(row: Row, key: str = "mac-address") -> str | None:
    value = row.get(key)
    return normalize_mac(value) if value and is_mac(value) else None


async def find(link: RouterLink, menu: str, **equals: Any) -> list[Row]:
    """``print`` with equality queries (``mac_address`` -> ``mac-address``)."""
    return await link.call(f"{menu}/print", *where(**equals))


def _missing(exc: RouterCommandError) -> bool:
    return "no such item" in exc.message


async def remove(link: RouterLink, menu: str, ids: list[str]) -> set[str]:
    """Remove items; one that went by itself meanwhile (a session ending) is not an error.
    Returns the ids that were already gone."""
    if not ids:
        return set()
    try:
        await link.call(f"{menu}/remove", **{".id": ",".join(ids)})
    except RouterCommandError as exc:
        if not _missing(exc):
            raise
        if len(ids) == 1:
            return set(ids)  # it went by itself
        gone = set()
        for item in ids:  # some are gone: remove the others one by one
            try:
                await link.call(f"{menu}/remove", **{".id": item})
            except RouterCommandError as one:
                if not _missing(one):
                    raise
                gone.add(item)
        return gone
    return set()


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


# -- disconnect ------------------------------------------------------------------------------

# How long a disconnect waits for the listen stream to show its removals (``.dead``).
VERIFY_WITHIN = 2.0


@dataclass(slots=True)
class Seen:
    """What the router holds that a disconnect of one user may touch."""

    hotspot: list[wire.Session] = field(default_factory=list)  # every hotspot session
    ppp: list[wire.Session] = field(default_factory=list)  # the user's PPP sessions
    users: list[Row] = field(default_factory=list)  # hotspot users of that name
    bindings: list[Row] = field(default_factory=list)  # every ip-binding
    secrets: list[Row] = field(default_factory=list)  # PPP secrets of that name
    from_mirror: bool = False  # sessions from the mirror, whose listen verifies removals
    config_cached: bool = False  # users and secrets from the mirror's last print, not now


def _parsed(kind: str, rows: list[Row]) -> list[wire.Session]:
    sessions = []
    for row in rows:
        try:
            session = parse.SESSION_PARSERS[kind](row)
        except ValueError:
            continue  # a row that does not parse is not this user's business
        if session is not None:
            sessions.append(session)
    return sessions


async def _print_sessions(link: RouterLink, username: str) -> tuple[list, list]:
    """Two prints: the user's hotspot sessions and MAC logins, and its PPP sessions."""
    hotspot = await link.call(
        f"{const.HOTSPOT_ACTIVE}/print",
        *where(user=username),
        *where(login_by="mac"),
        "?#|",
        **{".proplist": const.SESSION_PROPLIST["hotspot"]},
    )
    ppp = await link.call(
        f"{const.PPP_ACTIVE}/print",
        *where(name=username),
        **{".proplist": const.SESSION_PROPLIST["ppp"]},
    )
    return _parsed("hotspot", hotspot), _parsed("ppp", ppp)


async def look(link: RouterLink, username: str, mirror: RouterMirror | None) -> Seen:
    """The user's sessions, users, bindings and secrets: from the mirror's memory when it is
    trustworthy (no round trip), else printed.

    The mirror's sessions are trusted while both listens are open (one that began in the
    last instant may not be there yet: see ``disconnect_user``). The config rows are trusted
    while the ip-binding listen is open and until the agent changes users or bindings.
    """
    seen = Seen()
    if mirror is not None and mirror.sessions_trusted():
        seen.hotspot = list(mirror.sessions["hotspot"].values())
        seen.ppp = [s for s in mirror.sessions["ppp"].values() if s.username == username]
        seen.from_mirror = True
    else:
        seen.hotspot, seen.ppp = await _print_sessions(link, username)
    if mirror is not None and mirror.config_trusted():
        seen.config_cached = True
        seen.users = [dict(u) for u in mirror.users.get(username, [])]
        seen.bindings = list(mirror.bindings)
        seen.secrets = [dict(s) for s in mirror.secrets.get(username, [])]
    else:
        seen.users = await find(link, const.HOTSPOT_USER, name=username)
        seen.bindings = await link.call(f"{const.HOTSPOT_BINDING}/print")
        try:
            seen.secrets = await find(link, const.PPP_SECRET, name=username)
        except RouterCommandError:
            seen.secrets = []  # no PPP on this router
    return seen


async def disconnect_user(
    link: RouterLink,
    username: str,
    mac: str | None,
    *,
    disable_user: bool = True,
    known_macs: set[str] | frozenset[str] = frozenset(),
    mirror: RouterMirror | None = None,
    cut_without_session: bool = True,
) -> dict[str, Any]:
    """Seed 001's disconnect: sessions (only that MAC's when given), their MACs' bindings,
    the hotspot user and PPP secret disabled where they exist; verified from the listen.

    With the router's mirror this costs one round trip per menu changed (at most three for a
    hotspot user: user disabled, bindings removed, sessions removed), since what to remove
    comes from the mirror's memory and the removals show as ``.dead`` rows on its listen.

    Without a MAC, the user's MACs are those of its sessions, its hotspot user's
    ``mac-address``, ``known_macs`` (its entitlements) and bindings commented with its name,
    and its PPP secret is disabled too (``disable_user``), so the client is not straight back.
    With a MAC only that device's sessions (hotspot and PPP, by caller-id) and binding go.
    When no session matches and not ``cut_without_session`` (the hub's disconnect), nothing
    is touched and ``sessions_found`` is 0. A step the router refuses is reported in
    ``errors`` and the others still run; an item already gone is no error; a lost router
    raises.
    """
    started = time.perf_counter()
    errors: list[str] = []
    result: dict[str, Any] = {
        "session_removed": False,
        "binding_removed": False,
        "user_disabled": False,
        "ppp_removed": False,
        "ppp_secret_disabled": False,
        "sessions_found": 0,
        "verified_gone": True,
        "errors": errors,
    }
    seen = await look(link, username, mirror)
    macs = _macs_of(seen, username, mac, known_macs)
    hotspot, ppp = _matching(seen.hotspot, seen.ppp, username, mac, macs)
    unknown: set[tuple[str, str]] = set()  # sessions the mirror has not seen (yet)
    if not hotspot and not ppp and seen.from_mirror:
        # Nothing in the mirror: a login of the last instant may not be there yet. One print
        # of each session menu tells (and "Session not found" is then the router's word).
        seen.hotspot, seen.ppp = await _print_sessions(link, username)
        macs = _macs_of(seen, username, mac, known_macs)
        hotspot, ppp = _matching(seen.hotspot, seen.ppp, username, mac, macs)
        unknown = {("hotspot", s.session_id) for s in hotspot}
        unknown |= {("ppp", s.session_id) for s in ppp}
    result["sessions_found"] = len(hotspot) + len(ppp)
    if not hotspot and not ppp and not cut_without_session:
        result["latency_ms"] = _ms_since(started)
        return result
    removal_started = time.monotonic()

    # Disabled first, bindings next, sessions last: nothing can slip straight back in. Set
    # even where the cache says disabled: someone may have enabled it since the last print.
    # A user the cache does not know (made by hand since) is named: RouterOS takes a name
    # for ``.id``. A disconnect does so when its sessions show the user exists; a cut
    # (expiry, revoke: ``cut_without_session``) always, at the price of a round trip.
    if disable_user:
        users = {u[".id"] for u in seen.users}
        exists = cut_without_session or any(s.username == username for s in hotspot)
        if not users and seen.config_cached and exists:
            users = {username}
        if await _disable(link, const.HOTSPOT_USER, users, "hotspot user", errors, username):
            result["user_disabled"] = True
            if mirror is not None:
                mirror.note_users_disabled(users)
    if disable_user and mac is None:
        secrets = {s[".id"] for s in seen.secrets}
        if not secrets and seen.config_cached and (cut_without_session or ppp):
            secrets = {username}
        if await _disable(link, const.PPP_SECRET, secrets, "PPP secret", errors, username):
            result["ppp_secret_disabled"] = True
            if mirror is not None:
                mirror.note_secrets_disabled(secrets)

    removed: list[tuple[str, str]] = []  # removed by us: the listen shows each go
    tried: set[tuple[str, str]] = set()
    already: set[tuple[str, str]] = set()  # gone before we asked (ended by itself)
    unbound: set[str] = set()
    for _ in range(3):
        batch = [("hotspot", s.session_id) for s in hotspot] + [("ppp", s.session_id) for s in ppp]
        already |= await _remove_all(
            link, seen.bindings, hotspot, ppp, macs, unbound, result, mirror
        )
        tried.update(batch)
        removed += [key for key in batch if key not in already]
        if not removed:
            break
        if not (seen.from_mirror and mirror is not None and mirror.sessions_trusted()):
            result["verified_gone"] = await _printed_gone(link, removed)
            break
        result["verified_gone"] = await mirror.wait_gone(
            removed, removal_started, VERIFY_WITHIN, strict=unknown
        )
        if not result["verified_gone"] and not mirror.sessions_trusted():
            # The listen went away meanwhile: the router's own print decides.
            result["verified_gone"] = await _printed_gone(link, removed)
            break
        # The listen delivers in order: once it shows our removals, a login that came just
        # before them is in the mirror too. Sweep those (rare: a login in the last instant).
        late_hotspot, late_ppp = _matching(
            list(mirror.sessions["hotspot"].values()),
            list(mirror.sessions["ppp"].values()),
            username,
            mac,
            macs,
        )
        hotspot = [s for s in late_hotspot if ("hotspot", s.session_id) not in tried]
        ppp = [s for s in late_ppp if ("ppp", s.session_id) not in tried]
        if not hotspot and not ppp:
            break
        result["sessions_found"] += len(hotspot) + len(ppp)
        if mac is None:
            macs |= {s.mac_address for s in hotspot if s.mac_address}
    if already and mirror is not None:
        mirror.check_stale(already, removal_started, settled={kind for kind, _ in removed})
    if not result["verified_gone"]:
        errors.append("session still active after removal")
    result["latency_ms"] = _ms_since(started)
    return result


def _macs_of(
    seen: Seen, username: str, mac: str | None, known_macs: set[str] | frozenset[str]
) -> set[str]:
    """The MACs a disconnect cuts: ``mac`` alone, or all the user's (see disconnect_user)."""
    if mac is not None:
        return {mac}
    macs = set(known_macs) | {m for u in seen.users if (m := row_mac(u))}
    macs |= {m for b in seen.bindings if owned_by(b, username) and (m := row_mac(b))}
    macs |= {s.mac_address for s in seen.hotspot if s.username == username and s.mac_address}
    return macs


def _matching(
    hotspot: list[wire.Session],
    ppp: list[wire.Session],
    username: str,
    mac: str | None,
    macs: set[str],
) -> tuple[list[wire.Session], list[wire.Session]]:
    """The sessions a disconnect removes: the user's (only ``mac``'s when given), hotspot
    sessions its MACs opened by MAC, and its PPP sessions (by caller-id when ``mac``)."""
    found = {
        s.session_id: s
        for s in hotspot
        if (s.username == username and (mac is None or s.mac_address == mac))
        or (s.login_by == "mac" and s.mac_address in macs)
    }
    own_ppp = [s for s in ppp if s.username == username and (mac is None or s.mac_address == mac)]
    return list(found.values()), own_ppp


async def _remove_all(
    link: RouterLink,
    bindings: list[Row],
    hotspot: list[wire.Session],
    ppp: list[wire.Session],
    macs: set[str],
    unbound: set[str],
    result: dict[str, Any],
    mirror: RouterMirror | None,
) -> set[tuple[str, str]]:
    """The bindings of ``macs`` (those not yet removed), then the sessions: a round trip per
    menu that has something to remove. Refusals go to ``result["errors"]``; returns the
    sessions (kind, id) that were already gone."""
    errors = result["errors"]
    already: set[tuple[str, str]] = set()
    doomed = [b for b in bindings if row_mac(b) in macs and b[".id"] not in unbound]
    if doomed:
        try:
            ids = [b[".id"] for b in doomed]
            await remove(link, const.HOTSPOT_BINDING, ids)
            result["binding_removed"] = True
            unbound.update(ids)
            if mirror is not None:
                mirror.note_bindings_removed(set(ids))
        except RouterCommandError as exc:
            errors.append(f"could not remove IP binding: {exc.message}")
    if hotspot:
        try:
            gone = await remove(link, const.HOTSPOT_ACTIVE, [s.session_id for s in hotspot])
            already |= {("hotspot", sid) for sid in gone}
            result["session_removed"] = True
        except RouterCommandError as exc:
            errors.append(f"could not remove active session: {exc.message}")
    if ppp:
        try:
            gone = await remove(link, const.PPP_ACTIVE, [s.session_id for s in ppp])
            already |= {("ppp", sid) for sid in gone}
            result["ppp_removed"] = result["session_removed"] = True
        except RouterCommandError as exc:
            errors.append(f"could not remove PPP session: {exc.message}")
    return already


async def _disable(
    link: RouterLink,
    menu: str,
    ids: set[str],
    what: str,
    errors: list[str],
    name: str | None = None,
) -> bool:
    """``disabled=yes`` on these items (ids or a name) in one round trip; True if done.
    An item already gone is not there to disable; any other refusal goes to ``errors``."""
    if not ids:
        return False
    try:
        await link.call(f"{menu}/set", **{".id": ",".join(sorted(ids))}, disabled="yes")
    except RouterCommandError as exc:
        if not _missing(exc):
            errors.append(f"could not disable {what}: {exc.message}")
            return False
        if name is None or ids == {name}:
            return False
        # The cached id is gone (removed and made again by hand, say): once more by name.
        return await _disable(link, menu, {name}, what, errors)
    return True


async def _printed_gone(link: RouterLink, wanted: list[tuple[str, str]]) -> bool:
    """Without a listening mirror: print the menus and look for the removed ids."""
    for kind in sorted({kind for kind, _ in wanted}):
        rows = await link.call(f"{const.SESSION_MENUS[kind]}/print", **{".proplist": ".id"})
        present = {row.get(".id") for row in rows}
        if any(sid in present for k, sid in wanted if k == kind):
            return False
    return True


def _ms_since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 3)


def speed_profile(ent: wire.Entitlement) -> str | None:
    """The hotspot user profile that gives ``ent`` its plan's speed.

    A plan naming a profile of its own (other than "default") keeps it: the operator set its
    rate there. Otherwise a plan's rate-limit gets a profile ``ispfleet-<up>-<down>`` made on
    demand (RouterOS rates a hotspot user through its profile). A MAC with a bypassed binding
    skips the hotspot, and so any profile's rate."""
    if not ent.rate_limit or ent.profile not in (None, "default"):
        return ent.profile
    return const.RATE_PROFILE.format(rate=ent.rate_limit.replace("/", "-"))


async def ensure_speed_profile(link: RouterLink, ent: wire.Entitlement) -> str | None:
    """speed_profile(ent), created on the router with the plan's rate-limit if missing."""
    name = speed_profile(ent)
    if name is not None and name != ent.profile:
        if not await find(link, const.HOTSPOT_PROFILE, name=name):
            await link.call(
                f"{const.HOTSPOT_PROFILE}/add", name=name, **{"rate-limit": ent.rate_limit}
            )
    return name


async def grant_access(link: RouterLink, ent: wire.Entitlement) -> dict[str, Any]:
    """Hotspot user enabled (created if missing) at its plan's speed and, with a MAC, a
    ``bypassed`` binding."""
    errors: list[str] = []
    result: dict[str, Any] = {"user": None, "binding": None}
    try:
        profile = await ensure_speed_profile(link, ent)
        result["user"] = await ensure_user(link, ent, enabled=True, profile=profile)
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


# -- vouchers and billing --------------------------------------------------------------------

VOUCHER_COMMENT = "voucher {batch}"  # as operators know them from Mikhmon: which batch


async def create_voucher_user(link: RouterLink, voucher: wire.SyncedVoucher) -> str | None:
    """The voucher as a hotspot user (name and password the code); "created", or None when
    the router already has a user of that name (made before a restart: left as it is)."""
    if await find(link, const.HOTSPOT_USER, name=voucher.code):
        return None
    params: dict[str, Any] = {
        "name": voucher.code,
        "password": voucher.code,
        "comment": VOUCHER_COMMENT.format(batch=voucher.batch_id),
    }
    if voucher.profile:
        params["profile"] = voucher.profile
    try:
        await link.call(f"{const.HOTSPOT_USER}/add", **params)
    except RouterCommandError as exc:
        if "already have user" in exc.message:
            return None  # made meanwhile
        raise
    return "created"


async def lock_user_mac(link: RouterLink, username: str, mac: str) -> bool:
    """Bind the hotspot user to one device (``mac-address``): no other can log in with it.
    False when the router has no such user."""
    users = await find(link, const.HOTSPOT_USER, name=username)
    for user in users:
        await link.call(f"{const.HOTSPOT_USER}/set", **{".id": user[".id"], "mac-address": mac})
    return bool(users)


async def remove_user(link: RouterLink, username: str) -> bool:
    """Remove the hotspot user of that name; False when there was none."""
    users = await find(link, const.HOTSPOT_USER, name=username)
    await remove(link, const.HOTSPOT_USER, [u[".id"] for u in users])
    return bool(users)


async def cut_sessions(link: RouterLink, session_ids: list[str]) -> set[str]:
    """Remove these hotspot sessions; returns the ids that had already gone."""
    return await remove(link, const.HOTSPOT_ACTIVE, session_ids)
