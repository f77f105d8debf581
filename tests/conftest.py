"""Shared fixtures: run the real entry point in a subprocess; small video datasets written once per session. The
longest test files are handed to the xdist workers first."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import ROOT
from tests.helpers.convert_env import ConvertEnv, ConvertEnvError, get_convert_env
from tests.helpers.videos import write_class_videos

# The xdist workers share the machine's cores: each worker, and every run it starts, gets its share of them as torch's
# intra-op threads instead of all of them. Two workers on 2 cores that each ran 2 threads trained an R3D-18 step 2.7x
# slower than with 1 thread each (docs/benchmarks.md, "The test suite").
if os.environ.get("PYTEST_XDIST_WORKER_COUNT"):
    _share = max(1, (os.cpu_count() or 1) // int(os.environ["PYTEST_XDIST_WORKER_COUNT"]))
    os.environ.setdefault("OMP_NUM_THREADS", str(_share))


def run_train(*args: str, cwd: Path = ROOT, timeout: int = 600) -> subprocess.CompletedProcess:
    """``python train.py ARGS`` as a user runs it; returns the finished process (text stdout/stderr)."""
    return subprocess.run(
        [sys.executable, str(ROOT / "train.py"), *args], cwd=cwd, capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture(scope="session")
def train():
    """``run_train``; session-scoped so that module- and session-scoped fixtures can train too."""
    return run_train


@pytest.fixture(scope="session")
def class_videos(tmp_path_factory):
    """``class_videos(num_videos, **kwargs)``: the folder of ``write_class_videos(root, num_videos, **kwargs)``,
    written once per session for each set of arguments and shared by the tests that ask for it (do not modify it)."""
    written: dict[tuple, Path] = {}

    def get(num_videos: int, **kwargs) -> Path:
        key = (num_videos, *sorted(kwargs.items()))
        if key not in written:
            written[key] = write_class_videos(tmp_path_factory.mktemp("class_videos"), num_videos, **kwargs)
        return written[key]

    return get


# The longest test file (--durations, docs/benchmarks.md "The test suite"), handed out first. pytest-xdist's loadfile
# order (files with the most tests first) would leave it, one test, to the end, where one worker runs the quickstart
# for minutes while the other has nothing left to do. Only it: beside the TensorFlow comparison, the next longest, it
# took 474 s instead of 330 s (both train on the 2 cores).
LONGEST_FIRST = ("tests/entry/test_quickstart.py",)


def pytest_xdist_make_scheduler(config, log):
    """Under ``--dist loadfile`` (pyproject.toml): xdist's own scheduler, LONGEST_FIRST's files handed out first."""
    if config.getoption("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling  # only where xdist runs the suite

    class LongestFirst(LoadFileScheduling):
        def _assign_work_unit(self, node) -> None:
            for scope in reversed(LONGEST_FIRST):
                if scope in self.workqueue:
                    self.workqueue.move_to_end(scope, last=False)
            super()._assign_work_unit(node)

    return LongestFirst(config, log)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Under CI=true (.ci/run sets it) a skipped test is a failure: CI never passes by not testing."""
    outcome = yield
    report = outcome.get_result()
    if os.environ.get("CI") == "true" and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"skipped under CI=true, which counts as a failure: {report.longrepr}"


@pytest.fixture(autouse=True)
def _normal_scheduling():
    """Every test leaves the test process on the normal scheduler: a real-time policy (SVT-AV1's encoder sets
    SCHED_FIFO on its caller) is inherited by every later subprocess and slows the suite a hundredfold."""
    yield
    assert os.sched_getscheduler(0) == os.SCHED_OTHER, "the test process was left on a real-time scheduling policy"


@pytest.fixture(scope="session")
def convert_env() -> ConvertEnv:
    """The TensorFlow environment (tests/helpers/convert_env.py), built once and checked on every use. Without a
    package index to build it the tests are skipped, except under ``CI=true``, where that is a failure; an environment
    that is built but still lacks a package is always a failure."""
    try:
        return get_convert_env()
    except ConvertEnvError as exc:
        if exc.build_failed and os.environ.get("CI") != "true":
            pytest.skip(str(exc))
        pytest.fail(str(exc))
