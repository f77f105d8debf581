"""Atomic checkpoint files: a run killed while saving keeps its previous checkpoint."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from pytorch_lightning.plugins import TorchCheckpointIO


class AtomicCheckpointIO(TorchCheckpointIO):
    """Writes ``PATH.partial`` in the same folder, syncs it to disk, then renames it over ``PATH``.

    ``os.replace`` is atomic on POSIX file systems, so ``PATH`` is at every moment either the old or the new
    checkpoint, never a truncated one. A ``.partial`` left by a kill is overwritten by the next save.
    """

    def save_checkpoint(self, checkpoint: dict[str, Any], path: str | Path, storage_options: Any = None) -> None:
        if storage_options is not None:
            raise TypeError(f"{type(self).__name__} takes no storage_options")
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".partial")
        with open(partial, "wb") as f:
            torch.save(checkpoint, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(partial, path)
