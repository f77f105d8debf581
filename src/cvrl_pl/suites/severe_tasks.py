"""The SEVERE benchmark's tasks (Thoker et al., ECCV 2022; github.com/fmthoker/SEVERE-BENCHMARK at 2f99365) and
the rows its Table 4 publishes: what the suite runs and what it prints ours beside (docs/recipe.md, "SEVERE")."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SevereTask:
    """One column of SEVERE's Table 4: the config that runs it (conf/severe/<name>.yaml), the column's name, the
    metric it reports (a metrics.json key) and, for the 1000-example subsets, the size of SEVERE's draw."""

    column: str
    metric: str
    examples: int | None = None


TASKS: dict[str, SevereTask] = {
    "ucf101": SevereTask("UCF101", "top1"),
    "ssv2": SevereTask("SSv2", "top1"),
    "gym99": SevereTask("Gym99", "top1"),
    "ucf101_1000": SevereTask("UCF-1000", "top1", examples=1000),
    "gym99_1000": SevereTask("Gym99-1000", "top1", examples=1000),
    "fx_s1": SevereTask("FX-S1", "top1"),
    "ub_s1": SevereTask("UB-S1", "top1"),
    "charades": SevereTask("Charades", "mAP"),
}

# SEVERE's Table 4 columns in order; UCF-RC (repetition counting, MAE: lower is better) has no task here yet.
COLUMNS = ("UCF101", "SSv2", "Gym99", "UCF-1000", "Gym99-1000", "FX-S1", "UB-S1", "UCF-RC", "Charades")

# SEVERE's Table 4: R(2+1)D-18 encoders pretrained on Kinetics-400, fine-tuned as the configs in conf/severe/ do;
# accuracy in %, UCF-RC as MAE, Charades as mAP in %. Each row is one run; the paper chooses each run's epoch on the
# test split (SEVERE's rule, eval.selection=best_on_test).
PUBLISHED: dict[str, tuple[float, ...]] = {
    "None": (75.4, 56.8, 89.4, 43.1, 23.1, 45.0, 84.0, 0.232, 7.9),
    "MoCo": (83.5, 57.0, 90.6, 60.7, 29.0, 65.1, 85.0, 0.220, 8.1),
    "VideoMoCo": (85.8, 58.8, 90.5, 65.8, 19.2, 60.4, 82.1, 0.171, 10.5),
    "RSPNet": (88.5, 59.4, 91.3, 75.7, 32.2, 63.5, 85.1, 0.151, 9.1),
    "GDT": (91.1, 57.8, 90.4, 77.8, 44.1, 65.7, 81.6, 0.137, 8.5),
    "Supervised": (94.1, 61.0, 91.8, 86.0, 51.2, 81.0, 86.9, 0.137, 23.6),
}
PUBLISHED_ENCODER = "R(2+1)D-18"
