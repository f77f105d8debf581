"""The summary of a protocol run several times: over the official splits (UCF-101 and HMDB-51 results are reported as
their mean) or over seeds (eval.seeds), with each run's numbers and their sample standard deviation too."""

from __future__ import annotations

import math
from typing import Any


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def summarise_splits(per_split: dict[int, dict[str, Any]], *, over: str = "splits") -> dict[str, Any]:
    """{``over``: the per-run metrics, "mean" and "std": of every numeric metric all runs report}. The std is the
    sample one (n - 1; 0 for one run)."""
    first = next(iter(per_split.values()))
    keys = [k for k, v in first.items() if _number(v) and all(_number(m.get(k)) for m in per_split.values())]
    mean, std = {}, {}
    for k in keys:
        values = [float(m[k]) for m in per_split.values()]
        mean[k] = sum(values) / len(values)
        spread = sum((v - mean[k]) ** 2 for v in values) / (len(values) - 1) if len(values) > 1 else 0.0
        std[k] = math.sqrt(spread)
    return {over: {str(n): m for n, m in per_split.items()}, "mean": mean, "std": std}


def report_table(summary: dict[str, Any], metrics: list[str], *, over: str = "splits") -> str:
    """A Markdown table: one row per run (split or seed), then mean and std, one column per metric."""
    lines = [f"| {over[:-1]} | " + " | ".join(metrics) + " |", "|---" * (len(metrics) + 1) + "|"]
    for n, m in summary[over].items():
        lines.append(f"| {n} | " + " | ".join(f"{m[k]:.2f}" for k in metrics) + " |")
    for row in ("mean", "std"):
        lines.append(f"| {row} | " + " | ".join(f"{summary[row][k]:.2f}" for k in metrics) + " |")
    return "\n".join(lines) + "\n"
