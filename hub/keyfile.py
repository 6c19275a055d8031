"""Keys a hub makes for itself on first start, kept in its data directory (mode 0600)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from hub.config import HubConfig


def local_key(config: HubConfig, name: str, make: Callable[[], str]) -> str:
    """The key in ``data_dir/<name>``, written by ``make()`` the first time.

    Several hub processes sharing one data directory race to create it: each writes its
    candidate to a file of its own and hard-links it into place, which succeeds for exactly
    one of them, whole; every process then reads that one (never a file still being written).
    """
    path = Path(config.data_dir) / name
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        candidate = path.with_name(f".{name}.{os.getpid()}.tmp")
        fd = os.open(candidate, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(make())
            out.flush()
            os.fsync(out.fileno())
        try:
            os.link(candidate, path)
        except FileExistsError:
            pass  # another process of this data dir made it first: use theirs
        finally:
            candidate.unlink(missing_ok=True)
    return path.read_text().strip()
