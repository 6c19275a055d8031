"""The OpenAPI document is the code's own, and the live hub keeps every promise it makes.

``test_every_operation_keeps_its_schema`` runs schemathesis against a hub serving on a real
port (seeded: a tenant with an API key, routers, sessions, a customer, a plan, dashboard users,
a platform admin): every operation, a bounded number of positive and negative examples per
credential, derandomized (the same cases every run), no shrinking. Checks on every answer:
no server error, the status is one the operation declares, the body matches its schema.

The hub's own 503 "router unreachable" is an answer, not a crash: the seeded routers' site
agent is offline, so a router command fails at once instead of waiting out command_timeout.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections import Counter
from collections.abc import Callable
from typing import Any

import aiohttp
import pytest
import schemathesis
from aiohttp import web
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    response_schema_conformance,
    status_code_conformance,
)

from hub.app import create_app
from hub.config import HubConfig
from hub.services.auth import AuthService
from hub.storage.users import UserRepository
from hub.typedefs import DB_POOL
from hub.web.apidoc import build_document, face_of, undeclared
from hub.web.handlers import UndeclaredSchema, read_body
from hub.web.openapi import operation
from hub.web.schemas import DisconnectBody, GrantBody
from tests.hub.conftest import Seeder, session

MAX_EXAMPLES = 8  # per operation, credential and generation mode: ~60 s on a loaded 2-core box
CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance]
PASSWORD = "correct horse battery"
ADMIN_EMAIL = "root@isp.example"
# Run last in each credential's pass, in this order: they can take that credential's own
# access away (a password change or role revokes its logins; a tenant deactivated or deleted
# takes its keys and users along). delete_tenant is the very last call of the whole test.
DESTRUCTIVE = (
    "v1.users.assign_role",
    "v1.users.update_user",
    "v1.users.assign_tenant",
    "v1.users.delete_user",
    "v1.tenants.update_tenant",
    "v1.tenants.delete_tenant",
)


@pytest.fixture
def hub_config(pg_dsn: str, tmp_path) -> HubConfig:
    """Budgets far above what the run sends, so answers are the handlers', not 429s."""
    return HubConfig(
        database_url=pg_dsn,
        data_dir=str(tmp_path / "hub"),
        command_timeout=1.0,
        rate_limit_per_minute=100_000,
        rate_limit_burst=100_000,
        auth_failures_per_minute=100_000,
        auth_failure_burst=100_000,
        login_lockout_after=100_000,
        metrics_refresh_interval=60.0,
    )


@dataclasses.dataclass
class Credentials:
    api_key: str
    user_jwt: str  # the tenant's owner (dashboard face)
    v1_jwt: str  # the tenant's admin (/v1)
    admin_token: str  # /api/admin
    super_jwt: str  # the platform admin on /v1 (seed 004's super_admin)
    ids: dict[str, dict[str, int]]  # per face: path parameters that name seeded rows


async def _seed(app, config: HubConfig) -> Credentials:
    seed = Seeder(app[DB_POOL], config)
    acme = await seed.tenant("acme")
    router_id = await seed.router(acme, agent_connected=False)
    await seed.router(acme, "Branch Router", site="branch", host="10.50.0.3", online=False)
    await seed.sessions(router_id, session("*1", "alice"), session("*2", "walkin", mac=None))
    customer_id = await seed.customer(acme, "alice", hours=2, router_id=router_id)
    plan = await seed.plan(acme)
    owner = await seed.user(acme, "owner", role="owner", password=PASSWORD)
    v1_admin = await seed.user(acme, "v1admin", role="admin", password=PASSWORD)
    auth = AuthService(app[DB_POOL], config)
    await auth.create_admin(ADMIN_EMAIL, PASSWORD)
    token, _ = await auth.admin_login(ADMIN_EMAIL, PASSWORD)
    super_jwt = (await auth.login(ADMIN_EMAIL, PASSWORD)).access_token
    found = await UserRepository(app[DB_POOL]).find_login(owner.username)
    assert found is not None
    ids = {
        "portal": {"router_id": router_id, "user_id": customer_id},
        "admin": {"router_id": router_id},
        "dashboard": {"router_id": router_id, "plan_id": plan.id},
        "v1": {"user_id": found[0].id, "tenant_id": acme.tenant.id},
    }
    return Credentials(acme.api_key, owner.token, v1_admin.token, token, super_jwt, ids)


def _passes(credentials: Credentials) -> list[tuple[str, Callable[[str], bool], str]]:
    """(name, which paths, Authorization): each face with the credentials it takes."""

    def faces(*names: str) -> Callable[[str], bool]:
        return lambda path: face_of(path) in names

    return [
        ("tenant API key", faces("portal", "platform", "agent link"), credentials.api_key),
        ("tenant owner JWT", faces("dashboard"), credentials.user_jwt),
        ("tenant API key on the dashboard", faces("dashboard"), credentials.api_key),
        ("tenant admin JWT on /v1", faces("v1"), credentials.v1_jwt),
        ("platform admin token", faces("admin"), credentials.admin_token),
        ("super admin JWT on /v1", faces("v1"), credentials.super_jwt),
    ]


def _ordered(schema: Any, wanted: Callable[[str], bool]) -> list[Any]:
    operations = [result.ok() for result in schema.get_all_operations()]
    chosen = [op for op in operations if wanted(op.path)]

    def rank(op: Any) -> int:
        op_id = op.definition.raw.get("operationId", "")
        return DESTRUCTIVE.index(op_id) + 1 if op_id in DESTRUCTIVE else 0

    return sorted(chosen, key=rank)  # stable: the document's order, destructive ones last


def _ordered_ids(document: dict[str, Any], wanted: Callable[[str], bool]) -> list[str]:
    return [
        op["operationId"]
        for path, item in document["paths"].items()
        if wanted(path)
        for op in item.values()
    ]


def _run(
    document: dict[str, Any], base_url: str, credentials: Credentials
) -> tuple[list[str], dict[str, Counter[int]]]:
    """Every pass, in order, synchronously (schemathesis' requests): the failures found, and
    per operation the statuses it answered."""
    config = schemathesis.Config.from_dict(
        {"checks": {"not_a_server_error": {"expected-statuses": ["2xx", "3xx", "4xx", "503"]}}}
    )
    schema = schemathesis.openapi.from_dict(document, config=config)
    failures: list[str] = []
    statuses: dict[str, Counter[int]] = {}
    for name, wanted, token in _passes(credentials):
        headers = {"Authorization": f"Bearer {token}"}
        for op in _ordered(schema, wanted):
            answered = statuses.setdefault(f"{name}: {op.label}", Counter())
            named = op.path_parameters and {
                p.name: value
                for p in op.path_parameters
                if (value := credentials.ids.get(face_of(op.path), {}).get(p.name)) is not None
            }
            # Positive with the seeded rows' ids (else a random id is a 404), then free ones.
            runs = [(GenerationMode.POSITIVE, named)] if named else []
            runs += [(GenerationMode.POSITIVE, None), (GenerationMode.NEGATIVE, None)]
            for mode, fixed in runs:
                label = f"{name}: {op.label} ({mode}{', seeded ids' if fixed else ''})"
                strategy = op.as_strategy(generation_mode=mode, path_parameters=fixed)
                _exercise(strategy, base_url, headers, label, failures, answered, mode)
    return failures, statuses


def _exercise(strategy, base_url, headers, label, failures, answered, mode) -> None:
    seen: list[str] = []

    @given(case=strategy)
    @settings(
        max_examples=MAX_EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
        report_multiple_bugs=False,
    )
    def check(case: Any) -> None:
        response = case.call(base_url=base_url, headers=headers, timeout=15)
        answered[response.status_code] += 1
        try:
            case.validate_response(response, checks=CHECKS, headers=headers)
        except (Exception, BaseExceptionGroup) as exc:  # schemathesis' FailureGroup: keep it
            if len(seen) < 2:  # two per operation say enough
                seen.append(f"{label}: {exc}")

    try:
        check()
    except Unsatisfiable:
        if mode is GenerationMode.POSITIVE:  # a schema no valid request can satisfy
            seen.append(f"{label}: no valid request can be generated")
        # negative: nothing to break (no parameters, no body)
    failures.extend(seen)


async def test_every_operation_keeps_its_schema(hub_config: HubConfig, aiohttp_server) -> None:
    server = await aiohttp_server(create_app(hub_config))
    credentials = await _seed(server.app, hub_config)
    base_url = str(server.make_url("")).rstrip("/")
    async with aiohttp.ClientSession() as http, http.get(f"{base_url}/openapi.json") as resp:
        assert resp.status == 200
        document = await resp.json()
    # The server keeps serving on this loop while schemathesis' synchronous client runs.
    failures, statuses = await asyncio.to_thread(_run, document, base_url, credentials)
    assert not failures, "\n\n".join(failures)
    print("\n".join(f"{op}: {dict(sorted(counts.items()))}" for op, counts in statuses.items()))
    # Every operation was called under each credential that reaches it, and every pass got
    # through authentication (its credential worked: some answers are successes).
    assert len(statuses) == sum(len(_ordered_ids(document, w)) for _, w, _ in _passes(credentials))
    for name, _, _ in _passes(credentials):
        ok = sum(
            n
            for op, c in statuses.items()
            if op.startswith(name + ":")
            for s, n in c.items()
            if s < 300
        )
        assert ok > 0, name


# --- the document itself ------------------------------------------------------------------------


def test_every_route_declares_its_types(hub_config: HubConfig, tmp_path) -> None:
    """A handler added without @operation fails here, by name (static files are no
    operations: not listed)."""
    app = create_app(hub_config)
    assert undeclared(app) == []
    app.router.add_static("/static/", tmp_path)

    async def bare(request):
        return web.Response()

    app.router.add_get("/api/portal/bare", bare)
    assert undeclared(app) == [
        "GET /api/portal/bare (tests.hub.web.test_openapi.test_every_route_declares_its_types"
        ".<locals>.bare)"
    ]


async def test_document_has_one_entry_per_path_and_every_face(hub_config, aiohttp_client) -> None:
    client = await aiohttp_client(create_app(hub_config))
    resp = await client.get("/openapi.json")
    assert resp.status == 200 and resp.content_type == "application/json"
    document = await resp.json()
    assert document["openapi"] == "3.1.0"
    paths = document["paths"]
    for path in paths:  # the slash aliases are the same routes: not listed twice
        other = path[:-1] if path.endswith("/") else path + "/"
        assert other not in paths, path
    assert all(
        method in ("get", "post", "put", "patch", "delete")
        for item in paths.values()
        for method in item
    )
    active = paths["/api/portal/router/{router_id}/active-users/"]["get"]
    assert active["parameters"][0] == {
        "name": "router_id",
        "in": "path",
        "required": True,
        "schema": {"type": "integer", "minimum": 0},
    }
    assert active["security"] == [{"tenantApiKey": []}]
    assert active["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ActiveUsers"
    }
    assert set(active["responses"]) >= {"200", "304", "401", "404", "429", "500", "503"}
    # The request body is the very Struct read_body decodes with, bounds included.
    grant = paths["/api/portal/users/grant-access/"]["post"]
    ref = grant["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    grant_schema = document["components"]["schemas"][ref.rsplit("/", 1)[1]]
    assert grant_schema["properties"]["username"]["anyOf"][0] == {
        "type": "string",
        "maxLength": 256,
    }
    # Query parameters from the query Struct; errors in each face's own shape.
    transactions = paths["/api/mpesa/transactions"]["get"]
    names = {p["name"]: p for p in transactions["parameters"]}
    assert names["limit"]["schema"] == {
        "type": "integer",
        "minimum": 1,
        "maximum": 1000,
        "default": 100,
    }
    assert transactions["responses"]["403"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/DetailError"
    }
    users = paths["/v1/internal/users/{user_id}"]["get"]
    assert users["security"] == [{"userJwt": []}, {"tenantApiKey": []}]
    data = users["responses"]["200"]["content"]["application/json"]["schema"]
    assert data["properties"]["data"] == {"$ref": "#/components/schemas/V1User"}
    assert users["responses"]["404"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/V1Error"
    }
    assert paths["/v1/auth/login"]["post"]["security"] == []
    assert paths["/agent/v1/link"]["get"]["responses"]["101"]
    tags = {tag for item in paths.values() for op in item.values() for tag in op["tags"]}
    faces = {"portal", "admin", "dashboard", "v1", "agent link", "operator dashboard"}
    own = {"Billing profiles", "Customers", "Client operations", "Devices"}  # /v1 sections
    assert tags == faces | {"platform", "captive portal"} | own
    # The operator dashboard: pages behind its session cookie, forms sent urlencoded.
    login = paths["/dashboard/login"]["post"]
    assert login["security"] == []
    assert list(login["requestBody"]["content"]) == ["application/x-www-form-urlencoded"]
    assert paths["/dashboard/sites"]["get"]["security"] == [{"dashboardSession": []}]
    stream = paths["/dashboard/live/sites"]["get"]["responses"]
    assert list(stream["200"]["content"]) == ["text/event-stream"] and "401" in stream
    assert paths["/hotspot/{slug}"]["get"]["security"] == []
    assert "text/html" in paths["/hotspot/{slug}"]["get"]["responses"]["200"]["content"]
    assert {"tenantApiKey", "userJwt", "adminToken"} <= set(
        document["components"]["securitySchemes"]
    )
    # Built once: the same bytes, and 304 for a client that holds them.
    etag = resp.headers["ETag"]
    again = await client.get("/openapi.json", headers={"If-None-Match": etag})
    assert again.status == 304
    assert document == build_document(client.app)


async def test_docs_page_is_served_without_any_outside_resource(hub_config, aiohttp_client):
    client = await aiohttp_client(create_app(hub_config))
    resp = await client.get("/docs")
    assert resp.status == 200 and resp.content_type == "text/html"
    page = await resp.text()
    assert 'fetch("/openapi.json")' in page
    for outside in ("http://", "https://", "//cdn", "@import", "<link"):
        assert outside not in page.replace('href="/openapi.json"', ""), outside


# --- one source of truth ------------------------------------------------------------------------


@operation("A handler that declares one body and reads another", body=GrantBody)
async def reads_another_body(request):
    await read_body(request, DisconnectBody)
    raise AssertionError("read_body must refuse a body its route does not declare")


async def test_reading_an_undeclared_body_is_a_programming_error(
    hub_config, aiohttp_client, caplog
) -> None:
    app = create_app(hub_config, with_link=False)
    app.router.add_post("/agent/test/mismatch", reads_another_body)
    client = await aiohttp_client(app)
    resp = await client.post("/agent/test/mismatch", json={"username": "a"})
    assert resp.status == 500
    assert (await resp.json())["error"] == "Internal server error"
    logged = [r.exc_info[1] for r in caplog.records if r.exc_info]
    assert any(isinstance(exc, UndeclaredSchema) for exc in logged)
    assert "reads its body as DisconnectBody but declares @operation(body=GrantBody)" in str(
        logged[-1]
    )


async def test_docs_page_renders_every_operation_in_a_browser(hub_config, aiohttp_server):
    """Headless Chromium: every operation of the document is listed, and the page asks
    nothing of any other origin."""
    from playwright.async_api import async_playwright

    server = await aiohttp_server(create_app(hub_config))
    base_url = str(server.make_url("")).rstrip("/")
    document = build_document(server.app)
    count = sum(len(item) for item in document["paths"].values())
    requested: list[str] = []
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path="/usr/bin/chromium", args=["--no-sandbox"]
        )
        try:
            page = await browser.new_page()
            page.on("request", lambda request: requested.append(request.url))
            await page.goto(f"{base_url}/docs")
            await page.wait_for_function(
                f"document.querySelectorAll('details.op').length === {count}"
            )
            await page.fill("#filter", "grant-access")
            visible = await page.locator("details.op:visible").count()
            assert visible == 1
            await page.locator("details.op:visible summary").click()
            shown = await page.locator("details.op:visible").inner_text()
            # The body's schema with its $refs inlined, bounds included; the credentials.
            assert '"title": "GrantBody"' in shown and '"maxLength": 256' in shown
            assert "Credentials: tenantApiKey" in shown and "Granted" in shown
        finally:
            await browser.close()
    assert requested and all(url.startswith(base_url) for url in requested), requested
