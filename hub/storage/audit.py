"""The audit log: every state-changing action, who asked, and how it ended."""

from __future__ import annotations

from typing import Any

from hub.storage import Executor


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
            actor,
            tenant_id,
            router_id,
            action,
            target,
            params or {},
            result,
            details,
        )
