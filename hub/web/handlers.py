"""Request parsing shared by every face: bodies, path and query parameters, all bounded here.

Everything a client sends is decoded and validated once, at the edge, into a typed schema
(hub.web.schemas); whatever is malformed becomes a 4xx naming the problem, never a 500.
"""

from __future__ import annotations

import codecs
import contextlib
import ipaddress
import re
import urllib.parse
from collections.abc import AsyncIterator, Iterable
from typing import Any, TypeVar

import msgspec
from aiohttp import web
from aiohttp.web_protocol import RequestPayloadError

from hub.domain import ROLES, Tenant
from hub.errors import (
    Forbidden,
    InvalidInput,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    Unauthorized,
    UnsupportedMediaType,
)
from hub.services.audit import AuditEntry, audited
from hub.storage.tenants import TenantRepository
from hub.typedefs import (
    ADMIN,
    CALLER,
    CLIENT,
    DB_POOL,
    LOGIN_GUARD,
    TENANT_KEY,
    TRUSTED_PROXIES,
    IPNetwork,
)
from hub.web.openapi import declared
from hub.web.schemas import MAX_BIGINT, Body

B = TypeVar("B", bound=Body)
Q = TypeVar("Q", bound=msgspec.Struct)

MAX_BODY_BYTES = 16 * 1024  # every body of the portal and admin faces fits in far less
AUDITED_BODY_BYTES = 512  # kept of a refused body in its audit row
# What aiohttp itself decodes (gzip, deflate); anything else cannot be read.
_CONTENT_ENCODINGS = frozenset({"", "identity", "gzip", "x-gzip", "deflate"})
_UTF8 = codecs.lookup("utf-8").name
_AT_FIELD = re.compile(r" - at `\$\.([A-Za-z_][A-Za-z0-9_-]*)`")


class UndeclaredSchema(TypeError):
    """A handler read a body or query with a type its ``@operation`` does not declare: the
    OpenAPI document would not say what the code accepts (a bug: 500, fails every test)."""


def _check_declared(request: web.Request, kind: str, schema: type) -> None:
    """The matched route's handler declares ``schema`` as its ``kind`` (an identity check)."""
    handler = request.match_info.handler
    op = declared(handler)
    named = getattr(op, kind) if op is not None else None
    if named is not schema:
        where = f"{getattr(handler, '__module__', '?')}.{getattr(handler, '__qualname__', handler)}"
        said = (
            "no @operation"
            if op is None
            else f"@operation({kind}={getattr(named, '__name__', named)})"
        )
        raise UndeclaredSchema(f"{where} reads its {kind} as {schema.__name__} but declares {said}")


def path_id(request: web.Request, name: str, not_found: str) -> int:
    """A numeric id from the path (the route already checked the digits)."""
    text = request.match_info[name]
    if len(text) > 19 or int(text) > MAX_BIGINT:  # bigint; cheap on 10,000 digits too
        raise NotFound(not_found)
    return int(text)


async def read_bytes(request: web.Request, limit: int = MAX_BODY_BYTES) -> bytes:
    """The (decompressed) body, at most ``limit`` bytes; 413 beyond, 400/415 if unreadable."""
    encoding = request.headers.get("Content-Encoding", "").strip().lower()
    if encoding not in _CONTENT_ENCODINGS:
        raise UnsupportedMediaType(f"unsupported Content-Encoding {encoding[:40]!r}")
    if request.content_length is not None and request.content_length > limit:
        raise PayloadTooLarge(f"request body must be at most {limit} bytes")
    chunks, size = [], 0
    try:
        while chunk := await request.content.read(min(limit + 1 - size, 65536)):
            chunks.append(chunk)
            size += len(chunk)
            if size > limit:
                raise PayloadTooLarge(f"request body must be at most {limit} bytes")
    except RequestPayloadError as exc:
        # The body does not decode as its Content-Encoding says: nothing more can be read.
        request.content.feed_eof()
        raise InvalidInput(
            f"request body does not match its Content-Encoding {encoding!r}"
        ) from exc
    return b"".join(chunks)


def _body_text(request: web.Request, raw: bytes) -> str:
    charset = (request.charset or "utf-8").strip().lower()
    try:
        codec = codecs.lookup(charset).name
    except LookupError as exc:
        raise UnsupportedMediaType(f"unsupported charset {charset[:40]!r}; send UTF-8") from exc
    try:
        return raw.decode(codec)
    except UnicodeDecodeError as exc:
        what = "UTF-8" if codec == _UTF8 else charset
        raise InvalidInput(f"request body is not valid {what} text") from exc


def validation_error(schema: type[Body], exc: msgspec.ValidationError) -> InvalidInput:
    """A 400 naming the field, in the schema's own words where it has them."""
    text = str(exc)
    match = _AT_FIELD.search(text)
    if match is None:
        if text.startswith("Expected `object`"):
            return InvalidInput("request body must be a JSON object")
        return InvalidInput(f"invalid request body: {text}")
    field = match[1]
    reason = text[: match.start()]
    messages = schema.type_errors if ", got `" in reason else schema.bound_errors
    return InvalidInput(messages.get(field) or f"{field} is invalid: {reason}")


async def read_body(request: web.Request, schema: type[B], limit: int = MAX_BODY_BYTES) -> B:
    """The body decoded into ``schema``; an empty body is an empty object.

    A refused body of an audited action (``schema.action``) is audited as "invalid", with what
    could be read of it, so probing shows in the audit log as it did before the edge checked.
    """
    _check_declared(request, "body", schema)
    raw = b""
    try:
        raw = await read_bytes(request, limit)
        return _decode(schema, _body_text(request, raw))
    except InvalidInput as exc:
        if schema.action is not None:
            await _audit_refused(request, schema.action, raw, exc)
        raise


FORM_TYPE = "application/x-www-form-urlencoded"
MAX_FORM_FIELDS = 64


async def read_form(request: web.Request, schema: type[B], limit: int = MAX_BODY_BYTES) -> B:
    """A page's form (urlencoded) converted into ``schema`` as read_query converts a query:
    text to ints, dates and decimals; an empty field is a field not given. 415 for another
    content type, 400 naming the field."""
    _check_declared(request, "body", schema)
    if request.content_type != FORM_TYPE:
        raise UnsupportedMediaType(f"send the form as {FORM_TYPE}")
    text = _body_text(request, await read_bytes(request, limit))
    try:
        pairs = urllib.parse.parse_qsl(text, max_num_fields=MAX_FORM_FIELDS, strict_parsing=False)
    except ValueError as exc:
        raise InvalidInput(f"a form has at most {MAX_FORM_FIELDS} fields") from exc
    values: dict[str, Any] = {}
    for key, value in pairs:
        if value.strip():
            values.setdefault(key, value)
    try:
        body = msgspec.convert(values, schema, strict=False)
    except msgspec.ValidationError as exc:
        raise validation_error(schema, exc) from exc
    body.check()
    return body


def _decode(schema: type[B], text: str) -> B:
    if not text.strip():
        text = "{}"
    try:
        body = msgspec.json.decode(text, type=schema)
    except msgspec.ValidationError as exc:
        raise validation_error(schema, exc) from exc
    except (msgspec.DecodeError, RecursionError) as exc:
        raise InvalidInput("request body must be valid JSON") from exc
    body.check()
    return body


async def _audit_refused(request: web.Request, action: str, raw: bytes, exc: InvalidInput) -> None:
    if TENANT_KEY in request:
        principal = request[TENANT_KEY]
        entry = AuditEntry(principal.actor, action, tenant_id=principal.tenant.id)
    elif ADMIN in request:
        entry = AuditEntry(request[ADMIN].actor, action)
    elif CALLER in request:
        caller = request[CALLER]
        entry = AuditEntry(caller.actor, action, tenant_id=caller.tenant and caller.tenant.id)
    else:
        return
    entry.params = {"body": raw[:AUDITED_BODY_BYTES].decode("utf-8", "replace")}
    for name in ("router_id", "user_id"):
        if (value := request.match_info.get(name)) is not None:
            entry.params[name] = value
    with contextlib.suppress(InvalidInput):
        async with audited(request.app[DB_POOL], entry):
            raise exc


_AT_ITEM = re.compile(r" - at `\$\[([0-9]+)\]\.([A-Za-z_][A-Za-z0-9_]*)`")


async def read_items(request: web.Request, schema: type[B], limit: int) -> list[B]:
    """A body that is a JSON array of ``schema`` objects (client-upsert); 400 naming the item
    (from 0) and the field, in the schema's own words where it has them."""
    text = _body_text(request, await read_bytes(request, limit))
    try:
        items = msgspec.json.decode(text if text.strip() else "[]", type=list[schema])
    except msgspec.ValidationError as exc:
        reason = str(exc)
        match = _AT_ITEM.search(reason)
        if match is None:
            if reason.startswith("Expected `array`"):
                raise InvalidInput("request body must be a JSON array") from exc
            if reason.startswith("Expected `object`"):
                raise InvalidInput("each item must be a JSON object") from exc
            raise InvalidInput(f"invalid request body: {reason}") from exc
        field, reason = match[2], reason[: match.start()]
        messages = schema.type_errors if ", got `" in reason else schema.bound_errors
        message = messages.get(field) or f"{field} is invalid: {reason}"
        raise InvalidInput(f"item {match[1]}: {message}") from exc
    except (msgspec.DecodeError, RecursionError) as exc:
        raise InvalidInput("request body must be valid JSON") from exc
    for item in items:
        item.check()
    return items


def read_query(request: web.Request, schema: type[Q]) -> Q:
    """The query string converted into ``schema`` (text to ints etc.); 400 naming the field.

    A repeated parameter counts once (its first value); unknown parameters are ignored.
    """
    _check_declared(request, "query", schema)
    values: dict[str, Any] = {}
    for key, value in request.query.items():
        values.setdefault(key, value)
    try:
        query = msgspec.convert(values, schema, strict=False)
    except msgspec.ValidationError as exc:
        if issubclass(schema, Body):
            raise validation_error(schema, exc) from exc
        text = str(exc)
        match = _AT_FIELD.search(text)
        if match is None:
            raise InvalidInput(f"invalid query: {text}") from exc
        raise InvalidInput(f"{match[1]} is invalid: {text[: match.start()]}") from exc
    if isinstance(query, Body):
        query.check()
    return query


async def caller_tenant(request: web.Request, user_id: int | None) -> Tenant:
    """The tenant a billing-face request acts on (seed 003's ``user_id`` names it for a
    platform admin)."""
    return await acting_tenant(request, user_id, "user_id (the tenant's id)")


async def acting_tenant(request: web.Request, named: int | None, naming: str) -> Tenant:
    """The tenant a request acts on, from the caller's credentials only: a tenant user's or
    API key's own (whatever the request names: it never widens their scope); a platform admin
    names it (``named``, given as ``naming``)."""
    caller = request[CALLER]
    if caller.tenant is not None:
        return caller.tenant
    if caller.role != "platform_admin":
        raise Forbidden("Your account is not assigned to a tenant yet")
    if named is None:
        raise InvalidInput(f"{naming} is required for a platform admin")
    tenant = await TenantRepository(request.app[DB_POOL]).get(named)
    if tenant is None:
        raise NotFound("Tenant not found")
    return tenant


def require_role(request: web.Request, role: str) -> None:
    """403 unless the caller has at least ``role`` (viewer < operator < admin < owner)."""
    assert role in ROLES, role
    if not request[CALLER].may(role):
        raise Forbidden(f"This needs the {role} role or above")


def trusted_networks(entries: Iterable[str]) -> tuple[IPNetwork, ...]:
    """HubConfig.trusted_proxies parsed; a wrong entry is refused at startup."""
    try:
        return tuple(ipaddress.ip_network(entry.strip(), strict=False) for entry in entries)
    except ValueError as exc:
        raise ValueError(f"trusted_proxies: {exc}") from exc


def _trusted(address: str, networks: tuple[IPNetwork, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)


def client_address(request: web.Request) -> str:
    """The client: the peer, or behind a trusted proxy the nearest untrusted X-Forwarded-For hop."""
    if CLIENT in request:
        return request[CLIENT]
    peer = request.remote or "unknown"
    networks = request.app[TRUSTED_PROXIES]
    client = peer
    if networks and _trusted(peer, networks):
        hops = [
            hop.strip()
            for header in request.headers.getall("X-Forwarded-For", ())
            for hop in header.split(",")
        ]
        for hop in reversed(hops):
            if not _trusted(hop, networks):
                with contextlib.suppress(ValueError):
                    client = str(ipaddress.ip_address(hop))
                break
    request[CLIENT] = client
    return client


@contextlib.asynccontextmanager
async def login_attempt(request: web.Request, account: str) -> AsyncIterator[None]:
    """A password check, refused while the address or the account is locked out (429)."""
    guard = request.app[LOGIN_GUARD]
    keys = (f"address:{client_address(request)}", f"account:{account.strip().lower()[:256]}")
    if wait := guard.retry_after(*keys):
        raise RateLimited(wait, "Too many failed logins; retry later")
    try:
        yield
    except Unauthorized:
        guard.failed(*keys)
        raise
    guard.succeeded(*keys)


def json_bytes(request: web.Request, body: bytes, etag: str) -> web.Response:
    """An encoded JSON answer with its ETag; 304 (no body) when the client holds that one."""
    headers = {"ETag": etag, "Cache-Control": "no-cache"}
    held = _if_none_match(request)
    if etag in held or "*" in held:
        return web.Response(status=304, headers=headers)
    return web.Response(body=body, content_type="application/json", headers=headers)


def _if_none_match(request: web.Request) -> set[str]:
    """The entity tags of If-None-Match, weak and strong alike (RFC 9110's weak comparison)."""
    header = request.headers.get("If-None-Match", "")
    tags = {tag.strip() for tag in header.split(",") if tag.strip()}
    return tags | {f"W/{tag}" for tag in tags if not tag.startswith("W/")}


# Decimal (money) as a JSON number, exactly as stored: 730.00, not "730.00" nor 730.0000001.
_encode_json = msgspec.json.Encoder(decimal_format="number").encode


def fast_json(body: Any, status: int = 200) -> web.Response:
    """web.json_response, encoded with msgspec (several times json.dumps' speed on big bodies)."""
    return web.Response(body=_encode_json(body), status=status, content_type="application/json")
