"""The classification heads (eval.head): the linear head is the paper's classifier on the pooled feature, taken
from the feature map; an unknown head is named."""

import pytest
import torch
import torch.nn.functional as F

from cvrl_pl.models.heads import HEADS, LinearHead, build_head


def test_the_linear_head_pools_normalises_and_applies_one_layer():
    torch.manual_seed(0)
    feature_map = torch.randn(3, 16, 2, 3, 3)
    head = build_head("linear", 16, 5, normalize=True, dropout=0.5).eval()  # eval: dropout off
    pooled = feature_map.mean(dim=(2, 3, 4))
    expected = F.linear(F.normalize(pooled, dim=1), head.weight, head.bias)
    torch.testing.assert_close(head(feature_map), expected)
    assert isinstance(head, LinearHead) and [n for n, _ in head.named_parameters()] == ["weight", "bias"]
    raw = build_head("linear", 16, 5, normalize=False, dropout=0.0)
    torch.testing.assert_close(raw(feature_map), F.linear(pooled, raw.weight, raw.bias))


def test_an_unknown_head_is_named():
    assert list(HEADS) == ["linear", "attentive"]
    with pytest.raises(ValueError, match="unknown head 'mlp'; choose one of linear, attentive"):
        build_head("mlp", 16, 5, normalize=False, dropout=0.0)
