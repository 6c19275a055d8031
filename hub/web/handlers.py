"""Request parsing shared by the portal and admin handlers."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from hub.errors import InvalidInput, NotFound

_MAX_ID = 2**63 - 1  # bigint


def path_id(request: web.Request, name: str, not_found: str) -> int:
    """A numeric id from the path (the route already checked the digits)."""
    value = int(request.match_info[name])
    if value > _MAX_ID:
        raise NotFound(not_found)
    return value


async def json_object(request: web.Request) -> dict[str, Any]:
    """The body as a JSON object; an empty body is an empty object."""
    text = await request.text()
    if not text.strip():
        return {}
    try:
        body = json.loads(text)
    except ValueError as exc:
        raise InvalidInput("request body must be valid JSON") from exc
    if not isinstance(body, dict):
        raise InvalidInput("request body must be a JSON object")
    return body
