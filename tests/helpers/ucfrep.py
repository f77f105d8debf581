"""UCFRep annotation files written as the distributed ones are (scipy's savemat of a struct ``label``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy.io import savemat


def write_mat(path: Path, bounds: list[int], duration: int) -> None:
    """A UCFRep annotation in the distributed format (a struct ``label``; temporal_bound K x 1) at ``path``: cycles
    between ``bounds``, every frame's cycles 10 frames long (offsets 9), the cycle after unknown past the last but one
    boundary."""
    nxt = np.full(duration, -1)
    nxt[: bounds[-2]] = 9
    label = {
        "duration": duration,
        "start_frame": bounds[0],
        "end_frame": bounds[-1],
        "temporal_bound_num": len(bounds),
        "temporal_bound": np.asarray(bounds)[:, None],  # K x 1, as the distributed files hold it
        "offset_next_estimate": nxt,
        "offset_pre_estimate": np.full(duration, 9),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    savemat(path, {"label": label})
