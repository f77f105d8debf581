"""Where a rank's pipeline runs: sharded by GLOBAL rank, decoding on the CUDA device the rank trains on."""

from types import SimpleNamespace

import pytest
import torch

from cvrl_pl.data import loader


def _trainer(device: torch.device, *, world: int = 4, rank: int = 2, local: int = 0) -> SimpleNamespace:
    return SimpleNamespace(
        strategy=SimpleNamespace(root_device=device), world_size=world, global_rank=rank, local_rank=local
    )


def test_dali_decodes_on_the_ranks_own_gpu_when_devices_are_listed(monkeypatch):
    """trainer.devices=[3,...]: local rank 0 trains on cuda:3, so DALI's device is 3, not the local rank 0."""
    monkeypatch.setattr(loader, "GetCUDADeviceCount", lambda: 8)
    assert loader.placement(_trainer(torch.device("cuda", 3))) == (4, 2, 3)
    assert loader.placement(_trainer(torch.device("cuda", 5), local=1)) == (4, 2, 5)


def test_cpu_ranks_and_missing_devices(monkeypatch):
    assert loader.placement(None) == (1, 0, None)
    assert loader.placement(_trainer(torch.device("cpu"))) == (4, 2, None)
    monkeypatch.setattr(loader, "GetCUDADeviceCount", lambda: 0)
    with pytest.raises(RuntimeError, match="DALI sees no CUDA device"):
        loader.placement(_trainer(torch.device("cuda", 0)))
