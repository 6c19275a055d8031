"""The audit log: every state-changing action, who asked, and how it ended.

What a request carried is recorded even when it is not valid text: Postgres text and jsonb
cannot hold NUL or lone surrogates, so those become U+FFFD, and long strings are cut, before
the insert (a refused request must not lose its audit row).
"""

from __future__ import annotations

from typing import Any

from hub.storage import Executor

MAX_AUDIT_TEXT = 512  # characters kept of any one string (an 8,000-character username...)
MAX_AUDIT_ITEMS = 50  # entries kept of any one list or object
_REPLACEMENT = "\ufffd"
_BIGINT = 2**63


def clean_text(text: str, limit: int = MAX_AUDIT_TEXT) -> str:
    """Storable text: NUL and lone surrogates replaced, at most ``limit`` characters."""
    if len(text) > limit:
        text = text[:limit] + "…"
    text = text.replace("\x00", _REPLACEMENT)
    if _has_surrogate(text):
        text = "".join(_REPLACEMENT if 0xD800 <= ord(c) <= 0xDFFF else c for c in text)
    return text


def _has_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def clean_value(value: Any, depth: int = 0) -> Any:
    """``value`` as jsonb can hold it: clean strings, bounded containers, out-of-range as text."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, int):
        return value if -_BIGINT <= value < _BIGINT else clean_text(str(value), 40)
    if isinstance(value, float):
        return value if value == value and abs(value) != float("inf") else str(value)
    if depth >= 4:
        return clean_text(repr(value), 100)
    if isinstance(value, dict):
        items = list(value.items())[:MAX_AUDIT_ITEMS]
        return {clean_text(str(k), 100): clean_value(v, depth + 1) for k, v in items}
    if isinstance(value, list | tuple | set | frozenset):
        return [clean_value(v, depth + 1) for v in list(value)[:MAX_AUDIT_ITEMS]]
    return clean_text(str(value))


def _optional_text(value: str | None) -> str | None:
    return clean_text(value) if value is not None else None


class AuditRepository:
    def __init__(self, db: Executor) -> None:
        self._db = db

    async def record(
        self,
        *,
        actor: str,
        action: str,
        result: str,
        tenant_id: int | None = None,
        router_id: int | None = None,
        target: str | None = None,
        params: dict[str, Any] | None = None,
        details: Any = None,
    ) -> None:
        await self._db.execute(
            "INSERT INTO audit_log (actor, tenant_id, router_id, action, target, params, result,"
            " details) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            clean_text(actor),
            tenant_id,
            router_id,
            clean_text(action),
            _optional_text(target),
            clean_value(params or {}),
            clean_text(result),
            clean_value(details),
        )
