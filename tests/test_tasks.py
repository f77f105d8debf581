"""The task table: each task's row says how it runs, and the config, the entry point and the modules read the row
instead of testing the task's name; a new row and a new head run end to end (tests/entry/test_task_row.py)."""

import pytest

from cvrl_pl.config import ConfigError, load_config
from cvrl_pl.module import MODULES, ClassifierModule
from cvrl_pl.tasks import TASKS


def test_each_task_runs_as_its_row_says():
    rows = {name: (t.module, t.protocol, t.frozen, t.trains, t.head, t.multilabel) for name, t in TASKS.items()}
    assert rows == {
        "pretrain": ("contrastive", False, False, True, False, False),
        "linear_eval": ("classifier", True, True, True, True, True),
        "finetune": ("classifier", True, False, True, True, True),
        "attentive_probe": ("classifier", True, True, True, True, True),
        "retrieval": ("retrieval", True, True, False, False, False),
    }
    assert {t.module for t in TASKS.values()} <= set(MODULES)


def test_the_headline_metrics_are_the_rows_in_its_order():
    results = {"top5": 60.0, "top1": 40.0, "videos": 3}
    assert TASKS["finetune"].headline(results) == ["top1", "top5"]
    assert TASKS["finetune"].headline({"mAP": 44.4, "videos": 3}) == ["mAP"]
    assert TASKS["retrieval"].headline({"R@1": 1.0, "R@5": 2.0, "queries": 4, "gallery": 8}) == ["R@1", "R@5"]
    assert TASKS["pretrain"].headline(results) == []


def test_the_label_fraction_applies_to_the_tasks_that_train_a_head():
    with pytest.raises(
        ConfigError, match="applies to task=linear_eval, finetune or attentive_probe, not task=retrieval"
    ):
        load_config(None, ["task=retrieval", "data.label_fraction=0.5"])
    assert load_config(None, ["task=finetune", "data.label_fraction=0.5"]).data.label_fraction == 0.5


def test_a_frozen_task_trains_only_its_head_on_the_normalised_feature():
    cfg = load_config(None, ["task=linear_eval", "model.encoder=r3d18", "model.base_channels=8"])
    module = ClassifierModule(cfg, num_classes=3)
    assert module.frozen and module.head.normalize
    assert not any(p.requires_grad for p in module.encoder.parameters())
    assert [n for n, p in module.named_parameters() if p.requires_grad] == ["head.weight", "head.bias"]
