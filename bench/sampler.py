"""A CPU-time sampling profiler from the standard library, for the benches' child processes.

    python bench/sampler.py OUT.txt -m MODULE [ARGS...]     # run MODULE, profile it
    python bench/sampler.py --report OUT.txt [--top 25]     # print where the CPU went

Every ``INTERVAL`` of the process's own CPU time (user + system: ``ITIMER_PROF``), SIGPROF
interrupts it and the Python stack it was running is counted. Time the process spends waiting
(epoll, descheduled on a loaded box) is never sampled, unlike cProfile's wall clock, whose
figures on a shared machine are mostly scheduling delays inside ``send``. Time inside a C call
(a socket write, msgspec, asyncpg's protocol) is counted to the Python line that made it.
Given as a script path, so a hub started from another checkout can be sampled the same way.
SIGUSR1 restarts the count (the bench sends it when its measured window opens), SIGUSR2 stops it.
Written at exit: one line per distinct stack, ``count<TAB>frame;frame;...`` (root first).
"""

from __future__ import annotations

import argparse
import collections
import runpy
import signal
import sys
from pathlib import Path
from types import FrameType

INTERVAL = 0.002  # seconds of CPU time between samples
_PREFIXES = ("site-packages/", "lib/python3.11/", "/hub/", "/common/", "/bench/")


def _short(filename: str) -> str:
    for prefix in _PREFIXES:
        if prefix in filename:
            tail = filename.split(prefix, 1)[1]
            return tail if prefix.startswith(("site", "lib")) else prefix.strip("/") + "/" + tail
    return Path(filename).name


def run(out: Path, module: str, args: list[str]) -> None:
    stacks: collections.Counter[str] = collections.Counter()

    def sample(_signum: int, frame: FrameType | None) -> None:
        names = []
        while frame is not None:
            names.append(f"{_short(frame.f_code.co_filename)}:{frame.f_code.co_name}")
            frame = frame.f_back
        stacks[";".join(reversed(names))] += 1

    def window(signum: int, _frame: FrameType | None) -> None:
        """SIGUSR1: forget what came before and sample from now; SIGUSR2: stop sampling."""
        if signum == signal.SIGUSR1:
            stacks.clear()
            signal.setitimer(signal.ITIMER_PROF, INTERVAL, INTERVAL)
        else:
            signal.setitimer(signal.ITIMER_PROF, 0, 0)

    signal.signal(signal.SIGPROF, sample)
    signal.signal(signal.SIGUSR1, window)
    signal.signal(signal.SIGUSR2, window)
    signal.setitimer(signal.ITIMER_PROF, INTERVAL, INTERVAL)
    sys.argv = [module, *args]
    try:
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0, 0)
        out.write_text("".join(f"{n}\t{stack}\n" for stack, n in stacks.most_common()))


def report(path: Path, top: int) -> None:
    """Inclusive (on the stack) and self (innermost) shares of the samples, by function."""
    inclusive: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    total = 0
    for line in path.read_text().splitlines():
        count, stack = line.split("\t", 1)
        frames = stack.split(";")
        total += int(count)
        own[frames[-1]] += int(count)
        for name in set(frames):
            inclusive[name] += int(count)
    print(f"{total} samples of {INTERVAL * 1000:g} ms CPU = {total * INTERVAL:.1f} s of CPU")
    for title, counter in (("inclusive", inclusive), ("self", own)):
        print(f"\n{title}:")
        for name, count in counter.most_common(top):
            print(f"  {count / total:6.1%}  {name}")


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--report":
        parser = argparse.ArgumentParser()
        parser.add_argument("--report", type=Path, required=True)
        parser.add_argument("--top", type=int, default=25)
        options = parser.parse_args()
        report(options.report, options.top)
        return
    if len(sys.argv) < 4 or sys.argv[2] != "-m":
        raise SystemExit(__doc__)
    run(Path(sys.argv[1]), sys.argv[3], sys.argv[4:])


if __name__ == "__main__":
    main()
