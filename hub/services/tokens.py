"""Short-lived access tokens of dashboard users: HS256 JWTs (pyjwt).

The billing face (seed 003) and the /v1 API (seed 004) accept the same tokens. A token names its
user (``sub``), the user's tenant (``tid``, absent for a platform admin) and role; the auth
middleware still reads the user on every request, so a disabled user is out at once, and the
role in the token is only what it was at login.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt

from common.timeutil import utcnow
from hub.config import HubConfig
from hub.domain import User
from hub.errors import Unauthorized
from hub.keyfile import local_key

ALGORITHM = "HS256"
ISSUER = "ispfleet"
KEY_FILE = "jwt.key"
ACCESS = "access"  # a bearer token of the billing face and /v1
SESSION = "session"  # the dashboard's session cookie (hub/web/dashboard)


@dataclass(frozen=True, slots=True)
class AccessClaims:
    user_id: int
    tenant_id: int | None
    role: str
    family_id: uuid.UUID  # the login it belongs to: revoked at logout or refresh-token reuse
    expires_at: datetime


def signing_key(config: HubConfig) -> bytes:
    """config.jwt_secret, else the key in data_dir/jwt.key, made (mode 0600) on first start."""
    if config.jwt_secret:
        return config.jwt_secret.encode()
    return local_key(config, KEY_FILE, lambda: secrets.token_urlsafe(48)).encode()


class TokenService:
    def __init__(self, key: bytes, lifetime: timedelta) -> None:
        if len(key) < 32:
            raise ValueError("the JWT signing key must have at least 32 bytes")
        self._key = key
        self._lifetime = lifetime

    @classmethod
    def from_config(cls, config: HubConfig) -> TokenService:
        return cls(signing_key(config), timedelta(minutes=config.access_token_minutes))

    @property
    def lifetime(self) -> timedelta:
        return self._lifetime

    def issue(
        self,
        user: User,
        family_id: uuid.UUID,
        *,
        kind: str = ACCESS,
        lifetime: timedelta | None = None,
    ) -> tuple[str, datetime]:
        """A token for ``user`` in the login ``family_id``, and when it expires: an access
        token by default, or a dashboard session (``kind=SESSION``, its own lifetime)."""
        now = utcnow().replace(microsecond=0)
        expires_at = now + (lifetime or self._lifetime)
        claims: dict[str, object] = {
            "iss": ISSUER,
            "typ": kind,
            "sub": str(user.id),
            "fam": str(family_id),
            "role": user.role,
            "iat": now,
            "exp": expires_at,
        }
        if user.tenant_id is not None:
            claims["tid"] = user.tenant_id
        return jwt.encode(claims, self._key, algorithm=ALGORITHM), expires_at

    def verify(self, token: str, *, kind: str = ACCESS) -> AccessClaims:
        """The claims of a valid, unexpired token of ``kind``; Unauthorized for anything else
        (a session cookie is no bearer token, nor a bearer token a session)."""
        try:
            claims = jwt.decode(
                token,
                self._key,
                algorithms=[ALGORITHM],
                issuer=ISSUER,
                options={"require": ["exp", "iat", "sub", "iss", "fam"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise Unauthorized("Token expired") from exc
        except jwt.PyJWTError as exc:
            raise Unauthorized("Invalid token") from exc
        sub, tid, role = claims.get("sub"), claims.get("tid"), claims.get("role")
        if (
            claims.get("typ") != kind
            or not isinstance(sub, str)
            or not sub.isdigit()
            or not isinstance(role, str)
            or (tid is not None and (isinstance(tid, bool) or not isinstance(tid, int)))
        ):
            raise Unauthorized("Invalid token")
        try:
            family_id = uuid.UUID(str(claims["fam"]))
        except ValueError as exc:
            raise Unauthorized("Invalid token") from exc
        expires_at = datetime.fromtimestamp(claims["exp"], UTC)
        return AccessClaims(int(sub), tid, role, family_id, expires_at)
