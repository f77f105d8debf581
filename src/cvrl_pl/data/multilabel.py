"""Whether a split is multi-label (charades: each video's actions, not one class), and what turns its samples into
multi-hot targets."""

from __future__ import annotations

from cvrl_pl.data.index import VideoIndex
from cvrl_pl.data.layouts import LAYOUTS
from dali_pipelines.targets import ActionTargets


def is_multilabel(index: VideoIndex) -> bool:
    """Whether the index's videos have multi-hot targets from their actions (charades) instead of a class label."""
    return LAYOUTS[index.layout].actions is not None


def action_targets(index: VideoIndex, *, whole_video: bool) -> ActionTargets | None:
    """What turns a multi-label split's samples into multi-hot targets: every indexed video's actions, read from
    the annotations the index was built from, and its frame rate; None for a single-label split."""
    if not is_multilabel(index):
        return None
    actions = LAYOUTS[index.layout].actions(index.lists(), index.videos.paths)
    return ActionTargets(actions, index.videos.column("fps"), len(index.classes), whole_video=whole_video)
