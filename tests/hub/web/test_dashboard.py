"""The operator dashboard over HTTP (no browser): signing in and out, the cookie's flags,
same-origin checks, what a signed-out request gets, roles, tenant isolation, every page in
every language, and bad input. The real app on a fresh Postgres (tests/hub/conftest.py)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from aiohttp.test_utils import TestClient
from yarl import URL

from common.timeutil import utcnow
from hub.web.dashboard.session import SESSION_COOKIE
from hub.web.i18n import LANGUAGES, translator
from tests.hub.conftest import SeededTenant, Seeder, session

PASSWORD = "correct horse battery"


def origin(client: TestClient) -> dict[str, str]:
    return {"Origin": str(client.make_url("")).rstrip("/")}


async def sign_in(client: TestClient, username: str, password: str = PASSWORD, **form):
    """POST the sign-in form as the browser would (same origin); the answer unfollowed."""
    return await client.post(
        "/dashboard/login",
        data={"username": username, "password": password, **form},
        headers=origin(client),
        allow_redirects=False,
    )


@pytest.fixture
async def acme(seed: Seeder) -> SeededTenant:
    return await seed.tenant("acme", "Acme ISP")


@pytest.fixture
async def router_id(seed: Seeder, acme: SeededTenant) -> int:
    router = await seed.router(acme, "Main Office Router")
    await seed.customer(acme, "+255712345678", hours=2)
    await seed.customer(acme, "+255700000001", hours=-1)  # expired, still connected
    await seed.sessions(
        router,
        session("*1", "+255712345678", mac="AA:BB:CC:DD:EE:01", bytes_out=52428800),
        session("*2", "+255700000001", mac="AA:BB:CC:DD:EE:02", ip="10.5.50.101"),
    )
    return router


async def signed_in_client(client: TestClient, seed: Seeder, acme, role: str) -> TestClient:
    await seed.user(acme, f"{role}1", role)
    answer = await sign_in(client, f"{role}1")
    assert answer.status == 303, await answer.text()
    return client


async def test_sign_in_sets_a_strict_httponly_cookie_and_sign_out_revokes_it(client, seed, acme):
    await seed.user(acme, "owner1", "owner")
    answer = await sign_in(client, "owner1", next="/dashboard/sites")
    assert answer.status == 303
    assert answer.headers["Location"] == "/dashboard/sites"
    cookie = answer.cookies[SESSION_COOKIE]
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "Strict"
    assert cookie["path"] == "/dashboard"
    assert not cookie["secure"]  # plain http to a hub without an https public_url
    token = cookie.value
    assert (await client.get("/dashboard/sites", allow_redirects=False)).status == 200

    # The session is not a bearer token of the API, nor is an API token a session.
    api = await client.get("/api/plans", headers={"Authorization": f"Bearer {token}"})
    assert api.status == 401

    out = await client.post("/dashboard/logout", headers=origin(client), allow_redirects=False)
    assert out.status == 303 and out.headers["Location"] == "/dashboard/login"
    assert out.cookies[SESSION_COOKIE].value == ""
    # The old cookie, replayed, is dead: its login was revoked in the database.
    replay = await client.get(
        "/dashboard/sites", headers={"Cookie": f"{SESSION_COOKIE}={token}"}, allow_redirects=False
    )
    assert replay.status == 303
    assert replay.headers["Location"].startswith("/dashboard/login?next=")


async def test_cookie_is_secure_when_the_hub_is_public_over_https(hub_config, aiohttp_client):
    from hub.app import create_app
    from hub.typedefs import DB_POOL
    from tests.hub.conftest import Seeder as Seed

    hub_config.public_url = "https://hub.example.net"
    client = await aiohttp_client(create_app(hub_config))
    seed = Seed(client.app[DB_POOL], hub_config)
    tenant = await seed.tenant("acme")
    await seed.user(tenant, "owner1", "owner")
    answer = await client.post(
        "/dashboard/login",
        data={"username": "owner1", "password": PASSWORD},
        headers={"Origin": "https://hub.example.net"},
        allow_redirects=False,
    )
    assert answer.status == 303
    assert answer.cookies[SESSION_COOKIE]["secure"] is True


async def test_a_wrong_password_is_refused_and_counts_toward_the_lockout(client, seed, acme):
    await seed.user(acme, "owner1", "owner")
    statuses = [(await sign_in(client, "owner1", "wrong password!")).status for _ in range(5)]
    assert statuses == [401] * 5
    locked = await sign_in(client, "owner1")  # now even the right password waits
    assert locked.status == 429
    assert "Too many failed logins" in await locked.text()
    assert SESSION_COOKIE not in locked.cookies


async def test_posts_from_another_site_are_refused(client, seed, acme, router_id):
    await seed.user(acme, "owner1", "owner")
    evil = {"Origin": "https://evil.example"}
    login = await client.post(
        "/dashboard/login",
        data={"username": "owner1", "password": PASSWORD},
        headers=evil,
        allow_redirects=False,
    )
    assert login.status == 403 and SESSION_COOKIE not in login.cookies
    assert (await sign_in(client, "owner1")).status == 303
    # Signed in, a forged form or button from another origin (or with no origin) does nothing.
    plan = await client.post(
        "/dashboard/plans",
        data={"name": "Forged", "price": "10", "duration_value": "1", "duration_unit": "hours",
              "speed": "1M/1M", "connection_type": "hotspot"},
        headers=evil,
        allow_redirects=False,
    )  # fmt: skip
    assert plan.status == 403
    assert "Cross-site request refused" in await plan.text()
    kick = await client.post(
        f"/dashboard/api/routers/{router_id}/disconnect",
        json={"username": "+255712345678"},
        headers={"Referer": "https://evil.example/page"},
    )
    assert kick.status == 403
    assert (await kick.json())["error"].startswith("Cross-site request refused")
    bare = await client.post(f"/dashboard/api/routers/{router_id}/disconnect-expired")
    assert bare.status == 403
    assert [p.name for p in await seed_plans(seed, acme)] == []


async def seed_plans(seed: Seeder, acme: SeededTenant):
    from hub.services.plans import PlanService

    return await PlanService(seed.pool).list(acme.tenant)


async def test_signed_out_pages_redirect_and_streams_and_buttons_answer_401(client, router_id):
    for path in ("/dashboard/", "/dashboard/sites", f"/dashboard/routers/{router_id}/users",
                 "/dashboard/plans", "/dashboard/transactions?status=pending"):  # fmt: skip
        answer = await client.get(path, allow_redirects=False)
        assert answer.status == 303, path
        location = URL(answer.headers["Location"])
        assert (location.path, location.query["next"]) == ("/dashboard/login", path)
    for path in ("/dashboard/live/sites", f"/dashboard/live/routers/{router_id}/users"):
        answer = await client.get(path)
        assert answer.status == 401, path
        assert (await answer.json())["success"] is False
    button = await client.post(
        f"/dashboard/api/routers/{router_id}/disconnect",
        json={"username": "+255712345678"},
        headers=origin(client),
    )
    assert button.status == 401
    forged = await client.get(
        "/dashboard/sites", headers={"Cookie": f"{SESSION_COOKIE}=not.a.token"},
        allow_redirects=False,
    )  # fmt: skip
    assert forged.status == 303


async def test_a_viewer_reads_but_cannot_disconnect_or_change_plans(client, seed, acme, router_id):
    await signed_in_client(client, seed, acme, "viewer")
    page = await client.get(f"/dashboard/routers/{router_id}/users")
    assert page.status == 200
    text = await page.text()
    assert "+255712345678" in text and "data-disconnect=" not in text  # no buttons shown
    kick = await client.post(
        f"/dashboard/api/routers/{router_id}/disconnect",
        json={"username": "+255712345678"},
        headers=origin(client),
    )
    assert kick.status == 403
    assert (await kick.json())["error"] == "This needs the operator role or above"
    expired = await client.post(
        f"/dashboard/api/routers/{router_id}/disconnect-expired", headers=origin(client)
    )
    assert expired.status == 403
    plan = await client.post(
        "/dashboard/plans", data={"name": "X"}, headers=origin(client), allow_redirects=False
    )
    assert plan.status == 403
    assert "This needs the operator role or above" in await plan.text()


async def test_another_tenants_router_is_not_found(client, seed, acme, router_id):
    other = await seed.tenant("globex")
    theirs = await seed.router(other, "Globex Router", site="globex-hq", host="10.60.0.2")
    await signed_in_client(client, seed, acme, "operator")
    page = await client.get(f"/dashboard/routers/{theirs}/users")
    assert page.status == 404
    assert "Router not found or access denied" in await page.text()
    assert (await client.get(f"/dashboard/live/routers/{theirs}/users")).status == 404
    kick = await client.post(
        f"/dashboard/api/routers/{theirs}/disconnect",
        json={"username": "x"},
        headers=origin(client),
    )
    assert kick.status == 404
    assert (await client.get(f"/dashboard/usage?router_id={theirs}")).status == 404
    # The site cards show only the tenant's own routers.
    sites = await (await client.get("/dashboard/sites")).text()
    assert "Main Office Router" in sites and "Globex Router" not in sites


@pytest.mark.parametrize("language", LANGUAGES)
async def test_every_page_renders_in_every_language(client, seed, acme, router_id, language):
    await seed.plan(acme, "1 Hour Plan")
    offline = await seed.router(acme, "Branch Router", site="branch", host="10.50.0.3",
                                online=False, agent_connected=False)  # fmt: skip
    await signed_in_client(client, seed, acme, "owner")
    client.session.cookie_jar.update_cookies({"lang": language})
    t = translator(language)
    pages = {
        "/dashboard/": t("dashboard.revenue_today"),
        "/dashboard/sites": t("dashboard.state_online"),
        f"/dashboard/routers/{router_id}/users": t("dashboard.disconnect_expired"),
        f"/dashboard/routers/{offline}/users": t("dashboard.unreachable"),
        "/dashboard/customers": t("dashboard.status_active"),
        "/dashboard/plans": "1 Hour Plan",
        "/dashboard/transactions": t("dashboard.filter"),
        "/dashboard/vouchers": t("dashboard.generate"),
        "/dashboard/usage": t("dashboard.traffic_per_day"),
        "/dashboard/login": t("dashboard.sign_in"),
    }
    for path, words in pages.items():
        answer = await client.get(path)
        assert answer.status == 200, (path, await answer.text())
        assert answer.content_type == "text/html"
        assert "default-src 'self'" in answer.headers["Content-Security-Policy"]
        text = await answer.text()
        assert f'<html lang="{language}">' in text, path
        assert words in text, (path, words)
        assert " style=" not in text and "<script>" not in text, path  # CSP: no inline
    sites = await (await client.get("/dashboard/sites")).text()
    summary = t("dashboard.fleet_summary", sites=2, online=1, offline=1, users=2)
    assert summary in sites
    assert 'data-state="agent-offline"' in sites


async def test_active_users_show_human_units_and_highlight_the_expired(
    client, seed, acme, router_id
):
    await signed_in_client(client, seed, acme, "operator")
    text = await (await client.get(f"/dashboard/routers/{router_id}/users")).text()
    rows = dict(re.findall(r'<tr class="(\w+)" data-session="(\*\d)"', text)[::-1])
    assert {v: k for k, v in rows.items()} == {"*1": "active", "*2": "expired"}
    assert "50.00 MB" in text  # the user's download: what the router sent (bytes_out)
    assert "100.00 MB" in text  # the upload
    assert "1h30m15s" in text  # uptime 5415 s
    assert re.search(r"<td>1:59:\d\d</td>", text)  # time left of the 2-hour access
    assert 'data-disconnect-expired="/dashboard/api/routers/' in text


async def test_the_overview_sums_revenue_and_draws_the_days(client, seed, acme, router_id):
    plan = await seed.plan(acme, "1 Hour Plan", price=50)
    offline = await seed.router(acme, "Branch Router", site="branch", host="10.50.0.3",
                                online=False, agent_connected=False)  # fmt: skip
    from hub.typedefs import SERVICES

    payments = client.app[SERVICES].payments
    for phone in ("+255712345678", "+255712345679"):
        await payments.record_cash(acme.tenant, plan_id=plan.id, phone_or_username=phone,
                                   router_id=offline, mac_address=None, actor="test")  # fmt: skip
    await signed_in_client(client, seed, acme, "viewer")
    text = await (await client.get("/dashboard/")).text()
    assert 'data-testid="revenue-today">KES 100.00<' in text
    assert text.count("<rect ") == 30  # one bar a day
    assert "Branch Router" in text and "1 Hour Plan" in text


async def test_router_usage_comes_from_session_history(client, seed, acme, router_id, pool):
    await pool.execute(
        "INSERT INTO session_history (router_id, session_id, kind, username, uptime_seconds,"
        " bytes_in, bytes_out, ended_at) VALUES ($1, '*9', 'hotspot', 'u', 60, $2, $3, $4)",
        router_id, 1024 * 1024, 3 * 1024 * 1024, utcnow() - timedelta(minutes=5),
    )  # fmt: skip
    await signed_in_client(client, seed, acme, "viewer")
    text = await (await client.get(f"/dashboard/usage?router_id={router_id}&days=7")).text()
    assert text.count("<rect ") == 7
    assert "<td>1</td><td>3.00 MB</td><td>1.00 MB</td>" in text


async def test_plans_are_created_and_deleted_by_form(client, seed, acme):
    await signed_in_client(client, seed, acme, "admin")
    form = {"name": "Day Pass", "price": "100", "duration_value": "1", "duration_unit": "days",
            "speed": "5M/2M", "connection_type": "hotspot", "on_expiry": "cut"}  # fmt: skip
    made = await client.post("/dashboard/plans", data=form, headers=origin(client),
                             allow_redirects=False)  # fmt: skip
    assert made.status == 303 and made.headers["Location"] == "/dashboard/plans"
    (plan,) = await seed_plans(seed, acme)
    assert (plan.name, plan.price, plan.duration_unit) == ("Day Pass", 100, "days")
    gone = await client.post(f"/dashboard/plans/{plan.id}/delete", headers=origin(client),
                             allow_redirects=False)  # fmt: skip
    assert gone.status == 303
    assert await seed_plans(seed, acme) == []


async def test_vouchers_are_generated_and_their_sheet_printed(client, seed, acme):
    plan = await seed.plan(acme, "1 Hour Plan")
    await signed_in_client(client, seed, acme, "operator")
    made = await client.post("/dashboard/vouchers", data={"plan_id": str(plan.id), "count": "3"},
                             headers=origin(client), allow_redirects=False)  # fmt: skip
    assert made.status == 303, await made.text()
    text = await (await client.get("/dashboard/vouchers")).text()
    (batch_id,) = re.findall(r'data-batch="(\d+)"', text)
    sheet = await client.get(f"/dashboard/vouchers/{batch_id}/sheet.html")
    assert sheet.status == 200 and sheet.headers["Cache-Control"] == "no-store"
    pdf = await client.get(f"/dashboard/vouchers/{batch_id}/sheet.pdf")
    assert pdf.status == 200 and (await pdf.read()).startswith(b"%PDF")


async def test_bad_input_gets_a_4xx_naming_the_field(client, seed, acme, router_id):
    await signed_in_client(client, seed, acme, "owner")
    bad = {
        "/dashboard/transactions?status=stolen": "status must be completed, pending",
        "/dashboard/transactions?start_date=yesterday": "start_date must be a date",
        "/dashboard/transactions?start_date=2026-02-02&end_date=2026-01-01": "start_date must",
        "/dashboard/customers?offset=-1": "offset must be between 0 and 1000000",
        "/dashboard/usage?days=0": "days must be between 1 and 366",
        "/dashboard/usage?router_id=abc": "router_id must be an integer",
    }
    for path, message in bad.items():
        answer = await client.get(path)
        assert answer.status == 400, path
        assert message in await answer.text(), path
    plan = await client.post("/dashboard/plans", data={"name": "x" * 101, "price": "1"},
                             headers=origin(client))  # fmt: skip
    assert plan.status == 400
    assert "name must be at most 100 characters" in await plan.text()
    price = await client.post("/dashboard/plans", data={"name": "Cheap", "price": "free"},
                              headers=origin(client))  # fmt: skip
    assert price.status == 400 and "price must be a positive integer" in await price.text()
    json_plan = await client.post("/dashboard/plans", json={"name": "x"}, headers=origin(client))
    assert json_plan.status == 415
    kick = await client.post(f"/dashboard/api/routers/{router_id}/disconnect",
                             json={"username": 5}, headers=origin(client))  # fmt: skip
    assert kick.status == 400 and (await kick.json())["error"] == "username is required"
    lang = await client.post("/dashboard/language", data={"lang": "xx"}, headers=origin(client))
    assert lang.status == 400
    login = await client.post("/dashboard/login", data={"username": "owner1"},
                              headers=origin(client))  # fmt: skip
    assert login.status == 400 and "username and password are required" in await login.text()
    assert await seed_plans(seed, acme) == []


async def test_the_language_switcher_sets_the_lang_cookie(client, seed, acme):
    await signed_in_client(client, seed, acme, "viewer")
    form = {"lang": "sw", "next": "/dashboard/plans"}
    answer = await client.post("/dashboard/language", data=form, headers=origin(client),
                               allow_redirects=False)  # fmt: skip
    assert answer.status == 303 and answer.headers["Location"] == "/dashboard/plans"
    assert answer.cookies["lang"].value == "sw"
    text = await (await client.get("/dashboard/plans")).text()
    assert '<html lang="sw">' in text
    assert f'aria-current="page">{translator("sw")("dashboard.plans")}<' in text
    # ``next`` never leads off the dashboard.
    away = await client.post("/dashboard/language", data={"lang": "en", "next": "//evil.example/"},
                             headers=origin(client), allow_redirects=False)  # fmt: skip
    assert away.headers["Location"] == "/dashboard/"
