"""Rate limits as the seeds' clients meet them: defaults never refuse their patterns, and the
budget of a key is shared by every hub process on the database (real apps, real Postgres)."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import asyncpg

from hub.app import create_app
from hub.config import HubConfig
from hub.database import create_pool, migrate
from hub.ratelimit import SharedRateLimiter
from hub.typedefs import DB_POOL
from tests.hub.conftest import Seeder


def defaults(config: HubConfig) -> HubConfig:
    """The test config with the shipped rate-limit defaults."""
    shipped = HubConfig()
    return replace(
        config,
        rate_limit_per_minute=shipped.rate_limit_per_minute,
        rate_limit_burst=shipped.rate_limit_burst,
    )


def test_defaults_fit_the_seeds():
    shipped = HubConfig()
    assert shipped.rate_limit_per_minute / 60 >= 5
    assert shipped.rate_limit_burst >= 100


async def test_bulk_disconnect_of_100_users_never_sees_429(hub_config, aiohttp_client):
    """Seed 001's bulkDisconnect, even without its 300 ms pacing."""
    config = defaults(hub_config)
    client = await aiohttp_client(create_app(config))
    seed = Seeder(client.app[DB_POOL], config)
    acme = await seed.tenant("acme")
    router_id = await seed.router(acme)
    url = f"/api/portal/router/{router_id}/disconnect-user/"
    statuses = []
    for n in range(100):
        resp = await client.post(url, json={"username": f"voucher-{n}"}, headers=acme.headers)
        statuses.append(resp.status)
    assert 429 not in statuses and set(statuses) == {404}  # none is a customer


async def test_dashboard_of_50_locations_at_once_never_sees_429(hub_config, aiohttp_client):
    config = defaults(hub_config)
    client = await aiohttp_client(create_app(config))
    seed = Seeder(client.app[DB_POOL], config)
    acme = await seed.tenant("acme")
    routers = [await seed.router(acme, f"Site {n}", site=f"s{n}") for n in range(50)]
    resps = await asyncio.gather(
        *(client.get(f"/api/portal/router/{r}/monitoring/", headers=acme.headers) for r in routers),
        client.get("/api/portal/router/health/", headers=acme.headers),
    )
    assert [r.status for r in resps] == [200] * 51


async def test_two_hubs_share_one_budget(hub_config, aiohttp_client):
    config = replace(hub_config, rate_limit_per_minute=6, rate_limit_burst=4)
    first = await aiohttp_client(create_app(config))
    second = await aiohttp_client(create_app(config))
    seed = Seeder(first.app[DB_POOL], config)
    acme = await seed.tenant("acme")
    other = await seed.tenant("other")
    url = "/api/portal/router/health/"
    statuses = []
    for client in (first, second, first, second, first, second):
        statuses.append((await client.get(url, headers=acme.headers)).status)
    assert statuses == [200, 200, 200, 200, 429, 429]
    resp = await second.get(url, headers=acme.headers)
    assert resp.status == 429 and int(resp.headers["Retry-After"]) >= 1
    assert (await second.get(url, headers=other.headers)).status == 200  # its own budget


async def test_shared_buckets_refill_and_concurrent_takes_are_exact(pg_dsn):
    pool = await create_pool(pg_dsn)
    try:
        async with pool.acquire() as conn:
            await migrate(conn)
        now = [1000.0]
        limiter = SharedRateLimiter(pool, per_minute=60, burst=10, clock=lambda: now[0])
        # 30 concurrent takes on one key: exactly the burst is granted.
        waits = await asyncio.gather(*(limiter.take("k") for _ in range(30)))
        assert sum(1 for w in waits if w == 0.0) == 10
        assert all(0 < w <= 1.0 for w in waits if w)
        now[0] += 2.0  # two tokens back, not more
        assert [await limiter.take("k") for _ in range(3)][:2] == [0.0, 0.0]
        # A clock behind the bucket's (another hub's) neither refills nor breaks it.
        now[0] -= 5.0
        assert await limiter.take("k") > 0
        # Seed 001's pacing: 100 requests 300 ms apart at 1/s burst 10 would be refused; the
        # shipped defaults refuse none.
        shipped = HubConfig()
        paced = SharedRateLimiter(
            pool, shipped.rate_limit_per_minute, shipped.rate_limit_burst, clock=lambda: now[0]
        )
        refused = 0
        for _ in range(100):
            now[0] += 0.3
            refused += (await paced.take("seed-001")) > 0
        assert refused == 0
        now[0] += 10_000
        assert await limiter.prune() >= 1
    finally:
        await pool.close()


async def test_bucket_table_is_unlogged(pool: asyncpg.Pool):
    assert (
        await pool.fetchval("SELECT relpersistence FROM pg_class WHERE relname = 'rate_buckets'")
        == b"u"
    )
