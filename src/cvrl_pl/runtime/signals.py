"""The preemption signal (what Slurm sends before a time limit) and keeping worker processes deaf to it."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager

PREEMPT_SIGNAL = signal.SIGUSR1


@contextmanager
def preemption_signal_ignored() -> Iterator[None]:
    """Worker processes started inside this block ignore the preemption signal (they inherit SIG_IGN through
    fork and exec). Slurm signals every process of a job step, and the default action of SIGUSR1 is to die."""
    previous = signal.signal(PREEMPT_SIGNAL, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(PREEMPT_SIGNAL, previous)
