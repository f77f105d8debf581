"""What a run can do (``task=...``): one row per task, the registry the config's choices, the entry point, the
modules and the config checks read, instead of testing the task's name. Adding a task is adding a row (and, for a
new kind of module, its entry in ``cvrl_pl.module.MODULES``)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from fnmatch import fnmatchcase


@dataclass(frozen=True)
class Task:
    """How one task runs."""

    module: str  # the LightningModule that runs it (cvrl_pl.module.MODULES): contrastive, classifier, retrieval
    protocol: bool  # tests a given encoder on val.* after data.* (--splits runs it); else pretraining with probes
    frozen: bool  # the encoder's weights stay as loaded
    trains: bool  # an optimiser runs, and last.ckpt is saved
    head: bool  # a head (eval.head: models.heads.HEADS) is trained on data.*'s labels (data.label_fraction applies)
    multilabel: bool  # scores a multi-label split (charades) too, by mAP
    metrics: tuple[str, ...] = ()  # its headline metrics: metrics.json keys (or patterns), in the order shown
    head_name: str | None = None  # the head it trains whatever eval.head says (models.heads.HEADS)

    def head_of(self, configured: str) -> str:
        """The head this task trains: its own, or ``configured`` (eval.head)."""
        return self.head_name or configured

    def headline(self, results: Iterable[str]) -> list[str]:
        """The keys of ``results`` that are headline metrics, in the order of ``metrics``."""
        keys = list(results)
        return [key for pattern in self.metrics for key in keys if fnmatchcase(key, pattern)]


SCORES = ("mAP", "top1", "top5")  # a classifier's: mAP on a multi-label split, else top-1 and top-5

TASKS: dict[str, Task] = {
    "pretrain": Task("contrastive", protocol=False, frozen=False, trains=True, head=False, multilabel=False),
    "linear_eval": Task(
        "classifier", protocol=True, frozen=True, trains=True, head=True, multilabel=True, metrics=SCORES
    ),
    "finetune": Task(
        "classifier", protocol=True, frozen=False, trains=True, head=True, multilabel=True, metrics=SCORES
    ),
    # V-JEPA's attentive probe on the frozen encoder's feature map (models/attentive.py)
    "attentive_probe": Task(
        "classifier",
        protocol=True,
        frozen=True,
        trains=True,
        head=True,
        multilabel=True,
        metrics=SCORES,
        head_name="attentive",
    ),
    "retrieval": Task(
        "retrieval", protocol=True, frozen=True, trains=False, head=False, multilabel=False, metrics=("R@*",)
    ),
}
