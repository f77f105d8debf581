"""The GPU check's one JSON file: the machine and versions that gave the figures, then each step's figures and the
steps that failed. benchmarks/gpu_check.sh runs this last; the JSON is also printed, as the last line, and the exit
status is 1 when a step failed."""

from __future__ import annotations

import argparse
import ctypes
import importlib
import json
import os
import platform
import shutil
import subprocess
from importlib import metadata
from pathlib import Path

import torch

STEPS = ("hard_videos", "data", "train", "loss")


def version(module: str) -> str | None:
    """``module.__version__``, or None where it does not import."""
    try:
        return importlib.import_module(module).__version__
    except ImportError:
        return None


def dali_distribution() -> str | None:
    """The installed distribution that nvidia.dali imports from and its version, "nvidia-dali-cuda120 2.4.0": which
    CUDA build of DALI ran (their modules are alike); None without DALI."""
    try:
        import nvidia.dali
    except ImportError:
        return None
    imported = Path(nvidia.dali.__file__).resolve()
    for dist in metadata.distributions():
        name = dist.metadata["Name"] or ""
        if name.startswith("nvidia-dali") and Path(dist.locate_file("nvidia/dali/__init__.py")).resolve() == imported:
            return f"{name} {dist.version}"
    return None


def driver_version() -> str | None:
    """The NVIDIA driver's version as nvidia-smi gives it; None without nvidia-smi or a driver."""
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return None
    proc = subprocess.run([smi, "--query-gpu=driver_version", "--format=csv,noheader"], capture_output=True, text=True)
    lines = proc.stdout.split() if proc.returncode == 0 else []
    return lines[0] if lines else None


def loads(library: str) -> bool:
    """Whether the shared ``library`` loads here (libnvcuvid: the driver's NVDEC library, which DALI's GPU decoder
    needs; containers without the `video` driver capability lack it)."""
    try:
        ctypes.CDLL(library)
    except OSError:
        return False
    return True


def machine(device: str) -> dict:
    on_gpu = device == "gpu" and torch.cuda.is_available()
    return {
        "device": torch.cuda.get_device_name() if on_gpu else "cpu" if device == "cpu" else None,
        "capability": ".".join(map(str, torch.cuda.get_device_capability())) if on_gpu else None,
        "driver": driver_version(),
        "nvdec_library": loads("libnvcuvid.so.1"),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "dali": version("nvidia.dali"),
        "dali_distribution": dali_distribution(),
        "pyav": version("av"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--device", choices=["cpu", "gpu"], required=True)
    parser.add_argument("--figures", type=Path, required=True, help="the folder of the steps' <step>.json")
    parser.add_argument("--json", type=Path, required=True, help="write the report here")
    parser.add_argument("--started", required=True, help="when the check started (UTC)")
    parser.add_argument("--command", required=True, help="the check's command line")
    parser.add_argument("--seconds", type=int, required=True, help="the steps' time")
    args = parser.parse_args()

    report = {"machine": machine(args.device), "started": args.started, "command": args.command}
    done = {step: args.figures / f"{step}.json" for step in STEPS if (args.figures / f"{step}.json").is_file()}
    report |= {step: json.loads(path.read_text()) for step, path in done.items()}
    report |= {"failed": [step for step in STEPS if step not in done], "seconds": args.seconds}
    args.json.write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps(report))
    raise SystemExit(1 if report["failed"] else 0)


if __name__ == "__main__":
    main()
