"""TenantService input rules and conflicts, against a real database."""

from __future__ import annotations

import pytest

from hub.config import HubConfig
from hub.database import open_database
from hub.errors import Conflict, InvalidInput, NotFound
from hub.services.tenants import TenantService


@pytest.fixture
async def tenants(pg_dsn):
    config = HubConfig(database_url=pg_dsn)
    async with open_database(config, max_size=2) as pool:
        yield TenantService(pool, config)


async def test_tenant_rules(tenants):
    for slug in ("a", "Acme", "acme\n", "-acme", "ac me", "x" * 64):
        with pytest.raises(InvalidInput, match="invalid slug"):
            await tenants.create_tenant(slug, "Acme")
    with pytest.raises(InvalidInput, match="name is required"):
        await tenants.create_tenant("acme", "  ")
    tenant = await tenants.create_tenant("acme", " Acme WiFi ", "ug")
    assert (tenant.name, tenant.default_country) == ("Acme WiFi", "UG")
    with pytest.raises(Conflict, match="already exists"):
        await tenants.create_tenant("acme", "Again")
    with pytest.raises(NotFound, match="no tenant with slug 'nope'"):
        await tenants.tenant("nope")


async def test_routers_and_customers(tenants):
    await tenants.create_tenant("acme", "Acme")
    first = await tenants.add_router("acme", site="hq", name="r1", host="192.168.88.1")
    second = await tenants.add_router("acme", site="hq", name="r2", host="192.168.88.2", port=8729)
    assert second > first
    with pytest.raises(Conflict, match="already has a router named 'r1'"):
        await tenants.add_router("acme", site="hq", name="r1", host="192.168.88.3")
    for kwargs, message in (
        ({"site": "h q"}, "invalid site"),
        ({"host": "bad host"}, "invalid host"),
        ({"port": 0}, "invalid port"),
        ({"name": ""}, "router name is required"),
    ):
        args = {"site": "hq", "name": "r9", "host": "10.0.0.1", "port": 8728, **kwargs}
        with pytest.raises(InvalidInput, match=message):
            await tenants.add_router("acme", **args)

    customer = await tenants.add_customer("acme", "0712-345-678", "Asha")
    assert customer.username == "+255712345678" and customer.full_name == "Asha"
    voucher = await tenants.add_customer("acme", " voucher-77 ")
    assert voucher.username == "voucher-77"
    with pytest.raises(Conflict):
        await tenants.add_customer("acme", "+255 712 345 678")
    with pytest.raises(InvalidInput, match="NUL"):
        await tenants.add_customer("acme", "bad\x00name")
