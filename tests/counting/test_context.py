"""The two-context input around a position (SEVERE's update_inputs_2stream): 16 frames over the cycle before and as
long again before it, 16 over the cycle after and as long again after it; outside the sample, -1, filled with
SEVERE's constant frame."""

import numpy as np
import torch

from cvrl_pl.counting.context import context_clip, context_positions, severe_fill


def test_positions_spread_over_both_contexts_as_severe_rounds_them():
    # state (10, 19, 29): before, int(10 - 10) = 0 .. 19 in steps of 20/15; after, 20 .. int(29 + 10) = 39 likewise
    positions = context_positions((10, 19, 29), 100)
    steps = 20 / 15
    before = [int(max(0, min(19, round(-0.5 + j * steps)))) for j in range(16)]
    after = [int(max(20, min(39, round(19.5 + j * steps)))) for j in range(16)]
    assert positions.tolist() == before + after
    assert before[:4] == [0, 1, 2, 4] and before[-1] == 19 and after[0] == 20 and after[-1] == 39
    assert np.all(np.diff(positions) >= 0) and len(positions) == 32


def test_positions_outside_the_sample_are_the_mean_frame():
    positions = context_positions((2, 5, 9), 12)  # before: int(2 - 4) = -2 .. 5; after: 6 .. int(9 + 4) = 13
    assert (positions[:2] == -1).all() and positions[15] == 5
    assert positions[-1] == -1 and positions[16] == 6
    assert set(positions[(positions >= 0)].tolist()) <= set(range(12))


def test_the_input_takes_each_positions_frame_and_fills_the_outside():
    frames = torch.arange(12, dtype=torch.float32).view(1, 12, 1, 1).expand(3, 12, 2, 2).clone()  # frame t is t
    positions = context_positions((2, 5, 9), 12)
    clip = context_clip(frames, positions, fill=(0.1, 0.2, 0.3))
    assert clip.shape == (3, 32, 2, 2)
    inside = positions >= 0
    assert torch.equal(clip[0, torch.as_tensor(inside), 0, 0], torch.as_tensor(positions[inside], dtype=torch.float32))
    assert torch.allclose(clip[:, torch.as_tensor(~inside), 0, 0], torch.tensor([0.1, 0.2, 0.3])[:, None])
    # SEVERE fills its normalised input with ImageNet's mean itself: pixels of mean + std x mean
    fill = severe_fill((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
    normalised = (torch.tensor(fill) - torch.tensor([0.485, 0.456, 0.406])) / torch.tensor([0.229, 0.224, 0.225])
    assert torch.allclose(normalised, torch.tensor([0.485, 0.456, 0.406]))
