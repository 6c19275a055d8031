"""What each HTTP operation takes and answers, declared once beside its handler.

``@operation(...)`` records the request body, query and response types (msgspec Structs, the
same ones ``read_body`` / ``read_query`` validate with) on the handler. The OpenAPI 3.1
document (``GET /openapi.json``) is built from these declarations and the app's routes, so the
document cannot drift from what the code accepts and answers.

    @routes.post("/v1/internal/users")
    @requires("users.manage")
    @operation("Create a user", body=UserBody, response=UserOut, status=201,
               errors=(400, 401, 403, 409), envelope=True)
    async def create_user(request): ...
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
ATTRIBUTE = "openapi_operation"


@dataclass(frozen=True, slots=True)
class Operation:
    summary: str
    body: Any = None  # request body type (a Body Struct), or None
    query: Any = None  # query string type (a Struct of scalar fields), or None
    response: Any = None  # success body type; with envelope=True, the type of ``data``
    status: int = 200
    errors: tuple[int, ...] = ()  # error statuses a client should expect besides 500/503
    envelope: bool = False  # /v1: the answer is seed 004's {success, data, metadata, error}
    content_type: str = "application/json"  # of the success answer (text/html, application/pdf)
    tags: tuple[str, ...] = ()
    description: str | None = None  # defaults to the handler's docstring


def operation(summary: str, **fields: Any) -> Callable[[Handler], Handler]:
    """Declare a handler's types; see the module docstring."""
    declared = Operation(summary, **fields)

    def decorate(handler: Handler) -> Handler:
        setattr(handler, ATTRIBUTE, declared)
        return handler

    return decorate


def declared(handler: Any) -> Operation | None:
    """The operation declared on a handler (through any functools.wraps wrapper)."""
    return getattr(handler, ATTRIBUTE, None)
