"""Shared helpers: run the real entry point in a subprocess."""

import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import ROOT


def run_train(*args: str, cwd: Path = ROOT, timeout: int = 600) -> subprocess.CompletedProcess:
    """``python train.py ARGS`` as a user runs it; returns the finished process (text stdout/stderr)."""
    return subprocess.run(
        [sys.executable, str(ROOT / "train.py"), *args], cwd=cwd, capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture(scope="session")
def train():
    """``run_train``; session-scoped so that module- and session-scoped fixtures can train too."""
    return run_train
