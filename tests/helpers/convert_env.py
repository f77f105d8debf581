"""The TensorFlow environment of the conversion test: tensorflow, tf-keras and tf-models-official
(requirements-convert.txt) in a virtual environment of their own, which also sees the packages of whatever Python
runs the tests (a venv, a conda-style environment or a system Python) and this project's ``src/``.

The environment is built once and kept (``$CVRL_CONVERT_ENV``, default ~/.cache/cvrl-pl/convert-env), so it may be
reused from another outer environment than the one that built it. It therefore holds no outer path: a ``.pth`` file
in its site-packages appends the folders named by ``$CVRL_OUTER_SITE`` to ``sys.path``, after its own
site-packages (TensorFlow's pinned dependencies win), and each call passes the caller's own folders there.
"""

from __future__ import annotations

import json
import os
import site
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from tests.helpers import ROOT
from tests.helpers.machine_lock import machine_lock

OUTER_VAR = "CVRL_OUTER_SITE"
PTH_NAME = "cvrl_outer_site.pth"
# One line of code (a .pth line that starts with "import" is run); no comprehension: its scope would not see ``site``.
PTH_LINE = (
    f"import os, site; list(map(site.addsitedir, filter(None, os.environ.get({OUTER_VAR!r}, '').split(os.pathsep))))\n"
)
# What official_equivalence.py and the converter import, in their order: from the environment itself ...
OWN_MODULES = [
    "tensorflow",
    "tf_keras",
    "official.core.exp_factory",
    "official.projects.video_ssl.configs.video_ssl",
    "official.projects.video_ssl.modeling.video_ssl_model",
    "official.vision.modeling.factory_3d",
]
# ... and from the outer environment and src/.
OUTER_MODULES = ["numpy", "torch", "cvrl_pl.models", "cvrl_pl.tools.convert_official"]
CHECK = """
import importlib, json, sys
missing = {}
for name in sys.argv[1:]:
    try:
        importlib.import_module(name)
    except Exception as exc:
        missing[name] = f"{getattr(exc, 'name', None) or name}: {type(exc).__name__}: {exc}"
print(json.dumps(missing))
"""


class ConvertEnvError(Exception):
    """The environment cannot be built (``build_failed``: no package index, say) or lacks a package it names."""

    def __init__(self, message: str, *, build_failed: bool = False):
        super().__init__(message)
        self.build_failed = build_failed


def env_path() -> Path:
    """Where the environment is kept."""
    return Path(os.environ.get("CVRL_CONVERT_ENV", Path.home() / ".cache" / "cvrl-pl" / "convert-env"))


def outer_folders() -> list[str]:
    """This project's ``src/`` and the site-packages folders of the Python running the tests, in that order."""
    folders = [str(ROOT / "src"), *site.getsitepackages()]
    if site.ENABLE_USER_SITE:
        folders.append(site.getusersitepackages())
    return [f for f in dict.fromkeys(folders) if Path(f).is_dir()]


@dataclass(frozen=True)
class ConvertEnv:
    """The environment's interpreter, and the process environment that shows it the caller's packages."""

    python: Path

    @property
    def environ(self) -> dict[str, str]:
        return {**os.environ, OUTER_VAR: os.pathsep.join(outer_folders())}

    def run(self, *args: str, timeout: float) -> subprocess.CompletedProcess:
        """``python ARGS`` in the environment, from the repository root; text output captured."""
        return subprocess.run(
            [str(self.python), *args], cwd=ROOT, env=self.environ, capture_output=True, text=True, timeout=timeout
        )

    def missing(self, modules: list[str]) -> dict[str, str]:
        """The modules among ``modules`` that do not import here, with their errors."""
        done = self.run("-c", CHECK, *modules, timeout=600)
        if done.returncode:
            return {"python": f"the import check itself failed: {done.stderr[-2000:]}"}
        return json.loads(done.stdout.strip().splitlines()[-1])


def _site_packages(python: Path) -> Path:
    """The environment's own site-packages (``python`` without the outer folders)."""
    code = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    done = subprocess.run([str(python), "-c", code], capture_output=True, text=True, check=True)
    return Path(done.stdout.strip())


def _write_pth(python: Path) -> None:
    """The ``.pth`` file, written only when it is not there yet: its text never changes, and other test runs may be
    reading it."""
    pth = _site_packages(python) / PTH_NAME
    if not pth.is_file() or pth.read_text() != PTH_LINE:
        partial = pth.with_name(f"{PTH_NAME}.{os.getpid()}.partial")
        partial.write_text(PTH_LINE)
        os.replace(partial, pth)


def _same_python(python: Path) -> bool:
    """Whether ``python`` runs and is of this interpreter's version (the outer site-packages are for that one)."""
    code = "import sys; print(sys.version_info[:2])"
    done = subprocess.run([str(python), "-c", code], capture_output=True, text=True)
    return done.returncode == 0 and done.stdout.strip() == str(sys.version_info[:2])


def _build(path: Path, *, clear: bool) -> None:
    """A venv of this interpreter (without the system's site-packages) with requirements-convert.txt installed."""
    python = path / "bin" / "python"
    pip_env = {k: v for k, v in os.environ.items() if k != OUTER_VAR}  # pip sees the environment's own packages
    steps = [
        [sys.executable, "-m", "venv", *(["--clear"] if clear else []), str(path)],
        [str(python), "-m", "pip", "install", "-q", "-r", str(ROOT / "requirements-convert.txt")],
    ]
    for step in steps:
        done = subprocess.run(step, capture_output=True, text=True, timeout=1800, env=pip_env)
        if done.returncode:
            raise ConvertEnvError(
                f"cannot build the TensorFlow environment ({' '.join(step[:4])}): {done.stderr[-2000:]}",
                build_failed=True,
            )


def _describe(missing: dict[str, str]) -> str:
    return "; ".join(dict.fromkeys(missing.values()))


def get_convert_env() -> ConvertEnv:
    """The environment, built or completed only where it lacks its own packages; checked after every build and on
    every reuse. Raises :class:`ConvertEnvError` naming what still does not import. One test process at a time: the
    other xdist worker waits while this one builds."""
    with machine_lock("convert-env"):
        return _get_convert_env()


def _get_convert_env() -> ConvertEnv:
    path = env_path()
    env = ConvertEnv(path / "bin" / "python")
    usable = env.python.is_file() and _same_python(env.python)
    if usable:
        _write_pth(env.python)
        missing = env.missing(OWN_MODULES + OUTER_MODULES)
        if not missing:
            return env
        if not set(missing) & set(OWN_MODULES):  # installing TensorFlow again would not help
            raise ConvertEnvError(
                f"the TensorFlow environment {path} does not see these packages of {sys.executable} (site folders "
                f"{outer_folders()}): {_describe(missing)}; is requirements.txt installed there?"
            )
    _build(path, clear=path.exists() and not usable)  # another Python's (or a broken) environment is rebuilt
    _write_pth(env.python)
    missing = env.missing(OWN_MODULES + OUTER_MODULES)
    if missing:
        raise ConvertEnvError(f"the TensorFlow environment {path}, once built, still lacks: {_describe(missing)}")
    return env
