"""The counting head's four layers and the loss: cross-entropy over each anchor's two classes with ignored anchors
skipped, 50 x smooth L1 on positives only (the others take their own prediction, detached), written out by hand."""

import torch
import torch.nn.functional as F

from cvrl_pl.counting.anchors import ANCHORS, IGNORE
from cvrl_pl.losses.counting import counting_loss, side_loss
from cvrl_pl.models.counting_head import CountingHead


def test_the_head_gives_two_classes_and_a_box_per_anchor_on_each_side():
    head = CountingHead(64, len(ANCHORS))
    before, box_before, after, box_after = head(torch.randn(3, 64))
    assert before.shape == after.shape == (3, 2, 7) and box_before.shape == box_after.shape == (3, 7)
    assert sum(p.numel() for p in head.parameters()) == 2 * (64 * 14 + 14) + 2 * (64 * 7 + 7)  # four linear layers


def test_the_loss_against_a_hand_written_one():
    torch.manual_seed(0)
    logits, boxes = torch.randn(2, 2, 3, requires_grad=True), torch.randn(2, 3, requires_grad=True)
    cls = torch.tensor([[1, 0, IGNORE], [IGNORE, IGNORE, 1]])
    box = torch.tensor([[0.3, float("nan"), float("nan")], [float("nan"), float("nan"), -0.2]])
    loss = side_loss(logits, boxes, cls, box)
    # cross-entropy over the 3 counted anchors; smooth L1 over all 6 entries, the 4 without a target at zero
    picked = [(0, 1, 0), (0, 0, 1), (1, 1, 2)]  # (video, class, anchor) of the counted ones
    ce = -sum(F.log_softmax(logits[v, :, a], dim=0)[c] for v, c, a in picked) / 3
    l1 = (F.smooth_l1_loss(boxes[0, 0], torch.tensor(0.3), reduction="sum") + F.smooth_l1_loss(
        boxes[1, 2], torch.tensor(-0.2), reduction="sum")) / 6  # fmt: skip
    torch.testing.assert_close(loss, ce + 50 * l1)
    loss.backward()
    assert boxes.grad[0, 1] == 0 and boxes.grad[0, 0] != 0  # no target, no gradient


def test_a_batch_with_every_anchor_ignored_adds_no_class_loss_and_stays_finite():
    logits, boxes = torch.randn(1, 2, 7), torch.randn(1, 7)
    nothing = (torch.full((1, 7), IGNORE), torch.full((1, 7), float("nan")))
    loss = counting_loss((logits, boxes, logits, boxes), (*nothing, *nothing))
    assert torch.isfinite(loss) and loss.item() == 0.0
