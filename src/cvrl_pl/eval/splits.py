"""The three-split protocol's summary: UCF-101 and HMDB-51 results are reported as the mean over their official
splits; here with the per-split numbers and their sample standard deviation too."""

from __future__ import annotations

import math
from typing import Any


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def summarise_splits(per_split: dict[int, dict[str, Any]]) -> dict[str, Any]:
    """{"splits": the per-split metrics, "mean" and "std": of every numeric metric all splits report}. The std is
    the sample one (n - 1; 0 for one split)."""
    first = next(iter(per_split.values()))
    keys = [k for k, v in first.items() if _number(v) and all(_number(m.get(k)) for m in per_split.values())]
    mean, std = {}, {}
    for k in keys:
        values = [float(m[k]) for m in per_split.values()]
        mean[k] = sum(values) / len(values)
        spread = sum((v - mean[k]) ** 2 for v in values) / (len(values) - 1) if len(values) > 1 else 0.0
        std[k] = math.sqrt(spread)
    return {"splits": {str(n): m for n, m in per_split.items()}, "mean": mean, "std": std}


def report_table(summary: dict[str, Any], metrics: list[str]) -> str:
    """A Markdown table: one row per split, then mean and std, one column per metric."""
    lines = ["| split | " + " | ".join(metrics) + " |", "|---" * (len(metrics) + 1) + "|"]
    for n, m in summary["splits"].items():
        lines.append(f"| {n} | " + " | ".join(f"{m[k]:.2f}" for k in metrics) + " |")
    for row in ("mean", "std"):
        lines.append(f"| {row} | " + " | ".join(f"{summary[row][k]:.2f}" for k in metrics) + " |")
    return "\n".join(lines) + "\n"
