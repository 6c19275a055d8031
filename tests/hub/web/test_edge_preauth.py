"""Throttling before authentication: per client address, and lockout after failed logins
(real app, real Postgres, real HTTP; client addresses through a trusted proxy's header)."""

from __future__ import annotations

from dataclasses import replace

from hub.app import create_app
from hub.ratelimit import LoginGuard
from hub.services.auth import AuthService
from hub.typedefs import DB_POOL, LOGIN_GUARD
from tests.hub.conftest import Seeder

PASSWORD = "correct horse battery"
BAD_KEY = {"Authorization": "Bearer ifk_0123456789ab_" + "x" * 40}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_failed_keys_are_throttled_per_address_before_any_database_work(
    hub_config, aiohttp_client
):
    config = replace(hub_config, auth_failures_per_minute=6, auth_failure_burst=5)
    client = await aiohttp_client(create_app(config, with_link=False))
    pool = client.app[DB_POOL]
    acme = await Seeder(pool, config).tenant("acme")
    url = "/api/portal/router/health/"
    statuses = [(await client.get(url, headers=BAD_KEY)).status for _ in range(5)]
    assert statuses == [401] * 5
    # From now on the address is refused before its key is even looked up: with the key table
    # gone, a lookup would be a 500.
    await pool.execute("ALTER TABLE api_keys RENAME TO api_keys_away")
    for headers in (BAD_KEY, {}, acme.headers):
        resp = await client.get(url, headers=headers)
        assert resp.status == 429, headers
        assert int(resp.headers["Retry-After"]) >= 1
        assert "retry later" in (await resp.json())["error"]
    await pool.execute("ALTER TABLE api_keys_away RENAME TO api_keys")


async def test_valid_keys_are_not_throttled_by_the_address_budget(hub_config, aiohttp_client):
    config = replace(hub_config, auth_failures_per_minute=6, auth_failure_burst=2)
    client = await aiohttp_client(create_app(config, with_link=False))
    acme = await Seeder(client.app[DB_POOL], config).tenant("acme")
    for _ in range(10):
        assert (await client.get("/api/portal/router/health/", headers=acme.headers)).status == 200


async def test_login_attempts_cost_per_address_and_forwarded_for_needs_a_trusted_proxy(
    hub_config, aiohttp_client
):
    config = replace(
        hub_config,
        auth_failures_per_minute=6,
        auth_failure_burst=3,
        login_lockout_after=100,  # this test is about the address budget only
    )
    client = await aiohttp_client(create_app(config, with_link=False))
    body = {"email": "nobody@example.com", "password": "wrong password"}
    statuses = []
    for n in range(5):
        # Not a trusted proxy: a forged X-Forwarded-For does not get a fresh budget.
        headers = {"X-Forwarded-For": f"203.0.113.{n}"}
        statuses.append((await client.post("/api/admin/login", json=body, headers=headers)).status)
    assert statuses == [401, 401, 401, 429, 429]

    trusting = replace(config, trusted_proxies=["127.0.0.1/32", "10.0.0.0/8"])
    proxied = await aiohttp_client(create_app(trusting, with_link=False))
    for n in range(3):
        for _ in range(3):  # each client behind the proxy has its own budget
            headers = {"X-Forwarded-For": f"198.51.100.{n}, 10.1.2.3"}
            resp = await proxied.post("/api/admin/login", json=body, headers=headers)
            assert resp.status == 401
        resp = await proxied.post("/api/admin/login", json=body, headers=headers)
        assert resp.status == 429


async def test_lockout_after_failed_logins_per_account_and_per_address(hub_config, aiohttp_client):
    config = replace(
        hub_config,
        trusted_proxies=["127.0.0.1"],
        auth_failure_burst=1000,
        login_lockout_after=3,
        login_lockout_seconds=2.0,
        login_lockout_max=60.0,
    )
    app = create_app(config, with_link=False)
    clock = Clock()
    app[LOGIN_GUARD] = LoginGuard(3, 2.0, 60.0, clock=clock)
    client = await aiohttp_client(app)
    pool = client.app[DB_POOL]
    auth = AuthService(pool, config)
    await auth.create_admin("root@example.com", PASSWORD)
    await auth.create_admin("ops@example.com", PASSWORD)

    async def login(email, password, address):
        resp = await client.post(
            "/api/admin/login",
            json={"email": email, "password": password},
            headers={"X-Forwarded-For": address},
        )
        return resp

    # Three wrong passwords for root, from three addresses: root is locked, even for the right
    # password from a fresh address.
    for n in range(3):
        assert (await login("root@example.com", "wrong password", f"192.0.2.{n}")).status == 401
    resp = await login("root@example.com", PASSWORD, "192.0.2.99")
    assert resp.status == 429 and int(resp.headers["Retry-After"]) == 2
    assert "Too many failed logins" in (await resp.json())["error"]
    assert await pool.fetchval("SELECT count(*) FROM admin_tokens") == 0
    # Another account is not locked; an address that failed 3 times (on any accounts) is.
    assert (await login("ops@example.com", PASSWORD, "192.0.2.50")).status == 200
    for email in ("a@example.com", "b@example.com", "c@example.com"):
        assert (await login(email, "wrong password", "192.0.2.77")).status == 401
    assert (await login("ops@example.com", PASSWORD, "192.0.2.77")).status == 429

    # The lock passes; a further failure doubles it; a success clears it.
    clock.now += 2.0
    assert (await login("root@example.com", "still wrong", "192.0.2.98")).status == 401
    resp = await login("root@example.com", PASSWORD, "192.0.2.97")
    assert resp.status == 429 and int(resp.headers["Retry-After"]) == 4
    clock.now += 4.0
    assert (await login("root@example.com", PASSWORD, "192.0.2.97")).status == 200
    assert (await login("root@example.com", "wrong password", "192.0.2.96")).status == 401
    assert (await login("root@example.com", PASSWORD, "192.0.2.96")).status == 200
