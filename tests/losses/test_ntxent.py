"""NT-Xent: against a plain loop over anchors and pytorch-metric-learning's NTXentLoss (rho = 2, 3, 4 views), the
two-view values recorded before rho views existed, gradcheck in float64, and 2-process DDP against 1 process."""

import math

import pytest
import torch
import torch.distributed as dist
import torch.nn.functional as F
from pytorch_metric_learning.losses import NTXentLoss as MetricLearningNTXent

from cvrl_pl.losses import NTXentLoss, positive_top1
from tests.helpers.ddp import run_gloo


def loop_ntxent(z1: torch.Tensor, z2: torch.Tensor, temperature: float) -> torch.Tensor:
    """The SimCLR definition, one anchor at a time: -log(exp(s_ip / T) / sum_{k != i} exp(s_ik / T))."""
    z = torch.cat([F.normalize(z1, dim=1), F.normalize(z2, dim=1)])
    n2 = z.shape[0]
    total = 0.0
    for i in range(n2):
        positive = (i + n2 // 2) % n2
        sims = [float(z[i] @ z[k]) / temperature for k in range(n2)]
        denominator = sum(math.exp(s) for k, s in enumerate(sims) if k != i)
        total += -math.log(math.exp(sims[positive]) / denominator)
    return torch.tensor(total / n2, dtype=torch.float64)


@pytest.mark.parametrize(("n", "d", "temperature"), [(1, 4, 0.1), (5, 8, 0.1), (16, 32, 0.5), (7, 3, 1.0)])
def test_equals_a_loop_over_anchors(n, d, temperature):
    torch.manual_seed(n * d)
    z1, z2 = torch.randn(n, d, dtype=torch.float64), torch.randn(n, d, dtype=torch.float64)
    loss = NTXentLoss(temperature)(z1, z2)
    assert loss.shape == ()
    assert loss.item() == pytest.approx(loop_ntxent(z1, z2, temperature).item(), rel=1e-10)


def test_identical_views_give_low_loss_and_perfect_retrieval():
    z = torch.eye(8, dtype=torch.float64) * 5
    out = NTXentLoss(0.1).compute(z, z.clone())
    # positive similarity 1, negatives 0: loss = log(1 + 14 exp(-10))
    assert out.loss.item() == pytest.approx(math.log(1 + 14 * math.exp(-10)), rel=1e-5)
    assert positive_top1(out).item() == 1.0


def test_gradcheck_float64():
    torch.manual_seed(0)
    z1 = torch.randn(6, 5, dtype=torch.float64, requires_grad=True)
    z2 = torch.randn(6, 5, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(NTXentLoss(0.2), (z1, z2), eps=1e-6, atol=1e-8)


def test_two_views_give_the_values_recorded_before_rho_views():
    """Loss and gradients of the two-view loss as the code before aug.num_clips computed them (commit fe5fde9)."""
    gen = torch.Generator().manual_seed(7)
    z1 = torch.randn(6, 5, dtype=torch.float64, generator=gen, requires_grad=True)
    z2 = torch.randn(6, 5, dtype=torch.float64, generator=gen, requires_grad=True)
    loss = NTXentLoss(0.2)(z1, z2)
    loss.backward()
    assert loss.item() == pytest.approx(3.121129176828239, rel=1e-14)
    recorded1 = [
        0.139023017566457,
        -0.06929095604842478,
        -0.020075383280053007,
        -0.014458785543425015,
        0.04520207241417862,
    ]
    recorded2 = [
        0.08039196602942437,
        -0.04334231052620397,
        0.07237235930947533,
        0.00298984774213377,
        0.010804387815076078,
    ]
    torch.testing.assert_close(z1.grad[0], torch.tensor(recorded1, dtype=torch.float64), rtol=1e-12, atol=1e-15)
    torch.testing.assert_close(z2.grad[5], torch.tensor(recorded2, dtype=torch.float64), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize(
    ("rho", "n", "d", "temperature"), [(2, 5, 8, 0.1), (3, 6, 4, 0.1), (4, 7, 16, 0.5), (4, 1, 3, 1.0)]
)
def test_equals_pytorch_metric_learning_with_video_ids_as_labels(rho, n, d, temperature):
    """Every other clip of a video a positive, every clip of another video a negative, mean over positive pairs."""
    torch.manual_seed(rho * n * d)
    views = [torch.randn(n, d, dtype=torch.float64, requires_grad=True) for _ in range(rho)]
    ours = NTXentLoss(temperature)(*views)
    ours_grads = torch.autograd.grad(ours, views)
    labels = torch.arange(n).repeat(rho)  # row v n + i is view v of video i
    theirs = MetricLearningNTXent(temperature)(torch.cat(views), labels)
    theirs_grads = torch.autograd.grad(theirs, views)
    assert ours.item() == pytest.approx(theirs.item(), rel=1e-12)
    for got, want in zip(ours_grads, theirs_grads, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-13)


def test_more_views_of_a_video_are_all_positives():
    """Three identical one-hot views per video: each anchor's two positives have similarity 1 and its 3 (n - 1)
    negatives 0, so each pair costs log(1 + 3 (n - 1) exp(-1 / t))."""
    z = torch.eye(8, dtype=torch.float64) * 5
    out = NTXentLoss(0.1).compute(z, z.clone(), z.clone())
    assert out.positives.shape == (24, 2) and out.negative_max.shape == (24,)
    assert out.loss.item() == pytest.approx(math.log(1 + 21 * math.exp(-10)), rel=1e-9)
    assert positive_top1(out).item() == 1.0
    # video 0's third view made nearly video 1's: that clip alone finds a negative nearer than its positives
    moved = z.clone()
    moved[0] = z[1] + 0.1 * z[0]
    assert positive_top1(NTXentLoss(0.1).compute(z, z.clone(), moved)).item() == pytest.approx(23 / 24)


def test_runs_in_float32_under_bf16_autocast():
    """bf16-mixed training: the logits are float32 whatever the projections' dtype, the gradients take theirs."""
    torch.manual_seed(0)
    views = [torch.randn(6, 8).bfloat16().requires_grad_() for _ in range(3)]
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = NTXentLoss(0.1)(*views)
    assert loss.dtype == torch.float32
    assert loss.item() == pytest.approx(NTXentLoss(0.1)(*(v.float() for v in views)).item(), rel=1e-6)
    loss.backward()
    assert all(v.grad.dtype == torch.bfloat16 and v.grad.abs().sum() > 0 for v in views)


def test_rejects_bad_shapes_and_temperature():
    with pytest.raises(ValueError, match="two or more views, all"):
        NTXentLoss()(torch.randn(4, 8), torch.randn(5, 8))
    with pytest.raises(ValueError, match="two or more views"):
        NTXentLoss()(torch.randn(4, 8))
    with pytest.raises(ValueError, match="temperature"):
        NTXentLoss(0.0)


# --- Distributed: 2 gloo processes, each with half of the batch, against 1 process with the whole batch. ---

WORLD = 2
N, D_IN, D_OUT = 8, 12, 6


def _batch_and_model(rho: int):
    gen = torch.Generator().manual_seed(1234)
    x1 = torch.randn(N, D_IN, dtype=torch.float64, generator=gen)
    xs = [x1] + [x1 + 0.3 * torch.randn(N, D_IN, dtype=torch.float64, generator=gen) for _ in range(rho - 1)]
    torch.manual_seed(99)
    model = torch.nn.Sequential(torch.nn.Linear(D_IN, 16), torch.nn.Tanh(), torch.nn.Linear(16, D_OUT)).double()
    return xs, model


def _rank(rank: int, world_size: int, rho: int) -> dict:
    xs, model = _batch_and_model(rho)
    ddp = torch.nn.parallel.DistributedDataParallel(model)
    half = slice(rank * N // world_size, (rank + 1) * N // world_size)
    loss = NTXentLoss(0.1)(*(ddp(x[half]) for x in xs))
    loss.backward()  # DDP averages the parameter gradients over the ranks
    mean_loss = loss.detach().clone()
    dist.all_reduce(mean_loss)
    return {
        "local_loss": loss.item(),
        "loss": mean_loss.item() / world_size,
        "grads": [p.grad.clone() for p in model.parameters()],
    }


@pytest.mark.parametrize("rho", [2, 3])
def test_two_processes_equal_one_process(rho):
    xs, model = _batch_and_model(rho)
    full = NTXentLoss(0.1)(*(model(x) for x in xs))
    full.backward()
    expected = [p.grad for p in model.parameters()]

    results = run_gloo(WORLD, _rank, rho)

    for rank in range(WORLD):
        assert results[rank]["loss"] == pytest.approx(full.item(), abs=1e-10)
        for got, want in zip(results[rank]["grads"], expected, strict=True):
            torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-10)
    # each rank's own loss is over its anchors only, yet scored against the global batch:
    assert results[0]["local_loss"] != pytest.approx(results[1]["local_loss"])
    # without the gradient-carrying gather the gradients would differ; check that they are non-trivial
    assert max(g.abs().max().item() for g in expected) > 1e-3
