"""Vouchers on their way to the agents, and back as redemptions (issue 15).

Delivery by version, like entitlements: every voucher row carries its tenant's voucher version
at its last insert or update (migration 0016, under the tenant row lock, so versions commit in
order). An agent's hello says the version it holds; it is sent the vouchers of its routers (a
batch's router, or NULL: every router of the tenant) changed above it, whatever their status
(one redeemed on another router is retired here), or, holding nothing, the unused ones.

A redemption (the agent's ``voucher_redeemed``) is written in the caller's transaction (the
ingest's frame): voucher -> active, the customer (username = code), the entitlement the agent
already enforces, and the sale (a completed 'voucher' payment of the batch's price). Replayed,
it changes nothing: the voucher row is locked and only an unused one is redeemed, and
``payments.voucher_id`` is unique.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from hub.domain import DeliverableVoucher, Redemption, VoucherTarget
from hub.storage import Executor as Db
from hub.storage import limited_by_tenant

# How long after valid_until a first login may be reported as inside it (the agent's clock).
LATE_SLACK = timedelta(minutes=5)

# The plan's terms as the agent applies them, in one place for every query here: its duration
# in seconds and the router's rate-limit (upload/download, as hub.domain.Plan.rate_limit).
_DURATION = """
    p.duration_value * CASE p.duration_unit WHEN 'minutes' THEN 60 WHEN 'hours' THEN 3600
                                            ELSE 86400 END
"""
_RATE_LIMIT = "p.upload_speed || '/' || p.download_speed"
# An agent's scope: batches for one of its routers, or for every router of the tenant.
_SCOPE = "b.tenant_id = $1 AND (b.router_id IS NULL OR b.router_id = ANY($2::bigint[]))"


class RedemptionError(ValueError):
    """A redemption report the hub cannot accept (unknown code, wrong router, bad times)."""


class RedemptionRepository:
    """Voucher delivery to agents and the ingest of their redemptions."""

    def __init__(self, db: Db) -> None:
        self._db = db

    async def vouchers_version(self, tenant_id: int, router_ids: Sequence[int]) -> int:
        """The newest voucher version in an agent's scope; 0 when there is none."""
        value = await self._db.fetchval(
            f"SELECT max(v.version) FROM vouchers v JOIN voucher_batches b ON b.id = v.batch_id"
            f" WHERE {_SCOPE}",
            tenant_id,
            list(router_ids),
        )
        return int(value or 0)

    async def changed_since(
        self,
        tenant_id: int,
        router_ids: Sequence[int],
        version: int | None,
        *,
        upto: int | None = None,
    ) -> list[DeliverableVoucher]:
        """The scope's vouchers changed above ``version``, whatever their status; with None, the
        unused and still valid ones. At most version ``upto``, in version order."""
        rows = await self._db.fetch(
            f"""
            SELECT v.code, v.batch_id, b.router_id, b.valid_until,
                   ({_DURATION})::integer AS duration_seconds, p.router_profile AS profile,
                   {_RATE_LIMIT} AS rate_limit, p.on_expiry,
                   v.version, v.status
              FROM voucher_batches b
              JOIN vouchers v ON v.batch_id = b.id
              JOIN plans p ON p.id = b.plan_id
             WHERE {_SCOPE}
               AND ($3::bigint IS NOT NULL OR (v.status = 'unused' AND b.valid_until > now()))
               AND ($3::bigint IS NULL OR v.version > $3)
               AND ($4::bigint IS NULL OR v.version <= $4)
             ORDER BY v.version, v.id
            """,
            tenant_id,
            list(router_ids),
            version,
            upto,
        )
        return [DeliverableVoucher(**dict(row)) for row in rows]

    async def version_before(self, tenant_id: int, router_ids: Sequence[int], version: int) -> int:
        """The scope's version just below ``version`` (what an agent holds that has all but
        that change); 0 when there is none."""
        value = await self._db.fetchval(
            f"SELECT max(v.version) FROM vouchers v JOIN voucher_batches b ON b.id = v.batch_id"
            f" WHERE {_SCOPE} AND v.version < $3",
            tenant_id,
            list(router_ids),
            version,
        )
        return int(value or 0)

    async def batch_version(self, batch_id: int) -> int:
        """The version a batch's vouchers were written at (one per transaction)."""
        return int(
            await self._db.fetchval(
                "SELECT max(version) FROM vouchers WHERE batch_id = $1", batch_id
            )
            or 0
        )

    async def batch_targets(self, tenant_id: int, batch_id: int) -> list[VoucherTarget]:
        """The agents with a router in the batch's scope, each with all its routers."""
        rows = await self._db.fetch(
            """
            SELECT r.agent_id, array_agg(r.name ORDER BY r.name) AS names,
                   array_agg(r.id ORDER BY r.name) AS ids
              FROM routers r
              JOIN voucher_batches b ON b.id = $2 AND b.tenant_id = $1
             WHERE r.tenant_id = $1 AND r.retired_at IS NULL AND r.agent_id IS NOT NULL
             GROUP BY r.agent_id
            HAVING bool_or(b.router_id IS NULL OR b.router_id = r.id)
            """,
            tenant_id,
            batch_id,
        )
        return [
            VoucherTarget(row["agent_id"], dict(zip(row["names"], row["ids"], strict=True)))
            for row in rows
        ]

    async def redeem(
        self,
        *,
        tenant_id: int,
        router_id: int,
        code: str,
        mac_address: str | None,
        redeemed_at: datetime,
        expires_at: datetime,
        recorded_by: str,
    ) -> Redemption:
        """Record a voucher's first login; RedemptionError when it cannot be accepted."""
        if expires_at <= redeemed_at:
            raise RedemptionError("expires_at is not after redeemed_at")
        voucher = await self._db.fetchrow(
            f"""
            SELECT v.id, v.batch_id, v.status, v.router_id, v.mac_address, v.redeemed_at,
                   v.customer_id,
                   b.router_id AS batch_router, b.valid_until, b.price, b.plan_id,
                   p.router_profile, {_RATE_LIMIT} AS rate_limit,
                   p.on_expiry, ({_DURATION})::integer AS duration_seconds, t.currency
              FROM vouchers v
              JOIN voucher_batches b ON b.id = v.batch_id
              JOIN plans p ON p.id = b.plan_id
              JOIN tenants t ON t.id = v.tenant_id
             WHERE v.tenant_id = $1 AND v.code = $2
               FOR UPDATE OF v
            """,
            tenant_id,
            code,
        )
        if voucher is None:
            raise RedemptionError(f"no voucher {code!r}")
        if voucher["batch_router"] is not None and voucher["batch_router"] != router_id:
            raise RedemptionError(f"voucher {code!r} is not for this router")
        if voucher["redeemed_at"] is not None:
            if (voucher["router_id"], voucher["mac_address"]) != (router_id, mac_address):
                # A second device or site used it before it was retired there: no second sale.
                raise RedemptionError(f"voucher {code!r} was already redeemed elsewhere")
            payment = await self._db.fetchval(  # reported before: kept as is
                "SELECT id FROM payments WHERE voucher_id = $1", voucher["id"]
            )
            return Redemption(
                voucher["id"], voucher["batch_id"], voucher["customer_id"], None, payment, False
            )
        if redeemed_at > voucher["valid_until"] + LATE_SLACK:
            raise RedemptionError(f"voucher {code!r} was redeemed after its valid_until")
        if expires_at > redeemed_at + timedelta(seconds=voucher["duration_seconds"]) + LATE_SLACK:
            raise RedemptionError(f"voucher {code!r} reported to run past its plan's duration")
        with limited_by_tenant():  # a new customer counts against max_network_users
            customer_id = await self._db.fetchval(
                """
                INSERT INTO customers (tenant_id, username, mac_address, router_id, plan_id)
                VALUES ($1, $2, $3, $4, $5)
                ON CONFLICT (tenant_id, username) DO UPDATE
                   SET mac_address = EXCLUDED.mac_address, router_id = EXCLUDED.router_id,
                       plan_id = EXCLUDED.plan_id
                RETURNING id
                """,
                tenant_id,
                code,
                mac_address,
                router_id,
                voucher["plan_id"],
            )
        # No MAC on the entitlement: the router's user carries it (as the agent holds it).
        entitlement_id = await self._db.fetchval(
            """
            INSERT INTO entitlements (tenant_id, customer_id, router_id, mac_address, profile,
                                      rate_limit, on_expiry, starts_at, expires_at, plan_id)
            VALUES ($1, $2, $3, NULL, $4, $5, $6, $7, $8, $9)
            RETURNING id
            """,
            tenant_id,
            customer_id,
            router_id,
            voucher["router_profile"],
            voucher["rate_limit"],
            voucher["on_expiry"],
            redeemed_at,
            expires_at,
            voucher["plan_id"],
        )
        await self._db.execute(
            """
            UPDATE vouchers SET status = 'active', mac_address = $2, router_id = $3,
                   redeemed_at = $4, expires_at = $5, customer_id = $6
             WHERE id = $1
            """,
            voucher["id"],
            mac_address,
            router_id,
            redeemed_at,
            expires_at,
            customer_id,
        )
        payment_id = await self._db.fetchval(
            """
            INSERT INTO payments (tenant_id, customer_id, plan_id, router_id, method, status,
                                  amount, currency, mac_address, reference, voucher_id,
                                  entitlement_id, recorded_by, completed_at)
            VALUES ($1, $2, $3, $4, 'voucher', 'completed', $5, $6, $7, $8, $9, $10, $11, $12)
            ON CONFLICT (voucher_id) DO NOTHING
            RETURNING id
            """,
            tenant_id,
            customer_id,
            voucher["plan_id"],
            router_id,
            voucher["price"],
            voucher["currency"],
            mac_address,
            code,
            voucher["id"],
            entitlement_id,
            recorded_by,
            redeemed_at,
        )
        return Redemption(
            voucher["id"], voucher["batch_id"], customer_id, entitlement_id, payment_id, True
        )
