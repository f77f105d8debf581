"""One training batch's walk (SEVERE's train_epoch inner loop) with a stub network: the first inputs are the
context clips of the states drawn first, every step's loss reaches the optimiser, states that keep their size walk
to the segment's end, and the walk stops after at most 11 steps."""

import random

import numpy as np
import torch

from cvrl_pl.counting.context import context_clip, context_positions
from cvrl_pl.counting.segments import Segment
from cvrl_pl.counting.tracking import initial_state
from cvrl_pl.counting.walk import walk_batch

FILL = (0.5, 0.5, 0.5)


def _segment(period: int, frames: int) -> tuple[Segment, torch.Tensor]:
    offsets = np.full(frames, period - 1)
    segment = Segment(1, frames, frames // period, offsets, offsets.copy())
    t = torch.arange(frames, dtype=torch.float32)
    video = (t % period / period).view(1, frames, 1, 1).expand(3, frames, 4, 4).clone()  # a pattern of period P
    return segment, video


class Stub:
    """A network that always says: the current cycles are right (anchor 1.0, box 0), and records its inputs."""

    def __init__(self):
        self.inputs = []
        self.weight = torch.zeros(1, requires_grad=True)

    def __call__(self, inputs):
        self.inputs.append(inputs.clone())
        b = len(inputs)
        logits = torch.zeros(b, 2, 7) + self.weight
        logits[:, 1, 3] += 10.0
        boxes = torch.zeros(b, 7) + self.weight
        return logits, boxes, logits.clone(), boxes.clone()


def test_a_walk_trains_on_the_drawn_states_and_walks_each_segment_to_its_end():
    pairs = [_segment(10, 60), _segment(7, 40)]
    segments, frames = [p[0] for p in pairs], [p[1] for p in pairs]
    stub, seen = Stub(), []

    def optimize(loss):
        loss.backward()
        seen.append(float(loss.detach()))

    walk = walk_batch(segments, frames, stub, optimize=optimize, rng=random.Random(3), fill=FILL)
    replay = random.Random(3)
    first = [initial_state(s, replay) for s in segments]
    expected = torch.stack(
        [
            context_clip(f, context_positions(st, s.frames), FILL)
            for s, f, st in zip(segments, frames, first, strict=True)
        ]
    )
    assert torch.equal(stub.inputs[0], expected)  # the first step's inputs: the first states' two contexts
    assert stub.inputs[0].shape == (2, 3, 32, 4, 4)
    assert 1 <= walk.steps <= 11 and len(walk.losses) == len(seen) == walk.steps and len(stub.inputs) == walk.steps
    assert all(np.isfinite(walk.losses)) and stub.weight.grad is not None
    assert all(c > 0 for c in walk.counts)


def test_the_walk_stops_after_eleven_steps_at_most():
    segment, video = _segment(5, 300)  # steps of 15 to 60 frames from near the start: rarely done in 11 steps
    stub = Stub()
    walk = walk_batch([segment] * 3, [video] * 3, stub, optimize=lambda loss: None, rng=random.Random(0), fill=FILL)
    assert walk.steps <= 11 and len(stub.inputs) == walk.steps
