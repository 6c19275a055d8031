"""The supervisor of the hub's background tasks: a task that dies is logged and restarted, a
critical one stops the hub; and the real app's tasks run under it (real app, real Postgres)."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace

import pytest

from hub.app import create_app
from hub.link import DISPATCHER
from hub.supervisor import Supervisor
from hub.typedefs import METRICS, SUPERVISOR
from tests.helpers import wait_for


class Flaky:
    """A loop that dies of an unexpected error ``failures`` times, then runs until cancelled."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls = 0
        self.healthy = asyncio.Event()

    async def __call__(self) -> None:
        self.calls += 1
        if self.calls <= self.failures:
            raise RuntimeError(f"boom {self.calls}")
        self.healthy.set()
        await asyncio.Event().wait()


def died(caplog, name: str) -> list[logging.LogRecord]:
    return [
        r
        for r in caplog.records
        if r.getMessage().startswith(f"task died name={name}") and r.exc_info is not None
    ]


async def test_a_dead_task_is_logged_and_restarted_with_backoff(caplog):
    fatal = []
    supervisor = Supervisor(
        backoff_initial=0.01, backoff_max=0.04, on_fatal=lambda *a: fatal.append(a)
    )
    flaky = Flaky(failures=3)
    state = supervisor.start("flaky", flaky)
    await wait_for(flaky.healthy.is_set)
    assert state.runs == 4 and state.failures == 3 and isinstance(state.last_error, RuntimeError)
    records = died(caplog, "flaky")
    assert len(records) == 3 and "boom 1" in str(records[0].exc_info[1])
    assert fatal == [] and supervisor.fatal is None
    with pytest.raises(ValueError):
        supervisor.start("flaky", flaky)
    await supervisor.close()
    assert state.runner.cancelled()


async def test_a_critical_task_stops_the_process():
    fatal = []
    supervisor = Supervisor(backoff_initial=0.01, on_fatal=lambda *a: fatal.append(a))
    supervisor.start("vital", Flaky(failures=1), critical=True)
    await wait_for(lambda: fatal)
    assert fatal[0][0] == "vital" and isinstance(fatal[0][1], RuntimeError)
    assert supervisor.fatal == "vital"
    await supervisor.close()


async def test_a_task_that_keeps_dying_is_escalated():
    fatal = []
    supervisor = Supervisor(
        backoff_initial=0.001,
        backoff_max=0.002,
        max_failures=4,
        on_fatal=lambda *a: fatal.append(a),
    )
    state = supervisor.start("hopeless", Flaky(failures=1000))
    await wait_for(lambda: fatal)
    assert state.failures == 4 and supervisor.fatal == "hopeless"
    await supervisor.close()


async def test_spawned_task_failure_is_logged_not_lost(caplog):
    supervisor = Supervisor()

    async def fails() -> None:
        raise KeyError("unexpected")

    task = supervisor.spawn("one-off", fails())
    await wait_for(task.done)
    await wait_for(
        lambda: any("task failed name=one-off" in r.getMessage() for r in caplog.records)
    )
    await supervisor.close()


async def test_real_app_tasks_are_restarted_after_an_unexpected_error(
    hub_config, aiohttp_client, caplog
):
    config = replace(hub_config, agent_heartbeat=0.05, supervisor_backoff_initial=0.01)
    fatal = []
    app = create_app(config, on_fatal=lambda *a: fatal.append(a))
    client = await aiohttp_client(app)
    supervisor = client.app[SUPERVISOR]
    assert {"metrics-refresher", "link-lease", "link-presence", "link-listener"} <= set(
        supervisor.tasks
    )

    # The metrics refresher meets an error nobody expected (not a database error).
    metrics = client.app[METRICS]
    real_refresh = metrics.refresh
    calls = []

    async def refresh_once_broken(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise TypeError("unexpected row shape")
        return await real_refresh(*args, **kwargs)

    metrics.refresh = refresh_once_broken
    await wait_for(lambda: supervisor.tasks["metrics-refresher"].runs >= 2 and len(calls) >= 3)
    assert died(caplog, "metrics-refresher")
    resp = await client.get("/metrics")
    assert resp.status == 200

    # The presence loop too: the dispatcher's sweep blows up once.
    dispatcher = client.app[DISPATCHER]
    real_sweep = dispatcher.sweep
    sweeps = []

    async def sweep_once_broken():
        sweeps.append(1)
        if len(sweeps) == 1:
            raise AttributeError("unexpected")
        return await real_sweep()

    dispatcher.sweep = sweep_once_broken
    await wait_for(lambda: supervisor.tasks["link-presence"].runs >= 2 and len(sweeps) >= 3)
    assert died(caplog, "link-presence")
    assert fatal == []
