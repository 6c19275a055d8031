"""Voucher batches and their codes, and the vouchers an agent holds (hub -> agent sync).

"Expired" is computed in the queries, not written by a sweeper: an unused voucher past its
batch's ``valid_until``, or a redeemed one past its ``expires_at``, reads "expired" as of the
moment asked (``at``, default now). A voucher redeemed offline just before ``valid_until`` and
reported after it stays redeemable by its report (nothing marked it expired in between), the
answer is exact to the second, and no background task has to run for it. The stored status is
what agents and the redemption ingest write ("unused" -> "active", "expired" when enforced).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal

import asyncpg

from hub.domain import (
    Plan,
    Voucher,
    VoucherBatch,
    VoucherBatchSummary,
    VoucherCounts,
    VoucherSync,
)
from hub.storage import Executor
from hub.storage.plans import PlanRepository

STATUSES = ("unused", "active", "expired")

# The status as of $AT (a timestamptz parameter), for a voucher ``v`` of batch ``b``.
_STATUS = """CASE WHEN v.status = 'unused' AND b.valid_until <= {at} THEN 'expired'
                  WHEN v.status = 'active' AND v.expires_at <= {at} THEN 'expired'
                  ELSE v.status END"""

_BATCH_COLUMNS = """b.id, b.tenant_id, b.plan_id, p.name AS plan_name, p.duration_value,
       p.duration_unit, b.router_id, b.count, b.code_length, b.alphabet, b.prefix, b.price,
       b.valid_until, b.hotspot_login_url, b.created_by, b.created_at"""

# One batch row with its counts as of $1 (the batch is ``b``).
_SUMMARY_SELECT = f"""
SELECT {_BATCH_COLUMNS}, c.unused, c.active, c.expired, c.redeemed
  FROM voucher_batches b
  JOIN plans p ON p.id = b.plan_id
 CROSS JOIN LATERAL (
       SELECT count(*) FILTER (WHERE s.status = 'unused') AS unused,
              count(*) FILTER (WHERE s.status = 'active') AS active,
              count(*) FILTER (WHERE s.status = 'expired') AS expired,
              count(*) FILTER (WHERE s.redeemed_at IS NOT NULL) AS redeemed
         FROM (SELECT {_STATUS.format(at="$1")} AS status, v.redeemed_at
                 FROM vouchers v WHERE v.batch_id = b.id) s) c
"""

_VOUCHER_COLUMNS = f"""v.id, v.batch_id, v.code, {_STATUS.format(at="$1")} AS status,
       b.valid_until, v.mac_address, v.router_id, v.redeemed_at, v.expires_at"""

_BATCH_FIELDS = frozenset(VoucherBatch.__dataclass_fields__)


def _summary(row: asyncpg.Record) -> VoucherBatchSummary:
    batch = VoucherBatch(**{name: row[name] for name in _BATCH_FIELDS})
    counts = VoucherCounts(
        unused=row["unused"], active=row["active"], expired=row["expired"], redeemed=row["redeemed"]
    )
    return VoucherBatchSummary(batch, counts)


class VoucherRepository:
    """Batches and vouchers, always scoped to one tenant (another tenant's are not there)."""

    def __init__(self, db: Executor) -> None:
        self._db = db

    async def create_batch(
        self,
        *,
        tenant_id: int,
        plan_id: int,
        router_id: int | None,
        count: int,
        code_length: int,
        alphabet: str,
        prefix: str,
        price: Decimal,
        valid_until: datetime,
        hotspot_login_url: str | None,
        created_by: str,
    ) -> int:
        """The new batch's id (its codes come with ``insert_codes``, same transaction)."""
        return await self._db.fetchval(
            "INSERT INTO voucher_batches (tenant_id, plan_id, router_id, count, code_length,"
            " alphabet, prefix, price, valid_until, hotspot_login_url, created_by)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id",
            tenant_id,
            plan_id,
            router_id,
            count,
            code_length,
            alphabet,
            prefix,
            price,
            valid_until,
            hotspot_login_url,
            created_by,
        )

    async def insert_codes(self, tenant_id: int, batch_id: int, codes: Sequence[str]) -> set[str]:
        """Insert what is free of ``codes``; the ones inserted (a taken code is skipped)."""
        rows = await self._db.fetch(
            "INSERT INTO vouchers (tenant_id, batch_id, code)"
            " SELECT $1, $2, code FROM unnest($3::text[]) AS code"
            " ON CONFLICT (tenant_id, code) DO NOTHING RETURNING code",
            tenant_id,
            batch_id,
            list(codes),
        )
        return {row["code"] for row in rows}

    async def get_batch(
        self, batch_id: int, tenant_id: int, at: datetime
    ) -> VoucherBatchSummary | None:
        row = await self._db.fetchrow(
            _SUMMARY_SELECT + " WHERE b.id = $2 AND b.tenant_id = $3", at, batch_id, tenant_id
        )
        return _summary(row) if row else None

    async def list_batches(
        self, tenant_id: int, at: datetime, *, limit: int, offset: int
    ) -> tuple[list[VoucherBatchSummary], int]:
        """A page of the tenant's batches, newest first, and how many there are in all."""
        rows = await self._db.fetch(
            _SUMMARY_SELECT
            + " WHERE b.tenant_id = $2 ORDER BY b.created_at DESC, b.id DESC LIMIT $3 OFFSET $4",
            at,
            tenant_id,
            limit,
            offset,
        )
        total = await self._db.fetchval(
            "SELECT count(*) FROM voucher_batches WHERE tenant_id = $1", tenant_id
        )
        return [_summary(row) for row in rows], total

    async def vouchers(
        self,
        tenant_id: int,
        at: datetime,
        *,
        batch_id: int | None = None,
        status: str | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> tuple[list[Voucher], int]:
        """A page of vouchers (in the order they were made) and how many match in all."""
        where = f"""
          FROM vouchers v JOIN voucher_batches b ON b.id = v.batch_id
         WHERE v.tenant_id = $2 AND ($3::bigint IS NULL OR v.batch_id = $3)
           AND ($4::text IS NULL OR {_STATUS.format(at="$1")} = $4)"""
        rows = await self._db.fetch(
            f"SELECT {_VOUCHER_COLUMNS} {where} ORDER BY v.id LIMIT $5 OFFSET $6",
            at,
            tenant_id,
            batch_id,
            status,
            limit,
            offset,
        )
        total = await self._db.fetchval(f"SELECT count(*) {where}", at, tenant_id, batch_id, status)
        return [Voucher(**dict(row)) for row in rows], total

    async def changed_since(
        self,
        tenant_id: int,
        router_ids: Sequence[int],
        version: int,
    ) -> list[VoucherSync]:
        """The vouchers in an agent's scope (batches of its routers, and the tenant-wide ones)
        written after ``version``, oldest version first; ``version=0``: all of them.

        All of them, never a page: the rows one transaction wrote share a version (migration
        0016), so a cut inside a version would lose the rest of it.
        """
        rows = await self._db.fetch(
            """
            SELECT v.version, v.batch_id, b.router_id, b.plan_id, v.code, b.valid_until,
                   v.status, v.mac_address, v.redeemed_at, v.expires_at
              FROM vouchers v
              JOIN voucher_batches b ON b.id = v.batch_id
             WHERE v.tenant_id = $1 AND v.version > $3
               AND (b.router_id IS NULL OR b.router_id = ANY($2::bigint[]))
             ORDER BY v.version, v.id
            """,
            tenant_id,
            list(router_ids),
            version,
        )
        # A batch's plan as bought (deleted since or not): its duration and rate limit.
        plans: dict[int, Plan] = {}
        for plan_id in {row["plan_id"] for row in rows}:
            plan = await PlanRepository(self._db).get(plan_id, tenant_id, deleted=True)
            assert plan is not None  # voucher_batches.plan_id references it, same tenant
            plans[plan_id] = plan
        out = []
        for row in rows:
            fields = dict(row)
            plan = plans[fields.pop("plan_id")]
            out.append(
                VoucherSync(
                    **fields,
                    duration_seconds=int(plan.duration.total_seconds()),
                    profile=plan.router_profile,
                    rate_limit=plan.rate_limit,
                    on_expiry=plan.on_expiry,
                )
            )
        return out

    async def current_version(self, tenant_id: int, router_ids: Sequence[int]) -> int:
        """The newest voucher version in an agent's scope; 0 when it has none (the agent's
        sync token: equal versions, nothing to send)."""
        value = await self._db.fetchval(
            """
            SELECT v.version FROM vouchers v JOIN voucher_batches b ON b.id = v.batch_id
             WHERE v.tenant_id = $1 AND (b.router_id IS NULL OR b.router_id = ANY($2::bigint[]))
             ORDER BY v.version DESC LIMIT 1
            """,
            tenant_id,
            list(router_ids),
        )
        return int(value or 0)
