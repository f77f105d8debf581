"""Several clips per view (eval.segments): each clip encoded alone, the maps' tokens concatenated along time for the
head, whose position grid spans every clip; and a grid of heads (eval.heads) on those tokens."""

import pytest
import torch

from cvrl_pl.config import load_config
from cvrl_pl.models import build_encoder
from cvrl_pl.models.segments import encode_segments
from cvrl_pl.module import ClassifierModule, head_grid, head_options


def test_tokens_from_several_clips_are_concatenated_along_time_for_each_view():
    torch.manual_seed(0)
    encoder = build_encoder("r3d18", base_channels=8).eval()
    first, second = torch.rand(2, 3, 4, 32, 32), torch.rand(2, 3, 4, 32, 32)
    with torch.no_grad():
        joined = encode_segments(encoder.forward_features, torch.cat([first, second], dim=2), 2)
        alone = [encoder.forward_features(clips) for clips in (first, second)]
    t = alone[0].shape[2]
    assert joined.shape == (2, 64, 2 * t, 1, 1)
    torch.testing.assert_close(joined[:, :, :t], alone[0])  # the first clip's tokens, then the second's
    torch.testing.assert_close(joined[:, :, t:], alone[1])
    with pytest.raises(ValueError, match="a sample of 7 frames does not hold 2 clips"):
        encode_segments(encoder.forward_features, torch.rand(1, 3, 7, 32, 32), 2)


def _cfg(*overrides: str):
    base = ["task=attentive_probe", "model.encoder=r3d18", "model.base_channels=8", "eval.num_frames=4"]
    base += ["eval.crop_size=32", "eval.attentive.width=32", "eval.attentive.heads=4"]
    return load_config(None, [*base, *overrides])


def test_the_attentive_head_learns_positions_over_every_clip_of_a_view():
    assert head_options(_cfg(), "attentive")["grid"] == (2, 1, 1)
    assert head_options(_cfg("eval.segments=3"), "attentive")["grid"] == (6, 1, 1)
    torch.manual_seed(0)
    module = ClassifierModule(_cfg("eval.segments=3"), 5).eval()
    assert module.head.time.shape == (1, 32, 6)
    assert module(torch.rand(2, 3, 12, 32, 32)).shape == (2, 5)  # three 4-frame clips a sample


def test_a_grid_trains_one_head_per_lr_and_weight_decay_on_the_same_features():
    cfg = _cfg("eval.heads.lr=[1e-3,1e-2]", "eval.heads.weight_decay=[0.0,0.1,0.4]", "data.batch_size=512")
    assert head_grid(cfg) == [(lr, wd) for lr in (1e-3, 1e-2) for wd in (0.0, 0.1, 0.4)]
    assert head_grid(_cfg("eval.heads.lr=[1e-3,1e-2]", "optim.weight_decay=0.05")) == [(1e-3, 0.05), (1e-2, 0.05)]
    assert head_grid(_cfg()) == []
    torch.manual_seed(0)
    module = ClassifierModule(cfg, 5).eval()
    logits = module(torch.rand(2, 3, 4, 32, 32))
    assert logits.shape == (6, 2, 5)  # every head's logits
    heads = list(module.head)
    assert not torch.equal(heads[0].linear.weight, heads[1].linear.weight)  # each head initialised on its own
    trainer = type("T", (), {"estimated_stepping_batches": 10, "num_training_batches": 5})()
    module.trainer = trainer
    optimizer = module.configure_optimizers()["optimizer"]
    rates = {(g["initial_lr"], g["weight_decay"]) for g in optimizer.param_groups}  # the schedule scales them
    assert rates == {(lr * 2, wd) for lr in (1e-3, 1e-2) for wd in (0.0, 0.1, 0.4)} | {(1e-3 * 2, 0.0), (1e-2 * 2, 0.0)}
    trained = {id(p) for g in optimizer.param_groups for p in g["params"]}
    assert trained == {id(p) for p in module.head.parameters()}  # the heads' parameters only: the encoder is frozen


def test_each_head_of_a_grid_is_clipped_alone():
    module = ClassifierModule(_cfg("eval.heads.lr=[1e-3,1e-2]"), 5)
    big, small = (list(head.parameters()) for head in module.head)
    for p in big:
        p.grad = torch.full_like(p, 10.0)
    for p in small:
        p.grad = torch.full_like(p, 1e-4)
    module.configure_gradient_clipping(None, gradient_clip_val=1.0)
    assert torch.linalg.vector_norm(torch.cat([p.grad.flatten() for p in big])).item() == pytest.approx(1.0, rel=1e-4)
    assert all(torch.all(p.grad == 1e-4) for p in small)  # below the bound: untouched by the other head's norm
