"""A lock held by one test process of this machine at a time: the suite runs in two pytest-xdist workers, and a few
things are one per machine (the Slurm test cluster's fixed ports, a cached environment while it is built)."""

from __future__ import annotations

import fcntl
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def machine_lock(name: str) -> Iterator[None]:
    """Wait for and hold the lock ``name`` for the block (released too when the process dies)."""
    with open(Path(tempfile.gettempdir()) / f"cvrl-pl-{name}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
