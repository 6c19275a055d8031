"""The durable outbox over a real SQLite file: order, ack, wake-up, bound and thinning."""

from __future__ import annotations

import asyncio

import pytest

from agent.outbox import Outbox
from agent.store import Store
from common import wire


@pytest.fixture
async def store(tmp_path):
    store = await Store.open(tmp_path / "agent.db")
    yield store
    await store.close()


async def test_append_read_ack_in_sequence(store):
    outbox = await Outbox.open(store, max_rows=1000)
    seqs = [await outbox.append(wire.ROUTER_UP, "r1", {"n": n}) for n in range(5)]
    assert seqs == [1, 2, 3, 4, 5]
    events = await outbox.read_after(2, limit=2)
    assert [(e.seq, e.kind, e.router, e.data) for e in events] == [
        (3, wire.ROUTER_UP, "r1", {"n": 2}),
        (4, wire.ROUTER_UP, "r1", {"n": 3}),
    ]
    assert all(e.ts.endswith("Z") for e in events)
    assert await outbox.depth() == (5, pytest.approx(0, abs=2))
    assert await outbox.ack(3) == 3
    assert [e.seq for e in await outbox.read_after(0)] == [4, 5]
    assert (await outbox.depth())[0] == 2
    assert await outbox.ack(3) == 0  # a repeated ack changes nothing


async def test_sequence_never_reused_after_ack_and_reopen(tmp_path):
    store = await Store.open(tmp_path / "agent.db")
    outbox = await Outbox.open(store, max_rows=1000)
    for _ in range(3):
        await outbox.append(wire.ROUTER_UP, None, {})
    await outbox.ack(3)
    assert await outbox.depth() == (0, None)
    await store.close()

    store = await Store.open(tmp_path / "agent.db")
    outbox = await Outbox.open(store, max_rows=1000)
    assert await outbox.last_seq() == 3
    assert await outbox.append(wire.ROUTER_UP, None, {}) == 4
    await store.close()


async def test_wait_new_wakes_at_once_and_times_out(store):
    outbox = await Outbox.open(store, max_rows=1000)
    assert await outbox.wait_new(0, timeout=0.05) is False

    # Waiting far longer than the test may run: only the append can end the wait.
    waiting = asyncio.create_task(outbox.wait_new(0, timeout=3600))
    assert not waiting.done()
    await outbox.append(wire.ROUTER_UP, None, {})
    assert await waiting is True
    assert await outbox.wait_new(0, timeout=0.01) is True  # already there
    assert await outbox.wait_new(1, timeout=0.05) is False


async def test_failed_transaction_leaves_no_event_and_no_gap(store):
    outbox = await Outbox.open(store, max_rows=1000)
    await outbox.append(wire.ROUTER_UP, None, {})
    with pytest.raises(RuntimeError):
        async with store.transaction() as tx:
            await tx.append_event(wire.SESSION_STARTED, "r1", {"x": 1})
            raise RuntimeError("crash between two statements")
    assert [e.seq for e in await outbox.read_after(0)] == [1]
    assert await outbox.append(wire.ROUTER_UP, None, {}) == 2


async def test_over_bound_thins_only_samples_oldest_first(store):
    outbox = Outbox(store, max_rows=20)
    await outbox.append(wire.SESSION_STARTED, "r1", {"id": "first"})
    for n in range(30):
        await outbox.append(wire.ROUTER_HEALTH, "r1", {"n": n})
    await outbox.append(wire.SESSION_ENDED, "r1", {"id": "first"})

    events = await outbox.read_after(0, limit=1000)
    kinds = [e.kind for e in events]
    assert kinds.count(wire.SESSION_STARTED) == 1
    assert kinds.count(wire.SESSION_ENDED) == 1
    thinned = [e for e in events if e.kind == wire.OUTBOX_THINNED]
    assert thinned and all(e.data["kinds"] == [wire.ROUTER_HEALTH] for e in thinned)
    dropped = sum(e.data["dropped"] for e in thinned)
    assert dropped == outbox.thinned_total > 0
    health = [e.data["n"] for e in events if e.kind == wire.ROUTER_HEALTH]
    assert health == list(range(30 - len(health), 30))  # the newest samples survive
    assert len(events) <= 20
    assert outbox.over_bound is False


async def test_over_bound_never_drops_session_events(store, caplog):
    outbox = Outbox(store, max_rows=10)
    for n in range(15):
        await outbox.append(wire.SESSION_STARTED, "r1", {"n": n})
    events = await outbox.read_after(0, limit=100)
    assert [e.data["n"] for e in events] == list(range(15))
    assert outbox.over_bound is True
    assert outbox.over_bound_alerts == 1  # alerted once, not on every append
    assert "outbox over its bound" in caplog.text
    await outbox.ack(10)
    await outbox.append(wire.SESSION_STARTED, "r1", {"n": 15})
    assert outbox.over_bound is False
