"""UCF-RC's loss (SEVERE's ``train_2stream.py``): for the cycle before and the cycle after, cross-entropy over each
anchor's two classes (ignored anchors skipped) plus 50 x smooth L1 on the boxes, where an anchor without a box
target (not a positive) takes its own prediction, detached: zero loss, but counted in the mean as SEVERE counts it."""

from __future__ import annotations

import torch
import torch.nn.functional as F

IGNORE = -1  # a class target the loss skips (cross-entropy's ignore_index); a box target then takes its prediction
BOX_WEIGHT = 50.0  # SEVERE's (from Faster R-CNN's implementation, its comment says)


def side_loss(logits: torch.Tensor, boxes: torch.Tensor, cls: torch.Tensor, box: torch.Tensor) -> torch.Tensor:
    """One side's loss: logits (B, 2, A), boxes (B, A) against class targets (B, A) of 1, 0 or IGNORE and box targets
    (B, A), NaN where none. A batch whose anchors are all ignored adds no class loss (SEVERE's would be NaN)."""
    counted = cls != IGNORE
    ce = F.cross_entropy(logits.float(), cls, ignore_index=IGNORE) if counted.any() else logits.sum() * 0.0
    target = torch.where(torch.isnan(box), boxes.detach().float(), box.float())
    return ce + BOX_WEIGHT * F.smooth_l1_loss(boxes.float(), target)


def counting_loss(outputs: tuple[torch.Tensor, ...], targets: tuple[torch.Tensor, ...]) -> torch.Tensor:
    """The sum of both sides' losses: ``outputs`` the head's four tensors, ``targets`` (class, box) before and after."""
    before_logits, before_boxes, after_logits, after_boxes = outputs
    before_cls, before_box, after_cls, after_box = targets
    return side_loss(before_logits, before_boxes, before_cls, before_box) + side_loss(
        after_logits, after_boxes, after_cls, after_box
    )
