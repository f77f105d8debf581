"""The pipelines' outputs as the batches the modules take: channels-last frames as (C, T, H, W) clips, no copy.

The DALI graphs end in float (..., T, H, W, C) (a transpose to channels first would be one more pass over every
pixel on the CPU). Moving the channel axis in torch is a view: the clips keep channels-last strides, which is
exactly the channels_last_3d memory format, so a channels_last_3d model takes them as they are.
"""

from __future__ import annotations

import torch


def channels_first(x: torch.Tensor) -> torch.Tensor:
    """(..., T, H, W, C) -> (..., C, T, H, W), a view of the same memory."""
    return x.movedim(-1, -4)


def split_views(views: torch.Tensor, num_views: int = 2) -> tuple[torch.Tensor, ...]:
    """(B, num_views * T, H, W, C), the views' frames one after another -> num_views clips (B, C, T, H, W), views."""
    return channels_first(views).chunk(num_views, dim=2)


def view_names(num_views: int) -> tuple[str, ...]:
    """The batch keys of a pretraining batch's views: "view1", "view2", ... (rho of them)."""
    return tuple(f"view{k}" for k in range(1, num_views + 1))


def pretrain_batch(batch: dict[str, torch.Tensor], num_views: int = 2) -> dict[str, torch.Tensor]:
    """A pretraining pipeline's batch {"views", ...} -> {"view1", ..., "view<num_views>", ...}."""
    batch = dict(batch)
    batch.update(zip(view_names(num_views), split_views(batch.pop("views"), num_views), strict=True))
    return batch


def batch_views(batch: dict[str, torch.Tensor]) -> list[torch.Tensor]:
    """The views of a pretraining batch in order: "view1", "view2", ... as far as they go."""
    views = []
    while f"view{len(views) + 1}" in batch:
        views.append(batch[f"view{len(views) + 1}"])
    return views


def eval_batch(batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """An evaluation pipeline's batch, its views channels first."""
    return {**batch, "views": channels_first(batch["views"])}
