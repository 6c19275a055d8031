"""The OpenAPI 3.1 document of every face, built from the app's routes and their declarations.

``build_document(app)`` walks ``app.router`` (one entry per path: the slash aliases of
hub.web.slashes are the same routes, HEAD and OPTIONS are left out), reads each handler's
``@operation`` (hub.web.openapi) and turns all the Structs at once into components/schemas
with ``msgspec.json.schema_components``: the schemas are the very types ``read_body`` /
``read_query`` decode with, so the document cannot say what the code does not do. Path
parameters come from the route patterns (``{id:\\d+}`` is an integer), security and error
bodies from the face a path belongs to (the rules of hub.web.middlewares).

The document is encoded once, at the first ``GET /openapi.json`` (the router is frozen by then,
the slash aliases in; building it takes ~30 ms, which every test's app start would pay), and
served as those bytes with an ETag ever after. ``GET /docs`` serves a self-contained page
(hub/web/static/docs.html, no CDN) that renders it. Both are public.
"""

from __future__ import annotations

import hashlib
import inspect
import re
from collections.abc import Iterator
from http import HTTPStatus
from importlib import resources
from typing import Any

import msgspec
from aiohttp import web
from aiohttp.web_urldispatcher import AbstractResource, DynamicResource, StaticResource

from hub.typedefs import API_DOCUMENT
from hub.web import responses
from hub.web.handlers import json_bytes
from hub.web.middlewares import (
    ADMIN_PREFIX,
    BILLING_PREFIXES,
    DASHBOARD_PREFIX,
    DEVICE_PATHS,
    PAYMENT_CALLBACK_PREFIX,
    PUBLIC_PATHS,
    TENANT_KEY_PREFIXES,
    V1_PREFIX,
)
from hub.web.openapi import ApiDocument, Operation, declared, operation
from hub.web.slashes import SlashAlias

TITLE = "ispfleet hub"
SKIPPED_METHODS = frozenset({"HEAD", "OPTIONS", "*"})
_REF = "#/components/schemas/{name}"
_GROUP = re.compile(r"\(\?P<(?P<name>\w+)>(?P<regex>(?:[^()]|\([^()]*\))*)\)")

# One bearer header carries every credential; which one a path takes is its face's rule.
SECURITY_SCHEMES: dict[str, dict[str, str]] = {
    "tenantApiKey": {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "ifk_...",
        "description": "A tenant API key (`ispfleet-hub create-api-key`): "
        "`Authorization: Bearer ifk_...`. On the dashboard and /v1 faces it acts as the "
        "tenant's admin.",
    },
    "userJwt": {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "A dashboard user's access token from POST /api/auth/login or "
        "POST /v1/auth/login (HS256, 15 minutes).",
    },
    "adminToken": {
        "type": "http",
        "scheme": "bearer",
        "description": "A platform admin's token from POST /api/admin/login.",
    },
    "agentCredential": {
        "type": "http",
        "scheme": "bearer",
        "description": "An enrolled agent's long-lived credential (POST /agent/v1/enroll).",
    },
    "dashboardSession": {
        "type": "apiKey",
        "in": "cookie",
        "name": "ispfleet_session",
        "description": "The operator dashboard's session cookie from POST /dashboard/login "
        "(HttpOnly, SameSite=Strict; revoked by POST /dashboard/logout).",
    },
    "callbackSecret": {
        "type": "apiKey",
        "in": "header",
        "name": "X-Callback-Secret",
        "description": "A router's callback secret (`ispfleet-hub callback-secret`), sent by "
        "its PPP profile's on-up/on-down script.",
    },
    "metricsToken": {
        "type": "http",
        "scheme": "bearer",
        "description": "The hub's metrics_token (without one: loopback clients only).",
    },
}

# Each face: its tag, the description of the tag, its credentials, its error body.
FACES: dict[str, tuple[str, tuple[str, ...], Any]] = {
    "portal": (
        "Tenant portal, seeds 000-002 (tenant API key)",
        ("tenantApiKey",),
        responses.ErrorBody,
    ),
    "admin": (
        "Platform admin: the portal's router views over every tenant (admin token)",
        ("adminToken",),
        responses.ErrorBody,
    ),
    "dashboard": (
        "Billing dashboard, seed 003: plans, customers, reports, vouchers, payments (user JWT "
        "or tenant API key; errors are `{detail}`)",
        ("userJwt", "tenantApiKey"),
        responses.DetailError,
    ),
    "v1": (
        "Seed 004's management API: every answer in the `{success, data, metadata, error}` "
        "envelope (user JWT or tenant API key)",
        ("userJwt", "tenantApiKey"),
        responses.V1Error,
    ),
    "agent link": (
        "The hub side of the hub <-> agent link: enrollment and the WebSocket",
        (),
        responses.ErrorBody,
    ),
    "operator dashboard": (
        "The operator dashboard's pages, live stream and buttons (session cookie; a page "
        "without one redirects to the sign-in page, the rest answer 401)",
        ("dashboardSession",),
        responses.ErrorBody,
    ),
    "platform": ("Health, metrics and this document", (), responses.ErrorBody),
}


def face_of(path: str) -> str:
    """Which face a path belongs to (hub.web.middlewares' prefixes, in its order)."""
    if path.startswith(TENANT_KEY_PREFIXES):
        return "portal"
    if path.startswith(ADMIN_PREFIX):
        return "admin"
    if path.startswith(BILLING_PREFIXES):
        return "dashboard"
    if path.startswith(V1_PREFIX):
        return "v1"
    if path.startswith("/agent/"):
        return "agent link"
    if path.startswith(DASHBOARD_PREFIX):
        return "operator dashboard"
    return "platform"


def _public(path: str) -> bool:
    return (
        path.rstrip("/") in PUBLIC_PATHS
        or path.rstrip("/") in DEVICE_PATHS
        or path.startswith(PAYMENT_CALLBACK_PREFIX)
    )


def routes_of(app: web.Application) -> Iterator[tuple[AbstractResource, web.AbstractRoute]]:
    """Every (resource, route) a client can call: no slash alias, HEAD or OPTIONS, and no
    static files (``add_static``: assets, not operations)."""
    for resource in app.router.resources():
        if isinstance(resource, SlashAlias | StaticResource):
            continue
        for route in resource:
            if route.method not in SKIPPED_METHODS:
                yield resource, route


def route_name(resource: AbstractResource, route: web.AbstractRoute) -> str:
    handler = route.handler
    return f"{route.method} {resource.canonical} ({handler.__module__}.{handler.__qualname__})"


def undeclared(app: web.Application) -> list[str]:
    """The routes whose handler has no ``@operation`` (the document leaves them out)."""
    return [route_name(r, route) for r, route in routes_of(app) if declared(route.handler) is None]


def path_parameters(resource: AbstractResource) -> list[dict[str, Any]]:
    """The route pattern's variables: digits are integers, other patterns strings."""
    if not isinstance(resource, DynamicResource):
        return []
    pattern = resource.get_info()["pattern"].pattern
    parameters = []
    for match in _GROUP.finditer(pattern):
        regex = match["regex"]
        if regex == r"\d+":
            schema: dict[str, Any] = {"type": "integer", "minimum": 0}
        else:
            schema = {"type": "string", "pattern": f"^{regex}$"}
        parameters.append({"name": match["name"], "in": "path", "required": True, "schema": schema})
    return parameters


def _operation_id(route: web.AbstractRoute) -> str:
    handler = route.handler
    module = handler.__module__.removeprefix("hub.web.").removeprefix("hub.")
    return f"{module}.{handler.__name__}"


def _types_of(op: Operation) -> Iterator[Any]:
    for kind in (op.body, op.query, op.response):
        if kind is not None:
            yield kind
    yield from (op.responses or {}).values()


def _envelope(data: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            "success": {"type": "boolean"},
            "data": data,
            "metadata": {"$ref": _REF.format(name="Metadata")},
            "error": {"type": "null"},
        },
        "required": ["success", "data", "metadata", "error"],
        "additionalProperties": False,
    }


def _content(content_type: str, schema: dict[str, Any] | None) -> dict[str, Any]:
    if schema is None:
        if content_type == "application/json":
            return {}
        schema = {"type": "string"}
        if content_type == "application/pdf":
            schema["format"] = "binary"
    return {"content": {content_type: {"schema": schema}}}


class _Builder:
    def __init__(self, app: web.Application) -> None:
        self.entries = [
            (resource, route, op)
            for resource, route in routes_of(app)
            if (op := declared(route.handler)) is not None
        ]
        types: list[Any] = [responses.Metadata]
        types += [face[2] for face in FACES.values()]
        for _, _, op in self.entries:
            types.extend(_types_of(op))
        self.types = list(dict.fromkeys(types))  # unique, in order
        schemas, self.components = msgspec.json.schema_components(self.types, ref_template=_REF)
        self.schema_of = dict(zip(self.types, schemas, strict=True))

    def query_parameters(self, query: Any) -> list[dict[str, Any]]:
        component = self.components[self.schema_of[query]["$ref"].rsplit("/", 1)[1]]
        required = set(component.get("required", ()))
        return [
            {"name": name, "in": "query", "required": name in required, "schema": schema}
            for name, schema in component.get("properties", {}).items()
        ]

    def _error(self, type_: Any, status: int) -> dict[str, Any]:
        return {
            "description": HTTPStatus(status).phrase,
            **_content("application/json", self.schema_of[type_]),
        }

    def operation(self, resource: AbstractResource, route: web.AbstractRoute, op: Operation):
        path = resource.canonical
        face = face_of(path)
        _, face_security, error_type = FACES[face]
        security = op.security if op.security is not None else face_security
        if _public(path):
            security = ()
        parameters = path_parameters(resource)
        if op.query is not None:
            parameters += self.query_parameters(op.query)
        if op.etag:
            parameters.append(
                {"name": "If-None-Match", "in": "header", "required": False,
                 "schema": {"type": "string", "maxLength": 256}}
            )  # fmt: skip
        implied = {500, 503}
        if security:
            implied |= {401, 429}
        elif face != "platform" and face != "agent link":
            implied.add(429)  # the pre-authentication budget of every authenticated face
        if op.body is not None:
            implied |= {400, 413, 415}
        if op.query is not None or (face == "v1" and security):
            implied.add(400)  # /v1: a malformed X-Tenant-ID, or a super admin naming none
        if any(p["in"] == "path" for p in parameters):
            implied.add(404)
        success = self.schema_of[op.response] if op.response is not None else None
        if op.envelope:
            success = _envelope(success or {"type": "null"})
        answers: dict[str, Any] = {
            str(op.status): {
                "description": op.summary,
                **_content(op.content_type, success),
            }
        }
        if op.etag:
            answers["304"] = {"description": "Not Modified: the client holds this version"}
        extra = dict(op.responses or {})
        for status in sorted((set(op.errors) | implied | set(extra)) - {op.status, 304}):
            answers[str(status)] = self._error(extra.get(status, error_type), status)
        entry: dict[str, Any] = {
            "operationId": _operation_id(route),
            "summary": op.summary,
            "tags": list(op.tags or (face,)),
            "parameters": parameters,
            "responses": answers,
            "security": [{name: []} for name in security],
        }
        description = op.description or inspect.getdoc(route.handler)
        if description:
            entry["description"] = description
        if op.body is not None:
            entry["requestBody"] = {
                "required": False,  # an empty body is an empty object
                **_content(op.body_type, self.schema_of[op.body]),
            }
        return path, route.method.lower(), entry

    def document(self) -> dict[str, Any]:
        paths: dict[str, dict[str, Any]] = {}
        seen: set[str] = set()
        for resource, route, op in self.entries:
            path, method, entry = self.operation(resource, route, op)
            if entry["operationId"] in seen:
                raise ValueError(f"two operations named {entry['operationId']}")
            seen.add(entry["operationId"])
            paths.setdefault(path, {})[method] = entry
        queries = {op.query for _, _, op in self.entries if op.query is not None}
        others = {t for _, _, op in self.entries for t in _types_of(op) if t not in queries}
        kept = dict(self.components)
        for query in queries - others:  # a query's fields became parameters
            kept.pop(self.schema_of[query]["$ref"].rsplit("/", 1)[1], None)
        return {
            "openapi": "3.1.0",
            "info": {
                "title": TITLE,
                "version": _version(),
                "description": "Every HTTP face of the hub, built from the code's own "
                "declarations (hub/web/openapi.py, hub/web/apidoc.py).",
            },
            "tags": [{"name": name, "description": face[0]} for name, face in FACES.items()],
            "paths": dict(sorted(paths.items())),
            "components": {"schemas": kept, "securitySchemes": SECURITY_SCHEMES},
        }


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("ispfleet")
    except PackageNotFoundError:
        return "0"


def build_document(app: web.Application) -> dict[str, Any]:
    """The OpenAPI 3.1 document of the app's declared routes."""
    return _Builder(app).document()


def publish(app: web.Application) -> ApiDocument:
    """The app's document, encoded with its ETag on the first call (the router is frozen)."""
    document = app[API_DOCUMENT]
    if not document.body:
        body = msgspec.json.encode(build_document(app))
        document.set(body, f'"{hashlib.blake2b(body, digest_size=12).hexdigest()}"')
    return document


DOCS_PAGE = resources.files("hub.web").joinpath("static/docs.html")


@operation(
    "This OpenAPI 3.1 document",
    response=responses.OpenApiDocument,
    etag=True,
    security=(),
)
async def openapi_json(request: web.Request) -> web.Response:
    document = publish(request.app)
    return json_bytes(request, document.body, document.etag)


@operation(
    "A page that lists every operation of this document",
    content_type="text/html",
    security=(),
)
async def docs_page(request: web.Request) -> web.Response:
    """Self-contained HTML and JS (no CDN, no fonts): it fetches /openapi.json and renders it."""
    return web.Response(
        body=request.app[API_DOCUMENT].page,
        content_type="text/html",
        charset="utf-8",
        headers={"Cache-Control": "no-cache"},
    )


def setup_apidoc(app: web.Application) -> None:
    """The document's two routes (and the page, read once)."""
    app[API_DOCUMENT] = ApiDocument(page=DOCS_PAGE.read_bytes())
    app.router.add_get("/openapi.json", openapi_json)
    app.router.add_get("/docs", docs_page)
