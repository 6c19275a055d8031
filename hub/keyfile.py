"""Keys a hub makes for itself on first start, kept in its data directory (mode 0600)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from hub.config import HubConfig


def local_key(config: HubConfig, name: str, make: Callable[[], str]) -> str:
    """The key in ``data_dir/<name>``, written by ``make()`` the first time.

    Several hub processes sharing one data directory race to create it: O_EXCL lets exactly
    one write it, and every process then reads that one.
    """
    path = Path(config.data_dir) / name
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another process of this data dir made it first: use theirs
        else:
            with os.fdopen(fd, "w") as out:
                out.write(make())
    return path.read_text().strip()
