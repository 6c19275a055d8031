"""Client operations (seed 004 section 4): customers in bulk, by username.

``client-upsert`` creates or updates up to 500 customers (each item as ``POST
/v1/internal/customer`` takes it), ``client-find`` filters them, ``client-delete`` deletes by
username. Each item succeeds or fails on its own; the answer lists every item.
"""

from __future__ import annotations

from aiohttp import web

from hub.storage.subscribers import SubscriberFilter
from hub.typedefs import CALLER, SERVICES
from hub.web.envelope import ok
from hub.web.handlers import read_body, read_items, read_query
from hub.web.openapi import operation
from hub.web.schemas import (
    ClientDeleteBody,
    ClientDeleteQuery,
    ClientFilterBody,
    CustomerBody,
    CustomerItems,
)
from hub.web.v1.access import requires, v1_tenant
from hub.web.v1.answers import ClientResults, CustomerList, client_results
from hub.web.v1.customers import customers_out, router_for

routes = web.RouteTableDef()
_TAGS = ("Client operations",)
# 500 items of a few hundred bytes each.
MAX_UPSERT_BYTES = 512 * 1024


@routes.post("/v1/internal/client-upsert")
@requires("customers.manage")
@operation(
    "Create or update customers by username",
    body=CustomerItems,
    response=ClientResults,
    errors=(400, 401, 403, 413),
    envelope=True,
    tags=_TAGS,
)
async def upsert_clients(request: web.Request) -> web.Response:
    """A JSON array of customers; per item: created, updated or failed (with the error)."""
    items = await read_items(request, CustomerBody, MAX_UPSERT_BYTES)
    tenant = await v1_tenant(request)
    subscribers = request.app[SERVICES].subscribers
    results = await subscribers.upsert(
        tenant, [item.given() for item in items], router_for(request), request[CALLER].actor
    )
    saved = [result.customer for result in results if result.customer is not None]
    return ok(client_results(results, await subscribers.profiles_of(tenant, saved)))


@routes.post("/v1/internal/client-find")
@requires("customers.read")
@operation(
    "Find customers",
    body=ClientFilterBody,
    response=CustomerList,
    errors=(400, 401, 403),
    envelope=True,
    tags=_TAGS,
)
async def find_clients(request: web.Request) -> web.Response:
    body = await read_body(request, ClientFilterBody)
    tenant = await v1_tenant(request)
    usernames = None
    if body.username is not None or body.usernames is not None:
        usernames = ([body.username] if body.username else []) + (body.usernames or [])
    where = SubscriberFilter(
        usernames=usernames,
        phone=body.phone,
        profile_id=body.profile_id,
        service_type=body.service_type,
        is_active=body.is_active,
        search=body.search,
    )
    found, total = await request.app[SERVICES].subscribers.find(
        tenant, where, limit=body.limit, offset=body.offset
    )
    data = CustomerList(customers=await customers_out(request, tenant, found), total=total)
    return ok(data, total=total, limit=body.limit, offset=body.offset)


@routes.delete("/v1/internal/client-delete")
@requires("customers.manage")
@operation(
    "Delete customers by username",
    body=ClientDeleteBody,
    query=ClientDeleteQuery,
    response=ClientResults,
    errors=(400, 401, 403),
    envelope=True,
    tags=_TAGS,
)
async def delete_clients(request: web.Request) -> web.Response:
    """Usernames in the body (``username`` / ``usernames``) or the query (``?username=``,
    ``?usernames=a,b``); per item: deleted or failed."""
    names = read_query(request, ClientDeleteQuery).names()
    names += (await read_body(request, ClientDeleteBody)).names()
    results = await request.app[SERVICES].subscribers.delete_many(
        await v1_tenant(request), list(dict.fromkeys(names)), request[CALLER].actor
    )
    return ok(client_results(results, {}))
