"""The machine-wide load-test slot: two load runs on one machine would distort each other's latencies.

A load run holds an exclusive `fcntl` lock on `<cache>/load.slot` (see :func:`grader.sandbox.cache_dir`),
so separate `grade` processes (a batch's workers, two CI jobs on one runner) take turns. The
lock is released when the holder exits, even if it crashes. `$GRADE_LOAD_SLOT` names another
lock file (e.g. one shared by the workers of a host).
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from grader.sandbox import cache_dir


def slot_path() -> Path:
    """The lock file every load run on this machine takes."""
    configured = os.environ.get("GRADE_LOAD_SLOT")
    return Path(configured) if configured else cache_dir() / "load.slot"


@contextmanager
def load_slot() -> Iterator[None]:
    """Hold the machine-wide load slot, waiting for it if another run has it."""
    path = slot_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
