"""Credentials: tenant API keys, dashboard users, platform admins and their bearer tokens.

API keys look like ``ifk_<prefix>_<secret>``; only sha256 of the whole key is stored, the prefix
finds the row. Passwords are argon2id. Admin tokens (the /api/admin face) are random, stored as
sha256, and expire after ``config.admin_token_hours``; dashboard users (the billing face) get
short-lived JWT access tokens (hub/services/tokens.py).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import argon2
import asyncpg

from common.timeutil import utcnow
from hub.config import HubConfig
from hub.domain import ROLES, ApiKey, ApiKeyPrincipal, Caller, User
from hub.errors import Forbidden, InvalidInput, NotFound, Unauthorized
from hub.services.audit import AuditEntry, write_audit
from hub.services.tokens import SESSION, AccessClaims, TokenService
from hub.storage.callbacks import StreamTicket, StreamTicketRepository
from hub.storage.tenants import ApiKeyRepository, TenantRepository
from hub.storage.users import AdminTokenRepository, TokenFamilyRepository, UserRepository

log = logging.getLogger(__name__)

API_KEY_PREFIX = "ifk_"
ADMIN_TOKEN_PREFIX = "ifs_"
MIN_PASSWORD_LENGTH = 10
_API_KEY = re.compile(r"^ifk_([0-9a-f]{12})_[A-Za-z0-9_-]{20,}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_USERNAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{1,63}$")  # no "@": a login with one is an email
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


@dataclass(frozen=True, slots=True)
class SignedIn:
    """What a login or a refresh hands out; ``refresh_token`` only where one was asked for."""

    user: User
    access_token: str
    access_expires_at: datetime
    refresh_token: str | None = None
    refresh_expires_at: datetime | None = None


INVALID_REFRESH = "Invalid or expired refresh token"
TENANT_DEACTIVATED = "This tenant is deactivated"
KEY_TOUCH_EVERY = timedelta(minutes=1)
REFRESH_REUSED = "Refresh token already used: every session of this login is signed out"
STREAM_TICKET_PREFIX = "ist_"
STREAM_TICKET_SECONDS = 30
INVALID_TICKET = "Invalid, expired or already used stream ticket"


async def hash_password(password: object) -> str:
    """argon2id of an acceptable password, off the event loop."""
    if not isinstance(password, str):
        raise InvalidInput("password is required")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(f"password must have at least {MIN_PASSWORD_LENGTH} characters")
    return await asyncio.to_thread(_hasher.hash, password)


def dashboard_username(value: str) -> str:
    """A login name as stored: lower case, 2-64 characters of a safe alphabet."""
    username = value.strip().lower()
    if not _USERNAME.fullmatch(username):
        raise InvalidInput(
            "username must be 2-64 characters: lower-case letters, digits, '_', '.', '-'"
        )
    return username


def email_address(value: str) -> str:
    email = value.strip()
    if not _EMAIL.fullmatch(email):
        raise InvalidInput(f"not an email address: {value!r}")
    return email


class AuthService:
    def __init__(
        self, pool: asyncpg.Pool, config: HubConfig, tokens: TokenService | None = None
    ) -> None:
        self._pool = pool
        self._config = config
        self._tokens = tokens

    @property
    def refresh_lifetime(self) -> timedelta:
        return timedelta(days=self._config.refresh_token_days)

    @property
    def tokens(self) -> TokenService:
        """Made on first use: a CLI command that issues no token leaves the data dir alone."""
        if self._tokens is None:
            self._tokens = TokenService.from_config(self._config)
        return self._tokens

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
        if not principal.tenant.is_active:
            raise Forbidden(TENANT_DEACTIVATED)
        used = principal.key.last_used_at
        if used is None or utcnow() - used > KEY_TOUCH_EVERY:
            # last_used_at to the minute: no write per request on the hot read paths
            await ApiKeyRepository(self._pool).touch(principal.key.id)
        return principal

    async def create_admin(self, email: str, password: str) -> User:
        """A platform administrator (no tenant)."""
        email = email_address(email)
        password_hash = await hash_password(password)
        return await UserRepository(self._pool).create(email, password_hash, "platform_admin")

    async def create_user(
        self,
        tenant_slug: str | None,
        username: str,
        password: str,
        role: str,
        email: str | None = None,
        *,
        fullname: str | None = None,
        phone: str | None = None,
    ) -> User:
        """A dashboard user who logs in with ``username`` (seed 003) or email (seed 004).

        ``tenant_slug`` None: a user of no tenant yet (self-registered), who sees nothing until a
        platform admin assigns one."""
        username = dashboard_username(username)
        if role not in ROLES:
            raise InvalidInput(f"role must be one of {', '.join(ROLES)}")
        email = email_address(email) if email is not None else None
        password_hash = await hash_password(password)
        tenant_id = None
        if tenant_slug is not None:
            tenant = await TenantRepository(self._pool).get_by_slug(tenant_slug)
            if tenant is None:
                raise NotFound(f"no tenant with slug {tenant_slug!r}")
            tenant_id = tenant.id
        return await UserRepository(self._pool).create(
            email,
            password_hash,
            role,
            tenant_id,
            username,
            fullname=fullname,
            phone=phone,
        )

    async def register(
        self,
        username: str,
        email: str | None,
        password: str,
        fullname: str | None = None,
        phone: str | None = None,
    ) -> User:
        """POST /v1/auth/register: off unless the hub config enables it; a viewer of no tenant."""
        if not self._config.registration_enabled:
            raise Forbidden("Registration is disabled on this hub")
        return await self.create_user(
            None, username, password, "viewer", email, fullname=fullname, phone=phone
        )

    async def _verify_login(self, login: str, password: str) -> User | None:
        """The enabled user of this username or email when the password is theirs.

        An unknown login is verified against a dummy hash, so both cost the same time."""
        users = UserRepository(self._pool)
        found = await users.find_login(login) if "\x00" not in login else None
        password_hash = found[1] if found else _DUMMY_HASH
        try:
            await asyncio.to_thread(_hasher.verify, password_hash, password)
        except (argon2.exceptions.VerificationError, argon2.exceptions.InvalidHashError):
            return None
        if found is None:
            return None
        if _hasher.check_needs_rehash(password_hash):
            new_hash = await asyncio.to_thread(_hasher.hash, password)
            await users.set_password_hash(found[0].id, new_hash)
        return found[0]

    async def login(self, login: str, password: str, *, refresh: bool = False) -> SignedIn:
        """A new login (token family) and its access token; a refresh token too if asked
        (seed 004's /v1 login: seed 003's dashboard login has none)."""
        user = await self._verify_login(login, password)
        if user is None:
            raise Unauthorized("Incorrect username or password")
        await self._tenant_active(user)
        async with self._pool.acquire() as conn, conn.transaction():
            families = TokenFamilyRepository(conn)
            if refresh:
                ends = utcnow() + self.refresh_lifetime
                family_id = await families.start(user.id, ends)
                token, expires_at = await self._new_refresh(families, family_id, ends)
            else:
                family_id = await families.start(user.id, utcnow() + self.tokens.lifetime)
                token = expires_at = None
        access, access_expires_at = self.tokens.issue(user, family_id)
        return SignedIn(user, access, access_expires_at, token, expires_at)

    async def _tenant_active(self, user: User) -> None:
        """403 for a user of a deactivated tenant (at login and refresh, as on every request)."""
        if user.tenant_id is not None:
            tenant = await TenantRepository(self._pool).get(user.tenant_id)
            if tenant is not None and not tenant.is_active:
                raise Forbidden(TENANT_DEACTIVATED)

    async def _new_refresh(
        self, families: TokenFamilyRepository, family_id: uuid.UUID, expires_at: datetime
    ) -> tuple[str, datetime]:
        """A refresh token of the login, ending when the login ends (rotation never extends
        a login past refresh_token_days)."""
        token = str(uuid.uuid4())  # 122 random bits from os.urandom: seed 004's "uuid_string"
        await families.add_refresh(family_id, _sha256(token), expires_at)
        return token, expires_at

    async def refresh(self, refresh_token: str) -> SignedIn:
        """A new access token and a new refresh token (rotation); the old one is spent.

        A spent token presented again means two parties hold it: the whole login is revoked
        (audit-logged), so the thief's copy and the owner's both stop working."""
        token_hash = _sha256(refresh_token)
        reused: tuple[uuid.UUID, int] | None = None
        async with self._pool.acquire() as conn, conn.transaction():
            families = TokenFamilyRepository(conn)
            state = await families.lock_refresh(token_hash)
            if state is None or state.family_revoked or state.expires_at <= utcnow():
                raise Unauthorized(INVALID_REFRESH)
            if state.rotated:
                await families.revoke(state.family_id, "reuse")
                reused = (state.family_id, state.user_id)
            else:
                found = await UserRepository(conn).signed_in(state.user_id, state.family_id)
                if found is None:
                    raise Unauthorized(INVALID_REFRESH)
                user, tenant = found
                if tenant is not None and not tenant.is_active:
                    raise Forbidden(TENANT_DEACTIVATED)
                await families.mark_rotated(token_hash)
                token, expires_at = await self._new_refresh(
                    families, state.family_id, state.expires_at
                )
        if reused is not None:
            family_id, user_id = reused
            log.warning("refresh token reused: login revoked user=%s family=%s", user_id, family_id)
            entry = AuditEntry(f"user_id:{user_id}", "refresh_token_reuse")
            entry.target = str(family_id)
            await write_audit(self._pool, entry, Unauthorized(REFRESH_REUSED))
            raise Unauthorized(REFRESH_REUSED)
        access, access_expires_at = self.tokens.issue(user, state.family_id)
        return SignedIn(user, access, access_expires_at, token, expires_at)

    async def logout(self, refresh_token: str) -> None:
        """Revoke the login of this refresh token: its access tokens stop working at once."""
        async with self._pool.acquire() as conn, conn.transaction():
            families = TokenFamilyRepository(conn)
            state = await families.lock_refresh(_sha256(refresh_token))
            if state is None or state.family_revoked:
                raise Unauthorized(INVALID_REFRESH)
            await families.revoke(state.family_id, "logout")

    async def authenticate_caller(self, authorization: str | None) -> Caller:
        """The billing face's caller: a tenant API key (acting as admin) or a user's JWT."""
        token = bearer_token(authorization)
        if token.startswith(API_KEY_PREFIX):
            principal = await self.authenticate_api_key(authorization)
            return Caller(principal.tenant, "admin", principal.actor)
        return await self._signed_in_caller(self.tokens.verify(token))

    async def _signed_in_caller(self, claims: AccessClaims) -> Caller:
        """The user of a verified token whose login is still live (not revoked, not ended)."""
        found = await UserRepository(self._pool).signed_in(claims.user_id, claims.family_id)
        if found is None or found[0].tenant_id != claims.tenant_id:
            raise Unauthorized("Invalid token")
        user, tenant = found
        if tenant is not None and not tenant.is_active:
            raise Forbidden(TENANT_DEACTIVATED)
        return Caller(tenant, user.role, user.actor, user.id, user)

    @property
    def session_lifetime(self) -> timedelta:
        return timedelta(hours=self._config.dashboard_session_hours)

    async def start_session(self, login: str, password: str) -> SignedIn:
        """A dashboard sign-in: a login family lasting ``dashboard_session_hours`` and its
        session token (a JWT of kind "session", never accepted as a bearer token). The
        family is checked on every request, so signing out ends it at once."""
        user = await self._verify_login(login, password)
        if user is None:
            raise Unauthorized("Incorrect username or password")
        await self._tenant_active(user)
        ends = utcnow() + self.session_lifetime
        family_id = await TokenFamilyRepository(self._pool).start(user.id, ends)
        token, expires_at = self.tokens.issue(
            user, family_id, kind=SESSION, lifetime=self.session_lifetime
        )
        return SignedIn(user, token, expires_at)

    async def authenticate_session(self, token: str | None) -> Caller:
        """The caller of a dashboard session cookie; Unauthorized when absent, forged,
        expired or signed out."""
        if not token:
            raise Unauthorized("Sign in to use the dashboard")
        return await self._signed_in_caller(self.tokens.verify(token, kind=SESSION))

    async def end_session(self, token: str | None) -> None:
        """Sign a dashboard session out (its login family revoked); a dead one is ignored."""
        if not token:
            return
        try:
            claims = self.tokens.verify(token, kind=SESSION)
        except Unauthorized:
            return
        await TokenFamilyRepository(self._pool).revoke(claims.family_id, "logout")

    async def issue_stream_ticket(
        self, authorization: str | None, caller: Caller, tenant_id: int
    ) -> tuple[str, int]:
        """A ticket that opens one WebSocket within STREAM_TICKET_SECONDS, as this caller
        acting on ``tenant_id``; returns it (stored as sha256 only) and its lifetime."""
        token = bearer_token(authorization)
        if token.startswith(API_KEY_PREFIX):
            match = _API_KEY.fullmatch(token)
            assert match is not None  # the middleware authenticated it
            ticket = StreamTicket(None, None, match[1], tenant_id)
        else:
            claims = self.tokens.verify(token)
            ticket = StreamTicket(claims.user_id, claims.family_id, None, tenant_id)
        secret = STREAM_TICKET_PREFIX + secrets.token_urlsafe(32)
        expires_at = utcnow() + timedelta(seconds=STREAM_TICKET_SECONDS)
        await StreamTicketRepository(self._pool).create(_sha256(secret), ticket, expires_at)
        return secret, STREAM_TICKET_SECONDS

    async def redeem_stream_ticket(self, ticket: str) -> Caller:
        """The caller a ticket was issued to, checked again now (a logout, a disabled user, a
        revoked key or a deactivated tenant since then refuses it); the ticket is spent."""
        if not ticket.startswith(STREAM_TICKET_PREFIX) or len(ticket) > 128:
            raise Unauthorized(INVALID_TICKET)
        found = await StreamTicketRepository(self._pool).take(_sha256(ticket))
        if found is None:
            raise Unauthorized(INVALID_TICKET)
        if found.api_key_prefix is not None:
            key = await ApiKeyRepository(self._pool).find_active(found.api_key_prefix)
            if key is None:
                raise Unauthorized(INVALID_TICKET)
            principal = key[0]
            if not principal.tenant.is_active:
                raise Forbidden(TENANT_DEACTIVATED)
            return Caller(principal.tenant, "admin", principal.actor)
        assert found.user_id is not None and found.family_id is not None
        signed_in = await UserRepository(self._pool).signed_in(found.user_id, found.family_id)
        if signed_in is None:
            raise Unauthorized(INVALID_TICKET)
        user, tenant = signed_in
        if tenant is None and user.role == "platform_admin" and found.tenant_id is not None:
            tenant = await TenantRepository(self._pool).get(found.tenant_id)  # the one it named
        if tenant is not None and not tenant.is_active:
            raise Forbidden(TENANT_DEACTIVATED)
        return Caller(tenant, user.role, user.actor, user.id, user)

    async def admin_login(self, email: str, password: str) -> tuple[str, datetime]:
        """A fresh bearer token for a platform admin, and when it expires."""
        user = await self._verify_login(email, password)
        if user is None or user.role != "platform_admin":
            raise Unauthorized("Invalid email or password")
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
