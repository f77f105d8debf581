"""TensorFlow's SAME padding: the formula, equal to PyTorch's symmetric padding where it is symmetric (and then
without copying the input), different where it is not (a stride-2 layer on an even size)."""

import pytest
import torch
import torch.nn.functional as F

from cvrl_pl.models import build_encoder
from cvrl_pl.models import padding as padding_mod
from cvrl_pl.models.padding import same_padding


@pytest.mark.parametrize(
    ("size", "kernel", "stride", "expected"),
    [
        (16, 5, 2, (1, 2)),
        (224, 7, 2, (2, 3)),
        (112, 3, 2, (0, 1)),
        (113, 7, 2, (3, 3)),
        (8, 3, 1, (1, 1)),
        (7, 1, 2, (0, 0)),
    ],
)
def test_same_padding_is_tensorflows(size, kernel, stride, expected):
    assert same_padding(size, kernel, stride) == expected
    before, after = expected
    assert (size + before + after - kernel) // stride + 1 == -(-size // stride)  # ceil(size / stride) outputs


def _pair():
    symmetric = build_encoder("r3d18", base_channels=8).eval()
    same = build_encoder("r3d18", base_channels=8, padding="tf_same").eval()
    same.load_state_dict(symmetric.state_dict())  # the same weights: padding changes no tensor
    return symmetric, same


def test_odd_sizes_pad_symmetrically_and_copy_nothing(monkeypatch):
    symmetric, same = _pair()
    calls, real_pad = [], F.pad
    monkeypatch.setattr(padding_mod.F, "pad", lambda *a, **k: calls.append(1) or real_pad(*a, **k))
    x = torch.randn(1, 3, 7, 97, 97)  # odd at every stride-2 layer: 97 -> 49 -> 25 -> 13 -> 7
    with torch.no_grad():
        assert torch.equal(same(x), symmetric(x))
    assert calls == []


def test_even_sizes_differ_from_symmetric_padding():
    symmetric, same = _pair()
    x = torch.randn(1, 3, 8, 64, 64)
    with torch.no_grad():
        a, b = same(x), symmetric(x)
    assert a.shape == b.shape and not torch.allclose(a, b, rtol=1e-3)


def test_unknown_padding_is_an_error():
    with pytest.raises(ValueError, match="unknown padding 'same'; choose one of symmetric, tf_same"):
        build_encoder("r3d18", padding="same")
