"""/v1/internal/customer (seed 004 section 9): customers and their router accounts.

The router is the body's ``device_id``, else ``v1_router`` (``?device_id=``, else the tenant's
only router). Every write reaches the router first (hub.services.subscribers).
"""

from __future__ import annotations

from aiohttp import web

from hub.domain import Router, Subscriber, Tenant
from hub.services.subscribers import CUSTOMER_NOT_FOUND, RouterFor
from hub.storage.subscribers import SubscriberFilter
from hub.typedefs import CALLER, SERVICES
from hub.web.envelope import ok
from hub.web.handlers import path_id, read_body, read_query
from hub.web.openapi import operation
from hub.web.schemas import CustomerBody, CustomerListQuery
from hub.web.v1.access import requires, v1_router, v1_tenant
from hub.web.v1.answers import CustomerList, CustomerOut, Message, customer_out

routes = web.RouteTableDef()
_CUSTOMER_ID = r"{customer_id:\d+}"
_TAGS = ("Customers",)


def router_for(request: web.Request) -> RouterFor:
    """The router a customer goes on: the device named, else the request's router."""

    async def resolve(device_id: int | None) -> Router:
        if device_id is None:
            return await v1_router(request)
        tenant = await v1_tenant(request)
        return await request.app[SERVICES].portal.router(device_id, tenant.id)

    return resolve


async def customers_out(
    request: web.Request, tenant: Tenant, customers: list[Subscriber]
) -> list[CustomerOut]:
    profiles = await request.app[SERVICES].subscribers.profiles_of(tenant, customers)
    return [customer_out(customer, profiles) for customer in customers]


@routes.post("/v1/internal/customer")
@requires("customers.manage")
@operation(
    "Create a customer",
    body=CustomerBody,
    response=CustomerOut,
    status=201,
    errors=(400, 401, 403, 404, 409),
    envelope=True,
    tags=_TAGS,
)
async def create_customer(request: web.Request) -> web.Response:
    """Its PPP secret or hotspot user is added on the router first (with the profile, when the
    router lacks it); an offline site (503) or a refusal saves nothing."""
    body = await read_body(request, CustomerBody)
    tenant = await v1_tenant(request)
    customer = await request.app[SERVICES].subscribers.create(
        tenant, body.given(), router_for(request), request[CALLER].actor
    )
    return ok((await customers_out(request, tenant, [customer]))[0], status=201)


@routes.get("/v1/internal/customer/list")
@requires("customers.read")
@operation(
    "List customers",
    query=CustomerListQuery,
    response=CustomerList,
    errors=(400, 401, 403),
    envelope=True,
    tags=_TAGS,
)
async def list_customers(request: web.Request) -> web.Response:
    query = read_query(request, CustomerListQuery)
    tenant = await v1_tenant(request)
    where = SubscriberFilter(
        profile_id=query.profile_id,
        service_type=query.service_type,
        is_active=query.is_active,
        search=query.search,
    )
    found, total = await request.app[SERVICES].subscribers.find(
        tenant, where, limit=query.limit, offset=query.offset
    )
    data = CustomerList(customers=await customers_out(request, tenant, found), total=total)
    return ok(data, total=total, limit=query.limit, offset=query.offset)


@routes.get(f"/v1/internal/customer/{_CUSTOMER_ID}")
@requires("customers.read")
@operation(
    "Read a customer", response=CustomerOut, errors=(401, 403, 404), envelope=True, tags=_TAGS
)
async def get_customer(request: web.Request) -> web.Response:
    customer_id = path_id(request, "customer_id", CUSTOMER_NOT_FOUND)
    tenant = await v1_tenant(request)
    customer = await request.app[SERVICES].subscribers.get(tenant, customer_id)
    return ok((await customers_out(request, tenant, [customer]))[0])


@routes.put(f"/v1/internal/customer/{_CUSTOMER_ID}")
@requires("customers.manage")
@operation(
    "Change a customer",
    body=CustomerBody,
    response=CustomerOut,
    errors=(400, 401, 403, 404, 409),
    envelope=True,
    tags=_TAGS,
)
async def update_customer(request: web.Request) -> web.Response:
    """Rename, new password, another profile, ``is_active: false`` (disabled on the router),
    or a ``device_id`` (moved to that router): the router first, as for a create."""
    customer_id = path_id(request, "customer_id", CUSTOMER_NOT_FOUND)
    body = await read_body(request, CustomerBody)
    tenant = await v1_tenant(request)
    customer = await request.app[SERVICES].subscribers.update(
        tenant, customer_id, body.given(), router_for(request), request[CALLER].actor
    )
    return ok((await customers_out(request, tenant, [customer]))[0])


@routes.delete(f"/v1/internal/customer/{_CUSTOMER_ID}")
@requires("customers.manage")
@operation(
    "Delete a customer", response=Message, errors=(401, 403, 404, 409), envelope=True, tags=_TAGS
)
async def delete_customer(request: web.Request) -> web.Response:
    """Its router account is removed first; a customer with payments is refused (409)."""
    customer_id = path_id(request, "customer_id", CUSTOMER_NOT_FOUND)
    tenant = await v1_tenant(request)
    customer = await request.app[SERVICES].subscribers.delete(
        tenant, customer_id, request[CALLER].actor
    )
    return ok(Message(message=f"customer {customer.username!r} deleted"))
