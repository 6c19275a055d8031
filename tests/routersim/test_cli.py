"""routersim.cli: the ispfleet-routersim command, run as a real subprocess."""

from __future__ import annotations

import asyncio
import re
import signal
import socket
import sys

import librouteros

from tests.helpers import ROOT, run_module

LINE = re.compile(r"^(site-\d+) (127\.0\.0\.1):(\d+) user=admin password=''$")


async def test_cli_prints_routers_serves_them_and_exits_on_sigint() -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "routersim.cli",
        "--routers",
        "2",
        "--clients",
        "3",
        "--port",
        "0",
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        lines = [
            (await asyncio.wait_for(process.stdout.readline(), 15)).decode().rstrip("\n")
            for _ in range(2)
        ]
        matches = [LINE.match(line) for line in lines]
        assert all(matches), lines
        assert [m.group(1) for m in matches] == ["site-1", "site-2"]  # type: ignore[union-attr]
        port = int(matches[0].group(3))  # type: ignore[union-attr]
        api = await librouteros.async_connect("127.0.0.1", "admin", "", port=port, timeout=5)
        identity = [row async for row in api.path("/system/identity")]
        await api.close()
        assert identity == [{"name": "site-1"}]
        process.send_signal(signal.SIGINT)
        _, stderr = await asyncio.wait_for(process.communicate(), 15)
        assert process.returncode == 0, stderr.decode()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def run_cli(*args: str) -> tuple[int, str]:
    code, _, stderr = await run_module("routersim.cli", *args, timeout=15)
    return code, stderr


async def test_cli_reports_a_busy_port() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        code, stderr = await run_cli("--port", str(busy.getsockname()[1]), "--clients", "1")
    assert code == 1
    assert "cannot listen on 127.0.0.1" in stderr


async def test_cli_rejects_bad_arguments_clearly() -> None:
    code, stderr = await run_cli("--routers", "0")
    assert code == 2
    assert "--routers must be at least 1" in stderr
    code, stderr = await run_cli("--tick", "-1")
    assert (code, "--tick must not be negative" in stderr) == (2, True)
