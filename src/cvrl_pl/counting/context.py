"""The network's input around a position (SEVERE's ``utils/myutils.py``, ``update_inputs_2stream``): for a state
(l, m, r) where the cycle before m spans l..m and the one after it m + 1..r, ``half`` frames sampled evenly over the
context before m (the cycle before, and ``left`` times its length before that) and ``half`` over the context after
it (``right`` times the cycle after). Positions outside the sample are -1: SEVERE feeds the mean frame there."""

from __future__ import annotations

import numpy as np


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
