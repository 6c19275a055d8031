"""Plans (seed 003): validated once here, for every face that sells them."""

from __future__ import annotations

import re
from decimal import Decimal

import asyncpg

from hub.domain import Plan, Tenant
from hub.errors import InvalidInput, NotFound
from hub.services.audit import AuditEntry, audited, write_audit
from hub.services.inputs import required_text
from hub.storage.plans import PlanRepository

DURATION_UNITS = ("minutes", "hours", "days")
CONNECTION_TYPES = ("hotspot", "pppoe")
ON_EXPIRY = ("cut", "throttle")
MAX_DURATION = {"minutes": 60 * 24 * 366, "hours": 24 * 366, "days": 366}
MAX_PRICE = Decimal("1000000000")
PLAN_NOT_FOUND = "Plan not found"
# One direction of a RouterOS rate: "512k", "5M", "1.5M", "1G" (bits per second).
_RATE = re.compile(r"^(?:[0-9]{1,9}(?:\.[0-9]{1,3})?)[kKmMgG]?$")
ROUTEROS_NAME = re.compile(r"^[^\x00-\x1f=]{1,64}$")


def parse_speed(text: object, field: str = "speed") -> tuple[str, str]:
    """ "5M/2M" (download/upload, the customer's view) as ("5M", "2M"); 400 naming ``field``
    otherwise (a billing profile's ``rate_limit`` is read by the same rule)."""
    if not isinstance(text, str):
        raise InvalidInput(f"{field} is required, like 5M/2M (download/upload)")
    down, sep, up = text.strip().partition("/")
    rates = (_rate(down), _rate(up)) if sep else None
    if rates is None or None in rates:
        raise InvalidInput(
            f"invalid {field} {text!r}: expected download/upload like 5M/2M or 512k/1M"
        )
    return rates  # type: ignore[return-value]


def _rate(text: str) -> str | None:
    text = text.strip()
    if not _RATE.fullmatch(text) or float(text.rstrip("kKmMgG")) <= 0:
        return None
    unit = text[-1] if text[-1].isalpha() else ""
    return text[: len(text) - len(unit)] + {"K": "k", "m": "M", "g": "G"}.get(unit, unit)


class PlanService:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def create(
        self,
        tenant: Tenant,
        *,
        name: object,
        speed: object,
        price: object,
        duration_value: object,
        duration_unit: object,
        connection_type: object,
        router_profile: object = None,
        on_expiry: object = "cut",
        actor: str,
    ) -> Plan:
        entry = AuditEntry(actor, "create_plan", tenant_id=tenant.id)
        entry.params = {"name": name, "speed": speed, "price": str(price)}
        async with audited(self._pool, entry):
            name = required_text(name, "name")
            if len(name) > 100:
                raise InvalidInput("name must be at most 100 characters")
            download, upload = parse_speed(speed)
            if isinstance(price, bool) or not isinstance(price, int | Decimal) or price <= 0:
                raise InvalidInput("price must be a positive integer")
            if price > MAX_PRICE:
                raise InvalidInput(f"price must be at most {MAX_PRICE}")
            unit = duration_unit.strip().lower() if isinstance(duration_unit, str) else None
            if unit not in DURATION_UNITS:
                raise InvalidInput("duration_unit must be HOURS, DAYS or MINUTES")
            if (
                isinstance(duration_value, bool)
                or not isinstance(duration_value, int)
                or duration_value < 1
            ):
                raise InvalidInput("duration_value must be an integer of at least 1")
            if duration_value > MAX_DURATION[unit]:
                raise InvalidInput(f"duration_value must be at most {MAX_DURATION[unit]} {unit}")
            if connection_type not in CONNECTION_TYPES:
                raise InvalidInput("connection_type must be hotspot or pppoe")
            if router_profile is not None and (
                not isinstance(router_profile, str) or not ROUTEROS_NAME.fullmatch(router_profile)
            ):
                raise InvalidInput(
                    "router_profile must be a RouterOS profile name (1-64 characters)"
                )
            if on_expiry not in ON_EXPIRY:
                raise InvalidInput("on_expiry must be cut or throttle")
            entry.target = name
            async with self._pool.acquire() as conn, conn.transaction():
                plan = await PlanRepository(conn).create(
                    tenant.id,
                    name=name,
                    price=Decimal(price),
                    duration_value=duration_value,
                    duration_unit=unit,
                    download_speed=download,
                    upload_speed=upload,
                    connection_type=connection_type,
                    router_profile=router_profile or None,
                    on_expiry=on_expiry,
                    created_by=actor,
                )
                entry.details = {"plan_id": plan.id}
                await write_audit(conn, entry)
            entry.recorded = True
            return plan

    async def list(self, tenant: Tenant, connection_type: str | None = None) -> list[Plan]:
        if connection_type is not None and connection_type not in CONNECTION_TYPES:
            raise InvalidInput("connection_type must be hotspot or pppoe")
        return await PlanRepository(self._pool).list(tenant.id, connection_type)

    async def get(self, tenant: Tenant, plan_id: int) -> Plan:
        plan = await PlanRepository(self._pool).get(plan_id, tenant.id)
        if plan is None:
            raise NotFound(PLAN_NOT_FOUND)
        return plan

    async def delete(self, tenant: Tenant, plan_id: int, actor: str) -> Plan:
        """Refused while customers have access bought with it running (seed 003's message)."""
        entry = AuditEntry(actor, "delete_plan", tenant_id=tenant.id, target=str(plan_id))
        async with audited(self._pool, entry):
            async with self._pool.acquire() as conn, conn.transaction():
                plans = PlanRepository(conn)
                plan = await plans.lock(plan_id, tenant.id)
                if plan is None:
                    raise NotFound(PLAN_NOT_FOUND)
                active = await plans.active_customers(plan.id)
                if active:
                    raise InvalidInput(
                        f"Cannot delete plan. {active} active customer(s) are using this plan"
                    )
                await plans.soft_delete(plan.id)
                entry.details = {"name": plan.name}
                await write_audit(conn, entry)
            entry.recorded = True
            return plan
