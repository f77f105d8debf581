"""NT-Xent: against a plain loop over anchors, gradcheck in float64, and 2-process DDP against 1 process."""

import math

import pytest
import torch
import torch.distributed as dist
import torch.nn.functional as F

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


def test_rejects_bad_shapes_and_temperature():
    with pytest.raises(ValueError, match="must both be"):
        NTXentLoss()(torch.randn(4, 8), torch.randn(5, 8))
    with pytest.raises(ValueError, match="temperature"):
        NTXentLoss(0.0)


# --- Distributed: 2 gloo processes, each with half of the batch, against 1 process with the whole batch. ---

WORLD = 2
N, D_IN, D_OUT = 8, 12, 6


def _batch_and_model():
    gen = torch.Generator().manual_seed(1234)
    x1 = torch.randn(N, D_IN, dtype=torch.float64, generator=gen)
    x2 = x1 + 0.3 * torch.randn(N, D_IN, dtype=torch.float64, generator=gen)
    torch.manual_seed(99)
    model = torch.nn.Sequential(torch.nn.Linear(D_IN, 16), torch.nn.Tanh(), torch.nn.Linear(16, D_OUT)).double()
    return x1, x2, model


def _rank(rank: int, world_size: int) -> dict:
    x1, x2, model = _batch_and_model()
    ddp = torch.nn.parallel.DistributedDataParallel(model)
    half = slice(rank * N // world_size, (rank + 1) * N // world_size)
    loss = NTXentLoss(0.1)(ddp(x1[half]), ddp(x2[half]))
    loss.backward()  # DDP averages the parameter gradients over the ranks
    mean_loss = loss.detach().clone()
    dist.all_reduce(mean_loss)
    return {
        "local_loss": loss.item(),
        "loss": mean_loss.item() / world_size,
        "grads": [p.grad.clone() for p in model.parameters()],
    }


def test_two_processes_equal_one_process():
    x1, x2, model = _batch_and_model()
    full = NTXentLoss(0.1)(model(x1), model(x2))
    full.backward()
    expected = [p.grad for p in model.parameters()]

    results = run_gloo(WORLD, _rank)

    for rank in range(WORLD):
        assert results[rank]["loss"] == pytest.approx(full.item(), abs=1e-10)
        for got, want in zip(results[rank]["grads"], expected, strict=True):
            torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-10)
    # each rank's own loss is over its anchors only, yet scored against the global batch:
    assert results[0]["local_loss"] != pytest.approx(results[1]["local_loss"])
    # without the gradient-carrying gather the gradients would differ; check that they are non-trivial
    assert max(g.abs().max().item() for g in expected) > 1e-3
