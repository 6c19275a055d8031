"""Contract tests for the tenant portal (seeds 000, 001) against a real app and Postgres."""

from __future__ import annotations

import re
from dataclasses import replace

from common.durations import parse_clock
from common.timeutil import parse_iso, utcnow
from hub.app import create_app
from hub.storage.routers import SiteRepository
from hub.typedefs import DB_POOL
from tests.hub.conftest import Seeder, health, session

CANNOT_CONNECT = "Cannot connect to router Main Office Router. Please check router configuration."
ISO_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?Z$")


async def test_active_users_matches_seed_000(client, seed):
    acme = await seed.tenant("acme")
    router_id = await seed.router(acme)
    known = await seed.customer(acme, "+255712345678", hours=23.76)
    await seed.sessions(
        router_id,
        session("*1234", "+255712345678", uptime=5415, idle=5),
        session("*5678", "voucher-77", mac="BB:CC:DD:EE:FF:00", ip="10.5.50.101", uptime=2722),
    )

    resp = await client.get(f"/api/portal/router/{router_id}/active-users/", headers=acme.headers)
    assert resp.status == 200
    body = await resp.json()
    assert set(body) == {"success", "router", "active_users", "total_count", "timestamp"}
    assert body["success"] is True
    assert body["router"] == {
        "id": router_id,
        "name": "Main Office Router",
        "host": "10.50.0.2",
        "status": "online",
    }
    assert body["total_count"] == 2
    assert ISO_Z.match(body["timestamp"])

    first, second = body["active_users"]
    assert first == {
        "session_id": "*1234",
        "username": "+255712345678",
        "mac_address": "AA:BB:CC:DD:EE:01",
        "ip_address": "10.5.50.100",
        "uptime": "1h30m15s",
        "bytes_in": "52428800",
        "bytes_out": "104857600",
        "idle_time": "5s",
        "login_time": "macauth",
        "database_info": first["database_info"],
    }
    info = first["database_info"]
    assert set(info) == {
        "user_id",
        "is_active",
        "has_active_access",
        "access_expires_at",
        "time_remaining",
    }
    assert info["user_id"] == known and isinstance(info["user_id"], int)
    assert info["is_active"] is True and info["has_active_access"] is True
    assert ISO_Z.match(info["access_expires_at"])
    assert re.fullmatch(r"\d+:\d\d:\d\d", info["time_remaining"])
    remaining = parse_clock(info["time_remaining"])
    assert 23 * 3600 + 45 * 60 - 5 <= remaining <= 23 * 3600 + 45 * 60 + 40
    expires = parse_iso(info["access_expires_at"])
    assert abs((expires - utcnow()).total_seconds() - remaining) <= 2

    assert second["uptime"] == "45m22s"
    assert second["database_info"] == {
        "user_id": None,
        "is_active": False,
        "has_active_access": False,
        "access_expires_at": None,
        "time_remaining": None,
        "note": "User not found in database",
    }


async def test_expired_access_and_other_login_methods(client, seed):
    acme = await seed.tenant("acme")
    router_id = await seed.router(acme)
    await seed.customer(acme, "+255787654321", hours=-2)
    await seed.sessions(
        router_id,
        session("*9", "+255787654321", login_by="http-chap", idle=None, bytes_out=0),
    )
    body = await (
        await client.get(f"/api/portal/router/{router_id}/active-users/", headers=acme.headers)
    ).json()
    (user,) = body["active_users"]
    assert user["login_time"] == "http-chap"
    assert user["idle_time"] == "0s"
    assert user["bytes_in"] == "0"  # the router sent it nothing: the user downloaded nothing
    info = user["database_info"]
    assert info["has_active_access"] is False
    assert info["time_remaining"] is None
    assert parse_iso(info["access_expires_at"]) < utcnow()


async def test_mac_and_router_scoped_access(client, seed):
    acme = await seed.tenant("acme")
    router_id = await seed.router(acme)
    other_router = await seed.router(acme, "Branch", site="branch")
    await seed.customer(acme, "+255712345678", hours=5, mac_address="AA:BB:CC:DD:EE:01")
    await seed.customer(acme, "+255700000002", hours=5, router_id=other_router)
    await seed.sessions(
        router_id,
        session("*1", "+255712345678", mac="AA:BB:CC:DD:EE:01"),
        session("*2", "+255712345678", mac="AA:BB:CC:DD:EE:02"),
        session("*3", "+255700000002", mac="AA:BB:CC:DD:EE:03"),
    )
    body = await (
        await client.get(f"/api/portal/router/{router_id}/active-users/", headers=acme.headers)
    ).json()
    access = {
        u["session_id"]: u["database_info"]["has_active_access"] for u in body["active_users"]
    }
    assert access == {"*1": True, "*2": False, "*3": False}


async def test_active_users_errors(client, seed, pool):
    acme = await seed.tenant("acme")
    down = await seed.router(acme, online=False)
    resp = await client.get(f"/api/portal/router/{down}/active-users/", headers=acme.headers)
    assert resp.status == 503
    assert await resp.json() == {"success": False, "error": CANNOT_CONNECT}

    stale = await seed.router(acme, "Main Office Router", site="far", agent_connected=False)
    resp = await client.get(f"/api/portal/router/{stale}/active-users/", headers=acme.headers)
    assert resp.status == 503
    assert (await resp.json())["error"] == CANNOT_CONNECT

    # Connected once, but not heard from within agent_offline_after: offline too.
    agent_id = await SiteRepository(pool).get(acme.tenant.id, "hq")
    await pool.execute(
        "UPDATE agents SET last_seen_at = now() - interval '10 minutes' WHERE id = $1", agent_id
    )
    await pool.execute("UPDATE router_health SET status = 'online' WHERE router_id = $1", down)
    resp = await client.get(f"/api/portal/router/{down}/active-users/", headers=acme.headers)
    assert resp.status == 503

    for missing in (999999, 2**63, 10**30):
        resp = await client.get(f"/api/portal/router/{missing}/active-users/", headers=acme.headers)
        assert resp.status == 404
        assert await resp.json() == {
            "success": False,
            "error": "Router not found or access denied",
        }


async def test_authentication_required(client, seed):
    acme = await seed.tenant("acme")
    router_id = await seed.router(acme)
    url = f"/api/portal/router/{router_id}/active-users/"
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic x"}):
        resp = await client.get(url, headers=headers)
        assert resp.status == 401
        body = await resp.json()
        assert body["success"] is False and isinstance(body["error"], str) and body["error"]
    # Right shape, wrong secret.
    prefix = acme.api_key.rsplit("_", 1)[0]
    resp = await client.get(url, headers={"Authorization": f"Bearer {prefix}_{'x' * 43}"})
    assert resp.status == 401
    assert (await resp.json())["error"] == "Invalid API key"


async def test_unknown_api_route_is_404_json(client):
    resp = await client.get("/api/portal/nothing-here/")
    assert resp.status == 404
    assert await resp.json() == {"success": False, "error": "Not found"}
    resp = await client.delete("/api/portal/router/health/")
    assert resp.status == 405
    assert (await resp.json())["success"] is False


async def test_rate_limit_per_key(pg_dsn, hub_config, aiohttp_client):
    config = replace(hub_config, rate_limit_per_minute=60, rate_limit_burst=3)
    client = await aiohttp_client(create_app(config))
    seed = Seeder(client.app[DB_POOL], config)
    acme = await seed.tenant("acme")
    other = await seed.tenant("other")
    url = "/api/portal/router/health/"
    for _ in range(3):
        assert (await client.get(url, headers=acme.headers)).status == 200
    resp = await client.get(url, headers=acme.headers)
    assert resp.status == 429
    assert 1 <= int(resp.headers["Retry-After"]) <= 2
    body = await resp.json()
    assert body["success"] is False and "Rate limit" in body["error"]
    # Another key has its own bucket.
    assert (await client.get(url, headers=other.headers)).status == 200


async def audit_rows(pool, action: str = "disconnect_user"):
    return await pool.fetch("SELECT * FROM audit_log WHERE action = $1 ORDER BY id", action)


async def test_disconnect_user_errors_are_exact_and_audited(client, seed, pool):
    acme = await seed.tenant("acme")
    router_id = await seed.router(acme)
    await seed.customer(acme, "+255712345678", hours=3)
    url = f"/api/portal/router/{router_id}/disconnect-user/"

    cases = [
        ({}, 400, "username is required"),
        ({"username": ""}, 400, "username is required"),
        ({"username": 255712345678}, 400, "username is required"),
        ({"username": "+255799999999"}, 404, "User not found or does not belong to your tenant"),
        ({"username": "+255712345678", "mac_address": "zz"}, 400, "invalid mac_address 'zz'"),
    ]
    for payload, status, error in cases:
        resp = await client.post(url, json=payload, headers=acme.headers)
        assert resp.status == status, payload
        assert await resp.json() == {"success": False, "error": error}

    resp = await client.post(url, data="{not json", headers=acme.headers)
    assert resp.status == 400
    assert (await resp.json())["error"] == "request body must be valid JSON"
    resp = await client.post(url, json=["username"], headers=acme.headers)
    assert resp.status == 400
    assert (await resp.json())["error"] == "request body must be a JSON object"

    resp = await client.post(
        "/api/portal/router/424242/disconnect-user/",
        json={"username": "+255712345678"},
        headers=acme.headers,
    )
    assert resp.status == 404
    assert (await resp.json())["error"] == "Router not found or access denied"

    rows = await audit_rows(pool)
    # The bodies refused at the edge (not JSON, not an object) are audited as invalid too.
    assert [r["result"] for r in rows] == [
        "invalid",
        "invalid",
        "invalid",
        "not_found",
        "invalid",
        "invalid",
        "invalid",
        "not_found",
    ]
    assert all(r["actor"].startswith("api_key:") for r in rows)
    assert rows[3]["router_id"] == router_id and rows[3]["tenant_id"] == acme.tenant.id
    assert rows[3]["target"] == "+255799999999"
    assert rows[-1]["router_id"] is None and rows[-1]["params"]["router_id"] == 424242


async def test_disconnect_user_503_when_site_unreachable(client, seed, pool):
    acme = await seed.tenant("acme")
    router_id = await seed.router(acme, agent_connected=False)
    await seed.customer(acme, "+255712345678", hours=3)
    resp = await client.post(
        f"/api/portal/router/{router_id}/disconnect-user/",
        # national spelling: the tenant's country makes it +255712345678
        json={"username": "0712 345 678", "mac_address": "aa-bb-cc-dd-ee-ff"},
        headers=acme.headers,
    )
    assert resp.status == 503
    assert await resp.json() == {"success": False, "error": CANNOT_CONNECT}
    (row,) = await audit_rows(pool)
    assert row["result"] == "unavailable"
    assert row["target"] == "+255712345678"
    assert row["details"] == {"error": CANNOT_CONNECT}

    # Agent connected but it reports the router down: same 503, nothing dispatched.
    down = await seed.router(acme, "Main Office Router", site="b", online=False)
    resp = await client.post(
        f"/api/portal/router/{down}/disconnect-user/",
        json={"username": "+255712345678"},
        headers=acme.headers,
    )
    assert resp.status == 503
    assert await pool.fetchval("SELECT count(*) FROM commands") == 0


async def test_tenant_isolation_everywhere(client, seed):
    acme = await seed.tenant("acme")
    beta = await seed.tenant("beta")
    beta_router = await seed.router(beta, "Beta Router")
    beta_user = await seed.customer(beta, "+255712345678", hours=2)
    await seed.sessions(beta_router, session("*1", "+255712345678"))
    # The same phone as a customer of acme must not reach beta's data either.
    await seed.customer(acme, "+255712345678", hours=2)

    h = acme.headers
    requests = [
        ("GET", f"/api/portal/router/{beta_router}/active-users/", None),
        ("GET", f"/api/portal/router/{beta_router}/monitoring/", None),
        (
            "POST",
            f"/api/portal/router/{beta_router}/disconnect-user/",
            {"username": "+255712345678"},
        ),
    ]
    for method, url, payload in requests:
        resp = await client.request(method, url, json=payload, headers=h)
        assert resp.status == 404, url
        assert await resp.json() == {"success": False, "error": "Router not found or access denied"}
    for method, url in (
        ("GET", f"/api/portal/users/{beta_user}/"),
        ("POST", f"/api/portal/users/{beta_user}/disconnect/"),
    ):
        resp = await client.request(method, url, headers=h)
        assert resp.status == 404, url
        assert await resp.json() == {
            "success": False,
            "error": "User not found or does not belong to your tenant",
        }
    resp = await client.post(
        "/api/portal/users/grant-access/",
        json={"username": "+255712345678", "hours": 1, "router_id": beta_router},
        headers=h,
    )
    assert resp.status == 404
    health_body = await (await client.get("/api/portal/router/health/", headers=h)).json()
    assert health_body["routers"] == []
    # And beta still sees its own.
    resp = await client.get(f"/api/portal/router/{beta_router}/active-users/", headers=beta.headers)
    assert resp.status == 200
    assert (await resp.json())["active_users"][0]["database_info"]["user_id"] == beta_user


async def test_fleet_health_shows_offline_site_without_failing_others(client, seed):
    acme = await seed.tenant("acme")
    up = await seed.router(acme, "Awka", site="awka")
    down = await seed.router(
        acme,
        "Lagos",
        site="lagos",
        router_health=health("offline", error="connection refused", cpu_load=None),
    )
    gone = await seed.router(acme, "Abuja", site="abuja", agent_connected=False)

    resp = await client.get("/api/portal/router/health/", headers=acme.headers)
    assert resp.status == 200
    body = await resp.json()
    assert body["success"] is True and ISO_Z.match(body["timestamp"])
    assert body["summary"] == {"total": 3, "online": 1, "offline": 2}
    by_id = {r["id"]: r for r in body["routers"]}
    assert by_id[up]["status"] == "online" and by_id[up]["error"] is None
    assert by_id[up]["cpu_load"] == 12 and by_id[up]["version"] == "7.16.2 (stable)"
    assert by_id[up]["uptime"] == "2w1d23h5m45s"
    assert by_id[up]["memory_used_percent"] == 66.0
    assert by_id[up]["active_users"] == {"hotspot": 2, "ppp": 0, "total": 2}
    assert by_id[down]["status"] == "offline" and by_id[down]["error"] == "connection refused"
    assert by_id[gone]["status"] == "offline"
    assert by_id[gone]["error"] == "The site agent of Abuja is not connected"
    assert by_id[gone]["site"] == "abuja"


async def test_monitoring(client, seed):
    acme = await seed.tenant("acme")
    router_id = await seed.router(acme)
    resp = await client.get(f"/api/portal/router/{router_id}/monitoring/", headers=acme.headers)
    assert resp.status == 200
    body = await resp.json()
    assert set(body) == {"success", "router", "timestamp"}
    router = body["router"]
    assert router["id"] == router_id and router["status"] == "online"
    assert router["cpu_load"] == 12
    assert router["free_memory"] == 45678912 and router["total_memory"] == 134217728
    assert router["uptime"] == "2w1d23h5m45s" and router["version"] == "7.16.2 (stable)"
    assert router["board_name"] == "hAP ac2"
    assert ISO_Z.match(router["reported_at"]) and ISO_Z.match(router["status_since"])


async def test_user_details(client, seed):
    acme = await seed.tenant("acme")
    router_id = await seed.router(acme)
    user_id = await seed.customer(acme, "+255712345678", hours=10)
    await seed.sessions(router_id, session("*1234", "+255712345678"))
    resp = await client.get(f"/api/portal/users/{user_id}/", headers=acme.headers)
    assert resp.status == 200
    body = await resp.json()
    user = body["user"]
    assert user["id"] == user_id and user["username"] == "+255712345678"
    assert user["is_active"] is True and user["has_active_access"] is True
    assert 9 * 3600 < parse_clock(user["time_remaining"]) <= 10 * 3600
    (access,) = body["access"]
    assert access["active"] is True and access["router_id"] is None
    (online,) = body["active_sessions"]
    assert online["router"] == {"id": router_id, "name": "Main Office Router"}
    assert online["session_id"] == "*1234" and online["bytes_in"] == "52428800"


async def test_disconnect_everywhere_reports_each_router(client, seed, pool):
    acme = await seed.tenant("acme")
    a = await seed.router(acme, "Awka", site="awka", agent_connected=False)
    b = await seed.router(acme, "Lagos", site="lagos", online=False)
    user_id = await seed.customer(acme, "+255712345678", hours=1)
    resp = await client.post(f"/api/portal/users/{user_id}/disconnect/", headers=acme.headers)
    assert resp.status == 200
    body = await resp.json()
    assert body["success"] is True and body["disconnected_everywhere"] is False
    results = {r["router"]["id"]: r for r in body["results"]}
    assert results[a] == {
        "router": {"id": a, "name": "Awka"},
        "success": False,
        "error": "Cannot connect to router Awka. Please check router configuration.",
    }
    assert results[b]["success"] is False
    rows = await audit_rows(pool)
    assert sorted(r["router_id"] for r in rows) == sorted([a, b])
    assert {r["result"] for r in rows} == {"unavailable"}


async def test_grant_access_stores_and_reports_pending(client, seed, pool):
    acme = await seed.tenant("acme")
    router_id = await seed.router(acme, agent_connected=False)
    resp = await client.post(
        "/api/portal/users/grant-access/",
        json={"username": "0712345678", "hours": 2, "mac_address": "aabbccddeeff"},
        headers=acme.headers,
    )
    assert resp.status == 200
    body = await resp.json()
    assert body["username"] == "+255712345678" and body["mac_address"] == "AA:BB:CC:DD:EE:FF"
    assert body["delivery"] == [
        {
            "router": {"id": router_id, "name": "Main Office Router"},
            "status": "pending",
            "error": None,
        }
    ]
    first_expiry = parse_iso(body["access_expires_at"])
    # Buying again extends the running access instead of overlapping it.
    resp = await client.post(
        "/api/portal/users/grant-access/",
        json={"username": "+255712345678", "hours": 1, "mac_address": "AA:BB:CC:DD:EE:FF"},
        headers=acme.headers,
    )
    second_expiry = parse_iso((await resp.json())["access_expires_at"])
    assert 3599 <= (second_expiry - first_expiry).total_seconds() <= 3601
    rows = await pool.fetch("SELECT * FROM entitlements ORDER BY id")
    assert len(rows) == 2 and rows[1]["mac_address"] == "AA:BB:CC:DD:EE:FF"

    for payload, error in (
        ({"hours": 1}, "username is required"),
        ({"username": "x", "hours": "1"}, "hours must be a number"),
        ({"username": "x", "hours": 0}, "hours must be more than 0 and at most 8784"),
        ({"username": "x", "hours": 1, "router_id": "1"}, "router_id must be an integer"),
    ):
        resp = await client.post(
            "/api/portal/users/grant-access/", json=payload, headers=acme.headers
        )
        assert resp.status == 400
        assert (await resp.json())["error"] == error
    assert await pool.fetchval("SELECT count(*) FROM entitlements") == 2
    results = [r["result"] for r in await audit_rows(pool, "grant_access")]
    assert results == ["ok", "ok", "invalid", "invalid", "invalid", "invalid"]


async def test_unexpected_errors_are_500_json_and_logged_with_request_id(
    client, seed, pool, caplog
):
    acme = await seed.tenant("acme")
    await seed.router(acme)
    await pool.execute("DROP TABLE router_health CASCADE")  # a real failure under the app
    resp = await client.get(
        "/api/portal/router/health/", headers={**acme.headers, "X-Request-Id": "req-42"}
    )
    assert resp.status == 500
    assert await resp.json() == {"success": False, "error": "Internal server error"}
    assert resp.headers["X-Request-Id"] == "req-42"
    (record,) = [r for r in caplog.records if "unhandled error" in r.getMessage()]
    assert "request_id=req-42" in record.getMessage() and record.exc_info is not None
