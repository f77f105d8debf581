"""The training loop reads nothing back from the device between logging steps: no .item(), bool(), float(), .cpu().

On a GPU each of those waits for the queued kernels (a host-device sync), so the CPU could no longer run ahead and
keep the GPU fed. On the CPU the same calls are counted: a call on a step that does not log is a regression.
"""

import pytest
import pytorch_lightning as pl
import torch

from cvrl_pl.config import load_config
from cvrl_pl.data.generated import GeneratedDataModule
from cvrl_pl.module import CVRLModule
from cvrl_pl.train import build_trainer
from tests.helpers import ROOT

READS = ("item", "tolist", "cpu", "numpy", "__bool__", "__float__", "__int__")


class CountReads(pl.Callback):
    """Counts the tensor reads between the start and the end of each training batch (ours and Lightning's)."""

    def __init__(self):
        self.steps: list[tuple[bool, list[str]]] = []  # (may it read: a logging step or an epoch's last, the reads)
        self._saved: dict[str, object] = {}

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        reads: list[str] = []
        for name in READS:
            original = self._saved[name] = getattr(torch.Tensor, name)

            def counting(tensor, *args, _name=name, _original=original, **kwargs):
                reads.append(_name)
                return _original(tensor, *args, **kwargs)

            setattr(torch.Tensor, name, counting)
        self.steps.append((False, reads))

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        for name, original in self._saved.items():
            setattr(torch.Tensor, name, original)
        # The progress bar also refreshes on an epoch's last batch, where the epoch-end work syncs anyway.
        may_read = trainer._logger_connector.should_update_logs or batch_idx + 1 == trainer.num_training_batches
        self.steps[-1] = (may_read, self.steps[-1][1])


@pytest.mark.parametrize("optimizer", ["lars", "sgd", "adamw"])
def test_no_device_reads_between_logging_steps(tmp_path, optimizer):
    cfg = load_config(
        ROOT / "conf/generated.yaml",
        [
            f"optim.name={optimizer}",
            "model.base_channels=8",
            "model.proj_hidden_dim=64",
            "data.num_frames=4",
            "data.crop_size=32",
            "data.batch_size=4",
            "data.num_workers=0",
            "data.generated.num_videos=24",
            "data.generated.size=40",
            "trainer.max_epochs=2",
            "trainer.log_every_n_steps=4",
            f"trainer.output_dir={tmp_path}",
        ],
    )
    trainer = build_trainer(cfg, tmp_path / "run")
    counter = CountReads()
    trainer.callbacks.append(counter)
    trainer.fit(CVRLModule(cfg), datamodule=GeneratedDataModule(cfg))

    quiet = [reads for may_read, reads in counter.steps if not may_read]
    logging = [reads for may_read, reads in counter.steps if may_read]
    assert len(counter.steps) == 12 and len(quiet) >= 6 and logging
    assert all(reads == [] for reads in quiet), [reads for reads in quiet if reads]
    assert any(reads for reads in logging)  # the counter sees the reads that logging does make
