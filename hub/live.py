"""Fleet changes as agents report them, for the pages and streams that show them live.

Whichever hub process holds an agent's socket announces each stored frame (and the agent's
arrival and departure) with ``NOTIFY ispfleet_fleet '<tenant_id>:<agent_id>'``; every process
LISTENs (hub.link's listener) and wakes its local subscribers of that tenant. A subscriber
learns only *that* something changed, coalesced, and reads what it shows again: nothing is
carried in the notification, so a missed one costs freshness (the next one, or the
subscriber's own idle refresh, repairs it), never correctness.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict

log = logging.getLogger(__name__)


class Subscription:
    """One viewer of one tenant: ``await changed(timeout)`` returns the agents that reported
    since the last call (an empty set after ``timeout`` with nothing new)."""

    def __init__(self, feed: LiveFeed, tenant_id: int) -> None:
        self.tenant_id = tenant_id
        self._feed = feed
        self._agents: set[int] = set()
        self._wake = asyncio.Event()
        self.closed = False  # the hub is shutting down: a live stream ends

    def _close(self) -> None:
        self.closed = True
        self._wake.set()

    def _notify(self, agent_id: int) -> None:
        self._agents.add(agent_id)
        self._wake.set()

    async def changed(self, timeout: float) -> set[int]:
        try:
            await asyncio.wait_for(self._wake.wait(), timeout)
        except TimeoutError:
            return set()
        self._wake.clear()
        agents, self._agents = self._agents, set()
        return agents

    def close(self) -> None:
        self._feed._unsubscribe(self)

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class LiveFeed:
    """Local subscribers by tenant, woken by announcements from any hub process."""

    def __init__(self) -> None:
        self._subscribers: dict[int, set[Subscription]] = defaultdict(set)
        self.closed = False

    def close(self) -> None:
        """At shutdown: wake every subscriber for the last time (``Subscription.closed``), so
        open streams end instead of holding the shutdown up; later subscriptions start closed."""
        self.closed = True
        for viewers in list(self._subscribers.values()):
            for subscription in list(viewers):
                subscription._close()

    def subscribe(self, tenant_id: int) -> Subscription:
        subscription = Subscription(self, tenant_id)
        self._subscribers[tenant_id].add(subscription)
        if self.closed:
            subscription._close()
        return subscription

    def _unsubscribe(self, subscription: Subscription) -> None:
        viewers = self._subscribers.get(subscription.tenant_id)
        if viewers is not None:
            viewers.discard(subscription)
            if not viewers:
                del self._subscribers[subscription.tenant_id]

    @property
    def subscribers(self) -> int:
        return sum(len(viewers) for viewers in self._subscribers.values())

    def publish(self, tenant_id: int, agent_id: int) -> None:
        """Wake this process's viewers of the tenant."""
        for subscription in self._subscribers.get(tenant_id, ()):
            subscription._notify(agent_id)

    async def on_notice(self, payload: str) -> None:
        """The LISTEN handler of LIVE_CHANNEL."""
        tenant, _, agent = payload.partition(":")
        try:
            self.publish(int(tenant), int(agent))
        except ValueError:
            log.warning("live notice ignored payload=%r", payload[:64])
