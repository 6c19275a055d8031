"""``ispfleet-agent doctor`` as a real process against a real hub and routersim: every check
OK on a good box, and each fault (a revoked credential, the hub gone, a wrong router password)
one FAIL line and exit 1, never a traceback."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestServer

from agent.enroll import enroll
from hub.config import HubConfig
from hub.services.agents import AgentService
from routersim import SimRouter

from .test_cli import _agent_cli, _finish, _router, write_config
from .test_hublink import hub, hub_config, hub_url, pool  # noqa: F401 (fixtures)


def lines(out: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for line in out.splitlines():
        name, _, detail = line[5:].partition(": ")
        found.setdefault(name, f"{line[:4].strip()} {detail}")
    return found


async def enrolled(
    hub: TestServer,  # noqa: F811
    pool: asyncpg.Pool,  # noqa: F811
    tmp_path: Path,
    routers: list[dict[str, Any]],
) -> Path:
    """An agent.toml the operator's way (enroll), with these routers."""
    tenant_id = await pool.fetchval(
        "INSERT INTO tenants (slug, name) VALUES ('acme', 'Acme') RETURNING id"
    )
    _, token = await AgentService(pool, HubConfig()).issue_token(
        tenant_id=tenant_id, site="cli-site", ttl_hours=1
    )
    config = write_config(tmp_path / "agent.toml", routers, tmp_path / "state")
    await enroll(hub_url(hub), token, str(config))
    return config


async def doctor(config: Path) -> tuple[int, dict[str, str], str]:
    code, out, err = await _finish(await _agent_cli("doctor", "--config", str(config)))
    assert "Traceback" not in out + err
    return code, lines(out), out


async def test_a_good_box_is_all_ok(hub, pool, tmp_path, sim: SimRouter):  # noqa: F811
    config = await enrolled(hub, pool, tmp_path, [_router(sim)])
    code, found, out = await doctor(config)
    assert code == 0, out
    assert found["config"] == f"OK {config}: site=cli-site routers=1"
    assert found["state"].startswith("OK ") and "outbox 0 event(s) waiting" in found["state"]
    assert found["hub"].startswith(f"OK {hub_url(hub)} answered 200 in ")
    assert found["clock"].startswith("OK ") and "against the hub" in found["clock"]
    assert found["credential"] == "OK accepted by the hub"
    assert found["wireguard"] == "OK not used by this box (no wg-ispfleet.conf)"
    assert found[f"router r1 ({sim.host}:{sim.port})"].startswith("OK identity=r1 ")


async def test_each_fault_is_one_failed_line(hub, pool, tmp_path, sim: SimRouter):  # noqa: F811
    routers = [_router(sim), _router(sim, name="locked-out", password="wrong")]
    config = await enrolled(hub, pool, tmp_path, routers)
    await pool.execute("UPDATE agents SET credential_hash = NULL")
    code, found, out = await doctor(config)
    assert code == 1
    assert found["credential"].startswith("FAIL refused by the hub"), out
    assert found[f"router r1 ({sim.host}:{sim.port})"].startswith("OK ")
    assert found[f"router locked-out ({sim.host}:{sim.port})"].startswith("FAIL "), out


async def test_a_hub_that_goes_away_is_one_failed_line(hub, pool, tmp_path, sim):  # noqa: F811
    config = await enrolled(hub, pool, tmp_path, [_router(sim)])
    url = hub_url(hub)
    await hub.close()
    code, found, out = await doctor(config)
    assert code == 1
    assert found["hub"].startswith(f"FAIL {url} unreachable"), out
    assert found[f"router r1 ({sim.host}:{sim.port})"].startswith("OK ")  # still checked


@pytest.fixture
def hub_config(pg_dsn: str) -> HubConfig:  # noqa: F811
    return HubConfig(database_url=pg_dsn, metrics_refresh_interval=60.0)
