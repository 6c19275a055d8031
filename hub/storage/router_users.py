"""The hotspot users agents mirror from their routers (table router_hotspot_users, 0012).

Written only by the agent link (hub.storage.link: snapshots and hotspot_user.* events); read
here for the dashboard, each user joined with its latest hotspot session on that router.
"""

from __future__ import annotations

from collections.abc import Iterable

from common import wire
from hub.domain import ActiveSession, RouterHotspotUser
from hub.storage import Executor, link

_SESSION_FIELDS = (
    "session_id",
    "kind",
    "username",
    "mac_address",
    "ip_address",
    "uptime_seconds",
    "idle_seconds",
    "bytes_in",
    "bytes_out",
    "login_by",
    "server",
    "updated_at",
)

# One index probe per user (current_sessions_username); of several logins of one user (shared
# users) the latest, i.e. the shortest uptime.
_USERS_WITH_SESSIONS = f"""
SELECT u.router_id, u.name, u.user_id, u.profile, u.disabled, u.comment,
       u.limit_uptime_seconds, u.mac_address,
       {", ".join(f"s.{name} AS s_{name}" for name in _SESSION_FIELDS)}
  FROM router_hotspot_users u
  LEFT JOIN LATERAL (
      SELECT * FROM current_sessions c
       WHERE c.router_id = u.router_id AND c.username = u.name AND c.kind = 'hotspot'
       ORDER BY c.uptime_seconds, c.session_id
       LIMIT 1
  ) s ON true
 WHERE u.router_id = $1
 ORDER BY u.name
"""


class HotspotUserRepository:
    """A router's configured hotspot users (the caller checks the router's tenant)."""

    def __init__(self, db: Executor) -> None:
        self._db = db

    async def with_sessions(self, router_id: int) -> list[RouterHotspotUser]:
        rows = await self._db.fetch(_USERS_WITH_SESSIONS, router_id)
        users = []
        for row in rows:
            session = None
            if row["s_session_id"] is not None:
                session = ActiveSession(
                    router_id=router_id, **{name: row[f"s_{name}"] for name in _SESSION_FIELDS}
                )
            users.append(
                RouterHotspotUser(
                    router_id=router_id,
                    name=row["name"],
                    user_id=row["user_id"],
                    profile=row["profile"],
                    disabled=row["disabled"],
                    comment=row["comment"],
                    limit_uptime_seconds=row["limit_uptime_seconds"],
                    mac_address=row["mac_address"],
                    session=session,
                )
            )
        return users

    async def replace(self, router_id: int, users: Iterable[wire.HotspotUser]) -> None:
        """The router's users become exactly these (what a snapshot writes; tests seed it)."""
        rows = {user.name: link.hotspot_user_row(user) for user in users}
        await link.IngestRepository(self._db).replace_hotspot_users(router_id, list(rows.values()))
