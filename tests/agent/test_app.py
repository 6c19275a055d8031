"""The agent's aiohttp app: /metrics parsed as Prometheus would, /healthz, the Agent's lifetime."""

from __future__ import annotations

import asyncio
import logging
import sqlite3

from prometheus_client.parser import text_string_to_metric_families

from agent.app import AGENT, FAILURE, STOP, create_app
from common import wire

from .conftest import wait_for
from .test_commands import MAC1, USER, run_command

PPP_USER = "+255700000077"


def _samples(text: str) -> dict[str, list]:
    found: dict[str, list] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found.setdefault(sample.name, []).append(sample)
    return found


def _one(samples: dict[str, list], name: str, **labels: str):
    matching = [s for s in samples[name] if all(s.labels.get(k) == v for k, v in labels.items())]
    assert len(matching) == 1, (name, labels, samples.get(name))
    return matching[0]


async def test_metrics_from_memory(aiohttp_client, config, sim):
    sim.add_hotspot_user(USER, password="pw")
    sim.hotspot_login(USER, mac_address=MAC1)
    sim.add_ppp_secret(PPP_USER, password="pw")
    sim.ppp_login(PPP_USER, caller_id="AA:BB:CC:00:00:77")
    app = create_app(config)
    client = await aiohttp_client(app)
    agent = app[AGENT]
    mirror = agent.mirrors["r1"]
    await wait_for(lambda: mirror.resource is not None and len(mirror.sessions["hotspot"]) == 1)
    await wait_for(lambda: {"health", "interfaces", "hotspot_config"} <= set(mirror.collectors))
    await wait_for(lambda: any(i.dynamic for i in mirror.interfaces.values()))
    result = await run_command(agent, wire.DISCONNECT, {"username": "+255700000009"})
    assert result.ok

    round_trips_before = agent.links["r1"].round_trips.count
    response = await client.get("/metrics")
    assert response.status == 200
    samples = _samples(await response.text())
    # A scrape is answered from memory: no router round trip of its own.
    assert agent.links["r1"].round_trips.count - round_trips_before <= 2  # polls running beside

    router = {"site": "test-site", "router": "r1", "address": f"{sim.host}:{sim.port}"}
    assert _one(samples, "ispfleet_router_up", **router).value == 1
    assert 0 <= _one(samples, "ispfleet_router_cpu_load_ratio", **router).value <= 1
    free = _one(samples, "ispfleet_router_memory_free_bytes", **router).value
    total = _one(samples, "ispfleet_router_memory_total_bytes", **router).value
    assert 0 < free < total
    assert _one(samples, "ispfleet_router_uptime_seconds", **router).value > 0
    version = _one(samples, "ispfleet_router_version_info", **router)
    assert (version.labels["version"], version.labels["channel"]) == ("7.16.2", "stable")
    assert _one(samples, "ispfleet_router_hotspot_active_sessions", **router).value == 1
    assert _one(samples, "ispfleet_router_ppp_active_sessions", **router).value == 1
    rx = _one(samples, "ispfleet_router_interface_receive_bytes_total", interface="ether1")
    assert rx.value >= 0
    assert _one(samples, "ispfleet_router_api_round_trip_seconds_count", **router).value > 0
    inf = _one(samples, "ispfleet_router_api_round_trip_seconds_bucket", le="+Inf", **router)
    assert inf.value == _one(samples, "ispfleet_router_api_round_trip_seconds_count").value
    assert _one(samples, "ispfleet_router_poll_errors_total", **router).value == 0
    assert _one(samples, "ispfleet_router_rows_skipped_total", **router).value == 0
    for collector in ("hotspot_sessions", "ppp_sessions", "interfaces", "health"):
        assert _one(samples, "ispfleet_router_collector_success", collector=collector).value == 1
        assert _one(samples, "ispfleet_router_collector_duration_seconds", collector=collector)

    assert _one(samples, "ispfleet_agent_outbox_events").value > 0
    assert _one(samples, "ispfleet_agent_outbox_oldest_age_seconds").value >= 0
    assert _one(samples, "ispfleet_agent_hub_connected").value == 0
    assert (
        _one(samples, "ispfleet_agent_commands_total", command="disconnect", result="ok").value == 1
    )
    assert _one(samples, "ispfleet_agent_vouchers_redeemed_total").value == 0
    assert _one(samples, "ispfleet_agent_billing_cuts_total").value == 0
    assert "process_resident_memory_bytes" in samples
    # No per-customer labels anywhere, nor their per-session <pppoe-NAME> interfaces.
    for name in (USER, PPP_USER):
        assert all(name not in str(s.labels) for group in samples.values() for s in group)

    agent.hub_connected = True
    samples = _samples(await (await client.get("/metrics")).text())
    assert _one(samples, "ispfleet_agent_hub_connected").value == 1


async def test_router_down_shows_in_metrics_and_healthz(aiohttp_client, config, sim):
    app = create_app(config)
    client = await aiohttp_client(app)
    link = app[AGENT].links["r1"]
    await wait_for(lambda: link.state.online)

    async def health_with_events() -> dict | None:
        health = await (await client.get("/healthz")).json()
        return health if health["outbox"]["events"] >= 1 else None  # router.up, at least

    health = await wait_for(health_with_events)
    assert health["status"] == "ok"
    (router,) = health["routers"]
    assert (router["name"], router["status"], router["error"]) == ("r1", "online", None)

    sim.set_offline(True)
    await wait_for(lambda: not link.state.online)
    samples = _samples(await (await client.get("/metrics")).text())
    assert _one(samples, "ispfleet_router_up", router="r1").value == 0
    health = await (await client.get("/healthz")).json()
    assert health["status"] == "degraded"
    assert health["routers"][0]["status"] == "offline"
    assert health["routers"][0]["error"]
    assert not app[STOP].is_set()  # a router going away is no reason to stop


def drop_table(db_path, table: str) -> None:
    """What a botched restore or a stray tool does to the state file under a running agent."""
    with sqlite3.connect(db_path, timeout=10) as conn:
        conn.execute(f"DROP TABLE {table}")


async def test_a_crashed_loop_stops_the_program(aiohttp_client, config, caplog):
    """The enforcer's loop dies on a real SQLite error; it is logged and the program stops."""
    caplog.set_level(logging.ERROR, logger="agent.service")
    app = create_app(config)
    await aiohttp_client(app)
    agent = app[AGENT]
    await wait_for(lambda: agent.links["r1"].state.online)
    assert not app[STOP].is_set()
    # In a thread: the agent's own SQLite work goes on meanwhile (it needs this event loop).
    await asyncio.to_thread(drop_table, config.agent.db_path, "entitlements")
    await wait_for(app[STOP].is_set)
    (failure,) = app[FAILURE]
    assert failure is agent.failure and agent.supervisor.failed_task == "enforcer"
    (record,) = [r for r in caplog.records if "agent task failed" in r.getMessage()]
    assert "task=enforcer" in record.getMessage()
    assert record.exc_info is not None  # with its traceback
    assert "no such table: entitlements" in caplog.text
