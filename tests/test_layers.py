"""The layers of docs/architecture.md, enforced: import-linter's contracts (pyproject.toml) hold, and a planted
upward import breaks them, so the check is live."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

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
    assert "Contracts: 5 kept, 0 broken." in proc.stdout


def test_an_upward_import_breaks_the_layers(tmp_path):
    tree = _copy_tree(tmp_path)
    heads = tree / "src/cvrl_pl/models/heads.py"
    heads.write_text(heads.read_text() + "\nfrom cvrl_pl.module import CVRLModule  # noqa: E402\n")
    proc = _lint(tree)
    assert proc.returncode == 1
    assert "cvrl_pl.models.heads -> cvrl_pl.module" in proc.stdout
    assert "Contracts: 4 kept, 1 broken." in proc.stdout


def test_a_graph_importing_torch_breaks_the_dali_contract(tmp_path):
    tree = _copy_tree(tmp_path)
    sampling = tree / "dali_pipelines/sampling.py"
    sampling.write_text(sampling.read_text() + "\nimport torch  # noqa: E402, F401\n")
    proc = _lint(tree)
    assert proc.returncode == 1
    assert "dali_pipelines.sampling -> torch" in proc.stdout
