"""The Supervisor: a loop that ends is a failure, a job that fails is not, one stop for all."""

from __future__ import annotations

import asyncio
import logging

import pytest

from agent.service import Supervisor

from .conftest import wait_for


async def _forever() -> None:
    await asyncio.Event().wait()


async def test_a_loop_that_returns_is_a_failure(caplog: pytest.LogCaptureFixture):
    supervisor = Supervisor(grace=1.0)
    seen: list[BaseException] = []
    supervisor.on_failure(seen.append)
    supervisor.loop(_forever(), "steady")

    async def quits() -> None:
        return None

    supervisor.loop(quits(), "quitter")
    await wait_for(supervisor.failed.is_set)
    assert supervisor.failed_task == "quitter"
    assert seen == [supervisor.failure]
    assert "task quitter ended" in str(supervisor.failure)
    assert "agent task failed task=quitter" in caplog.text
    late: list[BaseException] = []
    supervisor.on_failure(late.append)  # registered after the failure: called at once
    assert late == seen
    await supervisor.stop()


async def test_a_failed_job_is_logged_and_stops_nothing(caplog: pytest.LogCaptureFixture):
    supervisor = Supervisor(grace=1.0)
    steady = supervisor.loop(_forever(), "steady")

    async def broken() -> None:
        raise ValueError("a bad command")

    job = supervisor.job(broken(), "command:1")
    await asyncio.wait([job])
    assert "agent job failed task=command:1" in caplog.text
    assert not supervisor.failed.is_set() and not steady.done()
    await supervisor.stop()
    assert steady.cancelled()
    assert not supervisor.failed.is_set()  # cancelled by stop(): not a failure


async def test_stop_lets_jobs_finish_then_cancels_and_names_stragglers(
    caplog: pytest.LogCaptureFixture,
):
    caplog.set_level(logging.INFO)
    supervisor = Supervisor(grace=0.2)
    finished = asyncio.Event()
    release = asyncio.Event()

    async def command() -> None:
        await asyncio.sleep(0)
        finished.set()

    async def stubborn() -> None:
        while not release.is_set():
            try:
                await release.wait()
            except asyncio.CancelledError:
                continue  # ignores its cancellation (a bug): must be named, not waited on

    supervisor.job(command(), "command:2")
    stuck = supervisor.loop(stubborn(), "stubborn")
    await supervisor.stop()
    assert finished.is_set()
    assert "task did not stop in time task=stubborn" in caplog.text
    release.set()
    await stuck
