"""Payments face: M-Pesa STK push, cash, a payment's status, and the provider's callback.

The callback is public (the provider cannot hold a token): the per-tenant secret in its path is
the credential, checked by the payment service. It answers in Daraja's acknowledgement shape,
``{"ResultCode": 0, "ResultDesc": "Accepted"}``, and refusals in the same shape with a 4xx.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from aiohttp import web

from common.timeutil import to_iso
from hub.domain import Payment
from hub.errors import HubError
from hub.payments.service import PAYMENT_NOT_FOUND, Paid
from hub.typedefs import CALLER, SERVICES
from hub.web import responses as out
from hub.web.handlers import (
    caller_tenant,
    path_id,
    read_body,
    read_bytes,
    read_query,
    require_role,
)
from hub.web.openapi import operation
from hub.web.schemas import CashBody, StkPushBody, TenantQuery

routes = web.RouteTableDef()

CALLBACK_ROUTE = (
    r"/api/payments/callback/{tenant:[A-Za-z0-9_.-]{1,64}}/{secret:[A-Za-z0-9_-]{1,128}}"
)
MAX_CALLBACK_BYTES = 16 * 1024
ACCEPTED = {"ResultCode": 0, "ResultDesc": "Accepted"}


def money(amount: Decimal) -> float:
    """An amount as seed 003 shows it (730.0); Decimal everywhere before this point."""
    return float(amount)


def payment_body(payment: Payment) -> dict[str, Any]:
    """A payment as GET /api/payments/{id} and the cash answer show it."""
    return {
        "payment_id": payment.id,
        "status": payment.status,
        "method": payment.method,
        "amount": money(payment.amount),
        "currency": payment.currency,
        "phone": payment.phone,
        "mac_address": payment.mac_address,
        "plan_id": payment.plan_id,
        "router_id": payment.router_id,
        "customer_id": payment.customer_id,
        "checkout_request_id": payment.checkout_request_id,
        "receipt": payment.receipt,
        "result_desc": payment.result_desc,
        "created_at": to_iso(payment.created_at),
        "completed_at": to_iso(payment.completed_at) if payment.completed_at else None,
        "expires_at": to_iso(payment.access_expires_at) if payment.access_expires_at else None,
    }


def paid_body(paid: Paid) -> dict[str, Any]:
    delivery = paid.delivery
    return {
        **payment_body(paid.payment),
        "username": paid.customer.username,
        "delivery": None if delivery is None else delivery.status,
    }


@routes.post("/api/payments/mpesa/stk-push")
@operation(
    "Start an M-Pesa STK push for a plan",
    body=StkPushBody,
    response=out.StkPushStarted,
    status=202,
    errors=(403, 404, 409, 502),
)
async def stk_push(request: web.Request) -> web.Response:
    body = await read_body(request, StkPushBody)
    tenant = await caller_tenant(request, body.user_id)
    require_role(request, "operator")
    assert body.plan_id is not None and body.router_id is not None  # StkPushBody.check
    started = await request.app[SERVICES].payments.start_stk_push(
        tenant,
        plan_id=body.plan_id,
        phone=body.phone,
        router_id=body.router_id,
        mac_address=body.mac_address,
        actor=request[CALLER].actor,
    )
    return web.json_response(
        {
            "payment_id": started.payment.id,
            "checkout_request_id": started.payment.checkout_request_id,
            "status": started.payment.status,
            "customer_message": started.customer_message,
        },
        status=202,
    )


@routes.post("/api/payments/cash")
@operation(
    "Record a cash sale of a plan",
    body=CashBody,
    response=out.CashPaid,
    status=201,
    errors=(403, 404, 409),
)
async def cash(request: web.Request) -> web.Response:
    body = await read_body(request, CashBody)
    tenant = await caller_tenant(request, body.user_id)
    require_role(request, "operator")
    assert body.plan_id is not None and body.router_id is not None  # CashBody.check
    paid = await request.app[SERVICES].payments.record_cash(
        tenant,
        plan_id=body.plan_id,
        phone_or_username=body.phone,
        router_id=body.router_id,
        mac_address=body.mac_address,
        actor=request[CALLER].actor,
    )
    return web.json_response(paid_body(paid), status=201)


@routes.get(r"/api/payments/{payment_id:\d+}")
@operation("A payment's status", query=TenantQuery, response=out.PaymentStatus, errors=(403, 404))
async def payment_status(request: web.Request) -> web.Response:
    payment_id = path_id(request, "payment_id", PAYMENT_NOT_FOUND)
    query = read_query(request, TenantQuery)
    tenant = await caller_tenant(request, query.user_id)
    require_role(request, "viewer")
    payment = await request.app[SERVICES].payments.get(tenant, payment_id)
    return web.json_response(payment_body(payment))


@routes.post(CALLBACK_ROUTE)
@operation(
    "A payment provider's callback",
    response=out.CallbackAck,
    responses={status: out.CallbackAck for status in (400, 403, 413, 415, 503)},
)
async def callback(request: web.Request) -> web.Response:
    """The provider's outcome of a payment (public: the path's tenant secret is checked)."""
    try:
        body = await read_bytes(request, MAX_CALLBACK_BYTES)
        await request.app[SERVICES].payments.handle_callback(
            request.match_info["tenant"], request.match_info["secret"], body
        )
    except HubError as exc:
        return web.json_response({"ResultCode": 1, "ResultDesc": exc.message}, status=exc.status)
    return web.json_response(ACCEPTED)
