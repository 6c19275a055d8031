"""``ispfleet-agent`` as a real process: check, run, bad config, and a kill -9 mid-stream."""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import socket
import sqlite3
import sys
from collections import defaultdict
from pathlib import Path

import aiohttp
import pytest

from common import wire
from routersim import SimRouter

from .conftest import FAST_ROUTER, wait_for

ROOT = Path(__file__).parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def write_config(
    path: Path, routers: list[dict], state_dir: Path, metrics_port: int = 0, **agent
) -> Path:
    lines = [
        "[agent]",
        'site = "cli-site"',
        f'state_dir = "{state_dir}"',
        f'metrics_listen = "127.0.0.1:{metrics_port}"',
        "startup_jitter = 0.0",
        *(f"{key} = {value}" for key, value in agent.items()),
    ]
    for router in routers:
        lines.append("[[routers]]")
        for key, value in (FAST_ROUTER | router).items():
            lines.append(f"{key} = {value!r}" if isinstance(value, str) else f"{key} = {value}")
    path.write_text("\n".join(lines).replace("'", '"') + "\n")
    return path


def _router(sim: SimRouter, **overrides) -> dict:
    return {
        "name": sim.name,
        "host": sim.host,
        "port": sim.port,
        "username": sim.username,
        "password": sim.password,
        **overrides,
    }


async def _agent_cli(*args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "agent",
        *args,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


async def _finish(process: asyncio.subprocess.Process, timeout: float = 20) -> tuple[int, str, str]:
    out, err = await asyncio.wait_for(process.communicate(), timeout)
    return process.returncode, out.decode(), err.decode()


async def test_check_reports_health(tmp_path, sim):
    config = write_config(tmp_path / "agent.toml", [_router(sim)], tmp_path / "state")
    code, out, err = await _finish(await _agent_cli("check", "--config", str(config)))
    assert code == 0, err
    assert out.startswith(f"r1 ({sim.host}:{sim.port}): OK identity=r1 version=7.16.2 (stable)")
    assert "/ip/hotspot/active=0" in out


async def test_check_names_each_problem(tmp_path, sim):
    async def silent(reader, writer):
        try:
            await reader.read()
        finally:
            writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    try:
        routers = [
            _router(sim),
            _router(sim, name="wrong-port", port=_free_port()),
            _router(sim, name="wrong-password", password="nope"),
            _router(sim, name="silent", port=server.sockets[0].getsockname()[1]),
        ]
        config = write_config(tmp_path / "agent.toml", routers, tmp_path / "state")
        os.environ.pop("ISPFLEET_AGENT_CONFIG", None)
        code, out, err = await _finish(await _agent_cli("check", "--config", str(config)))
    finally:
        server.close()
    assert code == 1
    lines = dict(line.split(": ", 1) for line in out.strip().splitlines())
    assert lines[f"r1 ({sim.host}:{sim.port})"].startswith("OK")
    (wrong_port,) = [v for k, v in lines.items() if k.startswith("wrong-port")]
    assert wrong_port.startswith("PROBLEM API service disabled or wrong port")
    (wrong_password,) = [v for k, v in lines.items() if k.startswith("wrong-password")]
    assert wrong_password.startswith("PROBLEM bad credentials")
    (silent_line,) = [v for k, v in lines.items() if k.startswith("silent")]
    assert silent_line.startswith("PROBLEM timeout")
    assert "3 of 4 router(s) have problems" in err


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[agent]\nsite = 's'\n", "routers: at least one [[routers]] entry is required"),
        ("[agent]\nsite = 's'\n[[routers]]\nname = 'r'\nhost = 'h'\nport = 'x'\n", "port"),
        ("[agent\n", "agent.toml"),
    ],
)
async def test_bad_config_exits_2_with_one_clear_line(tmp_path, text, message):
    path = tmp_path / "agent.toml"
    path.write_text(text)
    code, _, err = await _finish(await _agent_cli("run", "--config", str(path)))
    assert code == 2
    assert err.startswith("ispfleet-agent: bad config: ")
    assert message in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "state").exists()


async def test_missing_config_file(tmp_path):
    code, _, err = await _finish(await _agent_cli("check", "--config", str(tmp_path / "no.toml")))
    assert code == 2
    assert "not found" in err


def _outbox(db: Path) -> list[tuple[int, str, str | None, dict]]:
    """The outbox as another process sees it (the agent may still be creating the schema)."""
    if not db.exists():
        return []
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
        try:
            rows = conn.execute("SELECT seq, kind, router, data FROM outbox ORDER BY seq")
            found = rows.fetchall()
        except sqlite3.OperationalError as exc:
            if "no such table" not in str(exc):
                raise
            return []
    return [(seq, kind, router, json.loads(data)) for seq, kind, router, data in found]


def _cached(db: Path) -> set[tuple[str, str]]:
    """The agent's session cache, read from its SQLite file."""
    if not db.exists():
        return set()
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
        return {(k, sid) for k, sid in conn.execute("SELECT kind, session_id FROM sessions")}


def _on_router(sim: SimRouter) -> set[tuple[str, str]]:
    found = {("hotspot", r[".id"]) for r in sim.rows("/ip/hotspot/active")}
    return found | {("ppp", r[".id"]) for r in sim.rows("/ppp/active")}


def _arrivals_and_departures(db: Path) -> int:
    kinds = (wire.SESSION_STARTED, wire.SESSION_ENDED)
    return sum(kind in kinds for _, kind, _, _ in _outbox(db))


async def test_kill_9_mid_stream_loses_and_duplicates_nothing(tmp_path):
    """A busy router, the agent killed -9 while it writes, restarted on the same SQLite file."""
    sim = SimRouter(name="busy", seed=7)
    await sim.start()
    sim.populate(200)
    state = tmp_path / "state"
    db = state / "agent.db"
    port = _free_port()
    config = write_config(
        tmp_path / "agent.toml",
        [_router(sim)],
        state,
        metrics_port=port,
        counters_interval=0.2,
        reconcile_interval=0.5,
        health_interval=0.5,
    )

    async def busy_world():
        while True:  # an hour of arrivals and departures every few seconds
            await asyncio.sleep(0.05)
            sim.step(60.0)

    world = asyncio.create_task(busy_world())
    processes: list[asyncio.subprocess.Process] = []
    try:
        for _ in range(3):  # three kills at different moments of the stream
            seen = _arrivals_and_departures(db)
            agent = await _agent_cli("run", "--config", str(config))
            processes.append(agent)
            more = 40 + random.randint(0, 20)  # killed at a different moment each time
            await wait_for(
                lambda seen=seen, more=more: _arrivals_and_departures(db) >= seen + more,
                timeout=20,
            )
            agent.kill()  # SIGKILL, mid-stream
            await agent.wait()
            assert agent.returncode == -signal.SIGKILL
            clock = sim.world.clock  # the world moves on while no agent watches
            await wait_for(lambda clock=clock: sim.world.clock >= clock + 300, timeout=20)

        seen = _arrivals_and_departures(db)
        last = await _agent_cli("run", "--config", str(config))
        processes.append(last)
        await wait_for(lambda: _arrivals_and_departures(db) >= seen + 40, timeout=20)
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{port}/healthz") as response:
                assert (await response.json())["routers"][0]["status"] == "online"
        world.cancel()
        await wait_for(lambda: _cached(db) == _on_router(sim), timeout=20)  # settled
        last.send_signal(signal.SIGTERM)
        code, _, err = await _finish(last)
        assert code == 0, err
        assert "agent stopped" in err
    finally:
        world.cancel()
        for process in processes:
            if process.returncode is None:
                process.kill()
                await process.wait()
        await sim.stop()

    events = _outbox(db)
    seqs = [seq for seq, *_ in events]
    assert seqs == list(range(1, len(seqs) + 1))  # contiguous: nothing lost, nothing reused

    history: dict[tuple[str, str], list[str]] = defaultdict(list)
    for _, kind, _, data in events:
        if kind in (wire.SESSION_STARTED, wire.SESSION_ENDED):
            history[(data["kind"], data["session_id"])].append(kind)
    assert sum(len(h) for h in history.values()) >= 160
    for key, kinds in history.items():
        # started, ended, started, ended, ...: never two starts (or two ends) in a row
        expected = [wire.SESSION_STARTED, wire.SESSION_ENDED] * len(kinds)
        assert kinds == expected[: len(kinds)], (key, kinds)

    # The cache agrees with the router, and with the event history.
    cached = _cached(db)
    assert cached == _on_router(sim)
    open_sessions = {key for key, kinds in history.items() if kinds[-1] == wire.SESSION_STARTED}
    assert open_sessions == cached


async def test_a_crashed_loop_makes_run_exit_non_zero(tmp_path, sim):
    """A real crash of a loop in a real process: logged with its task name, exit status 1.

    The crash: the state file's entitlements table dropped under the running agent (a
    botched restore, a stray tool), which the expiry loop reads at every check.
    """
    state = tmp_path / "state"
    db = state / "agent.db"
    port = _free_port()
    config = write_config(
        tmp_path / "agent.toml",
        [_router(sim)],
        state,
        metrics_port=port,
        expiry_check_interval=0.2,
    )
    agent = await _agent_cli("run", "--config", str(config))
    try:

        async def healthy() -> bool:
            try:
                async with aiohttp.ClientSession() as http:
                    async with http.get(f"http://127.0.0.1:{port}/healthz") as response:
                        return (await response.json())["routers"][0]["status"] == "online"
            except aiohttp.ClientError:
                return False

        await wait_for(healthy, timeout=20)
        with sqlite3.connect(db, timeout=10) as conn:
            conn.execute("DROP TABLE entitlements")
        code, _, err = await _finish(agent)
    finally:
        if agent.returncode is None:
            agent.kill()
            await agent.wait()
    assert code == 1, err
    assert "agent task failed task=enforcer" in err
    assert "Traceback" in err and "no such table: entitlements" in err
    assert "agent stopped" in err  # a clean stop: loops cancelled, state file closed
