"""Voucher batches: codes sold for cash and redeemed on the router's own login page.

A code is a hotspot user name and password at once, so it is a secret: drawn with ``secrets``,
unique per tenant, never written to the audit log, and refused when its alphabet and length
leave a guesser better odds than one in ``GUESS_MARGIN`` per try. The vouchers reach the agents
by version (migration 0016): inserting them bumps the tenant's voucher version, which the
agent-side sync reads with ``VoucherRepository.changed_since`` when an agent connects; agents
connected now hear of it at once through ``on_batch`` (the link's push, called after commit).
"""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from urllib.parse import urlsplit

import asyncpg

from common.timeutil import to_iso, utcnow
from hub.config import HubConfig
from hub.domain import Tenant, Voucher, VoucherBatchSummary
from hub.errors import Conflict, InvalidInput, NotFound
from hub.services.audit import AuditEntry, audited, write_audit
from hub.services.portal import ROUTER_NOT_FOUND
from hub.storage.plans import PlanRepository
from hub.storage.routers import RouterRepository
from hub.storage.vouchers import STATUSES, VoucherRepository

log = logging.getLogger(__name__)

# Called ``(tenant_id=, batch_id=)`` once a batch committed: the agent link pushes it to the
# agents of its scope (hub.link.vouchers.push_batch; an agent it misses gets the batch by
# version at its next connect).
BatchListener = Callable[..., Awaitable[object]]

DEFAULT_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"  # no look-alikes: 0/O, 1/I/L
DEFAULT_CODE_LENGTH = 8
DEFAULT_VALID_DAYS = 30
MAX_COUNT = 5000
CODE_LENGTH = (4, 32)
ALPHABET_SIZE = (10, 64)
MAX_PREFIX = 8
VALID_DAYS = (1, 366)
MAX_PRICE = Decimal("999999999999.99")  # numeric(14, 2)
MAX_LOGIN_URL = 255
# The code space must be this many times the batch: a random guess on the login page then hits
# a code of the batch at most once in GUESS_MARGIN tries, and collisions stay rare.
GUESS_MARGIN = 1000
DRAW_ROUNDS = 8  # rounds of redrawing codes another voucher of the tenant already has

BATCH_NOT_FOUND = "Voucher batch not found"
PLAN_NOT_FOUND = "Plan not found"
_ALNUM = re.compile(r"^[A-Za-z0-9]*$")


@dataclass(frozen=True, slots=True)
class NewBatch:
    summary: VoucherBatchSummary
    codes: list[str]  # in the order they were made (the sheet's order)


@dataclass(frozen=True, slots=True)
class VoucherSheet:
    """What a printed sheet shows: the batch, its tenant, and every voucher in it."""

    tenant: Tenant
    summary: VoucherBatchSummary
    vouchers: list[Voucher]


@dataclass(frozen=True, slots=True)
class _Shape:
    count: int
    code_length: int
    alphabet: str
    prefix: str
    valid_days: int
    hotspot_login_url: str | None


def _integer(value: object, name: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(f"{name} must be an integer")
    if not low <= value <= high:
        raise InvalidInput(f"{name} must be between {low} and {high}")
    return value


def _alphabet(value: object) -> str:
    if value is None:
        return DEFAULT_ALPHABET
    low, high = ALPHABET_SIZE
    if not isinstance(value, str) or not _ALNUM.fullmatch(value):
        raise InvalidInput("alphabet must be letters and digits (A-Z, a-z, 0-9)")
    if len(set(value)) != len(value):
        raise InvalidInput("alphabet must not repeat a character")
    if not low <= len(value) <= high:
        raise InvalidInput(f"alphabet must have {low} to {high} characters")
    return value


def _prefix(value: object) -> str:
    if value is None:
        return ""
    if not isinstance(value, str) or not _ALNUM.fullmatch(value) or len(value) > MAX_PREFIX:
        raise InvalidInput(f"prefix must be at most {MAX_PREFIX} letters and digits")
    return value


def _login_url(value: object) -> str | None:
    """The hotspot's login page (http://<hotspot dns>/login): the QR codes add the code."""
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > MAX_LOGIN_URL or not value.isprintable():
        raise InvalidInput(f"hotspot_login_url must be a URL of at most {MAX_LOGIN_URL} characters")
    try:
        parts = urlsplit(value)
    except ValueError as exc:
        raise InvalidInput("hotspot_login_url is not a valid URL") from exc
    if parts.scheme not in ("http", "https") or not parts.hostname or " " in value:
        raise InvalidInput("hotspot_login_url must be an http:// or https:// URL with a host")
    if parts.query or parts.fragment:
        raise InvalidInput("hotspot_login_url must not have a query or fragment")
    return value


def price_of(value: object) -> Decimal:
    """A positive amount with at most two decimals (numeric(14, 2)), never through float."""
    if isinstance(value, bool) or not isinstance(value, Decimal | int | str):
        raise InvalidInput("price must be a number")
    try:
        price = Decimal(value)
    except InvalidOperation as exc:
        raise InvalidInput("price must be a number") from exc
    if not price.is_finite() or price <= 0 or price > MAX_PRICE:
        raise InvalidInput(f"price must be more than 0 and at most {MAX_PRICE}")
    if price != price.quantize(Decimal("0.01")):
        raise InvalidInput("price must have at most two decimals")
    return price.quantize(Decimal("0.01"))


def _shape(
    count: object,
    code_length: object,
    alphabet: object,
    prefix: object,
    valid_days: object,
    hotspot_login_url: object,
) -> _Shape:
    if count is None:
        raise InvalidInput("count is required")
    shape = _Shape(
        count=_integer(count, "count", 1, MAX_COUNT),
        code_length=_integer(
            DEFAULT_CODE_LENGTH if code_length is None else code_length, "code_length", *CODE_LENGTH
        ),
        alphabet=_alphabet(alphabet),
        prefix=_prefix(prefix),
        valid_days=_integer(
            DEFAULT_VALID_DAYS if valid_days is None else valid_days, "valid_days", *VALID_DAYS
        ),
        hotspot_login_url=_login_url(hotspot_login_url),
    )
    space = len(shape.alphabet) ** shape.code_length
    if space < GUESS_MARGIN * shape.count:
        most = space // GUESS_MARGIN
        raise InvalidInput(
            f"{shape.code_length} characters of a {len(shape.alphabet)}-character alphabet"
            f" cannot safely hold {shape.count} vouchers (at most {most}): use longer codes"
            " or a larger alphabet"
        )
    return shape


def draw_codes(alphabet: str, length: int, prefix: str, count: int) -> list[str]:
    """``count`` fresh codes from the OS's CSPRNG (``secrets``), distinct among themselves."""
    codes: dict[str, None] = {}
    while len(codes) < count:
        codes[prefix + "".join(secrets.choice(alphabet) for _ in range(length))] = None
    return list(codes)


class VoucherService:
    def __init__(
        self, pool: asyncpg.Pool, config: HubConfig, on_batch: BatchListener | None = None
    ) -> None:
        self._pool = pool
        self._config = config
        self._on_batch = on_batch

    async def create_batch(
        self,
        tenant: Tenant,
        *,
        plan_id: object,
        count: object,
        actor: str,
        code_length: object = None,
        alphabet: object = None,
        prefix: object = None,
        price: object = None,
        valid_days: object = None,
        router_id: object = None,
        hotspot_login_url: object = None,
    ) -> NewBatch:
        """A batch of ``count`` vouchers for a hotspot plan of the tenant, in one transaction
        with its audit row; 400 on any bad value (nothing written), 404 for a plan or router
        that is not the tenant's."""
        entry = AuditEntry(actor, "create_voucher_batch", tenant_id=tenant.id)
        entry.params = {
            "plan_id": plan_id,
            "count": count,
            "code_length": code_length,
            "alphabet": alphabet,
            "prefix": prefix,
            "price": str(price) if price is not None else None,
            "valid_days": valid_days,
            "router_id": router_id,
            "hotspot_login_url": hotspot_login_url,
        }
        async with audited(self._pool, entry):
            if plan_id is None:
                raise InvalidInput("plan_id is required")
            plan_id = _integer(plan_id, "plan_id", 1, 2**63 - 1)
            shape = _shape(count, code_length, alphabet, prefix, valid_days, hotspot_login_url)
            amount = price_of(price) if price is not None else None
            if router_id is not None:
                router_id = _integer(router_id, "router_id", 1, 2**63 - 1)
                routers = RouterRepository(
                    self._pool, offline_after=self._config.agent_offline_after
                )
                if await routers.get(router_id, tenant.id) is None:
                    raise NotFound(ROUTER_NOT_FOUND)
                entry.router_id = router_id
            now = utcnow()
            async with self._pool.acquire() as conn, conn.transaction():
                # Held until commit: a plan deleted meanwhile gets no new batch (and vice versa).
                plan = await PlanRepository(conn).lock(plan_id, tenant.id)
                if plan is None:
                    raise NotFound(PLAN_NOT_FOUND)
                if plan.connection_type != "hotspot":
                    raise InvalidInput("vouchers need a hotspot plan (they are hotspot users)")
                vouchers = VoucherRepository(conn)
                batch_id = await vouchers.create_batch(
                    tenant_id=tenant.id,
                    plan_id=plan.id,
                    router_id=router_id,
                    count=shape.count,
                    code_length=shape.code_length,
                    alphabet=shape.alphabet,
                    prefix=shape.prefix,
                    price=amount if amount is not None else plan.price,
                    valid_until=now + timedelta(days=shape.valid_days),
                    hotspot_login_url=shape.hotspot_login_url,
                    created_by=actor,
                )
                codes = await self._insert_codes(vouchers, tenant.id, batch_id, shape)
                summary = await vouchers.get_batch(batch_id, tenant.id, now)
                assert summary is not None  # inserted above, in this transaction
                entry.target = f"batch:{batch_id}"
                entry.details = {
                    "batch_id": batch_id,
                    "count": len(codes),
                    "price": str(summary.batch.price),
                    "valid_until": to_iso(summary.batch.valid_until),
                }
                await write_audit(conn, entry)
            entry.recorded = True
        await self._announce(tenant.id, batch_id)
        return NewBatch(summary, codes)

    async def _announce(self, tenant_id: int, batch_id: int) -> None:
        """Tell the link of a committed batch; its failure only delays delivery to the next
        connect (the version is already bumped), so it is logged, not the caller's error."""
        if self._on_batch is None:
            return
        try:
            await self._on_batch(tenant_id=tenant_id, batch_id=batch_id)
        except Exception:
            log.exception("voucher batch %s: push to the agents failed", batch_id)

    async def _insert_codes(
        self, vouchers: VoucherRepository, tenant_id: int, batch_id: int, shape: _Shape
    ) -> list[str]:
        """Draw and insert until the batch is full; a code the tenant already has is redrawn
        (INSERT ... ON CONFLICT DO NOTHING tells which). 409 if the space seems exhausted."""
        codes: list[str] = []
        tried: set[str] = set()
        for _ in range(DRAW_ROUNDS):
            wanted = shape.count - len(codes)
            if wanted == 0:
                break
            fresh = [
                code
                for code in draw_codes(shape.alphabet, shape.code_length, shape.prefix, wanted)
                if code not in tried
            ]
            tried.update(fresh)
            inserted = await vouchers.insert_codes(tenant_id, batch_id, fresh)
            codes.extend(code for code in fresh if code in inserted)
        if len(codes) < shape.count:
            raise Conflict(
                "could not draw enough codes the tenant does not already have:"
                " use longer codes, another prefix or a larger alphabet"
            )
        return codes

    async def batches(
        self, tenant: Tenant, *, limit: int, offset: int
    ) -> tuple[list[VoucherBatchSummary], int]:
        return await VoucherRepository(self._pool).list_batches(
            tenant.id, utcnow(), limit=limit, offset=offset
        )

    async def batch(self, tenant: Tenant, batch_id: int) -> VoucherBatchSummary:
        summary = await VoucherRepository(self._pool).get_batch(batch_id, tenant.id, utcnow())
        if summary is None:
            raise NotFound(BATCH_NOT_FOUND)
        return summary

    async def vouchers(
        self,
        tenant: Tenant,
        *,
        batch_id: int | None,
        status: str | None,
        limit: int,
        offset: int,
    ) -> tuple[list[Voucher], int]:
        if status is not None and status not in STATUSES:
            raise InvalidInput(f"status must be one of {', '.join(STATUSES)}")
        repo = VoucherRepository(self._pool)
        now = utcnow()
        if batch_id is not None and await repo.get_batch(batch_id, tenant.id, now) is None:
            raise NotFound(BATCH_NOT_FOUND)
        return await repo.vouchers(
            tenant.id, now, batch_id=batch_id, status=status, limit=limit, offset=offset
        )

    async def sheet(self, tenant: Tenant, batch_id: int) -> VoucherSheet:
        """Every voucher of the batch, for printing (used ones too: a sheet is a record)."""
        repo = VoucherRepository(self._pool)
        now = utcnow()
        summary = await repo.get_batch(batch_id, tenant.id, now)
        if summary is None:
            raise NotFound(BATCH_NOT_FOUND)
        vouchers, _ = await repo.vouchers(tenant.id, now, batch_id=batch_id)
        return VoucherSheet(tenant, summary, vouchers)
