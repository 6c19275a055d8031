"""The edge refuses malformed input with a 4xx on every route, changing nothing (real parts).

Every POST route of the route table (those other modules add too) gets every malformed body; the
route parameters are filled with real ids, and credentials are the right kind for the face, so
the body is what gets judged.
"""

from __future__ import annotations

import gzip
import re

import pytest

from hub.services.auth import AuthService
from hub.storage.audit import AuditRepository
from hub.typedefs import DB_HEALTH
from hub.web.middlewares import BILLING_PREFIXES, PAYMENT_CALLBACK_PREFIX
from hub.web.schemas import MAX_USERNAME
from tests.hub.conftest import session

PASSWORD = "correct horse battery"
DEEP = 100_000
JSON = {"Content-Type": "application/json"}

# (name, raw body, extra headers): each is a real client mistake or a probe seen in the wild.
MALFORMED: list[tuple[str, bytes, dict[str, str]]] = [
    ("not utf-8", b'{"username": "\xff\xfe\xfa", "email": "\xc3"}', JSON),
    (
        "unknown charset",
        b'{"username": "x"}',
        {"Content-Type": "application/json; charset=klingon"},
    ),
    ("gzip claimed, plain body", b'{"username": "x"}', {**JSON, "Content-Encoding": "gzip"}),
    ("unknown encoding", b'{"username": "x"}', {**JSON, "Content-Encoding": "x-foo"}),
    ("nested 100,000 deep", b'{"username": ' + b"[" * DEEP + b"]" * DEEP + b"}", JSON),
    ("nested 5,000 deep, unknown field", b'{"x": ' + b"[" * 5000 + b"]" * 5000 + b"}", JSON),
    ("5,000-digit integer", b'{"username": "x", "hours": ' + b"9" * 5000 + b"}", JSON),
    (
        "5,000-digit router_id",
        b'{"username": "x", "hours": 1, "router_id": ' + b"7" * 5000 + b"}",
        JSON,
    ),
    ("5,000-digit username", b'{"username": ' + b"1" * 5000 + b', "email": 1}', JSON),
    ("lone surrogate", rb'{"username": "\ud800", "email": "\udc00@x.io", "password": "x"}', JSON),
    ("below -2^63", b'{"username": "x", "hours": 1, "router_id": -9223372036854775809}', JSON),
    ("8,000-char username", b'{"username": "' + b"u" * 8000 + b'", "hours": 1}', JSON),
    ("8,000-char email", b'{"email": "' + b"e" * 8000 + b'@x.io", "password": "p"}', JSON),
    ("hours 1e-300", b'{"username": "x", "hours": 1e-300}', JSON),
    ("hours negative", b'{"username": "x", "hours": -1}', JSON),
    ("hours a bool", b'{"username": "x", "hours": true}', JSON),
    ("a JSON array", b"[1, 2]", JSON),
    ("not JSON", b"{username: x", JSON),
    ("a 1000 KiB body", b'{"username": "' + b"a" * 1_000_000 + b'"}', JSON),
]


async def _state(pool) -> dict[str, int]:
    tables = ("customers", "entitlements", "commands", "admin_tokens", "current_sessions")
    return {t: await pool.fetchval(f"SELECT count(*) FROM {t}") for t in tables}


def _url(resource, ids: dict[str, int]) -> str:
    info = resource.get_info()
    if "path" in info:
        return info["path"]
    return re.sub(r"\{(\w+)(:[^}]*)?\}", lambda m: str(ids.get(m[1], 1)), info["formatter"])


async def _routes_and_headers(client, seed, pool, hub_config):
    acme = await seed.tenant("acme")
    router_id = await seed.router(acme, agent_connected=False)
    await seed.customer(acme, "+255712345678", hours=3)
    await seed.sessions(router_id, session("*1", "+255712345678"))
    await AuthService(pool, hub_config).create_admin("root@example.com", PASSWORD)
    resp = await client.post(
        "/api/admin/login", json={"email": "root@example.com", "password": PASSWORD}
    )
    admin = {"Authorization": f"Bearer {(await resp.json())['token']}"}
    # No such user: a route of one user takes no body (disconnect everywhere), so it is a 404.
    ids = {"router_id": router_id, "user_id": 424242}
    posts = []
    for route in client.app.router.routes():
        if route.method != "POST" or not route.resource:
            continue
        url = _url(route.resource, ids)
        if url.startswith("/api/portal/") or (
            url.startswith(BILLING_PREFIXES) and not url.startswith(PAYMENT_CALLBACK_PREFIX)
        ):
            posts.append((url, acme.headers))
        elif url.startswith("/api/admin/"):
            posts.append((url, admin))
        else:
            posts.append((url, {}))
    return posts


async def test_every_post_route_refuses_every_malformed_body(client, seed, pool, hub_config):
    posts = await _routes_and_headers(client, seed, pool, hub_config)
    assert any("grant-access" in url for url, _ in posts)  # the walk found the routes
    before = await _state(pool)
    for url, auth in posts:
        for name, raw, headers in MALFORMED:
            resp = await client.post(url, data=raw, headers={**auth, **headers})
            assert 400 <= resp.status < 500, (url, name, resp.status, await resp.text())
            if resp.content_type == "text/html":  # the dashboard's forms: an error page
                assert re.search(r'role="alert">[^<]+<', await resp.text()), (url, name)
                continue
            assert _error_text(await resp.json()), (url, name)
    assert await _state(pool) == before


def _error_text(body: dict) -> str:
    """The message of a 4xx in its face's shape: seed 003's ``detail``, a payment callback's
    Daraja acknowledgement (``ResultDesc``), else ``error``."""
    if "detail" in body:
        return body["detail"]
    if "ResultDesc" in body:
        assert body["ResultCode"] != 0
        return body["ResultDesc"]
    assert body["success"] is False
    return body["error"]


async def test_every_post_route_without_credentials_is_4xx(client, seed, pool, hub_config):
    posts = await _routes_and_headers(client, seed, pool, hub_config)
    before = await _state(pool)
    for url, _ in posts:
        for name, raw, headers in MALFORMED:
            resp = await client.post(url, data=raw, headers=headers)
            assert 400 <= resp.status < 500, (url, name, resp.status)
    assert await _state(pool) == before


async def test_errors_name_the_field(client, seed):
    acme = await seed.tenant("acme")
    await seed.router(acme)
    url = "/api/portal/users/grant-access/"
    for raw, error in (
        (b'{"username": "x", "hours": 1e-300}', "hours must be at least 1/3600 (one second)"),
        (b'{"username": "x", "hours": ' + b"9" * 5000 + b"}", "hours must be more than 0"),
        (b'{"username": "' + b"u" * 8000 + b'", "hours": 1}', f"at most {MAX_USERNAME}"),
        (b'{"username": "x", "hours": 1, "router_id": -9223372036854775809}', "router_id"),
        (b'{"username": "\xff"}', "request body is not valid UTF-8 text"),
    ):
        resp = await client.post(url, data=raw, headers={**acme.headers, **JSON})
        assert resp.status == 400, raw[:60]
        assert error in (await resp.json())["error"], raw[:60]
    resp = await client.post(
        url, data=b"{}", headers={**acme.headers, "Content-Type": "application/json; charset=x"}
    )
    assert resp.status == 415 and "charset" in (await resp.json())["error"]


async def test_compressed_body_is_read(client, seed, pool):
    acme = await seed.tenant("acme")
    await seed.router(acme)
    resp = await client.post(
        "/api/portal/users/grant-access/",
        data=gzip.compress(b'{"username": "+255712345678", "hours": 1}'),
        headers={**acme.headers, **JSON, "Content-Encoding": "gzip"},
    )
    assert resp.status == 200, await resp.text()
    assert await pool.fetchval("SELECT count(*) FROM entitlements") == 1


@pytest.mark.parametrize(
    "path",
    [
        "/api/portal/router/{big}/active-users/",
        "/api/portal/router/{big}/monitoring/",
        "/api/portal/users/{big}/",
    ],
)
async def test_huge_path_ids_are_404(client, seed, path):
    acme = await seed.tenant("acme")
    resp = await client.get(path.format(big="9" * 5000), headers=acme.headers)
    assert resp.status == 404


async def test_nul_username_is_refused_and_audited(client, seed, pool):
    acme = await seed.tenant("acme")
    router_id = await seed.router(acme)
    resp = await client.post(
        f"/api/portal/router/{router_id}/disconnect-user/",
        json={"username": "bad\x00name", "mac_address": "\x00"},
        headers=acme.headers,
    )
    assert resp.status == 400
    assert (await resp.json())["error"] == "username must not contain NUL characters"
    row = await pool.fetchrow("SELECT * FROM audit_log WHERE action = 'disconnect_user'")
    assert row["result"] == "invalid"
    assert row["params"]["username"] == "bad\ufffdname"


async def test_audit_stores_any_text(pool):
    """NUL, lone surrogates, huge strings and numbers: the row is written, cleaned and capped."""
    await AuditRepository(pool).record(
        actor="api_key:\x00x",
        action="disconnect_user",
        result="invalid",
        target="t\udc80" + "x" * 8000,
        params={"username": "a\x00b\ud800", "n": 2**70, "deep": [[[[[["x"]]]]]], "f": 1e-300},
        details={"error": "x" * 8000},
    )
    row = await pool.fetchrow("SELECT * FROM audit_log")
    assert row["actor"] == "api_key:\ufffdx"
    assert row["target"].startswith("t\ufffdxx") and len(row["target"]) < 600
    assert row["params"]["username"] == "a\ufffdb\ufffd"
    assert row["params"]["n"] == str(2**70)
    assert len(row["details"]["error"]) < 600


async def test_a_timeout_that_is_not_the_database_is_a_500_not_an_outage(app, aiohttp_client):
    async def times_out(request):
        raise TimeoutError("an outside call ran out of time")

    app.router.add_get("/api/test/times-out", times_out)
    client = await aiohttp_client(app)
    resp = await client.get("/api/test/times-out")
    assert resp.status == 500
    assert await resp.json() == {"success": False, "error": "Internal server error"}
    assert not client.app[DB_HEALTH].down  # no outage declared, no probe started


async def test_request_ids_are_echoed_only_when_safe(client):
    resp = await client.get("/healthz", headers={"X-Request-Id": "abc-123"})
    assert resp.headers["X-Request-Id"] == "abc-123"
    for bad in ("x" * 65, "line\\nbreak", "<script>"):
        resp = await client.get("/healthz", headers={"X-Request-Id": bad})
        assert re.fullmatch(r"[0-9a-f]{32}", resp.headers["X-Request-Id"])
