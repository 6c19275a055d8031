"""Errors of routersim, one tree.

RouterSimError
├── ProtocolError   bytes on the wire that are not RouterOS API words
├── Trap            a command refused the way RouterOS refuses it (!trap message, category)
├── LoginRefused    a simulated client could not log in (unknown or disabled user, blocked MAC)
└── ControlError    a control-API call with bad input (unknown session, bad MAC); a ValueError
"""

from __future__ import annotations


class RouterSimError(Exception):
    """Something went wrong in the RouterOS simulator."""


class ProtocolError(RouterSimError):
    """The peer sent bytes that are not valid RouterOS API words."""


class Trap(RouterSimError):
    """A command failed: the server answers with one ``!trap`` per entry, then ``!done``."""

    def __init__(
        self, message: str, category: int | None = None, *more: tuple[str, int | None]
    ) -> None:
        super().__init__(message)
        self.traps: tuple[tuple[str, int | None], ...] = ((message, category), *more)


class LoginRefused(RouterSimError):
    """A simulated client was refused by the hotspot or the PPP server."""


class ControlError(RouterSimError, ValueError):
    """A control-API call with bad input; nothing was changed."""
