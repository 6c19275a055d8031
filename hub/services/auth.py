"""Credentials: tenant API keys, platform admins and their bearer tokens.

API keys look like ``ifk_<prefix>_<secret>``; only sha256 of the whole key is stored, the prefix
finds the row. Admin passwords are argon2id; admin tokens are random, stored as sha256, and
expire after ``config.admin_token_hours``.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import re
import secrets
from datetime import datetime, timedelta

import argon2
import asyncpg

from common.timeutil import utcnow
from hub.config import HubConfig
from hub.domain import ApiKey, ApiKeyPrincipal, User
from hub.errors import InvalidInput, NotFound, Unauthorized
from hub.storage.tenants import ApiKeyRepository, TenantRepository
from hub.storage.users import AdminTokenRepository, UserRepository

API_KEY_PREFIX = "ifk_"
ADMIN_TOKEN_PREFIX = "ifs_"
MIN_PASSWORD_LENGTH = 10
_API_KEY = re.compile(r"^ifk_([0-9a-f]{12})_[A-Za-z0-9_-]{20,}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_hasher = argon2.PasswordHasher()
# Verified against when the email is unknown, so both cases cost the same time.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


def _sha256(text: str) -> bytes:
    return hashlib.sha256(text.encode()).digest()


def bearer_token(authorization: str | None) -> str:
    """The token of an ``Authorization: Bearer <token>`` header."""
    scheme, _, token = (authorization or "").strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("Authentication credentials were not provided")
    return token.strip()


class AuthService:
    def __init__(self, pool: asyncpg.Pool, config: HubConfig) -> None:
        self._pool = pool
        self._config = config

    async def issue_api_key(self, tenant_slug: str, name: str = "default") -> tuple[ApiKey, str]:
        """A new key for the tenant; the secret is returned once and never stored."""
        if not name.strip():
            raise InvalidInput("API key name must not be empty")
        tenant = await TenantRepository(self._pool).get_by_slug(tenant_slug)
        if tenant is None:
            raise NotFound(f"no tenant with slug {tenant_slug!r}")
        prefix = secrets.token_hex(6)
        secret = f"{API_KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
        key = await ApiKeyRepository(self._pool).create(
            tenant.id, name.strip(), prefix, _sha256(secret)
        )
        return key, secret

    async def authenticate_api_key(self, authorization: str | None) -> ApiKeyPrincipal:
        secret = bearer_token(authorization)
        match = _API_KEY.fullmatch(secret)
        found = await ApiKeyRepository(self._pool).find_active(match[1]) if match else None
        if found is None or not hmac.compare_digest(found[1], _sha256(secret)):
            raise Unauthorized("Invalid API key")
        principal = found[0]
        await ApiKeyRepository(self._pool).touch(principal.key.id)
        return principal

    async def create_admin(self, email: str, password: str) -> User:
        """A platform administrator (no tenant)."""
        email = email.strip()
        if not _EMAIL.fullmatch(email):
            raise InvalidInput(f"not an email address: {email!r}")
        if len(password) < MIN_PASSWORD_LENGTH:
            raise InvalidInput(f"password must have at least {MIN_PASSWORD_LENGTH} characters")
        password_hash = await asyncio.to_thread(_hasher.hash, password)
        return await UserRepository(self._pool).create(email, password_hash, "platform_admin")

    async def admin_login(self, email: str, password: str) -> tuple[str, datetime]:
        """A fresh bearer token for a platform admin, and when it expires."""
        users = UserRepository(self._pool)
        found = await users.find_login(email) if "\x00" not in email else None
        password_hash = found[1] if found else _DUMMY_HASH
        try:
            await asyncio.to_thread(_hasher.verify, password_hash, password)
        except argon2.exceptions.VerificationError:
            found = None
        except argon2.exceptions.InvalidHashError:
            found = None
        if found is None or found[0].role != "platform_admin":
            raise Unauthorized("Invalid email or password")
        user = found[0]
        if _hasher.check_needs_rehash(password_hash):
            await users.set_password_hash(user.id, await asyncio.to_thread(_hasher.hash, password))
        token = ADMIN_TOKEN_PREFIX + secrets.token_urlsafe(32)
        expires_at = utcnow() + timedelta(hours=self._config.admin_token_hours)
        await AdminTokenRepository(self._pool).create(user.id, _sha256(token), expires_at)
        return token, expires_at

    async def authenticate_admin(self, authorization: str | None) -> User:
        token = bearer_token(authorization)
        user = await AdminTokenRepository(self._pool).find_user(_sha256(token))
        if user is None or user.role != "platform_admin":
            raise Unauthorized("Invalid or expired token")
        return user
