"""The network's input around a position (SEVERE's ``utils/myutils.py``, ``update_inputs_2stream``): for a state
(l, m, r) where the cycle before m spans l..m and the one after it m + 1..r, ``half`` frames sampled evenly over the
context before m (the cycle before, and ``left`` times its length before that) and ``half`` over the context after
it (``right`` times the cycle after). Positions outside the sample are -1: SEVERE feeds a constant frame there
(``severe_fill``), which ``context_clip`` puts in."""

from __future__ import annotations

import numpy as np
import torch


def _spread(lo: int, hi: int, n: int) -> list[int]:
    """``n`` positions over lo..hi as SEVERE spaces them: round(lo - 0.5 + j (hi - lo + 1) / (n - 1)), clamped."""
    steps = (hi - lo + 1) / (n - 1)
    return [int(max(lo, min(hi, round(lo - 0.5 + j * steps)))) for j in range(n)]


def context_positions(
    state: tuple[float, float, float], length: int, *, half: int = 16, left: float = 1.0, right: float = 2.0
) -> np.ndarray:
    """The 2 ``half`` positions (-1 outside 0..length-1) of the input for ``state`` = (l, m, r) in a sample of
    ``length`` frames: ``half`` over int(l - (m - l + 1) left)..int(m), ``half`` over int(m + 1)..int(r + (r - m)
    (right - 1)); SEVERE's defaults (32 frames, contexts 1 and 2)."""
    lp, mp, rp = state
    before = _spread(int(lp - (mp - lp + 1) * left), int(mp), half)
    start = int(mp + 1)
    after = _spread(start, int(rp + (rp - start + 1) * (right - 1)), half)
    positions = np.asarray(before + after, np.int64)
    positions[(positions < 0) | (positions >= length)] = -1
    return positions


def severe_fill(mean: tuple[float, ...], std: tuple[float, ...]) -> tuple[float, ...]:
    """The pixel value (in [0, 1], before the encoder's input normalisation) of SEVERE's padding frame: it fills the
    normalised input with the mean's values themselves (``opt.mean``), i.e. pixels of mean + std x mean."""
    return tuple(m + s * m for m, s in zip(mean, std, strict=True))


def context_clip(frames: torch.Tensor, positions: np.ndarray, fill: tuple[float, ...]) -> torch.Tensor:
    """The network's input (C, len(positions), H, W) from a sample's frames (C, T, H, W): the frame at each
    position, and ``fill`` (one value a channel) where the position is -1 (outside the sample)."""
    index = torch.as_tensor(positions, device=frames.device)
    clip = frames[:, index.clamp(min=0)]
    outside = index < 0
    if outside.any():
        clip[:, outside] = torch.as_tensor(fill, dtype=frames.dtype, device=frames.device)[:, None, None, None]
    return clip
