"""One training batch of UCF-RC as SEVERE runs it (``train_2stream.py``, ``train_epoch``'s inner loop): start a
state in every segment, then up to ``max_steps`` + 1 times build the two-context inputs, train on the anchors'
targets at m, and move every state by a random step and the network's own best anchors, restarting those that
fail or leave their segment, until every segment has been walked to its end. The walk also counts each segment as
SEVERE's training log does (the steps taken over the cycle length, plus what is left)."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from cvrl_pl.counting.context import context_clip, context_positions
from cvrl_pl.counting.segments import Segment
from cvrl_pl.counting.tracking import (
    SEVERE_WALK,
    TrackSpec,
    best_factor,
    initial_state,
    next_state,
    random_step,
    targets_at,
)
from cvrl_pl.losses.counting import counting_loss

# inputs (B, C, 2 half, H, W) -> the head's four outputs
Network = Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]]


@dataclass
class Walk:
    """What a batch's walk did: its steps, the loss of each, and each segment's count as the walk estimated it."""

    steps: int
    losses: list[float]
    counts: list[float]


def _targets(segments: Sequence[Segment], states: list[tuple[int, int, int]], spec: TrackSpec, device) -> tuple:
    per = [targets_at(s, st, spec) for s, st in zip(segments, states, strict=True)]
    return tuple(torch.as_tensor(np.stack(column), device=device) for column in zip(*per, strict=True))


def walk_batch(
    segments: Sequence[Segment],
    frames: Sequence[torch.Tensor],
    network: Network,
    *,
    optimize: Callable[[torch.Tensor], None],
    rng: random.Random,
    fill: tuple[float, ...],
    spec: TrackSpec = SEVERE_WALK,
) -> Walk:
    """Walk ``segments`` (their ``frames``, (C, T, H, W) each) with ``network``; ``optimize`` takes each step's loss
    (backward and the optimiser's step); ``rng`` draws the states and steps; ``fill`` is the frame outside."""
    states = [initial_state(s, rng, spec) for s in segments]
    progress = [0.0] * len(segments)  # SEVERE's pre_counts: the cycles walked past
    counts = [0.0] * len(segments)
    done = [False] * len(segments)
    losses = []
    for step in range(spec.max_steps + 1):
        inputs = torch.stack(
            [
                context_clip(f, context_positions(st, s.frames), fill)
                for s, f, st in zip(segments, frames, states, strict=True)
            ]
        )
        outputs = network(inputs)
        loss = counting_loss(outputs, _targets(segments, states, spec, inputs.device))
        optimize(loss)
        losses.append(float(loss.detach()))
        with torch.no_grad():
            before, after = (logits.float().softmax(dim=1)[:, 1].cpu().numpy() for logits in (outputs[0], outputs[2]))
            boxes_before, boxes_after = (boxes.float().cpu().numpy() for boxes in (outputs[1], outputs[3]))
        for j, segment in enumerate(segments):
            length = segment.frames
            moved = random_step(length, rng)
            factors = (best_factor(before[j], boxes_before[j], spec), best_factor(after[j], boxes_after[j], spec))
            state, left_it, failed = next_state(states[j], factors, moved, length)
            if failed or left_it:
                state, progress[j] = initial_state(segment, rng, spec), 0.0
            else:
                progress[j] += moved / float(state[1] - state[0] + 1)
            states[j] = state
            counts[j] = progress[j] + float(length - state[0] + 1e-6) / float(state[1] - state[0] + 1)
            done[j] = done[j] or left_it
        if all(done):
            return Walk(step + 1, losses, counts)
    return Walk(spec.max_steps + 1, losses, counts)
