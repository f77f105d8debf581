"""Imports every module of cvrl_pl and dali_pipelines, then builds and runs a DALI graph with conditionals (whose
AutoGraph conversion imports astunparse, gast and six) on the CPU: a package our path needs that is neither on the
GPU box nor packed fails here, naming the module. Prints one JSON line; exits 1 if anything failed.

    PYTHONPATH=<installed wheels>:src:. python scripts/gpu/import_check.py
"""

from __future__ import annotations

import importlib
import json
import pkgutil
import sys


def main() -> int:
    names: list[str] = []
    failed: dict[str, str] = {}
    for package in ("cvrl_pl", "dali_pipelines"):
        root = importlib.import_module(package)
        found = pkgutil.walk_packages(root.__path__, f"{package}.")
        names += [package, *(m.name for m in found if not m.name.endswith("__main__"))]  # __main__ runs a CLI
    for name in names:
        try:
            importlib.import_module(name)
        except Exception as exc:  # noqa: BLE001 (every failure is reported, by module)
            failed[name] = f"{type(exc).__name__}: {exc}"
    graph = "ran"
    try:
        import numpy as np

        from dali_pipelines.decoders import PYAV
        from dali_pipelines.verify import OneSample, check_pipeline

        feed = OneSample()  # one sample of PyAV frames: the graph's conditionals route it, no file needed
        frames = np.zeros((1, 4, 4, 3), np.uint8)
        feed.sample = (
            np.empty(0, np.uint8),
            frames,
            np.asarray(PYAV, np.int32),
            np.zeros(1, np.int32),
            np.zeros(1, np.int32),
        )
        pipeline = check_pipeline(feed, None)
        pipeline.build()
        pipeline.run()
    except Exception as exc:  # noqa: BLE001
        graph = f"{type(exc).__name__}: {exc}"
    print(json.dumps({"modules": len(names), "failed": failed, "conditional_graph": graph}))
    return 1 if failed or graph != "ran" else 0


if __name__ == "__main__":
    sys.exit(main())
