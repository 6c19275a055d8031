"""Router callbacks (seed 004 section 11): a router's PPP profile scripts (on-up / on-down, with
``/tool fetch``) tell the hub that a PPPoE client came up or went down.

Each router has its own callback secret (``ispfleet-hub callback-secret``, shown once, stored as
sha256), sent in the ``X-Callback-Secret`` header. An event names the session by its
``/ppp/active`` id (the same key the agent's mirror uses, so the two views agree): the same
event twice changes nothing the second time, and an "up" of a session whose "down" was already
recorded is a replay and refused. An event that changed something is written through
hub/storage in one transaction and announced on the live feed, which wakes the PPP streams.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

import asyncpg

from common import wire
from common.mac import is_mac, normalize_mac
from hub.config import HubConfig
from hub.domain import Router
from hub.errors import Conflict, NotFound, Unauthorized
from hub.services.audit import AuditEntry, write_audit
from hub.storage.callbacks import CallbackRepository
from hub.storage.link import announce_change
from hub.storage.routers import RouterRepository

SECRET_PREFIX = "icb_"
SECRET_HEADER = "X-Callback-Secret"
INVALID_SECRET = "Invalid callback secret"


def _sha256(text: str) -> bytes:
    return hashlib.sha256(text.encode()).digest()


@dataclass(frozen=True, slots=True)
class PppoeEvent:
    action: str  # "up" | "down"
    name: str
    session_id: str | None  # /ppp/active .id ("*80000077"); a "down" may leave it out
    caller_id: str | None = None
    interface: str | None = None
    local_address: str | None = None
    remote_address: str | None = None
    service: str | None = "pppoe"


class CallbackService:
    def __init__(self, pool: asyncpg.Pool, config: HubConfig) -> None:
        self._pool = pool
        self._config = config

    async def create_secret(self, router_id: int) -> tuple[Router, str]:
        """A new callback secret for the router (the previous one stops working)."""
        repo = RouterRepository(self._pool, offline_after=self._config.agent_offline_after)
        router = await repo.get(router_id, None)
        if router is None:
            raise NotFound(f"no router with id {router_id}")
        secret = SECRET_PREFIX + secrets.token_urlsafe(32)
        await CallbackRepository(self._pool).set_secret(router_id, _sha256(secret))
        return router, secret

    async def authenticate(self, secret: str | None) -> Router:
        """The router a callback secret belongs to; 401 for anything else."""
        if not secret or not secret.startswith(SECRET_PREFIX) or len(secret) > 128:
            raise Unauthorized(INVALID_SECRET)
        router_id = await CallbackRepository(self._pool).router_of(_sha256(secret))
        repo = RouterRepository(self._pool, offline_after=self._config.agent_offline_after)
        router = await repo.get(router_id, None) if router_id is not None else None
        if router is None:
            raise Unauthorized(INVALID_SECRET)
        return router

    async def pppoe(self, router: Router, event: PppoeEvent) -> bool:
        """Apply one event; False when it changed nothing (seen before). 409 for a replay."""
        async with self._pool.acquire() as connection, connection.transaction():
            repo = CallbackRepository(connection)
            if event.action == "up":
                assert event.session_id is not None
                if await repo.has_event(router.id, event.session_id, "down"):
                    raise Conflict(
                        f"callback refused: session {event.session_id} of {event.name}"
                        " already went down (a replayed up)"
                    )
                changed = await repo.record_event(router.id, event.session_id, "up", event.name)
                if changed:
                    await repo.session_up(router.id, _session(event))
            else:
                ended = [event.session_id] if event.session_id else await self._ids(router, event)
                changed = False
                for session_id in ended:
                    if await repo.record_event(router.id, session_id, "down", event.name):
                        await repo.session_down(router.id, session_id)
                        changed = True
            entry = AuditEntry(
                actor=f"router:{router.id}",
                action=f"pppoe_{event.action}_callback",
                tenant_id=router.tenant.id,
                router_id=router.id,
                target=event.name,
                params={"session_id": event.session_id, "changed": changed},
            )
            await write_audit(connection, entry)
        if changed:
            await announce_change(self._pool, router.tenant.id, router.agent_id)
        return changed

    async def _ids(self, router: Router, event: PppoeEvent) -> list[str]:
        """The sessions of the event's PPP user on the router (a "down" without an id)."""
        rows = await self._pool.fetch(
            "SELECT session_id FROM current_sessions"
            " WHERE router_id = $1 AND username = $2 AND kind = 'ppp'",
            router.id,
            event.name,
        )
        return [row["session_id"] for row in rows]


def _session(event: PppoeEvent) -> wire.Session:
    assert event.session_id is not None
    caller = event.caller_id
    return wire.Session(
        session_id=event.session_id,
        kind="ppp",
        username=event.name,
        mac_address=normalize_mac(caller) if caller and is_mac(caller) else None,
        ip_address=event.remote_address or None,
        uptime_seconds=0,
        idle_seconds=None,
        bytes_in=0,
        bytes_out=0,
        login_by=event.service,
        server=event.service,
    )


# The JSON keys of a callback body and the on-up/on-down variable each comes from.
_SCRIPT_FIELDS = (
    ("id", "$id"),
    ("name", "$user"),
    ("caller_id", '$"caller-id"'),
    ("interface", "$interface"),
    ("local_address", '$"local-address"'),
    ("remote_address", '$"remote-address"'),
)


def routeros_quote(text: str) -> str:
    """``text`` as a RouterOS string literal (backslash, quote and ``$`` escaped)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$") + '"'


def callback_source(hub_url: str, secret: str, action: str) -> str:
    """The on-up / on-down script: the session's /ppp/active id and the variables RouterOS
    gives the script, POSTed as JSON with ``/tool fetch`` (values joined with ``.``)."""
    url = f"{hub_url.rstrip('/')}/v1/callbacks/pppoe/{action}"
    parts = []
    for index, (key, variable) in enumerate(_SCRIPT_FIELDS):
        lead = "{" if index == 0 else ","
        parts.append(f'"{lead}\\"{key}\\":\\"" . {variable} . "\\""')
    data = " . ".join(parts) + ' . ",\\"service\\":\\"pppoe\\"}"'
    headers = f"Content-Type: application/json,{SECRET_HEADER}: {secret}"
    return (
        ":local id [:tostr [/ppp active find where name=$user]]; "
        f'/tool fetch url="{url}" http-method=post http-header-field="{headers}"'
        f" http-data=({data}) output=none"
    )


def routeros_script(hub_url: str, secret: str, profile: str) -> str:
    """The RouterOS commands to paste: ``profile``'s sessions call the hub on up and down."""
    return "\n".join(
        f"/ppp profile set [find name={routeros_quote(profile)}]"
        f" on-{action}={routeros_quote(callback_source(hub_url, secret, action))}"
        for action in ("up", "down")
    )
