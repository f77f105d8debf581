"""Mean per-class top-1 and top-1 over distinct clips, on hand-worked scores."""

import pytest
import torch

from cvrl_pl.eval.accuracy import clip_top1, mean_class_top1


def test_mean_class_top1_weighs_every_tested_class_alike():
    # class 0: 3 of 4 right (75%), class 1: 0 of 1 (0%), class 2: 1 of 1 (100%); class 3 has no test row.
    labels = torch.tensor([0, 0, 0, 0, 1, 2])
    predicted = torch.tensor([0, 0, 0, 2, 0, 2])
    scores = torch.nn.functional.one_hot(predicted, 4).float()
    value, tested = mean_class_top1(scores, labels)
    assert value == pytest.approx(100 * (0.75 + 0.0 + 1.0) / 3) and tested == 3
    assert (scores.argmax(1) == labels).float().mean().item() == pytest.approx(4 / 6)  # top-1 over videos differs


def test_clip_top1_counts_each_distinct_clip_once():
    # Rows as clip_rows gives them: (scores, labels, video ids, clip ids); the last row repeats (video 1, clip 0)
    # as FILL padding does, with a wrong score that must not count.
    scores = torch.tensor([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7], [0.9, 0.1]])
    labels = torch.tensor([0, 0, 1, 1, 1])
    videos = torch.tensor([0, 0, 1, 1, 1])
    clips = torch.tensor([0, 1, 0, 1, 0])
    rows = [(scores[:3], labels[:3], videos[:3], clips[:3]), (scores[3:], labels[3:], videos[3:], clips[3:])]
    assert clip_top1(rows) == pytest.approx(50.0)  # right: (0, 0) and (1, 1); wrong: (0, 1) and (1, 0)
