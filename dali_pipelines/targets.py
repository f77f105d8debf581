"""Multi-label targets (Charades): a clip's multi-hot targets are the classes of the video's actions whose time
interval overlaps the clip's time span, or every action of the video (the test views: scored per video)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

Action = tuple[int, float, float]  # class index, start and end in seconds


def interval_targets(actions: Sequence[Action], start: float, end: float, num_classes: int) -> np.ndarray:
    """Multi-hot (num_classes,) float32: the classes of the actions whose interval overlaps the clip's time span
    [start, end) in seconds (an action that runs past the video's end counts where it overlaps)."""
    targets = np.zeros(num_classes, np.float32)
    for c, a0, a1 in actions:
        if a0 < end and a1 > start:
            targets[c] = 1.0
    return targets


def video_targets(actions: Sequence[Action], num_classes: int) -> np.ndarray:
    """Multi-hot (num_classes,) float32 of every action of the video."""
    targets = np.zeros(num_classes, np.float32)
    targets[[c for c, _, _ in actions]] = 1.0
    return targets


@dataclass(frozen=True)
class ActionTargets:
    """Per video id, its actions and frame rate: what turns a sample's frames into multi-hot targets.
    ``whole_video``: a training clip takes every action of its video, not only those its frames overlap."""

    actions: Sequence[Sequence[Action]]
    fps: Sequence[float]
    num_classes: int
    whole_video: bool = False

    def clip(self, vid: int, frames: np.ndarray) -> np.ndarray:
        """The targets of a training clip of video ``vid`` made of the display indices ``frames``: its time span
        runs from its first frame's time to the end of its last frame's (frame i shows from i / fps on)."""
        if self.whole_video:
            return self.video(vid)
        fps = float(self.fps[vid])
        start, end = int(frames.min()) / fps, (int(frames.max()) + 1) / fps
        return interval_targets(self.actions[vid], start, end, self.num_classes)

    def video(self, vid: int) -> np.ndarray:
        """The targets of video ``vid`` as a whole."""
        return video_targets(self.actions[vid], self.num_classes)
