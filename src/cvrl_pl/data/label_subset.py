"""The semi-supervised protocol's training videos: a class-balanced fraction of a labelled split, drawn by a seed
from the index alone, so that every rank, world size and resume draws the same videos. The draw is written into the
run folder as ``label_subset.txt`` (one path per line, relative to the split's root), a file that
``data.label_subset`` reads back as it is (docs/recipe.md, "Semi-supervised fine-tuning")."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from pytorch_lightning.utilities import rank_zero_info

from cvrl_pl.data.index import VideoIndex
from cvrl_pl.data.layouts.files import some_names
from cvrl_pl.data.multilabel import is_multilabel
from cvrl_pl.errors import ConfigError, DatasetError

SUBSET_FILE = "label_subset.txt"


def draw_per_class(labels: np.ndarray, seed: int, size: Callable[[int], int]) -> np.ndarray:
    """Ascending rows drawn in each class: ``size(videos of the class)`` of them (at most all), by ``seed`` from that
    class's own random stream, so that a class's draw depends on no other class."""
    labels = np.asarray(labels)
    rows = [np.empty(0, np.int64)]
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)  # in index order: sorted by path
        rows.append(np.random.default_rng([seed, int(c)]).choice(members, size=size(len(members)), replace=False))
    return np.sort(np.concatenate(rows))


def rounded_share(fraction: float, count: int) -> int:
    """``fraction`` of ``count``, rounded half up."""
    return int(np.floor(fraction * count + 0.5))


def draw_label_subset(labels: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Ascending rows of a class-balanced subset: in each class, ``fraction`` of its videos rounded half up, at least
    one (draw_per_class)."""
    return draw_per_class(labels, seed, lambda n: max(1, rounded_share(fraction, n)))


def write_label_subset(path: str | os.PathLike, index: VideoIndex, rows: np.ndarray) -> None:
    """The videos ``rows`` of ``index``, one path per line relative to its root, written atomically."""
    path = Path(path)
    partial = path.with_name(f"{path.name}.{os.getpid()}.partial")
    partial.write_text("".join(f"{index.videos.paths[int(r)]}\n" for r in rows))
    os.replace(partial, path)


def read_label_subset(path: str | os.PathLike, index: VideoIndex) -> np.ndarray:
    """Ascending rows of ``index`` listed in ``path`` (paths relative to the split's root; blank lines ignored);
    DatasetError naming the file and the listed videos the split does not hold."""
    try:
        listed = [line.strip() for line in Path(path).read_text().splitlines() if line.strip()]
    except OSError as exc:
        raise DatasetError(f"data.label_subset={path}: cannot read the list: {exc}") from exc
    where = {p: i for i, p in enumerate(index.videos.paths)}
    missing = [p for p in listed if p not in where]
    if missing:
        raise DatasetError(
            f"data.label_subset={path}: {len(missing)} of {len(listed)} listed videos are not usable videos of "
            f"{index.root}: {some_names(missing, 3)} (paths are relative to data.root, one per line)"
        )
    return np.unique(np.fromiter((where[p] for p in listed), np.int64, len(listed)))


def training_subset(
    data: Mapping[str, Any], index: VideoIndex, run_dir: Path, *, resuming: bool, write: bool
) -> VideoIndex:
    """The videos a classification protocol trains on: the run's own ``label_subset.txt`` when it resumes, else the
    list ``data.label_subset``, else a draw of ``data.label_fraction`` by ``data.label_seed``, else every video.
    ``write`` (rank 0): keep the subset in the run folder."""
    saved = run_dir / SUBSET_FILE
    if resuming and saved.is_file():
        rows, origin = read_label_subset(saved, index), f"{saved} (resuming)"
    elif data["label_subset"]:
        rows, origin = read_label_subset(data["label_subset"], index), f"data.label_subset={data['label_subset']}"
    elif data["label_fraction"] < 1.0:
        if is_multilabel(index):
            raise ConfigError(
                f"data.label_fraction={data['label_fraction']}: the class-balanced draw needs one label per video, and "
                f"data.layout={index.layout} is multi-label; list the videos to train on in data.label_subset instead"
            )
        labels = index.videos.column("label")
        rows = draw_label_subset(labels, data["label_fraction"], data["label_seed"])
        origin = f"data.label_fraction={data['label_fraction']}, data.label_seed={data['label_seed']}"
    else:
        return index
    subset = replace(index, videos=index.videos.take(rows))  # rows ascending: still sorted by path
    classes = len(np.unique(subset.videos.column("label")))
    if write:
        write_label_subset(saved, index, rows)
    counted = "" if is_multilabel(index) else f", {classes} of {len(index.classes)} classes"
    rank_zero_info(
        f"label subset: {len(rows)} of {len(index.videos)} training videos{counted}, from {origin}; listed in {saved}"
    )
    return subset
