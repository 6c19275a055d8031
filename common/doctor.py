"""``doctor``: checks of one program's setup, each answered in one line an operator can act on.

A check is an async function returning a ``Finding``; ``run_checks`` runs them in order (a
check that raises becomes a FAIL naming the exception, never a traceback), prints one line each
and returns the exit status: 1 when anything failed, else 0 (warnings do not fail).
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

OK, WARN, FAIL = "OK", "WARN", "FAIL"
MAX_CLOCK_SKEW = 5.0  # seconds: tokens, TLS and expiry times all lean on agreeing clocks
HANDSHAKE_STALE = 180.0  # WireGuard re-handshakes every 2 minutes on a live tunnel


@dataclass(frozen=True, slots=True)
class Finding:
    check: str
    status: str
    detail: str


Check = Callable[[], Awaitable[Finding | Sequence[Finding]]]


async def run_checks(checks: Sequence[tuple[str, Check]], timeout: float = 15.0) -> int:
    failed = False
    for name, check in checks:
        try:
            found = await asyncio.wait_for(check(), timeout)
        except TimeoutError:
            found = Finding(name, FAIL, f"no answer within {timeout:g} s")
        except Exception as exc:  # a doctor reports; it does not crash
            found = Finding(name, FAIL, f"{type(exc).__name__}: {exc}")
        for finding in [found] if isinstance(found, Finding) else found:
            failed |= finding.status == FAIL
            print(f"{finding.status:<4} {finding.check}: {finding.detail}", flush=True)
    return 1 if failed else 0


def clock_skew(name: str, remote: datetime, local: datetime | None = None) -> Finding:
    """How far this machine's clock is from another's (an HTTP Date header, Postgres now())."""
    skew = ((local or datetime.now(UTC)) - remote).total_seconds()
    detail = f"{skew:+.1f} s against {name}"
    if abs(skew) > MAX_CLOCK_SKEW:
        return Finding("clock", FAIL, f"{detail}: sync this machine's clock (NTP, chrony)")
    return Finding("clock", OK, detail)


def http_date(header: str | None) -> datetime | None:
    try:
        return parsedate_to_datetime(header) if header else None
    except (TypeError, ValueError):
        return None


def wireguard(interface: str) -> Finding:
    """The tunnel's peers and how recent their last handshake is (``wg show``)."""
    wg = shutil.which("wg")
    if wg is None:
        return Finding("wireguard", WARN, "wg is not installed (apt install wireguard-tools)")
    shown = subprocess.run(
        [wg, "show", interface, "latest-handshakes"],
        capture_output=True,
        text=True,
        timeout=5,
        check=False,
    )
    if shown.returncode != 0:
        reason = (shown.stderr.strip() or "not up").splitlines()[-1]
        return Finding("wireguard", FAIL, f"interface {interface}: {reason}")
    peers = [line.split() for line in shown.stdout.splitlines() if line.strip()]
    if not peers:
        return Finding("wireguard", FAIL, f"interface {interface} is up with no peer")
    now = time.time()
    ages = [now - int(stamp) for _, stamp in peers if stamp.isdigit() and int(stamp) > 0]
    if len(ages) < len(peers):
        return Finding("wireguard", FAIL, f"{interface}: a peer has never completed a handshake")
    if max(ages) > HANDSHAKE_STALE:
        detail = f"{interface}: last handshake {max(ages):.0f} s ago (tunnel down?)"
        return Finding("wireguard", FAIL, detail)
    return Finding("wireguard", OK, f"{interface}: {len(peers)} peer(s), handshake ok")
