"""Seed 003 GET /api/routers/{router_id}/users against the real app and Postgres: the shape,
the caller's scope (another tenant's router is not found) and bad ids."""

from __future__ import annotations

from datetime import timedelta

from common import wire
from common.durations import parse_clock
from common.timeutil import parse_iso, utcnow
from hub.services.auth import AuthService
from hub.storage.router_users import HotspotUserRepository
from tests.hub.conftest import Seeder, session

PASSWORD = "correct horse battery"


def hotspot_user(name: str, **changes) -> wire.HotspotUser:
    return wire.HotspotUser(**{"name": name, "user_id": "*1", "profile": "default", **changes})


async def seed_users(seed: Seeder, router_id: int, *users: wire.HotspotUser) -> None:
    await HotspotUserRepository(seed.pool).replace(router_id, users)


async def test_users_with_their_sessions_as_the_seed_shows(client, seed):
    acme = await seed.tenant("acme")
    router_id = await seed.router(acme, "Guest Hotspot Router")
    await seed_users(
        seed,
        router_id,
        hotspot_user(
            "AABBCCDDEEFF",
            user_id="*A",
            comment="Guest 5364",
            limit_uptime_seconds=3600,
            mac_address="AA:BB:CC:DD:EE:FF",
        ),
        hotspot_user("voucher-77", user_id="*B", profile="1hour", disabled=True),
    )
    await seed.sessions(
        router_id,
        session(
            "*C0A85864",
            "AABBCCDDEEFF",
            ip="192.168.88.100",
            uptime=1800,
            bytes_in=2097152,  # the router received it: the user's upload (seed bytes_out)
            bytes_out=1048576,
        ),
        session("*C0A85865", "not-configured", ip="192.168.88.101"),  # MAC bypass: no user
    )
    before = utcnow()
    resp = await client.get(f"/api/routers/{router_id}/users", headers=acme.headers)
    assert resp.status == 200, await resp.text()
    body = await resp.json()
    login_time = body["users"][0]["session"].pop("login_time")
    uptime = parse_clock(body["users"][0]["session"].pop("uptime"))
    assert body == {
        "router_id": router_id,
        "router_name": "Guest Hotspot Router",
        "users": [
            {
                "username": "AABBCCDDEEFF",
                "profile": "default",
                "disabled": False,
                "comment": "Guest 5364",
                "uptime_limit": "1h",
                "active": True,
                "session": {
                    "address": "192.168.88.100",
                    "bytes_in": "1048576",
                    "bytes_out": "2097152",
                },
            },
            {
                "username": "voucher-77",
                "profile": "1hour",
                "disabled": True,
                "comment": "",
                "uptime_limit": None,
                "active": False,
                "session": None,
            },
        ],
        "total_users": 2,
        "active_sessions": 1,
    }
    # ISO 8601 UTC (seed notes): when the session was stored, less its uptime.
    assert login_time.endswith("Z")
    logged_in = parse_iso(login_time)
    assert before - timedelta(seconds=1800 + 60) <= logged_in <= utcnow() - timedelta(seconds=1799)
    assert 1800 <= uptime <= 1800 + (utcnow() - before).total_seconds() + 1


async def test_uptime_counts_from_the_login_not_from_the_last_report(client, seed, pool):
    """An idle session is not reported again (its uptime alone never is): the uptime shown
    still grows, from the login time, in the seed's zero-padded clock form."""
    acme = await seed.tenant("acme")
    router_id = await seed.router(acme)
    await seed_users(seed, router_id, hotspot_user("idle"))
    await seed.sessions(router_id, session("*1", "idle", uptime=1800))
    await pool.execute("UPDATE current_sessions SET updated_at = now() - interval '10 hours'")
    resp = await client.get(f"/api/routers/{router_id}/users", headers=acme.headers)
    shown = (await resp.json())["users"][0]["session"]["uptime"]
    assert shown.startswith("10:30:") and len(shown) == 8


async def test_a_router_with_no_users_reported(client, seed):
    acme = await seed.tenant("acme")
    router_id = await seed.router(acme)
    resp = await client.get(f"/api/routers/{router_id}/users", headers=acme.headers)
    assert resp.status == 200
    assert await resp.json() == {
        "router_id": router_id,
        "router_name": "Main Office Router",
        "users": [],
        "total_users": 0,
        "active_sessions": 0,
    }


async def test_another_tenants_router_is_not_found(client, seed):
    acme = await seed.tenant("acme")
    other = await seed.tenant("other")
    theirs = await seed.router(other, "Their Router", site="far")
    await seed_users(seed, theirs, hotspot_user("secret-user"))
    for path in (
        f"/api/routers/{theirs}/users",
        f"/api/routers/{theirs}/users?user_id={other.tenant.id}",  # never widens the scope
        "/api/routers/999999/users",
        "/api/routers/99999999999999999999999/users",
    ):
        resp = await client.get(path, headers=acme.headers)
        assert resp.status == 404, path
        assert "secret-user" not in await resp.text()


async def test_needs_credentials(client, seed):
    acme = await seed.tenant("acme")
    router_id = await seed.router(acme)
    resp = await client.get(f"/api/routers/{router_id}/users")
    assert resp.status == 401
    resp = await client.get(
        f"/api/routers/{router_id}/users", headers={"Authorization": "Bearer ifk_wrong"}
    )
    assert resp.status == 401


async def test_a_viewer_reads_and_a_platform_admin_names_the_tenant(client, seed):
    acme = await seed.tenant("acme")
    router_id = await seed.router(acme)
    await seed_users(seed, router_id, hotspot_user("guest"))
    viewer = await seed.user(acme, "vera", "viewer")
    resp = await client.get(f"/api/routers/{router_id}/users", headers=viewer.headers)
    assert resp.status == 200
    assert [u["username"] for u in (await resp.json())["users"]] == ["guest"]

    auth = AuthService(seed.pool, seed.config)
    await auth.create_admin("root@example.com", PASSWORD)
    token = (await auth.login("root@example.com", PASSWORD)).access_token
    admin = {"Authorization": f"Bearer {token}"}
    path = f"/api/routers/{router_id}/users"
    assert (await client.get(path, headers=admin)).status == 400  # which tenant?
    resp = await client.get(path, params={"user_id": acme.tenant.id}, headers=admin)
    assert resp.status == 200
    assert (await resp.json())["total_users"] == 1
    other = await seed.tenant("other")
    resp = await client.get(path, params={"user_id": other.tenant.id}, headers=admin)
    assert resp.status == 404  # the router is not that tenant's


async def test_a_bad_user_id_is_a_clear_400(client, seed):
    acme = await seed.tenant("acme")
    router_id = await seed.router(acme)
    for value in ("abc", "0", "-1", str(2**63)):
        resp = await client.get(
            f"/api/routers/{router_id}/users", params={"user_id": value}, headers=acme.headers
        )
        assert resp.status == 400, value
        assert "user_id" in (await resp.json())["detail"]
