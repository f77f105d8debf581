"""The storage seam (dali_pipelines/storage.py), enforced at the source level: no other module stats, reads or
opens a video by path, so a tar member or a URL needs one new kind of reference in one module, not a branch in
every reader. The checker is shown to catch what it must on planted code."""

from __future__ import annotations

import ast

import pytest

from tests.helpers import ROOT

CODE = [p for top in ("src", "dali_pipelines") for p in sorted((ROOT / top).rglob("*.py"))]
STORAGE = ROOT / "dali_pipelines/storage.py"
# Calls that reach a file's bytes or its stat by path.
BY_PATH = {"os.stat", "os.lstat", "os.path.getsize", "os.path.getmtime", "np.fromfile", "numpy.fromfile", "os.open"}


def _dotted(node: ast.AST) -> str:
    """``os.path.getsize`` for the expression os.path.getsize; "" for anything but names and attributes."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute) and (base := _dotted(node.value)):
        return f"{base}.{node.attr}"
    return ""


def _file_objects(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> set[str]:
    """Names that hold an opened file object in ``fn``: parameters annotated BinaryIO, and ``with X as name``
    targets where X is not the built-in open()."""
    names = {
        a.arg
        for a in fn.args.args + fn.args.kwonlyargs
        if a.annotation is not None and "BinaryIO" in ast.unparse(a.annotation)
    }
    for node in ast.walk(fn):
        if isinstance(node, ast.With | ast.AsyncWith):
            for item in node.items:
                opener = item.context_expr
                builtin_open = isinstance(opener, ast.Call) and _dotted(opener.func) == "open"
                if isinstance(item.optional_vars, ast.Name) and not builtin_open:
                    names.add(item.optional_vars.id)
    return names


def _writes(call: ast.Call) -> bool:
    mode = call.args[1] if len(call.args) > 1 else next((k.value for k in call.keywords if k.arg == "mode"), None)
    return isinstance(mode, ast.Constant) and "w" in str(mode.value)


def by_path(source: str) -> list[str]:
    """The lines of ``source`` that stat, read or open a video by path: a BY_PATH call, or an av.open for reading
    whose argument is not an opened file object (storage.open_file, storage.opened, io.BytesIO)."""
    tree = ast.parse(source)
    found = [
        f"{_dotted(n.func)} at line {n.lineno}"
        for n in ast.walk(tree)
        if isinstance(n, ast.Call) and _dotted(n.func) in BY_PATH
    ]
    scopes = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]
    for fn in scopes:
        files = _file_objects(fn)
        for call in ast.walk(fn):
            if not (isinstance(call, ast.Call) and _dotted(call.func) == "av.open") or _writes(call) or not call.args:
                continue
            arg = call.args[0]
            in_memory = isinstance(arg, ast.Call) and _dotted(arg.func) in ("io.BytesIO", "BytesIO")
            if not in_memory and not (isinstance(arg, ast.Name) and arg.id in files):
                found.append(f"av.open({ast.unparse(arg)}) at line {call.lineno}")
    return sorted(set(found))


@pytest.mark.parametrize("path", [p for p in CODE if p != STORAGE], ids=lambda p: str(p.relative_to(ROOT)))
def test_only_the_storage_layer_touches_a_video_by_path(path):
    assert by_path(path.read_text()) == [], f"{path.relative_to(ROOT)}: go through dali_pipelines.storage"


PLANTED = """
import io, os
import av
import numpy as np
from dali_pipelines import storage

def size(path: str) -> int:
    return os.path.getsize(path)

def data(path: str):
    return np.fromfile(path, np.uint8)

def frames(path: str):
    with av.open(path) as container:
        return container

def through_builtin_open(path: str):
    with open(path, "rb") as f, av.open(f) as container:
        return container

def fine(path: str, data: bytes):
    with storage.open_file(path) as f, av.open(f) as container:
        pass
    with av.open(io.BytesIO(data)) as container, av.open(io.BytesIO(), "w", format="matroska") as out:
        pass
"""


def test_the_checker_catches_reads_by_path_and_passes_storage():
    assert by_path(PLANTED) == [
        "av.open(f) at line 18",
        "av.open(path) at line 14",
        "np.fromfile at line 11",
        "os.path.getsize at line 8",
    ]
    in_storage = [line.split(" at ")[0] for line in by_path(STORAGE.read_text())]
    assert in_storage == ["os.open", "os.stat"]  # the one module that may
