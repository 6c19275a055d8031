"""``/metrics``: a custom collector over what the agent already holds in memory.

``collect()`` runs on the event loop for every scrape, so it does no I/O at all: router
figures come from each mirror's last good data, outbox figures from the outbox's
counters. A scrape is instant and never costs a router round trip. Router series carry
``site``, ``router`` (name) and ``address`` labels; nothing is labelled per customer.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    InfoMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from common.units import parse_version

from .routeros import ROUND_TRIP_BUCKETS

if TYPE_CHECKING:
    from .service import Agent

ROUTER_LABELS = ["site", "router", "address"]


class AgentCollector(Collector):
    """Every agent and router series, built from in-memory state at scrape time."""

    def __init__(self, agent: Agent) -> None:
        self.agent = agent

    def collect(self) -> Iterator[Metric]:
        yield from self._router_metrics()
        yield from self._agent_metrics()

    def _router_metrics(self) -> Iterator[Metric]:
        site = self.agent.config.agent.site

        def gauge(name: str, doc: str, extra: list[str] | None = None) -> GaugeMetricFamily:
            return GaugeMetricFamily(
                f"ispfleet_router_{name}", doc, labels=ROUTER_LABELS + (extra or [])
            )

        def counter(name: str, doc: str, extra: list[str] | None = None) -> CounterMetricFamily:
            return CounterMetricFamily(
                f"ispfleet_router_{name}", doc, labels=ROUTER_LABELS + (extra or [])
            )

        up = gauge("up", "1 when the agent holds a working API connection to the router.")
        cpu = gauge("cpu_load_ratio", "CPU load, 0 to 1 (/system/resource cpu-load).")
        free = gauge("memory_free_bytes", "Free memory (/system/resource free-memory).")
        total = gauge("memory_total_bytes", "Total memory (/system/resource total-memory).")
        uptime = gauge("uptime_seconds", "Router uptime.")
        version = InfoMetricFamily(
            "ispfleet_router_version",
            "RouterOS version, channel and board.",
            labels=ROUTER_LABELS,
        )
        hotspot = gauge("hotspot_active_sessions", "Active hotspot sessions.")
        ppp = gauge("ppp_active_sessions", "Active PPP sessions.")
        users = gauge("hotspot_users", "Hotspot users configured.", ["state"])
        bindings = gauge("ip_bindings", "Hotspot IP bindings by type.", ["type"])
        rx = counter(
            "interface_receive_bytes",
            "Bytes the router received on an interface (router's side, /interface rx-byte).",
            ["interface"],
        )
        tx = counter(
            "interface_transmit_bytes",
            "Bytes the router sent on an interface (router's side, /interface tx-byte).",
            ["interface"],
        )
        running = gauge("interface_running", "1 when the interface is running.", ["interface"])
        rtt = HistogramMetricFamily(
            "ispfleet_router_api_round_trip_seconds",
            "Time from sending an API command to its !done.",
            labels=ROUTER_LABELS,
        )
        errors = counter("poll_errors", "Polls of the router that failed.")
        skipped = counter("rows_skipped", "Router rows that did not parse and were skipped.")
        duration = gauge(
            "collector_duration_seconds",
            "How long the last run of a collector took.",
            ["collector"],
        )
        success = gauge(
            "collector_success", "1 when the last run of a collector succeeded.", ["collector"]
        )

        for name, mirror in self.agent.mirrors.items():
            labels = [site, name, mirror.link.settings.address]
            up.add_metric(labels, 1.0 if mirror.link.state.online else 0.0)
            res = mirror.resource
            if res is not None:
                if res.cpu_load is not None:
                    cpu.add_metric(labels, res.cpu_load / 100)
                if res.free_memory is not None:
                    free.add_metric(labels, res.free_memory)
                if res.total_memory is not None:
                    total.add_metric(labels, res.total_memory)
                if res.uptime_seconds is not None:
                    uptime.add_metric(labels, res.uptime_seconds)
                if res.version:
                    number, channel = parse_version(res.version)
                    version.add_metric(
                        labels,
                        {
                            "version": number,
                            "channel": channel or "",
                            "board": res.board_name or "",
                            "identity": mirror.identity or "",
                        },
                    )
            hotspot.add_metric(labels, len(mirror.sessions["hotspot"]))
            ppp.add_metric(labels, len(mirror.sessions["ppp"]))
            if mirror.hotspot_users is not None:
                all_users, disabled = mirror.hotspot_users
                users.add_metric([*labels, "enabled"], all_users - disabled)
                users.add_metric([*labels, "disabled"], disabled)
            for kind, count in sorted((mirror.ip_bindings or {}).items()):
                bindings.add_metric([*labels, kind], count)
            # Dynamic interfaces come and go with subscribers (<pppoe-NAME>): exporting them would
            # put one series per customer into Prometheus.
            for iface in (i for i in mirror.interfaces.values() if not i.dynamic):
                rx.add_metric([*labels, iface.name], iface.rx_bytes)
                tx.add_metric([*labels, iface.name], iface.tx_bytes)
                running.add_metric([*labels, iface.name], 1.0 if iface.running else 0.0)
            trips = mirror.link.round_trips
            buckets = [
                (_bound(b), c) for b, c in zip(ROUND_TRIP_BUCKETS, trips.buckets, strict=True)
            ]
            rtt.add_metric(labels, [*buckets, ("+Inf", trips.count)], trips.total)
            errors.add_metric(labels, mirror.poll_errors)
            skipped.add_metric(labels, mirror.bad_rows)
            for collector, stat in sorted(mirror.collectors.items()):
                duration.add_metric([*labels, collector], stat.duration)
                success.add_metric([*labels, collector], 1.0 if stat.success else 0.0)
        yield from (up, cpu, free, total, uptime, version, hotspot, ppp, users, bindings)
        yield from (rx, tx, running, rtt, errors, skipped, duration, success)

    def _agent_metrics(self) -> Iterator[Metric]:
        agent = self.agent
        site = [agent.config.agent.site]
        outbox = getattr(agent, "outbox", None)
        if outbox is not None:
            rows = GaugeMetricFamily(
                "ispfleet_agent_outbox_events", "Events waiting for the hub's ack.", labels=["site"]
            )
            rows.add_metric(site, outbox.rows)
            age = GaugeMetricFamily(
                "ispfleet_agent_outbox_oldest_age_seconds",
                "Age of the oldest unacknowledged event (0 when empty).",
                labels=["site"],
            )
            age.add_metric(site, outbox.oldest_age() or 0.0)
            thinned = CounterMetricFamily(
                "ispfleet_agent_outbox_thinned_events",
                "Periodic samples dropped because the outbox was over its bound.",
                labels=["site"],
            )
            thinned.add_metric(site, outbox.thinned_total)
            over = GaugeMetricFamily(
                "ispfleet_agent_outbox_over_bound",
                "1 while the outbox holds more than outbox_max_rows events it may not drop.",
                labels=["site"],
            )
            over.add_metric(site, 1.0 if outbox.over_bound else 0.0)
            yield from (rows, age, thinned, over)
        hub = GaugeMetricFamily(
            "ispfleet_agent_hub_connected", "1 while the hub link is connected.", labels=["site"]
        )
        hub.add_metric(site, 1.0 if agent.hub_connected else 0.0)
        yield hub
        executor = getattr(agent, "executor", None)
        if executor is not None:
            commands = CounterMetricFamily(
                "ispfleet_agent_commands",
                "Hub commands executed, by command and result.",
                labels=["site", "command", "result"],
            )
            for (command, result), count in sorted(executor.counts.items()):
                commands.add_metric([*site, command, result], count)
            yield commands
        enforcer = getattr(agent, "enforcer", None)
        if enforcer is not None:
            enforced = CounterMetricFamily(
                "ispfleet_agent_entitlements_enforced",
                "Entitlements acted on at expiry.",
                labels=["site"],
            )
            enforced.add_metric(site, enforcer.enforced_total)
            repairs = CounterMetricFamily(
                "ispfleet_agent_drift_repairs",
                "Router changes undone by the drift reconcile.",
                labels=["site"],
            )
            repairs.add_metric(site, enforcer.repairs_total)
            yield from (enforced, repairs)
        vouchers = getattr(agent, "vouchers", None)
        if vouchers is not None:
            redeemed = CounterMetricFamily(
                "ispfleet_agent_vouchers_redeemed",
                "Vouchers redeemed at this site (first login seen).",
                labels=["site"],
            )
            redeemed.add_metric(site, vouchers.redeemed_total)
            yield redeemed
        billing = getattr(agent, "billing", None)
        if billing is not None:
            cuts = CounterMetricFamily(
                "ispfleet_agent_billing_cuts",
                "Hotspot sessions cut for lack of paid access (billing = true routers).",
                labels=["site"],
            )
            cuts.add_metric(site, billing.cut_total)
            yield cuts


def _bound(value: float) -> str:
    return repr(float(value))


def make_registry(agent: Agent) -> CollectorRegistry:
    """One registry per app, holding only the agent's collector."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(AgentCollector(agent))
    return registry
