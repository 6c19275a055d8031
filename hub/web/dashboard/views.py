"""What the dashboard's templates show, computed once here: human units, local times, cards,
rows and bar charts drawn as SVG geometry (no chart library, no inline script or style)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from common.durations import format_clock, format_duration
from common.units import format_bytes
from hub.domain import RouterActivity, Tenant
from hub.services.portal import ActiveUsers, SessionView


def local_time(moment: datetime | None, tenant: Tenant) -> str:
    """``2026-01-15 14:05:09`` in the tenant's time zone ("" for none)."""
    if moment is None:
        return ""
    return moment.astimezone(ZoneInfo(tenant.timezone)).strftime("%Y-%m-%d %H:%M:%S")


def human_bytes(count: int | None) -> str:
    return "" if count is None else format_bytes(max(count, 0))


def human_duration(seconds: int | None) -> str:
    return "" if seconds is None else format_duration(max(int(seconds), 0))


def money(amount: Decimal, tenant: Tenant) -> str:
    return f"{tenant.currency} {amount:,.2f}"


@dataclass(frozen=True, slots=True)
class SiteCard:
    """One location: a router and its light (online / router down / agent offline)."""

    router_id: int
    name: str
    site: str
    state: str  # "online" | "router-down" | "agent-offline"
    active_users: int
    cpu: str
    memory: str
    uptime: str
    version: str
    last_report: str
    error: str


@dataclass(frozen=True, slots=True)
class Fleet:
    cards: list[SiteCard]
    online: int
    offline: int
    active_users: int


def fleet(activity: Sequence[RouterActivity], tenant: Tenant) -> Fleet:
    cards = []
    for item in activity:
        router, health = item.router, item.router.health
        if router.online:
            state = "online"
        elif router.agent_online:
            state = "router-down"
        else:
            state = "agent-offline"
        memory = ""
        if health and health.total_memory and health.free_memory is not None:
            used = health.total_memory - health.free_memory
            memory = f"{100 * used // health.total_memory}% of {format_bytes(health.total_memory)}"
        cards.append(
            SiteCard(
                router_id=router.id,
                name=router.name,
                site=router.site,
                state=state,
                active_users=item.hotspot_sessions + ((health and health.ppp_active) or 0)
                if router.online
                else 0,
                cpu=f"{health.cpu_load}%" if health and health.cpu_load is not None else "",
                memory=memory,
                uptime=human_duration(health.uptime_seconds) if health else "",
                version=(health and health.version) or "",
                last_report=local_time(
                    health.reported_at if health else router.agent_last_seen_at, tenant
                ),
                error=(health and health.error) or "",
            )
        )
    online = sum(card.state == "online" for card in cards)
    return Fleet(cards, online, len(cards) - online, sum(c.active_users for c in cards))


@dataclass(frozen=True, slots=True)
class UserRow:
    session_id: str
    username: str
    mac_address: str
    ip_address: str
    uptime: str
    download: str  # what the user downloaded: the router sent it (bytes_out)
    upload: str
    remaining: str
    state: str  # "active" | "expired" | "unknown" (not a customer of the tenant)


def remaining(view: SessionView, now: datetime) -> tuple[str, str]:
    """(time left, state) of a session's paid access."""
    if view.access is None:
        return "", "unknown"
    ends = view.access.expires_at
    if ends is None or not view.access.customer.is_active or ends <= now:
        return "", "expired"
    return format_clock(int((ends - now).total_seconds())), "active"


def user_rows(active: ActiveUsers) -> list[UserRow]:
    rows = []
    for view in active.sessions:
        session = view.session
        left, state = remaining(view, active.now)
        rows.append(
            UserRow(
                session_id=session.session_id,
                username=session.username,
                mac_address=session.mac_address or "",
                ip_address=session.ip_address or "",
                uptime=human_duration(session.uptime_seconds),
                download=human_bytes(session.bytes_out),
                upload=human_bytes(session.bytes_in),
                remaining=left,
                state=state,
            )
        )
    return rows


@dataclass(frozen=True, slots=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str  # under the bar (day of month)
    title: str  # the exact value, as a tooltip


@dataclass(frozen=True, slots=True)
class BarChart:
    bars: list[Bar]
    width: int
    height: int
    top: str  # the value of the tallest bar, written at the top
    empty: bool


CHART_WIDTH, CHART_HEIGHT, CHART_BASE = 640, 200, 180


def bar_chart(points: Sequence[tuple[date, float, str]]) -> BarChart:
    """Bars for (day, value, shown value), scaled to the largest value."""
    top = max((value for _, value, _ in points), default=0)
    slot = CHART_WIDTH / max(len(points), 1)
    bars = []
    for index, (day, value, shown) in enumerate(points):
        height = (value / top) * (CHART_BASE - 10) if top else 0
        bars.append(
            Bar(
                x=round(index * slot + slot * 0.1, 1),
                y=round(CHART_BASE - height, 1),
                width=round(slot * 0.8, 1),
                height=round(height, 1),
                label=str(day.day),
                title=f"{day.isoformat()}: {shown}",
            )
        )
    shown_top = next((s for _, v, s in points if v == top), "") if top else ""
    return BarChart(bars, CHART_WIDTH, CHART_HEIGHT, shown_top, top == 0)
