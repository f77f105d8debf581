"""The project's code conventions, checked on the source tree: keyword-only parameters past four, modules no
longer than 400 lines, Lightning's private API reached from one module only, and every file a reader is pointed
to exists in the repository."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import ROOT

CODE = [p for top in ("src", "dali_pipelines") for p in sorted((ROOT / top).rglob("*.py"))]
LIGHTNING_PRIVATE = ROOT / "src/cvrl_pl/runtime/lightning_private.py"


def _tracked(*patterns: str) -> list[Path]:
    out = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", *patterns],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [ROOT / line for line in out.splitlines() if (ROOT / line).is_file()]


def _functions(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            yield node


def positional_overflow(source: str) -> list[str]:
    """Public functions (and ``__init__``) taking more than four positional parameters besides self/cls.
    Lightning's hooks (``on_*``) keep the framework's signatures."""
    bad = []
    for fn in _functions(ast.parse(source)):
        if (fn.name.startswith("_") and fn.name != "__init__") or fn.name.startswith("on_"):
            continue
        names = [a.arg for a in fn.args.posonlyargs + fn.args.args if a.arg not in ("self", "cls")]
        if len(names) > 4:
            bad.append(f"{fn.name}({', '.join(names)}) at line {fn.lineno}")
    return bad


def test_the_rule_checker_catches_five_positional_parameters():
    assert positional_overflow("def f(a, b, c, d, e): pass") == ["f(a, b, c, d, e) at line 1"]
    assert positional_overflow("def f(a, b, c, d, *, e): pass\ndef _g(a, b, c, d, e): pass") == []
    assert positional_overflow("class A:\n    def __init__(self, a, b, c, d, e): pass")


@pytest.mark.parametrize("path", CODE, ids=lambda p: str(p.relative_to(ROOT)))
def test_keyword_only_parameters_past_four(path):
    assert positional_overflow(path.read_text()) == []


@pytest.mark.parametrize("path", CODE, ids=lambda p: str(p.relative_to(ROOT)))
def test_modules_stay_under_400_lines(path):
    assert len(path.read_text().splitlines()) <= 400


def _trainer_internals(source: str) -> list[str]:
    """Attribute chains on a trainer that reach private members or the loops' internals, and imports of private
    Lightning modules."""
    found = []
    nodes = list(ast.walk(ast.parse(source)))
    inner = {id(n.value) for n in nodes if isinstance(n, ast.Attribute)}  # a chain is checked once, whole
    for node in nodes:
        if isinstance(node, ast.Attribute) and id(node) not in inner:
            chain, base = [node.attr], node.value
            while isinstance(base, ast.Attribute):
                chain.append(base.attr)
                base = base.value
            rooted = "trainer" in chain[1:] or (isinstance(base, ast.Name) and base.id == "trainer")
            if rooted and any(a.startswith("_") or a in ("fit_loop", "epoch_loop") for a in chain):
                found.append(".".join(reversed(chain)))
        elif isinstance(node, ast.ImportFrom) and node.module:
            parts = node.module.split(".")
            if parts[0] in ("pytorch_lightning", "lightning_fabric", "lightning") and any(
                p.startswith("_") for p in parts
            ):
                found.append(node.module)
    return found


def test_the_private_api_checker_sees_what_it_must():
    assert _trainer_internals("x = trainer._logger_connector.should_update_logs") == [
        "_logger_connector.should_update_logs"
    ]
    assert _trainer_internals("n = self.trainer.fit_loop.epoch_loop.batch_progress")
    assert _trainer_internals("from pytorch_lightning.trainer.connectors._x import y") == [
        "pytorch_lightning.trainer.connectors._x"
    ]
    assert _trainer_internals("x = trainer.global_step + self._plan") == []


@pytest.mark.parametrize("path", [p for p in CODE if p != LIGHTNING_PRIVATE], ids=lambda p: str(p.relative_to(ROOT)))
def test_lightning_private_api_only_in_its_module(path):
    assert _trainer_internals(path.read_text()) == []


# Files outside the repository that earlier text pointed to (spelt in two parts so that this file does not).
OUTSIDE = tuple(f"{stem}.md" for stem in ("cvrl_recipe", "dali_notes")) + ("/work" + "/", "shared/" + "reference")
REFERENCE = re.compile(
    r"(?<![\w./<-])((?:docs|tests|conf|benchmarks|scripts|src|dali_pipelines|\.ci)/[\w./-]*\w)(?![\w/<])"
)


def test_no_reference_points_outside_the_repository():
    offenders = [
        f"{p.relative_to(ROOT)}: {word}"
        for p in _tracked("*.py", "*.md", "*.yaml", "*.toml", "*.sh", "*.sbatch", ".ci/*")
        for word in OUTSIDE
        if word in p.read_text()
    ]
    assert offenders == []


def test_every_referenced_repository_file_exists():
    missing = []
    for p in _tracked("*.py", "*.md", "*.yaml", "*.toml", "*.sh", "*.sbatch"):
        for ref in REFERENCE.findall(p.read_text()):
            if not (ROOT / ref).exists():
                missing.append(f"{p.relative_to(ROOT)}: {ref}")
    assert missing == []


def test_ruff_is_clean():
    """Lint and formatting, with the pinned ruff and the project's settings (pyproject.toml)."""
    for args in (["check", "."], ["format", "--check", "."]):
        proc = subprocess.run([sys.executable, "-m", "ruff", *args], cwd=ROOT, capture_output=True, text=True)
        assert proc.returncode == 0, proc.stdout + proc.stderr
