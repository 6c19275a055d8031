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

The document builder (hub.web.apidoc) adds what every operation of a face can answer, so a
declaration names only what is its own: 500/503 everywhere; 401 and 429 where the face
authenticates; 400/413/415 with a body; 400 with a query; 404 with a path parameter; 304 with
``etag=True``. Error bodies are the face's (hub.web.responses ErrorBody, DetailError, V1Error)
unless ``responses`` gives a status its own type. ``security`` names the schemes when they are
not the face's (hub.web.apidoc SECURITY_SCHEMES; ``()``: public).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
ATTRIBUTE = "openapi_operation"


@dataclass(frozen=True, slots=True)
class Operation:
    summary: str
    body: Any = None  # request body type (a Body Struct), or None
    body_type: str = "application/json"  # how it is sent (a page's form: urlencoded)
    query: Any = None  # query string type (a Struct of scalar fields), or None
    response: Any = None  # success body type; with envelope=True, the type of ``data``
    status: int = 200
    errors: tuple[int, ...] = ()  # error statuses a client should expect besides 500/503
    envelope: bool = False  # /v1: the answer is seed 004's {success, data, metadata, error}
    content_type: str = "application/json"  # of the success answer (text/html, application/pdf)
    tags: tuple[str, ...] = ()
    description: str | None = None  # defaults to the handler's docstring
    responses: Mapping[int, Any] | None = None  # statuses whose body is not the face's error
    etag: bool = False  # answers If-None-Match with 304 (hub.web.handlers.json_bytes)
    security: tuple[str, ...] | None = None  # scheme names; None: the face's, (): public


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


@dataclass(slots=True)
class ApiDocument:
    """The encoded OpenAPI document (filled once at startup) and the /docs page."""

    page: bytes
    body: bytes = field(default=b"", repr=False)
    etag: str = ""

    def set(self, body: bytes, etag: str) -> None:
        self.body, self.etag = body, etag
