"""Voucher batches on the billing face: codes, bounds, tenant scope, sheets, expiry, agent sync.

The real hub (create_app) on a fresh Postgres per test; the sheets are parsed as text only.
"""

from __future__ import annotations

import base64
import re
import zlib
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

import pytest

from common.timeutil import parse_iso, utcnow
from hub.domain import Plan
from hub.services import vouchers as voucher_service
from hub.services.auth import AuthService
from hub.services.vouchers import DEFAULT_ALPHABET
from hub.storage.vouchers import VoucherRepository
from hub.typedefs import SERVICES
from hub.web.voucher_sheets import qr_code, qr_data
from tests.hub.conftest import SeededTenant, Seeder

BATCHES = "/api/vouchers/batches"
PDF_PAGE = re.compile(rb"/Type\s*/Page(?![a-zA-Z])")  # a page object, not the /Pages tree


@dataclass
class Billing:
    """Two tenants with API keys; the first has a hotspot and a PPPoE plan."""

    seed: Seeder
    owner: SeededTenant
    plan: Plan
    pppoe_plan: Plan
    other: SeededTenant
    other_plan: Plan

    async def user(self, role: str) -> dict[str, str]:
        """The headers of a new dashboard user of the owner with that role."""
        return (await self.seed.user(self.owner, f"{role}.user", role)).headers


@pytest.fixture
async def billing(seed: Seeder) -> Billing:
    owner = await seed.tenant("acme", "Acme Wifi")
    other = await seed.tenant("rival")
    return Billing(
        seed=seed,
        owner=owner,
        plan=await seed.plan(owner),
        pppoe_plan=await seed.plan(owner, "PPPoE month", connection_type="pppoe"),
        other=other,
        other_plan=await seed.plan(other, "Rival hour"),
    )


async def _batch(client, owner, plan_id: int, status: int = 201, **fields):
    resp = await client.post(BATCHES, json={"plan_id": plan_id, **fields}, headers=owner.headers)
    body = await resp.json()
    assert resp.status == status, body
    return body


async def _batch_count(client, owner) -> int:
    resp = await client.get(BATCHES, headers=owner.headers)
    assert resp.status == 200
    return (await resp.json())["total"]


async def test_codes_are_unique_and_follow_alphabet_length_and_prefix(client, billing):
    owner, plan = billing.owner, billing.plan
    body = await _batch(
        client, owner, plan.id, count=200, code_length=6, alphabet="ABCDEF2345", prefix="WF"
    )
    codes = body["vouchers"]
    assert len(codes) == len(set(codes)) == 200
    assert all(re.fullmatch(r"WF[ABCDEF2345]{6}", code) for code in codes)
    batch = body["batch"]
    assert batch["count"] == 200 and batch["prefix"] == "WF" and batch["code_length"] == 6
    assert batch["price"] == int(plan.price)  # the plan's, shown whole as the seed shows prices
    assert batch["counts"] == {"unused": 200, "active": 0, "expired": 0, "redeemed": 0}
    assert batch["sales"] == 0.0
    days = parse_iso(batch["valid_until"]) - parse_iso(batch["created_at"])
    assert timedelta(days=29, hours=23) < days <= timedelta(days=30, minutes=1)  # default 30

    default = await _batch(client, owner, plan.id, count=20)
    assert all(re.fullmatch(f"[{DEFAULT_ALPHABET}]{{8}}", code) for code in default["vouchers"])
    assert not set(default["vouchers"]) & set(codes)

    resp = await client.get(
        "/api/vouchers", params={"batch_id": batch["id"], "limit": 500}, headers=owner.headers
    )
    listed = await resp.json()
    assert resp.status == 200 and listed["total"] == 200
    assert [v["code"] for v in listed["vouchers"]] == codes  # stored, in the order made
    assert {v["status"] for v in listed["vouchers"]} == {"unused"}


async def test_price_and_validity_given(client, billing):
    body = await _batch(
        client, billing.owner, billing.plan.id, count=3, price="49.50", valid_days=1
    )
    batch = body["batch"]
    assert batch["price"] == 49.5
    validity = parse_iso(batch["valid_until"]) - parse_iso(batch["created_at"])
    assert timedelta(hours=23) < validity < timedelta(days=1, minutes=1)


async def test_redrawn_when_a_code_is_taken(client, billing, monkeypatch):
    """A code the tenant already has is redrawn (INSERT ... ON CONFLICT DO NOTHING)."""
    first = await _batch(client, billing.owner, billing.plan.id, count=2)
    taken = first["vouchers"][0]
    draws = iter([[taken, "NEWCODE1"], ["NEWCODE2"]])
    monkeypatch.setattr(voucher_service, "draw_codes", lambda *args: next(draws))
    second = await _batch(client, billing.owner, billing.plan.id, count=2)
    assert second["vouchers"] == ["NEWCODE1", "NEWCODE2"]


async def test_exhausted_space_is_refused_and_writes_nothing(client, billing, monkeypatch):
    first = await _batch(client, billing.owner, billing.plan.id, count=1)
    taken = first["vouchers"][0]
    monkeypatch.setattr(voucher_service, "draw_codes", lambda *args: [taken])
    body = await _batch(client, billing.owner, billing.plan.id, status=409, count=1)
    assert "codes" in str(body)
    assert await _batch_count(client, billing.owner) == 1


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"count": 0}, "count must be between 1 and 5000"),
        ({"count": 5001}, "count must be between 1 and 5000"),
        ({"count": "ten"}, "count must be an integer"),
        ({"count": None}, "count is required"),
        ({"count": 5, "code_length": 3}, "code_length must be between 4 and 32"),
        ({"count": 5, "code_length": 33}, "code_length must be between 4 and 32"),
        ({"count": 5, "alphabet": "ABCDEFGHI"}, "alphabet must have 10 to 64 characters"),
        ({"count": 5, "alphabet": "AABCDEFGHIJ"}, "alphabet must not repeat a character"),
        ({"count": 5, "alphabet": "ABCDEFGHI-"}, "alphabet must be letters and digits"),
        ({"count": 5, "alphabet": "A" * 65}, "alphabet must have 10 to 64 characters"),
        ({"count": 5, "prefix": "TOOLONGXX"}, "prefix must be at most 8"),
        ({"count": 5, "prefix": "W-F"}, "prefix must be at most 8"),
        ({"count": 5, "price": 0}, "price must be more than 0"),
        ({"count": 5, "price": -5}, "price must be more than 0"),
        ({"count": 5, "price": "1.234"}, "price must have at most two decimals"),
        ({"count": 5, "price": "lots"}, "price must be a number"),
        ({"count": 5, "price": True}, "price must be a number"),
        ({"count": 5, "valid_days": 0}, "valid_days must be between 1 and 366"),
        ({"count": 5, "valid_days": 367}, "valid_days must be between 1 and 366"),
        ({"count": 5, "hotspot_login_url": "ftp://hotspot.lan/login"}, "hotspot_login_url"),
        ({"count": 5, "hotspot_login_url": "http://h/login?x=1"}, "hotspot_login_url"),
        # 31 ** 4 = 923,521 codes cannot hold 5000 with a 1000x margin
        ({"count": 5000, "code_length": 4}, "cannot safely hold 5000 vouchers"),
        ({"count": 11, "code_length": 4, "alphabet": "0123456789"}, "cannot safely hold"),
    ],
)
async def test_bad_input_is_400_and_writes_nothing(client, billing, fields, message):
    body = await _batch(client, billing.owner, billing.plan.id, status=400, **fields)
    assert message in str(body)
    assert await _batch_count(client, billing.owner) == 0


async def test_plan_id_required_and_pppoe_plan_refused(client, billing):
    resp = await client.post(BATCHES, json={"count": 5}, headers=billing.owner.headers)
    assert resp.status == 400 and "plan_id is required" in await resp.text()
    body = await _batch(client, billing.owner, billing.pppoe_plan.id, status=400, count=5)
    assert "hotspot plan" in str(body)


async def test_another_tenants_batch_plan_and_router_are_not_found(client, billing, seed):
    body = await _batch(client, billing.owner, billing.plan.id, count=3)
    batch_id = body["batch"]["id"]
    other = billing.other
    for path in (
        f"{BATCHES}/{batch_id}",
        f"{BATCHES}/{batch_id}/sheet.html",
        f"{BATCHES}/{batch_id}/sheet.pdf",
        f"/api/vouchers?batch_id={batch_id}",
    ):
        resp = await client.get(path, headers=other.headers)
        assert resp.status == 404, path
    resp = await client.get("/api/vouchers", headers=other.headers)
    assert (await resp.json())["total"] == 0
    resp = await client.get(BATCHES, headers=other.headers)
    assert (await resp.json())["batches"] == []
    # the other tenant cannot make vouchers of this tenant's plan, or for its router
    await _batch(client, other, billing.plan.id, status=404, count=3)
    router_id = await seed.router(billing.owner)
    await _batch(client, other, billing.other_plan.id, status=404, count=3, router_id=router_id)
    assert await _batch_count(client, other) == 0
    # for its own router it may
    body = await _batch(client, billing.owner, billing.plan.id, count=1, router_id=router_id)
    assert body["batch"]["router_id"] == router_id


async def test_billing_paths_need_credentials(client, billing):
    body = await _batch(client, billing.owner, billing.plan.id, count=1)
    for path in (BATCHES, f"{BATCHES}/{body['batch']['id']}/sheet.pdf", "/api/vouchers"):
        resp = await client.get(path)
        assert resp.status == 401, path
    resp = await client.post(BATCHES, json={"plan_id": billing.plan.id, "count": 1})
    assert resp.status == 401


async def test_viewer_reads_operator_creates(client, billing):
    viewer = await billing.user("viewer")
    resp = await client.post(BATCHES, json={"plan_id": billing.plan.id, "count": 1}, headers=viewer)
    assert resp.status == 403
    operator = await billing.user("operator")
    resp = await client.post(
        BATCHES, json={"plan_id": billing.plan.id, "count": 1}, headers=operator
    )
    assert resp.status == 201
    resp = await client.get(BATCHES, headers=viewer)
    assert resp.status == 200 and (await resp.json())["total"] == 1


async def test_sheet_html_has_every_code_and_an_svg_qr_each(client, billing):
    body = await _batch(
        client,
        billing.owner,
        billing.plan.id,
        count=30,
        hotspot_login_url="http://hotspot.lan/login",
    )
    resp = await client.get(
        f"{BATCHES}/{body['batch']['id']}/sheet.html", headers=billing.owner.headers
    )
    assert resp.status == 200 and resp.content_type == "text/html"
    assert resp.headers["Cache-Control"] == "no-store"
    page = await resp.text()
    for code in body["vouchers"]:
        assert f">{code}<" in page
    assert page.count("<svg") == 30
    assert page.count('class="page"') == 2  # 24 cards a page
    assert billing.owner.tenant.name in page and billing.plan.name in page
    assert "KES" in page


async def test_sheet_pdf_has_a_page_per_24_vouchers(client, billing):
    for count, pages in ((1, 1), (24, 1), (25, 2), (49, 3)):
        body = await _batch(client, billing.owner, billing.plan.id, count=count)
        resp = await client.get(
            f"{BATCHES}/{body['batch']['id']}/sheet.pdf", headers=billing.owner.headers
        )
        assert resp.status == 200 and resp.content_type == "application/pdf"
        pdf = await resp.read()
        assert pdf.startswith(b"%PDF")
        assert len(PDF_PAGE.findall(pdf)) == pages, count


async def test_batch_details_and_listing(client, billing, pool):
    body = await _batch(client, billing.owner, billing.plan.id, count=4, price=50)
    batch_id = body["batch"]["id"]
    code = body["vouchers"][0]
    # What the redemption ingest (agent side, hub/storage/redemptions.py) writes at first login.
    await pool.execute(
        "UPDATE vouchers SET status = 'active', redeemed_at = now(),"
        " expires_at = now() + interval '1 hour' WHERE code = $1",
        code,
    )
    resp = await client.get(f"{BATCHES}/{batch_id}", headers=billing.owner.headers)
    details = await resp.json()
    assert details["counts"] == {"unused": 3, "active": 1, "expired": 0, "redeemed": 1}
    assert details["sales"] == 50.0 and details["currency"] == "KES"
    resp = await client.get(
        "/api/vouchers", params={"status": "active"}, headers=billing.owner.headers
    )
    listed = await resp.json()
    assert [v["code"] for v in listed["vouchers"]] == [code]
    assert listed["vouchers"][0]["redeemed_at"] is not None
    resp = await client.get(
        "/api/vouchers", params={"status": "sold"}, headers=billing.owner.headers
    )
    assert resp.status == 400
    resp = await client.get(BATCHES, params={"limit": 0}, headers=billing.owner.headers)
    assert resp.status == 400


async def test_unused_vouchers_expire_past_valid_until(client, billing, pool):
    body = await _batch(client, billing.owner, billing.plan.id, count=3, valid_days=1)
    batch_id, code = body["batch"]["id"], body["vouchers"][0]
    await pool.execute(
        "UPDATE vouchers SET status = 'active', redeemed_at = now(),"
        " expires_at = now() + interval '3 days' WHERE code = $1",
        code,
    )
    repo = VoucherRepository(pool)
    tenant_id = billing.owner.tenant.id
    now = utcnow()
    assert (await repo.get_batch(batch_id, tenant_id, now)).counts.unused == 2
    later = now + timedelta(days=1, seconds=1)
    summary = await repo.get_batch(batch_id, tenant_id, later)
    assert (summary.counts.unused, summary.counts.active, summary.counts.expired) == (0, 1, 2)
    expired, total = await repo.vouchers(tenant_id, later, batch_id=batch_id, status="expired")
    assert total == 2 and code not in {v.code for v in expired}
    # a used one expires when its time is up
    summary = await repo.get_batch(batch_id, tenant_id, now + timedelta(days=3, seconds=1))
    assert summary.counts.expired == 3 and summary.counts.redeemed == 1
    assert summary.sales == summary.batch.price


async def test_changed_since_returns_a_new_batch_after_its_version(client, billing, seed, pool):
    repo = VoucherRepository(pool)
    tenant_id = billing.owner.tenant.id
    router_a = await seed.router(billing.owner, "A", site="a", host="10.0.0.1")
    router_b = await seed.router(billing.owner, "B", site="b", host="10.0.0.2")
    assert await repo.current_version(tenant_id, [router_a]) == 0
    everywhere = await _batch(client, billing.owner, billing.plan.id, count=5)
    held = await repo.current_version(tenant_id, [router_a])
    assert held > 0
    synced = await repo.changed_since(tenant_id, [router_a], 0)
    assert {v.code for v in synced} == set(everywhere["vouchers"])
    assert await repo.changed_since(tenant_id, [router_a], held) == []

    only_b = await _batch(client, billing.owner, billing.plan.id, count=3, router_id=router_b)
    assert await repo.changed_since(tenant_id, [router_a], held) == []  # not A's
    assert await repo.current_version(tenant_id, [router_a]) == held
    new = await repo.changed_since(tenant_id, [router_b], held)
    assert {v.code for v in new} == set(only_b["vouchers"])
    item = new[0]
    assert item.router_id == router_b and item.status == "unused"
    assert item.duration_seconds == int(billing.plan.duration.total_seconds())
    assert item.rate_limit == billing.plan.rate_limit and item.on_expiry == billing.plan.on_expiry
    assert item.valid_until == parse_iso(only_b["batch"]["valid_until"])
    assert item.version > held

    # a redemption is a change too: the agents of the scope hear of it
    top = await repo.current_version(tenant_id, [router_a, router_b])
    await pool.execute(
        "UPDATE vouchers SET status = 'active', redeemed_at = now() WHERE code = $1",
        everywhere["vouchers"][0],
    )
    changed = await repo.changed_since(tenant_id, [router_a], top)
    assert [(v.code, v.status) for v in changed] == [(everywhere["vouchers"][0], "active")]


async def test_price_is_exact(client, billing, pool):
    body = await _batch(client, billing.owner, billing.plan.id, count=3, price="33.33")
    summary = await VoucherRepository(pool).get_batch(
        body["batch"]["id"], billing.owner.tenant.id, utcnow()
    )
    assert summary.batch.price == Decimal("33.33")


async def test_creation_is_audited_without_the_codes(client, billing, pool):
    body = await _batch(client, billing.owner, billing.plan.id, count=5)
    await _batch(client, billing.owner, billing.plan.id, status=400, count=0)
    rows = await pool.fetch(
        "SELECT result, tenant_id, target, params::text, details::text FROM audit_log"
        " WHERE action = 'create_voucher_batch' ORDER BY id"
    )
    assert [row["result"] for row in rows] == ["ok", "invalid"]
    assert rows[0]["tenant_id"] == billing.owner.tenant.id
    assert rows[0]["target"] == f"batch:{body['batch']['id']}"
    logged = " ".join(str(value) for row in rows for value in row.values())
    assert not any(code in logged for code in body["vouchers"])  # codes are passwords


async def test_platform_admin_names_the_tenant(client, billing, seed, pool):
    body = await _batch(client, billing.owner, billing.plan.id, count=2)
    auth = AuthService(pool, seed.config)
    await auth.create_admin("root@example.com", "correct horse battery")
    token = (await auth.login("root@example.com", "correct horse battery")).access_token
    admin = {"Authorization": f"Bearer {token}"}
    path = f"{BATCHES}/{body['batch']['id']}"
    resp = await client.get(path, headers=admin)
    assert resp.status == 400  # which tenant?
    resp = await client.get(path, params={"user_id": billing.owner.tenant.id}, headers=admin)
    assert resp.status == 200
    resp = await client.get(path, params={"user_id": billing.other.tenant.id}, headers=admin)
    assert resp.status == 404
    # a tenant's user_id never widens its scope
    resp = await client.get(
        path, params={"user_id": billing.owner.tenant.id}, headers=billing.other.headers
    )
    assert resp.status == 404


def _pdf_content(pdf: bytes) -> str:
    """The first page's drawing operators (reportlab: ASCII85 over Flate)."""
    match = re.search(rb"/ASCII85Decode /FlateDecode \].*?stream\r?\n(.*?)endstream", pdf, re.S)
    assert match is not None
    raw = match[1].strip().removesuffix(b"~>")
    return zlib.decompress(base64.a85decode(raw)).decode("latin-1")


async def test_pdf_qr_draws_the_login_url_of_the_first_code(client, billing):
    body = await _batch(
        client, billing.owner, billing.plan.id, count=2, hotspot_login_url="http://hs.lan/login"
    )
    code = body["vouchers"][0]
    batch_id = body["batch"]["id"]
    resp = await client.get(f"{BATCHES}/{batch_id}/sheet.pdf", headers=billing.owner.headers)
    content = _pdf_content(await resp.read())
    block = content.split(" cm\n", 1)[1].split("\nf", 1)[0]  # the first card's QR modules
    drawn = set()
    for line in block.splitlines():
        x, y, width, _, op = line.split()
        assert op == "re"
        drawn.update((int(x) + dx, int(y)) for dx in range(int(width)))
    summary = await client.app[SERVICES].vouchers.batch(billing.owner.tenant, batch_id)
    data = qr_data(summary.batch, code)
    assert data == f"http://hs.lan/login?username={code}&password={code}"
    matrix = qr_code(data).matrix
    side = len(matrix) + 2  # a quiet module each side
    expected = {
        (column + 1, side - row - 2)
        for row, bits in enumerate(matrix)
        for column, bit in enumerate(bits)
        if bit
    }
    assert drawn == expected
