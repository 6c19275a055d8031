"""What the billing-profile, customer and client-operation endpoints answer (the envelope's
``data``), as msgspec Structs: the handlers return these, and ``@operation`` declares them.

A customer's password is write-only: no type here has a field that could carry it.
"""

from __future__ import annotations

from decimal import Decimal

import msgspec

from common.timeutil import to_iso
from hub.domain import BillingProfile, Subscriber, Tenant
from hub.services.subscribers import ItemResult
from hub.web.bodies import money


class ProfileOut(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    id: int
    name: str
    type: str  # pppoe | hotspot
    price: int | Decimal  # exact: 350000, or 10.50
    currency: str  # the tenant's
    rate_limit: str
    local_address: str | None
    remote_address: str | None
    created_at: str
    updated_at: str


class ProfileList(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    profiles: list[ProfileOut]
    total: int


class CustomerOut(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    id: int
    username: str
    name: str | None
    phone: str | None  # E.164
    profile_id: int | None
    profile_name: str | None
    service_type: str | None  # pppoe | hotspot; None for a customer without a subscription
    billing_day: int | None
    device_id: int | None  # the router holding its PPP secret or hotspot user
    is_active: bool
    created_at: str
    updated_at: str


class CustomerList(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    customers: list[CustomerOut]
    total: int


class Message(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    message: str


class ClientResult(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    username: str
    action: str  # created | updated | deleted | failed
    error: str | None
    customer: CustomerOut | None  # the customer as saved (created / updated)


class ClientResults(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    results: list[ClientResult]
    succeeded: int
    failed: int


def profile_out(profile: BillingProfile, tenant: Tenant) -> ProfileOut:
    return ProfileOut(
        id=profile.id,
        name=profile.name,
        type=profile.type,
        price=money(profile.price),
        currency=tenant.currency,
        rate_limit=profile.rate_limit,
        local_address=profile.local_address,
        remote_address=profile.remote_address,
        created_at=to_iso(profile.created_at),
        updated_at=to_iso(profile.updated_at),
    )


def customer_out(customer: Subscriber, profiles: dict[int, BillingProfile]) -> CustomerOut:
    profile = profiles.get(customer.profile_id) if customer.profile_id is not None else None
    return CustomerOut(
        id=customer.id,
        username=customer.username,
        name=customer.full_name,
        phone=customer.phone,
        profile_id=customer.profile_id,
        profile_name=profile.name if profile else None,
        service_type=customer.service_type,
        billing_day=customer.billing_day,
        device_id=customer.router_id,
        is_active=customer.is_active,
        created_at=to_iso(customer.created_at),
        updated_at=to_iso(customer.updated_at),
    )


def client_results(results: list[ItemResult], profiles: dict[int, BillingProfile]) -> ClientResults:
    items = [
        ClientResult(
            username=result.username,
            action=result.action,
            error=result.error,
            customer=customer_out(result.customer, profiles) if result.customer else None,
        )
        for result in results
    ]
    failed = sum(result.action == "failed" for result in results)
    return ClientResults(results=items, succeeded=len(items) - failed, failed=failed)
