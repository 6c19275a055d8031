"""Run every benchmark in bench/ in turn and print what each prints (``make bench``).

    .venv/bin/python -m bench.run_all [NAME ...]      e.g. ``portal_latency``; default: all

Each runs as ``python -m bench.<name>`` in a process of its own, so one's memory and CPU
figures never include another's. Exits non-zero if any of them failed.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
NOT_BENCHMARKS = {"__init__", "__main__", "run_all"}


def benchmarks() -> list[str]:
    """The module names of the bench/*.py scripts, in name order."""
    return sorted(p.stem for p in BENCH.glob("*.py") if p.stem not in NOT_BENCHMARKS)


def main(argv: list[str] | None = None) -> int:
    known = benchmarks()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", metavar="NAME", help=f"one of {', '.join(known)}")
    chosen = parser.parse_args(argv).names or known
    if unknown := [name for name in chosen if name not in known]:
        parser.error(f"no such benchmark: {', '.join(unknown)} (known: {', '.join(known)})")
    failed = []
    for name in chosen:
        print(f"\n=== bench.{name} ===", flush=True)
        started = time.monotonic()
        status = subprocess.run(
            [sys.executable, "-m", f"bench.{name}"], cwd=BENCH.parent, check=False
        ).returncode
        outcome = "ok" if status == 0 else f"FAILED (exit status {status})"
        print(f"=== bench.{name}: {outcome} in {time.monotonic() - started:.0f} s ===", flush=True)
        if status != 0:
            failed.append(name)
    if failed:
        print(f"\nfailed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
