"""The monitoring the project ships, run for real: the alert rules pass promtool's checks and
their unit tests, and a real Prometheus (Debian's) scraping a hub, a tenant and an agent with
deploy/prometheus/prometheus.example.yml's jobs finds every target up, the documented labels,
and every series the alerts and the Grafana dashboard query."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from aiohttp.test_utils import TestServer

from agent.app import create_app as create_agent_app
from agent.enroll import enroll
from hub.app import create_app
from hub.config import HubConfig
from hub.services.tenants import TenantService
from hub.typedefs import DB_POOL, SERVICES
from routersim import SimRouter
from tests.e2e.conftest import enrolled_agent_config, server_url, wait_for
from tests.helpers import ROOT, free_port

DEPLOY = ROOT / "deploy"
ALERTS = DEPLOY / "prometheus" / "alerts.yml"
DASHBOARD = DEPLOY / "grafana" / "ispfleet-fleet.json"
EXAMPLE = DEPLOY / "prometheus" / "prometheus.example.yml"
METRICS_TOKEN = "prometheus-test-token-0123456789"
SERIES = re.compile(r"\bispfleet_[a-z_]+")


def tool(name: str) -> str:
    exe = shutil.which(name)
    if exe is None:
        pytest.fail(f"{name} is missing: run `sh deploy/dev-packages.sh` as root (make install)")
    return exe


async def run(*argv: str, cwd: Path | None = None) -> str:
    process = await asyncio.create_subprocess_exec(
        *argv, cwd=cwd, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    out, _ = await process.communicate()
    assert process.returncode == 0, out.decode()
    return out.decode()


def dashboard_queries() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    return [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]


def alert_queries() -> list[str]:
    groups = yaml.safe_load(ALERTS.read_text())["groups"]
    return [rule["expr"] for group in groups for rule in group["rules"]]


def base_series(name: str) -> str:
    """The scraped name a query's series comes from (histograms: their _bucket/_count)."""
    return re.sub(r"_(bucket|count|sum)$", "", name)


async def test_alert_rules_pass_promtool_and_their_unit_tests():
    await run(tool("promtool"), "check", "rules", str(ALERTS))
    out = await run(tool("promtool"), "test", "rules", "alerts.test.yml", cwd=ALERTS.parent)
    assert "SUCCESS" in out


def test_the_dashboard_is_a_grafana_dashboard_of_this_project():
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] == "ispfleet-fleet" and dashboard["panels"]
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    assert all(SERIES.search(expr) for expr in dashboard_queries())
    variables = {v["name"] for v in dashboard["templating"]["list"]}
    assert {"datasource", "tenant"} <= variables


@pytest.fixture
async def monitored(hub_server, hub_config, tmp_path: Path, aiohttp_server) -> AsyncIterator[dict]:
    """A hub with a metrics token, a tenant with an API key and a router on routersim, its
    agent's /metrics on a loopback port; a portal disconnect run once so the command series
    exist."""
    pool, services = hub_server.app[DB_POOL], hub_server.app[SERVICES]
    await TenantService(pool, hub_config).create_tenant("acme", "Acme ISP")
    _, api_key = await services.auth.issue_api_key("acme")
    token = (await services.agents.create_agent("acme", "market")).token
    async with SimRouter(name="core", seed=5) as sim:
        sim.add_hotspot_user("alice", password="pw")
        sim.hotspot_login("alice", mac_address="AA:BB:CC:00:00:01")
        config_path = tmp_path / "agent" / "agent.toml"
        await enroll(server_url(hub_server), token, str(config_path))
        agent_server = await aiohttp_server(
            create_agent_app(enrolled_agent_config(config_path, [sim])), host="127.0.0.1"
        )
        headers = {"Authorization": f"Bearer {api_key}"}
        base = server_url(hub_server)
        async with aiohttp.ClientSession(headers=headers) as http:

            async def reported() -> int | None:
                router_id = await pool.fetchval("SELECT id FROM routers WHERE name = 'core'")
                if router_id is None:
                    return None
                url = f"{base}/api/portal/router/{router_id}/active-users/"
                async with http.get(url) as answer:
                    body = await answer.json()
                return router_id if answer.status == 200 and body["active_users"] else None

            router_id = await wait_for(reported)
            url = f"{base}/api/portal/router/{router_id}/disconnect-user/"
            async with http.post(url, json={"username": "alice"}) as answer:
                assert answer.status == 200, await answer.text()
            yield {
                "hub": f"127.0.0.1:{hub_server.port}",
                "agent": f"127.0.0.1:{agent_server.port}",
                "api_key": api_key,
            }


@pytest.fixture
def hub_config(pg_dsn: str, tmp_path: Path) -> HubConfig:
    """The e2e hub, with a metrics token and the fleet series refreshed every half second."""
    return HubConfig(
        database_url=pg_dsn,
        data_dir=str(tmp_path / "hub"),
        command_timeout=5.0,
        agent_heartbeat=0.5,
        agent_offline_after=3.0,
        metrics_refresh_interval=0.5,
        metrics_token=METRICS_TOKEN,
    )


@pytest.fixture
async def hub_server(hub_config: HubConfig, aiohttp_server: Any) -> TestServer:
    return await aiohttp_server(create_app(hub_config), host="127.0.0.1")


def prometheus_config(tmp_path: Path, targets: dict[str, str]) -> Path:
    """The example's jobs, pointed at this test's processes, scraping every second."""
    config = yaml.safe_load(EXAMPLE.read_text())
    config["global"] = {"scrape_interval": "1s", "evaluation_interval": "1s"}
    config["rule_files"] = [str(ALERTS)]
    secrets = {"ispfleet-hub": METRICS_TOKEN, "ispfleet-tenant-acme": targets["api_key"]}
    for job in config["scrape_configs"]:
        name = job["job_name"]
        target = targets["agent"] if name == "ispfleet-agents" else targets["hub"]
        job["static_configs"] = [{"targets": [target]}]
        if name in secrets:
            secret = tmp_path / f"{name}.secret"
            secret.write_text(secrets[name])
            job["authorization"]["credentials_file"] = str(secret)
    path = tmp_path / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture
async def prometheus(monitored: dict, tmp_path: Path) -> AsyncIterator[str]:
    config = prometheus_config(tmp_path, monitored)
    port = free_port()
    log = (tmp_path / "prometheus.log").open("wb")
    process = await asyncio.create_subprocess_exec(
        tool("prometheus"),
        f"--config.file={config}",
        f"--storage.tsdb.path={tmp_path / 'tsdb'}",
        f"--web.listen-address=127.0.0.1:{port}",
        stdout=log,
        stderr=log,
    )
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        await process.wait()
        log.close()


async def api(http: aiohttp.ClientSession, url: str, **params: str) -> Any:
    try:
        async with http.get(url, params=params) as answer:
            if answer.status == 503:
                return None  # still starting ("Service Unavailable" until the TSDB is open)
            body = await answer.json()
    except aiohttp.ClientConnectionError:
        return None  # not listening yet
    assert body["status"] == "success", body
    return body["data"]


async def test_a_real_prometheus_scrapes_every_target_and_finds_every_queried_series(
    prometheus: str,
):
    async with aiohttp.ClientSession() as http:

        async def all_up() -> list[dict] | None:
            data = await api(http, f"{prometheus}/api/v1/targets")
            targets = data["activeTargets"] if data else []
            healthy = len(targets) == 3 and all(t["health"] == "up" for t in targets)
            return targets if healthy else None

        targets = await wait_for(all_up, timeout=30)
        assert {t["labels"]["job"] for t in targets} == {
            "ispfleet-hub",
            "ispfleet-tenant-acme",
            "ispfleet-agents",
        }
        assert all(t["lastError"] == "" for t in targets)

        async def series(query: str) -> list[dict]:
            return (await api(http, f"{prometheus}/api/v1/query", query=query))["result"]

        async def router_up_everywhere() -> list[dict] | None:
            found = await series("ispfleet_router_up")
            return found if len(found) == 3 else None  # hub, tenant and agent each show it

        by_job = {s["metric"]["job"]: s["metric"] for s in await wait_for(router_up_everywhere)}
        assert {k: v for k, v in by_job["ispfleet-hub"].items() if k != "instance"} == {
            "__name__": "ispfleet_router_up",
            "job": "ispfleet-hub",
            "tenant": "acme",
            "site": "market",
            "router": "core",
        }
        assert by_job["ispfleet-tenant-acme"]["tenant"] == "acme"
        assert {"site", "router", "address"} <= set(by_job["ispfleet-agents"])

        async def names() -> set[str]:
            return set(await api(http, f"{prometheus}/api/v1/label/__name__/values"))

        wanted = {
            base_series(name)
            for query in dashboard_queries() + alert_queries()
            for name in SERIES.findall(query)
        }

        async def all_scraped() -> bool:
            scraped = {base_series(name) for name in await names()}
            return wanted <= scraped

        if not await wait_for_or_false(all_scraped):
            missing = wanted - {base_series(n) for n in await names()}
            pytest.fail(f"queried but never scraped: {sorted(missing)}")
        for query in dashboard_queries() + alert_queries():  # each one evaluates
            await api(http, f"{prometheus}/api/v1/query", query=query.replace("$tenant", ".*"))


async def wait_for_or_false(predicate) -> bool:
    try:
        return bool(await wait_for(predicate, timeout=30))
    except AssertionError:
        return False
