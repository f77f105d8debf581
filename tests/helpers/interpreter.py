"""Scripts that call ``python`` (and ``pip``) by name, run with the interpreter running the tests.

Tests start Python as ``sys.executable``, never as whatever ``python`` is first on PATH: run from a virtual
environment that is not activated, that one is the system's, without this project's packages.
"""

from __future__ import annotations

import os
import shlex
import sys
from collections.abc import Mapping
from pathlib import Path


def python_on_path(bin_dir: Path, env: Mapping[str, str] | None = None) -> dict[str, str]:
    """``env`` (default: this process' environment) with ``bin_dir`` first on PATH, holding ``python`` and ``pip``
    wrappers that run ``sys.executable`` (a wrapper, not a symlink: a venv's interpreter finds its venv by its path)."""
    bin_dir = Path(bin_dir)
    bin_dir.mkdir(parents=True, exist_ok=True)
    for name, prefix in (("python", ""), ("pip", " -m pip")):
        wrapper = bin_dir / name
        wrapper.write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)}{prefix} "$@"\n')
        wrapper.chmod(0o755)
    env = dict(os.environ if env is None else env)
    env["PATH"] = os.pathsep.join([str(bin_dir), *filter(None, [env.get("PATH")])])
    return env
