"""Prometheus metrics of one hub process, kept in their own registry (one per app, no globals).

Router gauges come from agent reports in Postgres. A background task (``refresh_forever``)
copies them into an in-memory snapshot every few seconds; ``FleetCollector`` reads only that
snapshot, so a scrape never waits on the database or a router.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import asyncpg
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from hub.domain import Router
from hub.storage.routers import ReportRepository, RouterRepository

log = logging.getLogger(__name__)

_LABELS = ["tenant", "site", "router"]


@dataclass(frozen=True, slots=True)
class FleetSnapshot:
    """What /metrics shows about routers, as of ``taken_at`` (monotonic seconds)."""

    routers: list[Router] = field(default_factory=list)
    # (router id, kind) -> (sessions, bytes_in, bytes_out)
    sessions: dict[tuple[int, str], tuple[int, int, int]] = field(default_factory=dict)
    taken_at: float | None = None


class FleetCollector(Collector):
    """Per-router gauges (labels tenant, site, router) from the latest snapshot.

    Session bytes stay in the router's terms (what the router received from / sent to the
    clients), unlike the portal's JSON, which shows the users' side.
    """

    def __init__(self) -> None:
        self.snapshot = FleetSnapshot()

    def collect(self) -> Iterator[GaugeMetricFamily]:
        return self.families(None)

    def families(self, tenant_id: int | None) -> Iterator[GaugeMetricFamily]:
        """The fleet's series, of one tenant's routers only when ``tenant_id`` is given."""
        snap = self.snapshot
        families = {
            "up": GaugeMetricFamily(
                "ispfleet_router_up",
                "1 when the router's agent is online and reports it up",
                labels=_LABELS,
            ),
            "agent": GaugeMetricFamily(
                "ispfleet_router_agent_online",
                "1 when the router's site agent is online",
                labels=_LABELS,
            ),
            "cpu": GaugeMetricFamily(
                "ispfleet_router_cpu_load_percent",
                "CPU load the agent last reported",
                labels=_LABELS,
            ),
            "free": GaugeMetricFamily(
                "ispfleet_router_memory_free_bytes", "Free memory", labels=_LABELS
            ),
            "total": GaugeMetricFamily(
                "ispfleet_router_memory_total_bytes", "Total memory", labels=_LABELS
            ),
            "uptime": GaugeMetricFamily(
                "ispfleet_router_uptime_seconds", "Router uptime", labels=_LABELS
            ),
            "sessions": GaugeMetricFamily(
                "ispfleet_router_sessions", "Current sessions by kind", labels=[*_LABELS, "kind"]
            ),
            "received": GaugeMetricFamily(
                "ispfleet_router_session_received_bytes",
                "Bytes the router received from the clients of its current sessions, router's"
                " side (hotspot bytes-in, PPP interface rx-byte): the users' upload",
                labels=[*_LABELS, "kind"],
            ),
            "sent": GaugeMetricFamily(
                "ispfleet_router_session_sent_bytes",
                "Bytes the router sent to the clients of its current sessions, router's side"
                " (hotspot bytes-out, PPP interface tx-byte): the users' download",
                labels=[*_LABELS, "kind"],
            ),
        }
        for router in snap.routers:
            if tenant_id is not None and router.tenant.id != tenant_id:
                continue
            labels = [router.tenant.slug, router.site, router.name]
            families["up"].add_metric(labels, 1.0 if router.online else 0.0)
            families["agent"].add_metric(labels, 1.0 if router.agent_online else 0.0)
            health = router.health
            if health is not None:
                for key, value in (
                    ("cpu", health.cpu_load),
                    ("free", health.free_memory),
                    ("total", health.total_memory),
                    ("uptime", health.uptime_seconds),
                ):
                    if value is not None:
                        families[key].add_metric(labels, float(value))
            for kind in ("hotspot", "ppp"):
                count, bytes_in, bytes_out = snap.sessions.get((router.id, kind), (0, 0, 0))
                families["sessions"].add_metric([*labels, kind], float(count))
                families["received"].add_metric([*labels, kind], float(bytes_in))
                families["sent"].add_metric([*labels, kind], float(bytes_out))
        yield from families.values()
        age = GaugeMetricFamily(
            "ispfleet_hub_fleet_snapshot_age_seconds", "Seconds since router data was refreshed"
        )
        if snap.taken_at is not None:
            age.add_metric([], time.monotonic() - snap.taken_at)
        yield age


class TenantFleetCollector(Collector):
    """One tenant's routers out of the fleet snapshot: the tenant's own scrape target."""

    def __init__(self, fleet: FleetCollector, tenant_id: int) -> None:
        self._fleet = fleet
        self._tenant_id = tenant_id

    def collect(self) -> Iterator[GaugeMetricFamily]:
        return self._fleet.families(self._tenant_id)


class HubMetrics:
    """The hub's own instruments plus the fleet collector, in one registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.request_seconds = Histogram(
            "ispfleet_hub_request_seconds",
            "HTTP request latency by route",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.command_round_trip_seconds = Histogram(
            "ispfleet_hub_command_round_trip_seconds",
            "Seconds from sending a command to an agent until its result arrives",
            ["command"],
            registry=self.registry,
        )
        self.ingest_frame_seconds = Histogram(
            "ispfleet_hub_ingest_frame_seconds",
            "Seconds to store one agent frame (events or snapshot part), decode to commit",
            ["frame"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
            registry=self.registry,
        )
        self.ingested_events = Counter(
            "ispfleet_hub_ingested_events",
            "Agent events stored (duplicates of already acknowledged events not counted)",
            registry=self.registry,
        )
        self.agents_connected = Gauge(
            "ispfleet_hub_agents_connected",
            "Agents with an open link to this hub process",
            registry=self.registry,
        )
        self.fleet = FleetCollector()
        self.registry.register(self.fleet)

    def tenant_registry(self, tenant_id: int) -> CollectorRegistry:
        """A registry holding only that tenant's router series (no hub-wide instruments)."""
        registry = CollectorRegistry(auto_describe=False)
        registry.register(TenantFleetCollector(self.fleet, tenant_id))
        return registry

    async def refresh(self, pool: asyncpg.Pool, offline_after: float) -> None:
        """Replace the fleet snapshot with the current state in Postgres."""
        routers = await RouterRepository(pool, offline_after=offline_after).find()
        totals = await ReportRepository(pool).session_totals()
        self.fleet.snapshot = FleetSnapshot(
            routers=routers,
            sessions={
                (row["router_id"], row["kind"]): (
                    row["sessions"],
                    row["bytes_in"] or 0,
                    row["bytes_out"] or 0,
                )
                for row in totals
            },
            taken_at=time.monotonic(),
        )

    async def refresh_forever(
        self, pool: asyncpg.Pool, offline_after: float, interval: float
    ) -> None:
        """Refresh every ``interval`` seconds; a failed refresh keeps the last good snapshot."""
        failing = False
        while True:
            try:
                await self.refresh(pool, offline_after)
                if failing:
                    log.info("metrics refresh recovered")
                failing = False
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                if not failing:
                    log.warning("metrics refresh failed error=%r", exc)
                failing = True
            await asyncio.sleep(interval)
