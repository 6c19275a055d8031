"""Vouchers delivered to the agents that create them as hotspot users (wire.VOUCHERS_SYNC).

On connect (``connect_commands``, from LinkSession._push_state): the hello's
``vouchers_version`` against the scope's; the same sends nothing, an older one sends what came
after it, anything else everything. When a batch is created (``push_batch``, called by the
voucher service after its transaction commits): one sync per agent in the batch's scope,
through the commands table, so it reaches the agent whichever hub process holds its socket
(or at its next connect). Large sets go in parts of ``PART_SIZE``; only the last part moves
the agent's version. Command ids follow (agent, base, version, part): resent, a part is
applied once.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence

import asyncpg
import msgspec

from common import wire
from common.timeutil import to_iso
from hub.domain import DeliverableVoucher
from hub.storage.link import CommandRepository
from hub.storage.redemptions import RedemptionRepository

log = logging.getLogger(__name__)

PART_SIZE = 1000  # vouchers per command (about 200 bytes each on the wire)
BATCH_PUSH_TIMEOUT = 300.0  # seconds a batch's sync waits for an absent agent
_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "ispfleet:vouchers-sync")


def sync_commands(
    agent_id: int,
    vouchers: Sequence[DeliverableVoucher],
    routers: dict[str, int],
    *,
    version: int,
    base: int | None,
) -> list[wire.Command]:
    """The vouchers as ``vouchers.sync`` commands (at least one: it also moves the version)."""
    names = {router_id: name for name, router_id in routers.items()}
    items = [
        wire.SyncedVoucher(
            code=v.code,
            batch_id=v.batch_id,
            valid_until=to_iso(v.valid_until),
            duration_seconds=v.duration_seconds,
            profile=v.profile,
            rate_limit=v.rate_limit,
            on_expiry=v.on_expiry,  # type: ignore[arg-type]
            routers=None if v.router_id is None else [names[v.router_id]],
            status=v.status,  # type: ignore[arg-type]
        )
        for v in vouchers
        if v.router_id is None or v.router_id in names
    ]
    parts = [items[i : i + PART_SIZE] for i in range(0, len(items), PART_SIZE)] or [[]]
    first = min(routers)
    return [
        wire.Command(
            id=str(uuid.uuid5(_NAMESPACE, f"{agent_id}:{base}>{version}:{index}")),
            name=wire.VOUCHERS_SYNC,
            router=first,
            args=msgspec.to_builtins(
                wire.VouchersSync(
                    version=version, base=base, vouchers=part, last=index == len(parts) - 1
                )
            ),
        )
        for index, part in enumerate(parts)
    ]


async def connect_commands(
    db: asyncpg.Pool | asyncpg.Connection,
    *,
    agent_id: int,
    tenant_id: int,
    routers: dict[str, int],
    held: int | None,
) -> list[wire.Command]:
    """What a connecting agent holding ``held`` must be sent (nothing when it is current)."""
    if not routers:
        return []
    repo = RedemptionRepository(db)
    router_ids = list(routers.values())
    version = await repo.vouchers_version(tenant_id, router_ids)
    if held == version or (held is None and version == 0):
        return []
    base = held if held is not None and held < version else None
    vouchers = await repo.changed_since(tenant_id, router_ids, base, upto=version)
    return sync_commands(agent_id, vouchers, routers, version=version, base=base)


async def push_batch(pool: asyncpg.Pool, *, tenant_id: int, batch_id: int) -> int:
    """Send a new batch's vouchers to every agent in its scope; returns the commands queued.

    Call it after the batch's transaction committed. An agent that misses it (offline past
    the timeout) gets the batch at its next connect, by version."""
    queued = 0
    async with pool.acquire() as conn:
        repo = RedemptionRepository(conn)
        commands = CommandRepository(conn)
        version = await repo.batch_version(batch_id)
        for target in await repo.batch_targets(tenant_id, batch_id):
            router_ids = list(target.routers.values())
            base = await repo.version_before(tenant_id, router_ids, version)
            vouchers = await repo.changed_since(tenant_id, router_ids, base, upto=version)
            for command in sync_commands(
                target.agent_id, vouchers, target.routers, version=version, base=base
            ):
                try:
                    await commands.insert_command(
                        command_id=command.id,
                        tenant_id=tenant_id,
                        agent_id=target.agent_id,
                        router_id=target.routers[command.router],
                        name=command.name,
                        args=command.args,
                        requested_by="vouchers",
                        timeout_seconds=BATCH_PUSH_TIMEOUT,
                        notify=True,
                    )
                except asyncpg.UniqueViolationError:
                    continue  # pushed before: the same command, already on its way
                queued += 1
    log.info("voucher batch pushed tenant=%s batch=%s commands=%s", tenant_id, batch_id, queued)
    return queued
