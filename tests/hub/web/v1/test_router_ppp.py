"""/v1/internal/ppp (seed 004 section 6) through the real hub, agent and routersim: secrets and
profiles round trip onto the router, the router's traps come back as its own words, passwords
never leave the hub, and the PPP session lists follow a PPPoE client of the router."""

from __future__ import annotations

import json

from tests.e2e.conftest import router_rows, wait_for

from .conftest import OFFLINE, Site

SECRET = {
    "name": "customer_user",
    "password": "secretpassword",
    "profile": "default",
    "service": "pppoe",
    "local_address": "10.0.0.1",
    "remote_address": "10.0.0.2",
    "comment": "John Doe",
}
PROFILE = {
    "name": "Plan-10M",
    "local_address": "10.0.0.1",
    "remote_address": "10.0.0.2",
    "rate_limit": "10M/10M",
    "only_one": "yes",
}


async def rows_by_name(site: Site, menu: str) -> dict[str, dict]:
    return {row["name"]: row for row in await router_rows(site.sim, menu)}


async def test_a_secret_round_trip_reaches_the_router_and_never_shows_its_password(site: Site):
    created = await site.data("POST", "/v1/internal/ppp/secret", SECRET, status=201)
    assert created["id"].startswith("*")
    assert {k: created[k] for k in ("name", "service", "local_address", "remote_address")} == {
        "name": "customer_user",
        "service": "pppoe",
        "local_address": "10.0.0.1",
        "remote_address": "10.0.0.2",
    }
    assert created["disabled"] is False and "password" not in created
    on_router = (await rows_by_name(site, "/ppp/secret"))["customer_user"]
    assert on_router["password"] == "secretpassword" and on_router["comment"] == "John Doe"

    encoded = created["id"].replace("*", "%2A")  # the id in a path, URL-encoded
    by_id = await site.data("GET", f"/v1/internal/ppp/secret/{encoded}")
    by_name = await site.data("GET", "/v1/internal/ppp/secret/customer_user")
    assert by_id == by_name == created

    changed = await site.data(
        "PUT",
        f"/v1/internal/ppp/secret/{encoded}",
        {"password": "n3w-secret", "remote_address": "10.0.0.9", "disabled": True},
    )
    assert (changed["remote_address"], changed["disabled"]) == ("10.0.0.9", True)
    on_router = (await rows_by_name(site, "/ppp/secret"))["customer_user"]
    assert (on_router["password"], on_router["remote-address"]) == ("n3w-secret", "10.0.0.9")

    listed = await site.data("GET", "/v1/internal/ppp/secret/list")
    assert [s["name"] for s in listed] == ["customer_user"]
    removed = await site.data("DELETE", "/v1/internal/ppp/secret/customer_user")
    assert removed["id"] == created["id"]
    assert "customer_user" not in await rows_by_name(site, "/ppp/secret")
    status, body = await site.call("GET", f"/v1/internal/ppp/secret/{encoded}")
    assert status == 404 and body["success"] is False

    # No answer of any of these calls, nor any command the hub stored, carries a password.
    for text in (json.dumps([created, by_id, changed, listed, removed]),):
        assert "secretpassword" not in text and "n3w-secret" not in text
    results = await site.pool.fetch("SELECT result::text FROM commands WHERE result IS NOT NULL")
    assert results and not any("secretpassword" in r[0] or "n3w-secret" in r[0] for r in results)
    audit = await site.pool.fetch("SELECT params::text FROM audit_log WHERE action LIKE 'ppp_%'")
    assert len(audit) == 3 and not any("password" in r[0] for r in audit)


async def test_a_duplicate_secret_is_the_routers_409(site: Site):
    await site.data("POST", "/v1/internal/ppp/secret", SECRET, status=201)
    status, body = await site.call("POST", "/v1/internal/ppp/secret", SECRET)
    assert status == 409
    assert body["error"] == (
        "router Tower Router: failure: secret with the same name already exists"
    )
    status, body = await site.call(
        "POST", "/v1/internal/ppp/secret", {**SECRET, "name": "x", "profile": "no-such"}
    )
    assert status == 400 and "input does not match any value of profile" in body["error"]
    assert set(await rows_by_name(site, "/ppp/secret")) == {"customer_user"}


async def test_bad_input_is_a_400_naming_the_field_and_changes_nothing(site: Site):
    cases = [
        ({"password": "p"}, "name is required"),
        ({**SECRET, "name": "n" * 256}, "name must be at most 255 characters"),
        ({**SECRET, "service": "telnet"}, "service"),
        ({**SECRET, "limit_bytes_in": -1}, "limit_bytes_in"),
    ]
    for body, message in cases:
        status, answer = await site.call("POST", "/v1/internal/ppp/secret", body)
        assert status == 400 and message in answer["error"], (body, answer)
    status, answer = await site.call("GET", "/v1/internal/ppp/secret/%2Anot-hex")
    assert status == 400 and "RouterOS id" in answer["error"]
    assert await router_rows(site.sim, "/ppp/secret") == []


async def test_a_profile_round_trip(site: Site):
    created = await site.data("POST", "/v1/internal/ppp/profile", PROFILE, status=201)
    assert (created["rate_limit"], created["only_one"]) == ("10M/10M", "yes")
    on_router = (await rows_by_name(site, "/ppp/profile"))["Plan-10M"]
    assert on_router["rate-limit"] == "10M/10M" and on_router["local-address"] == "10.0.0.1"
    changed = await site.data("PUT", "/v1/internal/ppp/profile/Plan-10M", {"rate_limit": "20M/20M"})
    assert changed["rate_limit"] == "20M/20M" and changed["id"] == created["id"]
    assert (await rows_by_name(site, "/ppp/profile"))["Plan-10M"]["rate-limit"] == "20M/20M"
    names = [p["name"] for p in await site.data("GET", "/v1/internal/ppp/profile/list")]
    assert "Plan-10M" in names and "default" in names
    status, body = await site.call("POST", "/v1/internal/ppp/profile", PROFILE)
    assert status == 409 and body["error"].endswith("already have profile with such name")
    await site.data("DELETE", f"/v1/internal/ppp/profile/{created['id'].replace('*', '%2A')}")
    assert "Plan-10M" not in await rows_by_name(site, "/ppp/profile")


async def test_active_and_inactive_follow_a_pppoe_client(site: Site):
    for name in ("alice", "bob"):
        await site.data("POST", "/v1/internal/ppp/secret", {"name": name, "password": "pw"}, 201)
    session = site.sim.ppp_login("alice", caller_id="AA:BB:CC:DD:EE:0A")

    async def alice_active() -> list | None:
        rows = await site.data("GET", "/v1/internal/ppp/active/list")
        return rows if [r["name"] for r in rows] == ["alice"] else None

    (active,) = await wait_for(alice_active)
    assert active["id"] == session
    assert (active["service"], active["caller_id"], active["interface"]) == (
        "pppoe",
        "AA:BB:CC:DD:EE:0A",
        "<pppoe-alice>",
    )
    assert active["address"]
    encoded = session.replace("*", "%2A")
    assert await site.data("GET", f"/v1/internal/ppp/active/{encoded}") == active
    assert await site.data("GET", "/v1/internal/ppp/active/alice") == active
    inactive = await site.data("GET", "/v1/internal/ppp/inactive/list")
    assert [s["name"] for s in inactive] == ["bob"] and "password" not in inactive[0]
    viewer = await site.call("GET", "/v1/internal/ppp/active/list", headers=site.viewer)
    assert viewer[0] == 200
    status, _ = await site.call("POST", "/v1/internal/ppp/secret", {"name": "v"}, site.viewer)
    assert status == 403

    site.sim.logout(session)
    await wait_for(lambda: alice_gone(site))
    status, body = await site.call("GET", "/v1/internal/ppp/active/alice")
    assert status == 404 and "no active PPP session alice" in body["error"]


async def alice_gone(site: Site) -> bool:
    rows = await site.data("GET", "/v1/internal/ppp/inactive/list")
    return sorted(s["name"] for s in rows) == ["alice", "bob"]


async def test_an_offline_site_is_a_503_naming_the_router(site: Site):
    await site.stop_agent()
    for method, path, body in (
        ("GET", "/v1/internal/ppp/secret/list", None),
        ("POST", "/v1/internal/ppp/secret", SECRET),
        ("PUT", "/v1/internal/ppp/profile/default", {"rate_limit": "1M/1M"}),
        ("GET", "/v1/internal/ppp/inactive/list", None),
    ):
        status, answer = await site.call(method, path, body)
        assert (status, answer["error"]) == (503, OFFLINE), (method, path)
    # The agent's last report still answers the active list (from the hub, no router trip).
    assert await site.data("GET", "/v1/internal/ppp/active/list") == []
