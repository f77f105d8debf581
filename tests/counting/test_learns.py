"""The counting pieces together learn to count (marked slow: about 90 s; `python -m pytest -q -m slow` runs it):
an R3D-18 at base width 8 and the counting head, trained by SEVERE's walk on in-memory videos of a square swinging
with a period of 6 to 20 frames, then counting held-out videos with SEVERE's search, beat a constant count (the
held-out truths' mean) by far. The suite's end-to-end task on video files is issue 42's next part."""

import random

import numpy as np
import pytest
import torch

from cvrl_pl.counting.context import context_clip, context_positions
from cvrl_pl.counting.search import count_repetitions
from cvrl_pl.counting.segments import Segment
from cvrl_pl.counting.walk import walk_batch
from cvrl_pl.eval.counting import counting_scores
from cvrl_pl.models import build_encoder
from cvrl_pl.models.counting_head import CountingHead

SIZE, FILL = 32, (0.5, 0.5, 0.5)


def swinging_square(period: int, frames: int) -> torch.Tensor:
    """(3, frames, 32, 32): a white square whose x follows a cosine of ``period`` frames."""
    phase = (np.arange(frames) % period) / period
    xs = (8 + 14 * (0.5 - 0.5 * np.cos(2 * np.pi * phase))).astype(int)
    video = torch.zeros(3, frames, SIZE, SIZE)
    for k, x in enumerate(xs):
        video[:, k, 12:20, x : x + 8] = 1.0
    return video


def whole(period: int, frames: int) -> Segment:
    offsets = np.full(frames, period - 1)  # every frame's cycles are one period long
    return Segment(1, frames, frames // period, offsets, offsets.copy())


@pytest.mark.slow
def test_a_trained_head_counts_periodic_videos_far_better_than_a_constant():
    torch.manual_seed(0)
    encoder = build_encoder("r3d18", base_channels=8)
    head = CountingHead(encoder.feature_dim, 7)
    optimizer = torch.optim.Adam([*encoder.parameters(), *head.parameters()], lr=1e-3)

    def network(x):
        return head(encoder(x))

    def optimize(loss):
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    rng = random.Random(0)
    first = []
    for _ in range(60):  # 60 batches of 8 segments, 11 steps each
        periods, lengths = [rng.randint(6, 20) for _ in range(8)], [rng.randint(60, 160) for _ in range(8)]
        segments = [whole(p, n) for p, n in zip(periods, lengths, strict=True)]
        videos = [swinging_square(p, n) for p, n in zip(periods, lengths, strict=True)]
        walk = walk_batch(segments, videos, network, optimize=optimize, rng=rng, fill=FILL)
        first = first or walk.losses
    encoder.eval()
    head.eval()
    periods = [7, 9, 11, 13, 15, 17, 19, 8, 12, 16]
    videos = [swinging_square(p, 150) for p in periods]

    def predict(states):
        with torch.no_grad():
            clips = [
                context_clip(v, context_positions(tuple(s), 150), FILL) for v, s in zip(videos, states, strict=True)
            ]
            before, box_before, after, box_after = network(torch.stack(clips))
        return before.softmax(1)[:, 1].numpy(), box_before.numpy(), after.softmax(1)[:, 1].numpy(), box_after.numpy()

    truth = [150 // p for p in periods]
    model = counting_scores(count_repetitions(np.full(len(periods), 150.0), predict), truth)
    constant = counting_scores([float(np.mean(truth))] * len(truth), truth)
    assert np.mean(walk.losses) < np.mean(first) / 4  # the loss fell (8.6 to about 0.5 in a first run)
    assert model["mae"] < constant["mae"] / 2 and model["oboa"] >= 0.7, (model, constant)
