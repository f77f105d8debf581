"""ThroughputMonitor's figures, driven by a scripted clock: clips/s and the data-wait fraction of each window."""

import warnings
from types import SimpleNamespace

import pytest
import torch

from cvrl_pl.callbacks.throughput import ThroughputMonitor, batch_clips


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Module:
    def __init__(self, device: str):
        self.device = torch.device(device)
        self.logged: list[dict[str, float]] = []

    def log(self, name, value, **kwargs):
        if not self.logged or name in self.logged[-1]:
            self.logged.append({})
        self.logged[-1][name] = value


def batch(videos: int = 4) -> dict[str, torch.Tensor]:
    clip = torch.zeros(videos, 3, 2, 4, 4)
    return {"view1": clip, "view2": clip.clone(), "video_id": torch.arange(videos)}


def run_steps(monitor, clock, module, trainer, steps):
    """steps: (gap before the step, step duration, is a logging step) each."""
    for gap, duration, logs in steps:
        clock.now += gap
        monitor.on_train_batch_start(trainer, module, batch(), 0)
        clock.now += duration
        trainer._logger_connector.should_update_logs = logs
        monitor.on_train_batch_end(trainer, module, None, batch(), 0)


class Strategy:
    """Two ranks: this one, and another whose data wait is ``other``."""

    def __init__(self, other: float):
        self.other = other

    def all_gather(self, value: torch.Tensor) -> torch.Tensor:
        return torch.stack([value, torch.tensor(self.other)])


def setup(device="cpu", world_size=1, warn_above=0.2, other_wait=0.0):
    clock = Clock()
    monitor = ThroughputMonitor(warn_above, clock=clock)
    trainer = SimpleNamespace(
        world_size=world_size,
        strategy=Strategy(other_wait),
        _logger_connector=SimpleNamespace(should_update_logs=False),
    )
    return monitor, clock, Module(device), trainer


def test_batch_clips_counts_every_clip_tensor():
    assert batch_clips(batch(4)) == 8  # both views
    assert batch_clips({"views": torch.zeros(5, 3, 2, 4, 4), "label": torch.zeros(5)}) == 5
    assert batch_clips([torch.zeros(5, 3, 2, 4, 4)]) == 0


def test_window_figures_and_epoch_boundaries():
    monitor, clock, module, trainer = setup(world_size=2)
    monitor.on_train_epoch_start(trainer, module)
    # 10 s before the first step (pipeline start-up) is not counted; then 1 s steps with 0.5 s waits.
    run_steps(monitor, clock, module, trainer, [(10.0, 1.0, False), (0.5, 1.0, True)])
    # window: 1 + 0.5 + 1 = 2.5 s, 0.5 s of it waiting; 2 steps x 8 clips x 2 ranks = 32 clips
    assert module.logged == [{"perf/clips_per_s": pytest.approx(12.8), "perf/data_wait": pytest.approx(0.2)}]

    run_steps(monitor, clock, module, trainer, [(3.0, 1.0, False)])
    monitor.on_train_epoch_start(trainer, module)  # an epoch boundary: the probes' 60 s are not a data wait
    run_steps(monitor, clock, module, trainer, [(60.0, 1.0, True)])
    # window: 3 + 1 (last epoch) + 1 (this epoch) = 5 s, 3 s waiting; 32 clips
    assert module.logged[1] == {"perf/clips_per_s": pytest.approx(6.4), "perf/data_wait": pytest.approx(0.6)}


def test_warns_once_on_a_gpu_after_the_first_window():
    monitor, clock, module, trainer = setup(device="cuda")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run_steps(monitor, clock, module, trainer, [(0.0, 1.0, False), (8.0, 1.0, True)])  # first window: start-up
        assert not caught and module.logged[0]["perf/data_wait"] == pytest.approx(0.8)
        monitor.on_save_checkpoint(trainer, module, {})  # a window that wrote a checkpoint: no verdict
        run_steps(monitor, clock, module, trainer, [(9.0, 1.0, True)])
        assert not caught
        run_steps(monitor, clock, module, trainer, [(0.1, 1.0, True)])  # 9% waiting: fine
        assert not caught
        run_steps(monitor, clock, module, trainer, [(1.0, 1.0, True), (1.0, 1.0, True)])  # 50% twice
    assert len(caught) == 1 and "50% of the last logging window" in str(caught[0].message)
    assert monitor.warned


@pytest.mark.parametrize(("device", "warn_above"), [("cpu", 0.2), ("cuda", 0.0)])
def test_no_warning_on_a_cpu_or_when_disabled(device, warn_above):
    monitor, clock, module, trainer = setup(device=device, warn_above=warn_above)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run_steps(monitor, clock, module, trainer, [(0.0, 1.0, True)] + [(9.0, 1.0, True)] * 3)
    assert not caught and module.logged[-1]["perf/data_wait"] == pytest.approx(0.9)


@pytest.mark.parametrize(("other", "logged"), [(0.05, 0.2), (0.7, 0.7)])
def test_data_wait_is_the_largest_over_ranks(other, logged):
    monitor, clock, module, trainer = setup(world_size=2, other_wait=other)
    run_steps(monitor, clock, module, trainer, [(0.0, 1.0, False), (0.5, 1.0, True)])  # this rank: 0.2
    assert module.logged[0]["perf/data_wait"] == pytest.approx(logged)
