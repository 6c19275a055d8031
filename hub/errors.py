"""Domain errors of the hub, mapped to HTTP by one middleware.

HubError
├── InvalidInput        400  bad request body or parameter
│   ├── PayloadTooLarge       413  the body is over the edge's limit
│   └── UnsupportedMediaType  415  a charset or Content-Encoding the hub cannot read
├── Unauthorized        401  missing or wrong credentials
├── Forbidden           403  authenticated, not allowed
├── NotFound            404  unknown, or another tenant's (never say which)
├── Conflict            409  already exists / token already used
├── RateLimited         429  carries retry_after seconds
├── CommandFailed       500  the agent ran the command and steps failed (carries details)
│   └── SessionNotFound 500  a disconnect found no session of the user: nothing was touched
├── ProviderFailed      502  the payment provider refused or failed the request
├── ProviderUnavailable 503  mobile money is not configured, or its provider is unreachable now
├── AgentUnavailable    503  the site's agent or router cannot be reached now
│   └── CommandTimedOut 503  no result within the command's timeout
└── DatabaseError       503  Postgres cannot be reached, started or migrated
"""

from __future__ import annotations

from typing import Any


class HubError(Exception):
    """Something went wrong in the hub."""

    status = 500

    def __init__(self, message: str | None = None, **extra: Any) -> None:
        self.message = message or (self.__doc__ or "").strip()
        self.extra = extra
        super().__init__(self.message)


class InvalidInput(HubError):
    """The request is not valid."""

    status = 400


class PayloadTooLarge(InvalidInput):
    """The request body is too large."""

    status = 413


class UnsupportedMediaType(InvalidInput):
    """The request body's charset or Content-Encoding is not supported."""

    status = 415


class Unauthorized(HubError):
    """Authentication credentials were not provided or are invalid."""

    status = 401


class Forbidden(HubError):
    """You are not allowed to do this."""

    status = 403


class NotFound(HubError):
    """Not found."""

    status = 404


class Conflict(HubError):
    """It already exists."""

    status = 409


class RateLimited(HubError):
    """Too many requests."""

    status = 429

    def __init__(self, retry_after: float, message: str | None = None) -> None:
        super().__init__(message, retry_after=retry_after)
        self.retry_after = retry_after


class CommandFailed(HubError):
    """The agent ran the command and some steps failed."""

    status = 500


class SessionNotFound(CommandFailed):
    """The router has no session of that user (seed 001's "Session not found")."""


class ProviderFailed(HubError):
    """The payment provider could not start the payment."""

    status = 502


class ProviderUnavailable(HubError):
    """The payment provider cannot be reached right now; retry later."""

    status = 503


class AgentUnavailable(HubError):
    """The site's agent or router cannot be reached right now."""

    status = 503


class CommandTimedOut(AgentUnavailable):
    """The agent did not answer within the command's timeout."""


class DatabaseError(HubError):
    """The hub's database cannot be reached, started or migrated."""

    status = 503
