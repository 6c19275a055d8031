"""Devices delivered to their site's agent (wire.ROUTERS_SYNC): desired state in Postgres,
the whole set sent, applied by the agent idempotently (agent/service.py ``Agent.sync_routers``).

On connect (``connect_command``, from LinkSession._push_state): an agent that has (or had) a
device gets its current set. After a change (``push_routers``, called by the device service
once its transaction committed): one routers.sync through the commands table, so it reaches the
agent whichever hub process holds its socket; its row holds no args (the passwords must not
rest there in clear): the holder fills them in as it sends (``CommandDispatcher.expanders``),
so a late send carries the state of that moment, never an older one.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

import asyncpg
import msgspec

from common import wire
from hub.link.dispatcher import CommandDispatcher
from hub.secrets import SecretBox
from hub.storage.devices import DeviceRepository, password_purpose

log = logging.getLogger(__name__)

PUSH_TIMEOUT = 60.0  # seconds a change waits for an absent agent (its next connect sends all)


async def routers_sync_args(
    db: asyncpg.Pool | asyncpg.Connection, secrets: SecretBox, agent_id: int
) -> dict[str, Any]:
    """The agent's active devices, passwords opened, as routers.sync args."""
    routers = []
    for device in await DeviceRepository(db, offline_after=0).deliverable(agent_id):
        try:
            password = secrets.open(device.api_password_sealed, password_purpose(device.id))
        except ValueError:
            # Another hub key (secrets_key not shared): left out, the agent stops it; logged.
            log.error("device password does not open device=%s: check secrets_key", device.id)
            continue
        routers.append(
            wire.ManagedRouter(
                name=device.name,
                host=device.host,
                port=device.port,
                username=device.api_username,
                password=password,
                tls=device.tls,
            )
        )
    return msgspec.to_builtins(wire.RoutersSync(routers=routers))


async def connect_command(
    pool: asyncpg.Pool, secrets: SecretBox, agent_id: int
) -> wire.Command | None:
    """What a connecting agent is sent: its set, if it has or ever had a device."""
    if not await DeviceRepository(pool, offline_after=0).agent_has_devices(agent_id):
        return None
    return wire.Command(
        id=str(uuid.uuid4()),
        name=wire.ROUTERS_SYNC,
        router=wire.NO_ROUTER,
        args=await routers_sync_args(pool, secrets, agent_id),
    )


async def push_routers(dispatcher: CommandDispatcher, tenant_id: int, agent_id: int) -> None:
    """Tell the agent its set changed (call after the change committed)."""
    command_id = await dispatcher.queue(
        tenant_id=tenant_id,
        agent_id=agent_id,
        name=wire.ROUTERS_SYNC,
        args={},  # filled in as it is sent (CommandDispatcher.expanders)
        requested_by="devices",
        timeout=PUSH_TIMEOUT,
    )
    log.info("devices pushed tenant=%s agent=%s command=%s", tenant_id, agent_id, command_id)
