"""Errors of the edge agent, one tree, translated from librouteros at the boundary.

AgentError
├── RouterError                  anything that went wrong talking to a router
│   ├── RouterUnavailable        no working API connection (refused, closed, timed out)
│   │   ├── ServiceUnreachable   connection refused: API service disabled or wrong port
│   │   ├── BadCredentials       the router refused the login
│   │   └── RouterTimeout        no answer within the connect or command timeout
│   └── RouterCommandError       the router answered a command with !trap (message, category)
└── CommandRejected              a hub command whose arguments fail validation
"""

from __future__ import annotations


class AgentError(Exception):
    """Something went wrong in the agent."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.__doc__)


class RouterError(AgentError):
    """Talking to a router failed."""


class RouterUnavailable(RouterError):
    """The router has no working API connection."""


class ServiceUnreachable(RouterUnavailable):
    """Connection refused: API service disabled or wrong port."""


class BadCredentials(RouterUnavailable):
    """The router refused the login: bad credentials."""


class RouterTimeout(RouterUnavailable):
    """The router did not answer in time."""


class RouterCommandError(RouterError):
    """The router refused a command (a RouterOS !trap)."""

    def __init__(self, message: str, category: int | None = None, command: str | None = None):
        super().__init__(f"{command}: {message}" if command else message)
        self.message = message
        self.category = category
        self.command = command


class CommandRejected(AgentError):
    """A command from the hub whose arguments are not valid; nothing was changed."""
