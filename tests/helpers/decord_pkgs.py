"""decord for the tests of bench_data.py's decord baselines: requirements-decord.txt installed once, without
dependencies (decord2 bundles its FFmpeg and needs only NumPy), into a folder of its own that only those tests put
on a path. The project's install never sees it, as users who do not install the extra never do.

The folder is kept (``$CVRL_DECORD_PKGS``, default ~/.cache/cvrl-pl/decord) and filled atomically: a partial
install is never taken for a finished one.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.helpers import ROOT
from tests.helpers.machine_lock import machine_lock

CHECK = "import decord, numpy; r = decord.VideoReader; print(decord.__version__)"


def decord_folder() -> Path:
    """The folder holding ``decord``, installed there first if it is not; raises naming pip's error if that fails
    and the import error if the installed package does not import."""
    path = Path(os.environ.get("CVRL_DECORD_PKGS", Path.home() / ".cache" / "cvrl-pl" / "decord"))
    with machine_lock("decord"):  # the other xdist worker waits while this one installs
        _install(path)
    env = {**os.environ, "PYTHONPATH": str(path)}
    done = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True, env=env, timeout=300)
    if done.returncode:
        raise RuntimeError(f"decord installed in {path} does not import: {done.stderr[-2000:]}")
    return path


def _install(path: Path) -> None:
    """requirements-decord.txt into ``path``, atomically, unless it is there already."""
    if (path / "decord" / "__init__.py").is_file():
        return
    partial = path.with_name(f"{path.name}.partial-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    command = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(partial)]
    done = subprocess.run(
        [*command, "-r", str(ROOT / "requirements-decord.txt")], capture_output=True, text=True, timeout=900
    )
    if done.returncode:
        raise RuntimeError(f"cannot install requirements-decord.txt into {partial}: {done.stderr[-2000:]}")
    shutil.rmtree(path, ignore_errors=True)
    os.replace(partial, path)
