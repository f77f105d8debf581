"""The hard videos of benchmarks/hard_videos.py for tests, imported as the GPU check imports them."""

from __future__ import annotations

import sys
from pathlib import Path
from types import ModuleType

from tests.helpers import ROOT


def hard_videos_module() -> ModuleType:
    """benchmarks/hard_videos.py as a module (benchmarks/ is no package: the GPU check puts it on sys.path)."""
    if str(ROOT / "benchmarks") not in sys.path:
        sys.path.insert(0, str(ROOT / "benchmarks"))
    import hard_videos

    return hard_videos


def build_hard_videos(folder: Path, names: list[str] | None = None) -> dict[str, Path]:
    """The hard videos ``names`` (all by default) written into ``folder``, by name."""
    module = hard_videos_module()
    folder.mkdir(parents=True, exist_ok=True)
    return {name: module.HARD_VIDEOS[name].build(folder) for name in names or module.HARD_VIDEOS}
