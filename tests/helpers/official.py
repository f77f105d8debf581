"""Generated datasets in the exact on-disk formats of UCF-101, HMDB-51, Something-Something v2 and Gym99 (as the
SEVERE benchmark ships its lists): the videos where the datasets put them, and the official annotation files with
their quirks (Windows line endings in the UCF-101 lists, the ``HandstandPushups`` folder of
``v_HandStandPushups_*`` files, HMDB-51's trailing spaces, SSv2's string ids and bracketed templates). Each
video's frames carry its index and a per-video colour, so every video is distinct."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from tests.helpers.videos import index_frame, write_video

# (class folder, the class's name in its file names): UCF-101's one mismatch, kept.
UCF_CLASSES = [("ApplyEyeMakeup", "ApplyEyeMakeup"), ("HandstandPushups", "HandStandPushups"), ("YoYo", "YoYo")]
HMDB_CLASSES = ["brush_hair", "cartwheel", "wave"]
SSV2_TEMPLATES = ["Holding something next to something", "Pushing something from left to right", "Tearing something"]


def distinct_video(path: Path, seed: int, *, num_frames: int = 24, codec: str = "mpeg4") -> Path:
    """An index-coded video tinted with a colour of its own (``seed``)."""
    tint = np.random.default_rng(seed).integers(0, 120, size=3, dtype=np.uint8)
    frames = np.stack([index_frame(k, 48, 64) // 2 + tint for k in range(num_frames)])
    return write_video(path, num_frames, frames=frames, codec=codec)


def write_ucf101(root: Path, *, groups: int = 3, clips: int = 2, codec: str = "mpeg4") -> tuple[Path, Path]:
    """``root/UCF-101/<Class>/v_<Name>_gXX_cYY.avi`` and ``root/ucfTrainTestlist`` (classInd, trainlist0N,
    testlist0N with CRLF): split N tests on group N and trains on the others, as the official splits hold out
    groups. Returns (videos root, annotation folder)."""
    videos, lists = root / "UCF-101", root / "ucfTrainTestlist"
    lists.mkdir(parents=True)
    (lists / "classInd.txt").write_bytes(
        "".join(f"{i} {folder}\r\n" for i, (folder, _) in enumerate(UCF_CLASSES, 1)).encode()
    )
    seed = 0
    for split in (1, 2, 3):
        train, test = [], []
        for number, (folder, name) in enumerate(UCF_CLASSES, 1):
            for g in range(1, groups + 1):
                for c in range(1, clips + 1):
                    rel = f"{folder}/v_{name}_g{g:02d}_c{c:02d}.avi"
                    if split == 1:
                        distinct_video(videos / rel, seed, codec=codec)
                        seed += 1
                    (test if g == split else train).append((rel, number))
        (lists / f"trainlist0{split}.txt").write_bytes("".join(f"{r} {n}\r\n" for r, n in train).encode())
        (lists / f"testlist0{split}.txt").write_bytes("".join(f"{r}\r\n" for r, _ in test).encode())
    return videos, lists


def write_hmdb51(root: Path, *, per_class: int = 6, codec: str = "mpeg4") -> tuple[Path, Path]:
    """``root/hmdb51/<class>/<video>.avi`` and ``root/testTrainMulti_7030_splits/<class>_test_split<N>.txt``:
    in split N, video i is tagged 2 (test) when i % 3 == N - 1, 0 (unused) for the last video, 1 (train) else."""
    videos, lists = root / "hmdb51", root / "testTrainMulti_7030_splits"
    lists.mkdir(parents=True)
    for c, name in enumerate(HMDB_CLASSES):
        names = [f"{name.title()}_video_{i}_{name}_f_nm_np1_ri_med_{i}.avi" for i in range(per_class)]
        for i, video in enumerate(names):
            distinct_video(videos / name / video, 100 + c * per_class + i, codec=codec)
        for split in (1, 2, 3):
            tags = ["0" if i == per_class - 1 else "2" if i % 3 == split - 1 else "1" for i in range(per_class)]
            lines = "".join(f"{v} {t} \n" for v, t in zip(names, tags, strict=True))
            (lists / f"{name}_test_split{split}.txt").write_text(lines)
    return videos, lists


def write_ssv2(root: Path, *, per_class: int = 3) -> tuple[Path, Path]:
    """``root/20bn-something-something-v2/<id>.webm`` and ``root/labels`` (labels, train and validation JSON):
    ids are strings, templates carry brackets; the last video of each class is in validation."""
    videos, lists = root / "20bn-something-something-v2", root / "labels"
    lists.mkdir(parents=True)
    (lists / "something-something-v2-labels.json").write_text(
        json.dumps({t: str(i) for i, t in enumerate(SSV2_TEMPLATES)}, indent=1)
    )
    subsets: dict[str, list[dict]] = {"train": [], "validation": []}
    for c, template in enumerate(SSV2_TEMPLATES):
        for i in range(per_class):
            video_id = str(78687 + 10 * c + i)
            distinct_video(videos / f"{video_id}.webm", 200 + c * per_class + i, codec="vp9")
            bracketed = template.replace("something", "[something]")
            entry = {"id": video_id, "label": template.lower(), "template": bracketed, "placeholders": ["x"]}
            subsets["validation" if i == per_class - 1 else "train"].append(entry)
    for subset, entries in subsets.items():
        (lists / f"something-something-v2-{subset}.json").write_text(json.dumps(entries, indent=1))
    return videos, lists


# Gym99 labels of the generated lists: outside both SEVERE sets, FX-S1's first and last, UB-S1's first and last.
GYM_LABELS = [0, 6, 16, 74, 88, 98]
GYM_STORED = {".avi": "mpeg4", ".mp4": "h264", ".webm": "vp9"}  # SEVERE's conversion, then prepare's copies


def gym_clip(label: int, i: int) -> str:
    """A clip name in FineGym's form (``<video>_E_<event span>_A_<action span>``), ``.avi`` as SEVERE lists it."""
    return f"Gym{label:03d}v{i}_E_000{label:03d}_001{label:03d}_A_{i:04d}_{i + 1:04d}.avi"


def write_gym99(root: Path, *, clips: int = 2) -> tuple[Path, Path]:
    """``root/videos/<clip>`` in one flat folder and ``root/annotations/gym99_{train,val}.txt`` (``<clip>.avi
    <label>``, labels in descending order so that list order is not path order): per label of ``GYM_LABELS``,
    ``clips`` train clips and one val clip, stored in turn as .avi, .mp4 and .webm; the train list names one more
    clip of label 6, not on disk. Returns (videos root, annotation folder)."""
    videos, lists = root / "videos", root / "annotations"
    lists.mkdir(parents=True)
    subsets: dict[str, list[str]] = {"train": [], "val": []}
    for n, (label, i) in enumerate((label, i) for label in reversed(GYM_LABELS) for i in range(clips + 1)):
        name = gym_clip(label, i)
        ext = list(GYM_STORED)[n % len(GYM_STORED)]
        distinct_video(videos / (name[:-4] + ext), 300 + n, codec=GYM_STORED[ext])
        subsets["val" if i == clips else "train"].append(f"{name} {label}\n")
    subsets["train"].append(f"{gym_clip(6, clips + 1)} 6\n")
    for subset, lines in subsets.items():
        (lists / f"gym99_{subset}.txt").write_text("".join(lines))
    return videos, lists
