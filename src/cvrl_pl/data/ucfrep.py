"""UCFRep's repetition annotations (Zhang et al., CVPR 2020; SEVERE's UCF-RC task): 526 UCF-101 videos of 23
classes, each with the frames where its repetition cycles start and end, read from the distributed annotation folder
or its zip (``ucf526_annotations.zip``: ``annotations/{train,val}/<video>.mat``).

Each ``.mat`` holds a struct ``label``: ``start_frame`` and ``end_frame`` (1-based, the span the cycles cover, the
span SEVERE counts in), ``duration`` (that span's frames), ``temporal_bound`` (K x 1: the cycles' boundaries,
1-based frames), ``temporal_bound_num`` (K), and per frame of the span ``offset_next_estimate`` /
``offset_pre_estimate`` (the length, in frames, less one, of the cycle after / before it; -1 where unknown). The
count is K - 1. Train is groups g01-g20, val g21-g25: not one of UCF-101's splits. A video's file is UCF-101's
``<ClassFolder>/<name>.avi``, the folder matched without case (``v_HandStandPushups_*`` lies in
``HandstandPushups/``).
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.io import loadmat

from cvrl_pl.errors import DatasetError

SPLITS = ("train", "val")
OFFSETS = ("offset_next_estimate", "offset_pre_estimate")  # the per-frame cycle lengths, after and before


@dataclass(frozen=True)
class Repetitions:
    """One annotated video: its name (``v_<Class>_gNN_cNN``), split, frames, covered span and cycle boundaries."""

    name: str
    split: str
    duration: int  # frames of the span start_frame..end_frame
    start_frame: int  # 1-based, as the annotation (and SEVERE's image_%05d.jpg frames) count
    end_frame: int
    bounds: np.ndarray  # (K,) 1-based frames where the K - 1 cycles start and end
    offset_next: np.ndarray  # (duration,) for each frame of the span, the cycle after it (length - 1); -1: none
    offset_pre: np.ndarray  # (duration,) the same for the cycle before it

    @property
    def count(self) -> int:
        """The number of repetitions: the cycles between the K boundaries."""
        return len(self.bounds) - 1

    @property
    def class_name(self) -> str:
        """The class as the name spells it (``HandStandPushups``), not always UCF-101's folder name."""
        return self.name.split("_")[1]


def parse_label(name: str, split: str, blob: bytes) -> Repetitions:
    """The ``label`` struct of one ``.mat`` file's bytes; DatasetError naming the video if it is not one."""
    try:
        label = loadmat(io.BytesIO(blob))["label"][0, 0]
        offsets = {
            k: np.asarray(label[k]).reshape(-1).astype(np.int64)
            for k in ("offset_next_estimate", "offset_pre_estimate")
        }
        return Repetitions(
            name=name,
            split=split,
            duration=int(label["duration"][0, 0]),
            start_frame=int(label["start_frame"][0, 0]),
            end_frame=int(label["end_frame"][0, 0]),
            bounds=np.asarray(label["temporal_bound"]).reshape(-1).astype(np.int64),
            offset_next=offsets["offset_next_estimate"],
            offset_pre=offsets["offset_pre_estimate"],
        )
    except (KeyError, IndexError, ValueError, TypeError) as exc:
        raise DatasetError(f"{split}/{name}.mat: not a UCFRep annotation (a struct 'label'): {exc}") from exc


def _mat_files(source: Path) -> Iterator[tuple[str, str, bytes]]:
    """(split, video name, bytes) of every ``<split>/<name>.mat`` under ``source``: a zip, or a folder holding the
    split folders (or an ``annotations`` folder that does)."""
    if zipfile.is_zipfile(source):
        with zipfile.ZipFile(source) as archive:
            for member in archive.namelist():
                parts = member.split("/")
                if len(parts) >= 2 and parts[-2] in SPLITS and parts[-1].endswith(".mat"):
                    yield parts[-2], parts[-1][:-4], archive.read(member)
        return
    root = source / "annotations" if (source / "annotations").is_dir() else source
    for split in SPLITS:
        for path in sorted((root / split).glob("*.mat")):
            yield split, path.stem, path.read_bytes()


def read_annotations(source: str | Path) -> list[Repetitions]:
    """Every annotated video of UCFRep's annotation folder or zip, by split (train, val) and name, as SEVERE's
    loader orders them; DatasetError naming ``source`` if it holds none."""
    source = Path(source)
    if not source.exists():
        raise DatasetError(f"UCFRep annotations: {source} does not exist (the folder or ucf526_annotations.zip)")
    videos = [parse_label(name, split, blob) for split, name, blob in _mat_files(source)]
    if not videos:
        raise DatasetError(f"UCFRep annotations: no train/*.mat or val/*.mat under {source}")
    return sorted(videos, key=lambda v: (SPLITS.index(v.split), v.name))
