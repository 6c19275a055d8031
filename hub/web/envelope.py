"""Seed 004's response envelope: ``{success, data, metadata: {total, limit, offset}, error}``.

Every /v1 answer has it, errors included (error_middleware builds those with ``envelope``).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from hub.web.handlers import fast_json


def envelope(
    data: Any, *, total: int = 0, limit: int = 0, offset: int = 0, error: str | None = None
) -> dict[str, Any]:
    return {
        "success": error is None,
        "data": data,
        "metadata": {"total": total, "limit": limit, "offset": offset},
        "error": error,
    }


def ok(data: Any, status: int = 200, **metadata: int) -> web.Response:
    """A /v1 success; list endpoints pass total, limit and offset."""
    return fast_json(envelope(data, **metadata), status)
