"""Dashboard users (platform admins among them) and admin bearer tokens."""

from __future__ import annotations

from datetime import datetime

from hub.domain import User
from hub.storage import Executor, conflict_on_duplicate

_USER_COLUMNS = "u.id, u.tenant_id, u.email, u.role, u.username"


class UserRepository:
    def __init__(self, db: Executor) -> None:
        self._db = db

    async def create(
        self,
        email: str | None,
        password_hash: str,
        role: str,
        tenant_id: int | None = None,
        username: str | None = None,
    ) -> User:
        with conflict_on_duplicate(f"a user {username or email!r} already exists"):
            row = await self._db.fetchrow(
                "INSERT INTO users (tenant_id, email, password_hash, role, username)"
                " VALUES ($1, $2, $3, $4, $5) RETURNING id, tenant_id, email, role, username",
                tenant_id,
                email,
                password_hash,
                role,
                username,
            )
        return User(**dict(row))

    async def find_login(self, login: str) -> tuple[User, str] | None:
        """An enabled user by username or email (case-insensitive) and their password hash."""
        row = await self._db.fetchrow(
            f"SELECT {_USER_COLUMNS}, u.password_hash FROM users u"
            " WHERE (u.username = lower($1) OR lower(u.email) = lower($1))"
            " AND u.disabled_at IS NULL",
            login,
        )
        if row is None:
            return None
        password_hash = row["password_hash"]
        return User(**{k: v for k, v in row.items() if k != "password_hash"}), password_hash

    async def get_enabled(self, user_id: int) -> User | None:
        row = await self._db.fetchrow(
            f"SELECT {_USER_COLUMNS} FROM users u WHERE u.id = $1 AND u.disabled_at IS NULL",
            user_id,
        )
        return User(**dict(row)) if row else None

    async def set_password_hash(self, user_id: int, password_hash: str) -> None:
        await self._db.execute(
            "UPDATE users SET password_hash = $2 WHERE id = $1", user_id, password_hash
        )


class AdminTokenRepository:
    def __init__(self, db: Executor) -> None:
        self._db = db

    async def create(self, user_id: int, token_hash: bytes, expires_at: datetime) -> None:
        await self._db.execute(
            "INSERT INTO admin_tokens (token_hash, user_id, expires_at) VALUES ($1, $2, $3)",
            token_hash,
            user_id,
            expires_at,
        )
        # Tokens past their expiry are useless: drop them while we are here.
        await self._db.execute("DELETE FROM admin_tokens WHERE expires_at < now()")

    async def find_user(self, token_hash: bytes) -> User | None:
        """The enabled user holding this unexpired token."""
        row = await self._db.fetchrow(
            f"SELECT {_USER_COLUMNS} FROM admin_tokens a JOIN users u ON u.id = a.user_id"
            " WHERE a.token_hash = $1 AND a.expires_at > now() AND u.disabled_at IS NULL",
            token_hash,
        )
        return User(**dict(row)) if row else None
