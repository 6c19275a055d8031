"""What the captive portal reads beyond a payment's row: did its router let the client on?"""

from __future__ import annotations

from hub.storage import Executor


class CaptiveRepository:
    def __init__(self, db: Executor) -> None:
        self._db = db

    async def access_applied(self, payment_id: int, tenant_id: int) -> bool:
        """The completed payment's access is in force on its router: the agent answered a
        ``grant_access`` for that customer and MAC, made after the payment's entitlement, with
        the router set up and no step failed; or the agent reports a session of that MAC there
        (a grant that reached the site by the entitlement sync of its next connect).

        ``completed_at`` bounds the command scan to recent rows (index commands_completed)."""
        return bool(
            await self._db.fetchval(
                """
                SELECT EXISTS (
                         SELECT 1 FROM commands cm
                          WHERE cm.completed_at >= e.created_at
                            AND cm.tenant_id = p.tenant_id
                            AND cm.router_id = p.router_id
                            AND cm.name = 'grant_access'
                            AND cm.status = 'done'
                            AND cm.args->>'username' = c.username
                            AND cm.args->>'mac_address' IS NOT DISTINCT FROM p.mac_address
                            AND cm.result->>'applied' = 'true'
                            AND jsonb_array_length(COALESCE(cm.result->'errors', '[]')) = 0)
                    OR EXISTS (
                         SELECT 1 FROM current_sessions s
                          WHERE s.router_id = p.router_id AND s.mac_address = p.mac_address)
                  FROM payments p
                  JOIN customers c ON c.id = p.customer_id
                  JOIN entitlements e ON e.id = p.entitlement_id
                 WHERE p.id = $1 AND p.tenant_id = $2 AND p.status = 'completed'
                """,
                payment_id,
                tenant_id,
            )
        )
