"""The run report: metrics.json, report.md and report.png (training loss and probe accuracy over epochs)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytorch_lightning as pl

from cvrl_pl.callbacks import step_loss
from cvrl_pl.callbacks.probes import ProbeCallback


class ReportCallback(pl.Callback):
    """Collects the mean training loss of every epoch and writes the report when training ends (rank 0)."""

    def __init__(self, run_dir: Path, probes: ProbeCallback | None):
        self.run_dir, self.probes = Path(run_dir), probes
        self.losses: list[float] = []  # mean loss per finished epoch; kept in checkpoints
        self._sum, self._count = 0.0, 0  # summed on the device: read once an epoch, not once a step

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        loss = step_loss(outputs)
        self._sum = self._sum + loss.float()
        self._count += 1

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        if self._count:
            self.losses.append(float(self._sum) / self._count)
        self._sum, self._count = 0.0, 0

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.is_global_zero:
            write_report(
                self.run_dir,
                self.losses,
                self.probes.history if self.probes else [],
                self.probes.random_init if self.probes else None,
            )

    def state_dict(self) -> dict[str, Any]:
        return {"losses": self.losses}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.losses = list(state_dict["losses"])


# The probes' results metrics.json carries (a checkpoint from before mean per-class top-1 was logged lacks those).
PROBE_KEYS = tuple(f"{probe}_{m}" for probe in ("knn", "linear") for m in ("top1", "top5", "mean_class_top1"))


def summarise(losses: list[float], history: list[dict], random_init: dict | None) -> dict[str, Any]:
    """metrics.json: the last evaluation's top-1/top-5 (percent), the random-init baseline, and the curves."""
    metrics: dict[str, Any] = {"epochs": len(losses), "train_loss": losses}
    if history:
        last = history[-1]
        metrics.update({k: last[k] for k in PROBE_KEYS if k in last})
        metrics["history"] = history
    if random_init:
        metrics["random_init"] = {k: random_init[k] for k in PROBE_KEYS if k in random_init}
    return metrics


def write_report(run_dir: Path, losses: list[float], history: list[dict], random_init: dict | None) -> dict:
    """Write metrics.json, report.png and report.md into ``run_dir``; return the metrics."""
    metrics = summarise(losses, history, random_init)
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "metrics.json").write_text(json.dumps(metrics, indent=1))
    _plot(run_dir / "report.png", losses, history, random_init)
    lines = ["# Run report", "", f"Epochs trained: {len(losses)}.", ""]
    if history:
        lines += [
            "| encoder | kNN top-1 | kNN top-5 | kNN per-class | linear top-1 | linear top-5 | linear per-class |",
            "| --- | --- | --- | --- | --- | --- | --- |",
        ]
        rows = [("pretrained", history[-1])] + ([("random init", random_init)] if random_init else [])
        lines += [f"| {name} | " + " | ".join(_cell(r, k) for k in PROBE_KEYS) + " |" for name, r in rows]
        if random_init:
            gain = history[-1]["linear_top1"] - random_init["linear_top1"]
            lines += ["", f"Linear-probe top-1 gain over random init: {gain:+.1f} points."]
    lines += ["", "![loss and accuracy curves](report.png)", ""]
    (run_dir / "report.md").write_text("\n".join(lines))
    return metrics


def _cell(result: dict, key: str) -> str:
    """A probe's value in report.md: one decimal, or a dash where the evaluation did not log it."""
    return f"{result[key]:.1f}" if key in result else "—"


def _plot(path: Path, losses: list[float], history: list[dict], random_init: dict | None) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 4))
    ax_loss.plot(range(1, len(losses) + 1), losses)
    ax_loss.set(xlabel="epoch", ylabel="NT-Xent loss", title="training loss")
    for key, colour in (("knn_top1", "tab:blue"), ("linear_top1", "tab:orange")):
        ax_acc.plot(
            [h["epoch"] for h in history],
            [h[key] for h in history],
            marker="o",
            color=colour,
            label=f"pretrained {key}",
        )
        if random_init:
            ax_acc.axhline(random_init[key], color=colour, linestyle="--", label=f"random init {key}")
    ax_acc.set(xlabel="epoch", ylabel="top-1 (%)", title="val accuracy", ylim=(0, 100))
    ax_acc.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
