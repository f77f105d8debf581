"""The probe callback's linear probe comes from the head registry (models.heads, ``probe.head``): the linear head
fits as a plain linear layer does, and a head that is not one linear layer is refused by name. Each probe logs
top-1, top-5 and mean per-class top-1."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from cvrl_pl.callbacks.probes import probe_head, probe_metrics
from cvrl_pl.errors import ConfigError
from cvrl_pl.eval.knn import topk_accuracy
from cvrl_pl.eval.linear import fit_linear_probe, probe_scores
from cvrl_pl.models import heads


class TwoLayers(nn.Sequential):
    def __init__(self, in_dim: int, num_classes: int, *, normalize: bool, dropout: float):
        super().__init__(nn.Linear(in_dim, 8), nn.ReLU(), nn.Linear(8, num_classes))


def test_the_registry_head_fits_as_a_linear_layer_does():
    gen = torch.Generator().manual_seed(0)
    centres = torch.randn(4, 16, generator=gen) * 3
    y = torch.arange(400) % 4
    x = centres[y] + torch.randn(400, 16, generator=gen)
    torch.manual_seed(1)
    head = probe_head("linear", 16, 4)
    torch.manual_seed(1)
    plain = nn.Linear(16, 4)
    assert isinstance(head, heads.LinearHead)
    fitted = fit_linear_probe(x[:300], y[:300], 4, epochs=20, lr=0.01, layer=head)
    reference = fit_linear_probe(x[:300], y[:300], 4, epochs=20, lr=0.01, layer=plain)
    torch.testing.assert_close(probe_scores(fitted, x[300:]), probe_scores(reference, x[300:]))
    assert topk_accuracy(probe_scores(fitted, x[300:]), y[300:])[1] >= 95.0


def test_a_head_that_is_not_one_linear_layer_is_refused(monkeypatch):
    monkeypatch.setitem(heads.HEADS, "mlp", TwoLayers)
    with pytest.raises(ConfigError, match="probe.head=mlp: the probes fit a head that is one linear layer"):
        probe_head("mlp", 16, 4)
    with pytest.raises(ValueError, match="a probe of 16 features and 4 classes, given Linear"):
        fit_linear_probe(torch.randn(8, 16), torch.arange(8) % 4, 4, layer=nn.Linear(16, 5))


def test_each_probe_logs_mean_per_class_top1_beside_top1():
    # labels 0, 0, 0, 1, 2; the top scores say 0, 0, 1, 1, 0 and every label is among the top two
    labels = torch.tensor([0, 0, 0, 1, 2])
    scores = torch.tensor([[3.0, 1, 2], [3, 2, 1], [2, 3, 1], [1, 3, 2], [3, 1, 2]])
    got = probe_metrics("knn", scores, labels)
    assert got.keys() == {"knn_top1", "knn_top5", "knn_mean_class_top1"}
    assert got["knn_top1"] == pytest.approx(60.0)  # 3 of 5 videos
    assert got["knn_mean_class_top1"] == pytest.approx((200 / 3 + 100 + 0) / 3)  # classes: 2/3, 1/1, 0/1
    assert got["knn_top5"] == pytest.approx(100.0)  # 3 classes: every label is in the top 5
