"""Voucher batches on the billing face (issue 15): create, list, count, print.

Every path needs the billing face's ``Authorization: Bearer`` (a dashboard user's token or a
tenant API key): the sheets too, since the codes on them are passwords. A dashboard opens a
sheet by fetching it with its token and showing the answer (a blob URL), so no token ever
travels in a URL. Reads: viewer; creating a batch: operator.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from common.timeutil import to_iso
from hub.domain import Voucher, VoucherBatchSummary
from hub.services.vouchers import BATCH_NOT_FOUND
from hub.typedefs import CALLER, SERVICES
from hub.web import responses as out
from hub.web.bodies import money
from hub.web.handlers import caller_tenant, fast_json, path_id, read_body, read_query, require_role
from hub.web.openapi import operation
from hub.web.schemas import TenantQuery, VoucherBatchBody, VoucherListQuery, VoucherPageQuery
from hub.web.voucher_sheets import render_html, render_pdf

routes = web.RouteTableDef()

_NO_STORE = {"Cache-Control": "no-store"}  # a sheet is a stack of passwords


def batch_json(summary: VoucherBatchSummary, currency: str) -> dict[str, Any]:
    batch, counts = summary.batch, summary.counts
    return {
        "id": batch.id,
        "plan_id": batch.plan_id,
        "plan_name": batch.plan_name,
        "duration_value": batch.duration_value,
        "duration_unit": batch.duration_unit,
        "router_id": batch.router_id,
        "count": batch.count,
        "code_length": batch.code_length,
        "alphabet": batch.alphabet,
        "prefix": batch.prefix,
        "price": money(batch.price),
        "currency": currency,
        "valid_until": to_iso(batch.valid_until),
        "hotspot_login_url": batch.hotspot_login_url,
        "created_by": batch.created_by,
        "created_at": to_iso(batch.created_at),
        "counts": {
            "unused": counts.unused,
            "active": counts.active,
            "expired": counts.expired,
            "redeemed": counts.redeemed,
        },
        # Revenue with its cents (730.00: a number, exact), as the seed shows revenue (730.0).
        "sales": summary.sales,
    }


def voucher_json(voucher: Voucher) -> dict[str, Any]:
    return {
        "id": voucher.id,
        "batch_id": voucher.batch_id,
        "code": voucher.code,
        "status": voucher.status,
        "valid_until": to_iso(voucher.valid_until),
        "mac_address": voucher.mac_address,
        "router_id": voucher.router_id,
        "redeemed_at": to_iso(voucher.redeemed_at) if voucher.redeemed_at else None,
        "expires_at": to_iso(voucher.expires_at) if voucher.expires_at else None,
    }


@routes.post("/api/vouchers/batches")
@operation(
    "Create a batch of vouchers",
    body=VoucherBatchBody,
    response=out.VoucherBatchCreated,
    status=201,
    errors=(403, 404, 409),
)
async def create_batch(request: web.Request) -> web.Response:
    require_role(request, "operator")
    body = await read_body(request, VoucherBatchBody)
    tenant = await caller_tenant(request, body.user_id)
    created = await request.app[SERVICES].vouchers.create_batch(
        tenant,
        plan_id=body.plan_id,
        count=body.count,
        code_length=body.code_length,
        alphabet=body.alphabet,
        prefix=body.prefix,
        price=body.price,
        valid_days=body.valid_days,
        router_id=body.router_id,
        hotspot_login_url=body.hotspot_login_url,
        actor=request[CALLER].actor,
    )
    return fast_json(
        {"batch": batch_json(created.summary, tenant.currency), "vouchers": created.codes},
        status=201,
    )


@routes.get("/api/vouchers/batches")
@operation(
    "Voucher batches, a page at a time",
    query=VoucherPageQuery,
    response=out.VoucherBatchPage,
    errors=(403, 404),
)
async def list_batches(request: web.Request) -> web.Response:
    query = read_query(request, VoucherPageQuery)
    tenant = await caller_tenant(request, query.user_id)
    batches, total = await request.app[SERVICES].vouchers.batches(
        tenant, limit=query.limit, offset=query.offset
    )
    return fast_json(
        {
            "batches": [batch_json(summary, tenant.currency) for summary in batches],
            "total": total,
            "limit": query.limit,
            "offset": query.offset,
        }
    )


@routes.get(r"/api/vouchers/batches/{batch_id:\d+}")
@operation(
    "A voucher batch and its counts",
    query=TenantQuery,
    response=out.VoucherBatch,
    errors=(403, 404),
)
async def batch_details(request: web.Request) -> web.Response:
    query = read_query(request, TenantQuery)
    tenant = await caller_tenant(request, query.user_id)
    batch_id = path_id(request, "batch_id", BATCH_NOT_FOUND)
    summary = await request.app[SERVICES].vouchers.batch(tenant, batch_id)
    return fast_json(batch_json(summary, tenant.currency))


@routes.get("/api/vouchers")
@operation(
    "Vouchers, a page at a time",
    query=VoucherListQuery,
    response=out.VoucherPage,
    errors=(403, 404),
)
async def list_vouchers(request: web.Request) -> web.Response:
    require_role(request, "operator")  # the codes are cash: not for viewers
    query = read_query(request, VoucherListQuery)
    tenant = await caller_tenant(request, query.user_id)
    vouchers, total = await request.app[SERVICES].vouchers.vouchers(
        tenant,
        batch_id=query.batch_id,
        status=query.status,
        limit=query.limit,
        offset=query.offset,
    )
    return fast_json(
        {
            "vouchers": [voucher_json(voucher) for voucher in vouchers],
            "total": total,
            "limit": query.limit,
            "offset": query.offset,
        }
    )


@routes.get(r"/api/vouchers/batches/{batch_id:\d+}/sheet.html")
@operation(
    "A batch's printable sheet (HTML)",
    query=TenantQuery,
    content_type="text/html",
    errors=(403, 404),
)
async def sheet_html(request: web.Request) -> web.Response:
    require_role(request, "operator")  # the codes are cash: not for viewers
    query = read_query(request, TenantQuery)
    tenant = await caller_tenant(request, query.user_id)
    batch_id = path_id(request, "batch_id", BATCH_NOT_FOUND)
    sheet = await request.app[SERVICES].vouchers.sheet(tenant, batch_id)
    text = await asyncio.to_thread(render_html, sheet)
    return web.Response(text=text, content_type="text/html", charset="utf-8", headers=_NO_STORE)


@routes.get(r"/api/vouchers/batches/{batch_id:\d+}/sheet.pdf")
@operation(
    "A batch's printable sheet (PDF)",
    query=TenantQuery,
    content_type="application/pdf",
    errors=(403, 404),
)
async def sheet_pdf(request: web.Request) -> web.Response:
    require_role(request, "operator")  # the codes are cash: not for viewers
    query = read_query(request, TenantQuery)
    tenant = await caller_tenant(request, query.user_id)
    batch_id = path_id(request, "batch_id", BATCH_NOT_FOUND)
    sheet = await request.app[SERVICES].vouchers.sheet(tenant, batch_id)
    pdf = await asyncio.to_thread(render_pdf, sheet)
    return web.Response(
        body=pdf,
        content_type="application/pdf",
        headers={
            **_NO_STORE,
            "Content-Disposition": f'inline; filename="vouchers-batch-{batch_id}.pdf"',
        },
    )
