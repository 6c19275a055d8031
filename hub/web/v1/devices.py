"""/v1/internal/mikrotik (seed 004 section 5): the tenant's devices, the one router registry.

Devices created here are delivered to their site's agent (hub/services/devices.py,
hub/link/devices.py); the agents' agent.toml routers are listed beside them, read-only. No
answer ever carries an API password, not even its length.
"""

from __future__ import annotations

from aiohttp import web

from common.timeutil import to_iso
from hub.domain import Device
from hub.services.devices import DEVICE_NOT_FOUND
from hub.typedefs import CALLER, SERVICES
from hub.web.envelope import ok
from hub.web.handlers import path_id, read_body
from hub.web.openapi import operation
from hub.web.schemas import DeviceBody, DeviceListBody, DeviceOut, DeviceStatusBody
from hub.web.v1.access import requires, v1_tenant

routes = web.RouteTableDef()
_DEVICE_ID = r"{device_id:\d+}"
_TAGS = ("Devices",)


def device_body(device: Device) -> dict[str, object]:
    router = device.router
    last_seen = device.last_seen
    return {
        "id": router.id,
        "name": router.name,
        "host": router.host,
        "port": router.port,
        "api_username": device.api_username,
        "location": device.location,
        "status": device.status,
        "managed": device.managed,
        "tls": device.tls,
        "agent_id": router.agent_id,
        "site": router.site,
        "online": device.online,
        "last_seen": to_iso(last_seen) if last_seen else None,
        "created_at": to_iso(device.created_at),
        "updated_at": to_iso(device.updated_at),
    }


@routes.post("/v1/internal/mikrotik")
@requires("devices.manage")
@operation(
    "Create a device",
    body=DeviceBody,
    response=DeviceOut,
    status=201,
    errors=(400, 401, 403, 409),
    envelope=True,
    tags=_TAGS,
)
async def create_device(request: web.Request) -> web.Response:
    """A router the hub holds the credentials of; its site agent connects to it at once."""
    body = await read_body(request, DeviceBody)
    tenant = await v1_tenant(request)
    device = await request.app[SERVICES].devices.create(request[CALLER], tenant, body.given())
    return ok(device_body(device), status=201)


@routes.post("/v1/internal/mikrotik/list")
@requires("devices.read")
@operation(
    "List devices",
    body=DeviceListBody,
    response=list[DeviceOut],
    errors=(400, 401, 403),
    envelope=True,
    tags=_TAGS,
)
async def list_devices(request: web.Request) -> web.Response:
    """Every router of the tenant (devices and agent.toml routers), in id order."""
    body = await read_body(request, DeviceListBody)
    tenant = await v1_tenant(request)
    devices, total = await request.app[SERVICES].devices.page(
        tenant,
        search=body.search,
        status=body.status,
        site=body.site,
        limit=body.limit,
        offset=body.offset,
    )
    return ok(
        [device_body(device) for device in devices],
        total=total,
        limit=body.limit,
        offset=body.offset,
    )


@routes.get(f"/v1/internal/mikrotik/{_DEVICE_ID}")
@requires("devices.read")
@operation(
    "Get a device",
    response=DeviceOut,
    errors=(401, 403, 404),
    envelope=True,
    tags=_TAGS,
)
async def get_device(request: web.Request) -> web.Response:
    device_id = path_id(request, "device_id", DEVICE_NOT_FOUND)
    tenant = await v1_tenant(request)
    return ok(device_body(await request.app[SERVICES].devices.get(tenant, device_id)))


@routes.put(f"/v1/internal/mikrotik/{_DEVICE_ID}")
@requires("devices.manage")
@operation(
    "Change a device",
    body=DeviceBody,
    response=DeviceOut,
    errors=(400, 401, 403, 404, 409),
    envelope=True,
    tags=_TAGS,
)
async def update_device(request: web.Request) -> web.Response:
    """Fields not given stay; an agent.toml router is 409 (change it in agent.toml)."""
    device_id = path_id(request, "device_id", DEVICE_NOT_FOUND)
    body = await read_body(request, DeviceBody)
    tenant = await v1_tenant(request)
    device = await request.app[SERVICES].devices.update(
        request[CALLER], tenant, device_id, body.given()
    )
    return ok(device_body(device))


@routes.delete(f"/v1/internal/mikrotik/{_DEVICE_ID}")
@requires("devices.manage")
@operation(
    "Delete a device",
    errors=(401, 403, 404, 409),
    envelope=True,
    tags=_TAGS,
)
async def delete_device(request: web.Request) -> web.Response:
    """The agent closes its link to the router; the router's history is kept."""
    device_id = path_id(request, "device_id", DEVICE_NOT_FOUND)
    tenant = await v1_tenant(request)
    await request.app[SERVICES].devices.delete(request[CALLER], tenant, device_id)
    return ok({"message": "device deleted"})


@routes.patch(f"/v1/internal/mikrotik/{_DEVICE_ID}/status")
@requires("devices.manage")
@operation(
    "Activate or deactivate a device",
    body=DeviceStatusBody,
    response=DeviceOut,
    errors=(400, 401, 403, 404, 409),
    envelope=True,
    tags=_TAGS,
)
async def set_device_status(request: web.Request) -> web.Response:
    """inactive: kept in the registry, the agent disconnects from it and stops mirroring."""
    device_id = path_id(request, "device_id", DEVICE_NOT_FOUND)
    body = await read_body(request, DeviceStatusBody)
    tenant = await v1_tenant(request)
    device = await request.app[SERVICES].devices.set_status(
        request[CALLER], tenant, device_id, body.status
    )
    return ok(device_body(device))


@routes.patch(f"/v1/internal/mikrotik/{_DEVICE_ID}/activate")
@requires("devices.read")
@operation(
    "Set the caller's active device",
    response=DeviceOut,
    errors=(400, 401, 403, 404),
    envelope=True,
    tags=_TAGS,
)
async def activate_device(request: web.Request) -> web.Response:
    """Router calls without ``device_id`` then act on this device (for this user only)."""
    device_id = path_id(request, "device_id", DEVICE_NOT_FOUND)
    tenant = await v1_tenant(request)
    device = await request.app[SERVICES].devices.activate(request[CALLER], tenant, device_id)
    return ok(device_body(device))
