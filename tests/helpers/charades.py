"""A generated Charades in exactly the distributed format: the two CSVs (with Charades' other columns, a quoted
script holding commas), the classes file and ``<id>.mp4`` videos in one folder; a video with no actions and an action
that runs past its video's end included (a video with no actions in each subset)."""

from __future__ import annotations

import csv
from pathlib import Path

from tests.helpers.official import distinct_video

HEADER = ["id", "subject", "scene", "quality", "relevance", "verified", "script", "objects", "descriptions"]
HEADER += ["actions", "length"]
CLASSES = ["Holding some clothes", "Putting clothes somewhere", "Taking a phone from somewhere", "Sitting down"]
# (id, actions, length in s): frames are written at 25 fps, length x 25 of them
TRAIN = [
    ("46GP8", "c001 0.10 0.90;c003 0.50 1.60", 1.6),
    ("N11GT", "c000 0.00 0.70", 1.2),
    ("0IH69", "", 1.0),  # no actions
    ("KRF68", "c002 0.80 2.40", 1.4),  # ends past the video's end
]
TEST = [("YSKX3", "c000 0.00 1.00;c002 0.20 0.60", 1.2), ("RXGAZ", "c003 0.40 1.20", 1.2), ("7UPGT", "", 1.0)]


def write_charades(root: Path) -> tuple[Path, Path]:
    """(the videos' folder, the annotations' folder) of a small Charades under ``root``."""
    videos, annotations = root / "Charades_v1_480", root / "Charades"
    annotations.mkdir(parents=True, exist_ok=True)
    lines = [f"c{i:03d} {name}" for i, name in enumerate(CLASSES)]
    (annotations / "Charades_v1_classes.txt").write_text("\n".join(lines) + "\n")
    for name, rows in (("Charades_v1_train.csv", TRAIN), ("Charades_v1_test.csv", TEST)):
        with open(annotations / name, "w", newline="") as f:
            out = csv.writer(f)
            out.writerow(HEADER)
            for k, (vid, actions, length) in enumerate(rows):
                script = f"A person, in a room, does thing {k}."
                out.writerow([vid, "HR43", "Kitchen", "6", "7", "Yes", script, "clothes;phone", "A person...", actions,
                              f"{length:.2f}"])  # fmt: skip
                distinct_video(videos / f"{vid}.mp4", seed=k + 100 * len(name), num_frames=round(length * 25),
                               codec="h264")  # fmt: skip
    return videos, annotations
