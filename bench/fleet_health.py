"""Fleet health of a tenant's routers, in process: the old way (every router read and shaped
per request) against the ready snapshot (one single-row version query, the encoded routers
kept), with no HTTP in between, on a real Postgres.

    .venv/bin/python -m bench.fleet_health [--routers 200] [--requests 300]

One tenant, one agent marked connected through a live hub instance, ``--routers`` routers each
with a health row. Per approach, ``--requests`` sequential answers: median and p99 wall ms, and
this process's CPU per answer (``time.process_time``: the Python side; Postgres runs apart).
- **old**: ``RouterRepository.find`` + ``bodies.fleet_health_body`` + msgspec encode (what
  the handler did before the snapshot);
- **snapshot, unchanged**: ``PortalService.fleet_health`` + ``bodies.fleet_health_bytes``
  while nothing changed (what a dashboard polling a quiet fleet costs);
- **snapshot, changed**: the same after a health report of one router before each answer
  (the write is not timed): the version moves, the routers are read and encoded again.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable

import asyncpg
import msgspec

from bench.hub_ingest import pct
from common.timeutil import utcnow
from hub.config import HubConfig
from hub.database import open_database, scratch_database, throwaway_server
from hub.services.portal import PortalService
from hub.storage.routers import RouterRepository
from hub.web import bodies

INSTANCE = "bench-fleet-hub"


async def seed(db: asyncpg.Pool, routers: int) -> int:
    """The tenant, its connected agent under a live lease, its routers with health."""
    tenant_id = await db.fetchval(
        "INSERT INTO tenants (slug, name) VALUES ('fleet', 'Fleet') RETURNING id"
    )
    await db.execute(
        "INSERT INTO hub_instances (name, expires_at) VALUES ($1, now() + interval '1 day')",
        INSTANCE,
    )
    await db.execute(
        "INSERT INTO agents (tenant_id, site, connected, hub_instance, last_seen_at)"
        " VALUES ($1, 'site-1', true, $2, now())",
        tenant_id,
        INSTANCE,
    )
    await db.execute(
        """
        WITH added AS (
            INSERT INTO routers (tenant_id, agent_id, name, host)
            SELECT $1, (SELECT id FROM agents WHERE tenant_id = $1), 'r-' || n, '10.9.0.' || n
              FROM generate_series(1, $2) n
            RETURNING id)
        INSERT INTO router_health (router_id, status, since, identity, version, board_name,
                                   cpu_load, free_memory, total_memory, uptime_seconds,
                                   hotspot_active, ppp_active, hotspot_users)
        SELECT id, 'online', now() - interval '1 day', 'fleet', '7.14.3', 'hAP ax2', 7,
               700000000, 1000000000, 86400, 50, 0, 120
          FROM added
        """,
        tenant_id,
        routers,
    )
    return tenant_id


async def timed(
    answer: Callable[[], Awaitable[bytes]], requests: int, before: Callable[[], Awaitable[None]]
) -> tuple[list[float], float, int]:
    """(wall ms per answer, CPU ms per answer, bytes of the last answer)."""
    samples: list[float] = []
    cpu = 0.0
    size = 0
    for _ in range(requests):
        await before()
        cpu0, started = time.process_time(), time.perf_counter()
        size = len(await answer())
        samples.append((time.perf_counter() - started) * 1000)
        cpu += time.process_time() - cpu0
    return samples, cpu * 1000 / requests, size


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--routers", type=int, default=200)
    parser.add_argument("--requests", type=int, default=300)
    args = parser.parse_args()
    with throwaway_server() as server:
        async with scratch_database(server, prefix="bench_fleet") as dsn:
            config = HubConfig(database_url=dsn, agent_offline_after=3600.0)
            async with open_database(config) as pool:
                tenant_id = await seed(pool, args.routers)
                repo = RouterRepository(pool, offline_after=config.agent_offline_after)
                portal = PortalService(pool, config)
                tick = iter(range(1, 10**9))

                async def old() -> bytes:
                    routers = await repo.find(tenant_id)
                    return msgspec.json.encode(bodies.fleet_health_body(routers))

                async def new() -> bytes:
                    return bodies.fleet_health_bytes(await portal.fleet_health(tenant_id), utcnow())

                async def nothing() -> None:
                    return None

                async def health_report() -> None:
                    await pool.execute(
                        "UPDATE router_health SET cpu_load = $2, reported_at = now()"
                        " WHERE router_id = (SELECT min(id) FROM routers WHERE tenant_id = $1)",
                        tenant_id,
                        next(tick) % 100,
                    )

                for answer in (old, new):  # warm-up: connections, statement caches
                    await timed(answer, 20, nothing)
                rows = [
                    ("old (find + dicts + encode)", *await timed(old, args.requests, nothing)),
                    ("snapshot, unchanged", *await timed(new, args.requests, nothing)),
                    ("snapshot, changed", *await timed(new, args.requests, health_report)),
                ]
    print(f"fleet health of {args.routers} routers, {args.requests} sequential answers each")
    print(f"{'approach':<30}{'median ms':>10}{'p99 ms':>9}{'CPU ms':>9}{'bytes':>9}")
    for name, samples, cpu, size in rows:
        print(
            f"{name:<30}{statistics.median(samples):>10.2f}{pct(samples, 99):>9.2f}"
            f"{cpu:>9.2f}{size:>9}"
        )
    old_median = statistics.median(rows[0][1])
    print(
        "ratio old/snapshot median: "
        + ", ".join(
            f"{name} x{old_median / statistics.median(s):.1f}" for name, s, _, _ in rows[1:]
        )
    )


if __name__ == "__main__":
    asyncio.run(main())
