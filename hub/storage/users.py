"""Dashboard users (platform admins among them), their token families and admin tokens."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from hub.domain import Tenant, User
from hub.storage import Executor, conflict_on_duplicate
from hub.storage.tenants import TENANT_COLUMNS_T, tenant_from_row

_USER_FIELDS = ("id", "tenant_id", "email", "role", "username", "fullname", "phone")  # User's
_USER_COLUMNS = ", ".join(f"u.{name}" for name in _USER_FIELDS)
_RETURNING_USER = "RETURNING " + ", ".join(_USER_FIELDS)


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
        fullname: str | None = None,
        phone: str | None = None,
    ) -> User:
        with conflict_on_duplicate(f"a user {username or email!r} already exists"):
            row = await self._db.fetchrow(
                "INSERT INTO users (tenant_id, email, password_hash, role, username, fullname,"
                f" phone) VALUES ($1, $2, $3, $4, $5, $6, $7) {_RETURNING_USER}",
                tenant_id,
                email,
                password_hash,
                role,
                username,
                fullname,
                phone,
            )
        return User(**dict(row))

    async def find_login(self, login: str) -> tuple[User, str] | None:
        """An enabled user and their password hash: by email (case-insensitive) when the login
        has an "@", else by username (which never has one); at most one can match."""
        column = "lower(u.email)" if "@" in login else "u.username"
        row = await self._db.fetchrow(
            f"SELECT {_USER_COLUMNS}, u.password_hash FROM users u"
            f" WHERE {column} = lower($1) AND u.disabled_at IS NULL",
            login,
        )
        if row is None:
            return None
        password_hash = row["password_hash"]
        return User(**{k: v for k, v in row.items() if k != "password_hash"}), password_hash

    async def get(self, user_id: int, tenant_id: int | None) -> User | None:
        """A user; of that tenant only unless ``tenant_id`` is None (a platform admin's view)."""
        row = await self._db.fetchrow(
            f"SELECT {_USER_COLUMNS} FROM users u"
            " WHERE u.id = $1 AND ($2::bigint IS NULL OR u.tenant_id = $2)",
            user_id,
            tenant_id,
        )
        return User(**dict(row)) if row else None

    async def list(
        self, tenant_id: int | None, *, limit: int, offset: int
    ) -> tuple[list[User], int]:
        """A page of users by id (of one tenant, or all for None) and how many there are."""
        rows = await self._db.fetch(
            f"SELECT {_USER_COLUMNS}, count(*) OVER () AS total FROM users u"
            " WHERE $1::bigint IS NULL OR u.tenant_id = $1 ORDER BY u.id LIMIT $2 OFFSET $3",
            tenant_id,
            limit,
            offset,
        )
        total = (
            rows[0]["total"]
            if rows
            else await self._db.fetchval(
                "SELECT count(*) FROM users WHERE $1::bigint IS NULL OR tenant_id = $1", tenant_id
            )
        )
        return [User(**{k: v for k, v in row.items() if k != "total"}) for row in rows], total

    async def update(self, user_id: int, values: dict[str, object]) -> User | None:
        """Set the given columns (checked by the service); password_hash among them."""
        allowed = {"email", "username", "fullname", "phone", "role", "tenant_id", "password_hash"}
        assert set(values) <= allowed, values
        sets = ", ".join(f"{name} = ${i}" for i, name in enumerate(values, start=2))
        with conflict_on_duplicate("a user with that username or email already exists"):
            row = await self._db.fetchrow(
                f"UPDATE users SET {sets} WHERE id = $1 {_RETURNING_USER}",
                user_id,
                *values.values(),
            )
        return User(**dict(row)) if row else None

    async def delete(self, user_id: int) -> None:
        await self._db.execute("DELETE FROM users WHERE id = $1", user_id)

    async def signed_in(
        self, user_id: int, family_id: uuid.UUID
    ) -> tuple[User, Tenant | None] | None:
        """The enabled user whose login (token family) is neither revoked nor expired, with
        their tenant (None for one of no tenant): one round trip per authenticated request."""
        row = await self._db.fetchrow(
            f"SELECT {_USER_COLUMNS}, {TENANT_COLUMNS_T}"
            " FROM users u JOIN token_families f ON f.user_id = u.id"
            " LEFT JOIN tenants t ON t.id = u.tenant_id"
            " WHERE u.id = $1 AND f.id = $2 AND u.disabled_at IS NULL"
            " AND f.revoked_at IS NULL AND f.expires_at > now()",
            user_id,
            family_id,
        )
        if row is None:
            return None
        user = User(**{name: row[name] for name in _USER_FIELDS})
        return user, tenant_from_row(row, "t_") if row["t_id"] is not None else None


@dataclass(frozen=True, slots=True)
class RefreshState:
    """A presented refresh token as stored, its row locked until the transaction ends."""

    family_id: uuid.UUID
    user_id: int
    expires_at: datetime
    rotated: bool
    family_revoked: bool


class TokenFamilyRepository:
    """Logins (token families) and their single-use refresh tokens (stored as sha256)."""

    def __init__(self, db: Executor) -> None:
        self._db = db

    async def start(self, user_id: int, expires_at: datetime) -> uuid.UUID:
        family_id = uuid.uuid4()
        await self._db.execute(
            "INSERT INTO token_families (id, user_id, expires_at) VALUES ($1, $2, $3)",
            family_id,
            user_id,
            expires_at,
        )
        # Logins past their end are useless: drop them while we are here.
        await self._db.execute("DELETE FROM token_families WHERE expires_at < now()")
        return family_id

    async def add_refresh(self, family_id: uuid.UUID, token_hash: bytes, expires_at: datetime):
        await self._db.execute(
            "INSERT INTO refresh_tokens (token_hash, family_id, expires_at) VALUES ($1, $2, $3)",
            token_hash,
            family_id,
            expires_at,
        )

    async def lock_refresh(self, token_hash: bytes) -> RefreshState | None:
        row = await self._db.fetchrow(
            "SELECT r.family_id, f.user_id, r.expires_at, r.rotated_at IS NOT NULL AS rotated,"
            " f.revoked_at IS NOT NULL AS family_revoked"
            " FROM refresh_tokens r JOIN token_families f ON f.id = r.family_id"
            " WHERE r.token_hash = $1 FOR UPDATE OF r, f",
            token_hash,
        )
        return RefreshState(**dict(row)) if row else None

    async def mark_rotated(self, token_hash: bytes) -> None:
        await self._db.execute(
            "UPDATE refresh_tokens SET rotated_at = now() WHERE token_hash = $1", token_hash
        )

    async def revoke_user(self, user_id: int, reason: str) -> None:
        """Every live login of the user (a password change signs them out everywhere)."""
        await self._db.execute(
            "UPDATE token_families SET revoked_at = now(), revoked_reason = $2"
            " WHERE user_id = $1 AND revoked_at IS NULL",
            user_id,
            reason,
        )

    async def revoke(self, family_id: uuid.UUID, reason: str) -> None:
        await self._db.execute(
            "UPDATE token_families SET revoked_at = now(), revoked_reason = $2"
            " WHERE id = $1 AND revoked_at IS NULL",
            family_id,
            reason,
        )

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
