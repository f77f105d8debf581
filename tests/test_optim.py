"""LR schedule (warm-up + cosine), linear scaling, parameter groups (a grid of heads' included) and LARS."""

import math

import pytest
import torch

from cvrl_pl.optim import (
    LARS,
    build_optimizer,
    grid_groups,
    lars_trust_ratio,
    lr_at,
    multistep_lr,
    param_groups,
    peak_lr,
)


def test_linear_scaling_rule_gives_the_papers_rate():
    assert peak_lr(0.08, 1024) == pytest.approx(0.32)
    assert peak_lr(0.08, 256) == pytest.approx(0.08)


def test_schedule_at_key_steps():
    total, warmup, peak = 1000, 100, 0.32
    assert lr_at(0, total, warmup, peak) == 0.0
    assert lr_at(50, total, warmup, peak) == pytest.approx(0.16)
    assert lr_at(100, total, warmup, peak) == pytest.approx(peak)  # end of warm-up
    assert lr_at(550, total, warmup, peak) == pytest.approx(peak / 2)  # middle of the cosine
    assert lr_at(325, total, warmup, peak) == pytest.approx(peak * 0.5 * (1 + math.cos(math.pi / 4)))
    assert lr_at(1000, total, warmup, peak) == pytest.approx(0.0, abs=1e-12)  # end
    assert lr_at(1200, total, warmup, peak) == pytest.approx(0.0, abs=1e-12)  # past the end stays at 0


def test_schedule_is_monotone_after_warmup_and_without_warmup():
    lrs = [lr_at(s, 500, 0, 1.0) for s in range(501)]
    assert lrs[0] == 1.0
    assert all(a >= b for a, b in zip(lrs, lrs[1:], strict=False))


def _model():
    return torch.nn.Sequential(
        torch.nn.Conv3d(3, 4, 3), torch.nn.BatchNorm3d(4), torch.nn.Flatten(), torch.nn.Linear(4, 2)
    )


def test_param_groups_exclude_bn_and_bias_from_decay():
    decay, no_decay = param_groups(_model(), 1e-6)
    assert decay["weight_decay"] == 1e-6 and no_decay["weight_decay"] == 0.0
    assert sorted(p.ndim for p in decay["params"]) == [2, 5]  # linear and conv weights
    assert len(no_decay["params"]) == 4  # conv bias, BN weight, BN bias, linear bias


def test_lars_trust_ratio():
    ratio = lars_trust_ratio(torch.tensor(2.0), torch.tensor(0.5), eta=0.001)
    assert ratio.item() == pytest.approx(0.001 * 2.0 / 0.5)
    assert lars_trust_ratio(torch.tensor(0.0), torch.tensor(1.0), 0.001).item() == 1.0
    assert lars_trust_ratio(torch.tensor(1.0), torch.tensor(0.0), 0.001).item() == 1.0


def test_lars_step_adapts_weights_but_not_bn_or_bias():
    w = torch.nn.Parameter(torch.full((2, 2), 3.0))  # ||w|| = 6
    b = torch.nn.Parameter(torch.full((2,), 3.0))
    w.grad, b.grad = torch.full((2, 2), 0.5), torch.full((2,), 0.5)  # ||g_w|| = 1
    opt = LARS(
        [{"params": [w], "weight_decay": 0.0}, {"params": [b], "weight_decay": 0.0, "lars_adapt": False}],
        lr=0.1,
        momentum=0.9,
        eta=0.01,
    )
    opt.step()
    # w moves by lr * (eta * ||w|| / ||g||) * g = 0.1 * 0.06 * 0.5; b by lr * g = 0.05
    torch.testing.assert_close(w.detach(), torch.full((2, 2), 3.0 - 0.1 * 0.06 * 0.5))
    torch.testing.assert_close(b.detach(), torch.full((2,), 3.0 - 0.05))
    opt.step()  # momentum: the second step moves b by lr * (0.9 * g + g)
    torch.testing.assert_close(b.detach(), torch.full((2,), 3.0 - 0.05 - 0.1 * 1.9 * 0.5))


def test_lars_weight_decay_enters_the_trust_ratio():
    w = torch.nn.Parameter(torch.tensor([3.0, 4.0]))  # ||w|| = 5
    w.grad = torch.tensor([0.0, 0.0])
    opt = LARS([{"params": [w], "weight_decay": 0.1}], lr=1.0, momentum=0.0, eta=0.001)
    opt.step()
    # d = g + wd w = 0.1 w, ||d|| = 0.5, ratio = 0.001 * 5 / 0.5 = 0.01, step = 0.01 * 0.1 w
    torch.testing.assert_close(w.detach(), torch.tensor([3.0, 4.0]) * (1 - 0.001))


@pytest.mark.parametrize("name", ["sgd", "lars", "adamw"])
def test_build_optimizer(name):
    opt = build_optimizer(name, _model(), lr=0.3, momentum=0.9, weight_decay=1e-6, lars_eta=0.001)
    assert [g["weight_decay"] for g in opt.param_groups] == [1e-6, 0.0]
    assert all(g["lr"] == 0.3 for g in opt.param_groups)
    with pytest.raises(ValueError, match="adamw"):
        build_optimizer("adamax", _model(), 0.1, momentum=0.9, weight_decay=0.0, lars_eta=0.001)


def test_multistep_steps_down_at_each_milestone_after_the_warmup():
    # SEVERE's fine-tuning: 1e-4, x0.3 at epochs 6, 10 and 14 (10 steps an epoch here), no warm-up.
    steps = [60, 100, 140]
    lrs = {s: multistep_lr(s, 0, 1e-4, milestone_steps=steps, gamma=0.3) for s in (0, 59, 60, 99, 100, 140, 159)}
    assert lrs[0] == lrs[59] == pytest.approx(1e-4)
    assert lrs[60] == lrs[99] == pytest.approx(3e-5)
    assert lrs[100] == pytest.approx(9e-6)
    assert lrs[140] == lrs[159] == pytest.approx(2.7e-6)
    assert multistep_lr(5, 10, 1.0, milestone_steps=[20], gamma=0.1) == pytest.approx(0.5)  # warm-up first


def test_adam_is_torchs_adam_with_l2_decay_on_weights_only():
    opt = build_optimizer("adam", _model(), 1e-4, momentum=0.9, weight_decay=0.01, lars_eta=0.001)
    assert type(opt) is torch.optim.Adam
    assert [g["weight_decay"] for g in opt.param_groups] == [0.01, 0.0]


def test_heads_of_a_grid_train_as_each_would_alone_at_its_own_rate_and_decay():
    torch.manual_seed(0)
    x, y = torch.randn(64, 8), torch.randint(0, 3, (64,))
    settings = [(1e-2, 0.0), (1e-3, 0.4), (3e-2, 0.1)]
    heads = [torch.nn.Linear(8, 3) for _ in settings]
    alone = [torch.nn.Linear(8, 3) for _ in settings]
    for a, h in zip(alone, heads, strict=True):
        a.load_state_dict(h.state_dict())
    groups = grid_groups([(h, lr, wd) for h, (lr, wd) in zip(heads, settings, strict=True)])
    assert [(g["lr"], g["weight_decay"]) for g in groups] == [
        (1e-2, 0.0),
        (1e-2, 0.0),
        (1e-3, 0.4),
        (1e-3, 0.0),
        (3e-2, 0.1),
        (3e-2, 0.0),
    ]  # biases never decayed
    grid = build_optimizer(
        "adamw", torch.nn.Linear(1, 1), 1.0, momentum=0.9, weight_decay=0.0, lars_eta=0.0, groups=groups
    )
    solo = [
        build_optimizer("adamw", a, lr, momentum=0.9, weight_decay=wd, lars_eta=0.0)
        for a, (lr, wd) in zip(alone, settings, strict=True)
    ]
    for _ in range(20):
        grid.zero_grad()
        sum(torch.nn.functional.cross_entropy(h(x), y) for h in heads).backward()  # one loss: the heads' sum
        grid.step()
        for a, opt in zip(alone, solo, strict=True):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(a(x), y).backward()
            opt.step()
    for h, a in zip(heads, alone, strict=True):
        torch.testing.assert_close(h.weight, a.weight)
        torch.testing.assert_close(h.bias, a.bias)
    assert not torch.allclose(heads[0].weight, heads[1].weight)  # and the settings made them differ
