"""The layers of docs/architecture.md, enforced: import-linter's contracts (pyproject.toml) hold, and a planted
upward import breaks them, so the check is live."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import ROOT

LINT = [
    sys.executable,
    "-c",
    "import sys; from importlinter.cli import lint_imports_command; sys.exit(lint_imports_command())",
]


def _lint(cwd: Path) -> subprocess.CompletedProcess:
    env = {"PYTHONPATH": f"{cwd / 'src'}:{cwd}", "PATH": "/usr/bin:/bin", "NO_COLOR": "1"}
    return subprocess.run(
        [*LINT, "--config", str(cwd / "pyproject.toml"), "--no-cache"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def _copy_tree(dst: Path) -> Path:
    for name in ("src", "dali_pipelines"):
        shutil.copytree(ROOT / name, dst / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    shutil.copy(ROOT / "pyproject.toml", dst / "pyproject.toml")
    return dst


def test_every_contract_is_kept():
    proc = _lint(ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Contracts: 7 kept, 0 broken." in proc.stdout


@pytest.mark.parametrize(
    ("module", "planted", "broken"),
    [
        (
            "src/cvrl_pl/models/heads.py",
            "from cvrl_pl.module import CVRLModule",
            "cvrl_pl.models.heads -> cvrl_pl.module",
        ),
        ("dali_pipelines/sampling.py", "import torch", "dali_pipelines.sampling -> torch"),
        ("src/cvrl_pl/losses/ntxent.py", "import cvrl_pl.eval.knn", "cvrl_pl.losses.ntxent -> cvrl_pl.eval.knn"),
        ("src/cvrl_pl/train.py", "import tensorflow", "cvrl_pl.train -> tensorflow"),
        ("dali_pipelines/storage.py", "import numpy", "dali_pipelines.storage -> numpy"),
    ],
    ids=[
        "upward",
        "graphs-import-torch",
        "components-not-independent",
        "training-imports-tensorflow",
        "storage-imports-numpy",
    ],
)
def test_a_planted_import_breaks_one_contract(tmp_path, module, planted, broken):
    tree = _copy_tree(tmp_path)
    path = tree / module
    path.write_text(path.read_text() + f"\n{planted}  # noqa\n")
    proc = _lint(tree)
    assert proc.returncode == 1
    assert broken in proc.stdout
    assert "Contracts: 6 kept, 1 broken." in proc.stdout
