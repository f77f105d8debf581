"""The SEVERE benchmark's few-shot training subsets ("1000 examples"), drawn exactly as its ``get_subset_data``
(``action_recognition/datasets/utils.py``) draws them, so that a run trains on SEVERE's own clips: from an official
list in its line order, the listed clips missing on disk left out first (as SEVERE's ``isfile`` checks do). The draw
is written as a ``data.label_subset`` file. CLI::

    python -m cvrl_pl.data.few_shot --layout ucf101 --root R --annotations A [--subset train] [--split 1] \\
        [--examples 1000] [--seed 99999] --out FILE
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cvrl_pl.data.layouts import ANNOTATED, LAYOUTS, listed_candidates, resolve_layout
from cvrl_pl.data.layouts.files import ListSpec, some_names
from cvrl_pl.errors import DatasetError, DatasetKeyError

SEVERE_SEED = 99999  # the seed of SEVERE's published subsets


def severe_subset(labels: Sequence[int] | np.ndarray, num_examples: int, *, seed: int = SEVERE_SEED) -> np.ndarray:
    """List positions of SEVERE's draw of ``num_examples`` from a list whose clips have ``labels``, in draw order:
    ceil(num_examples / classes) per class (all of a smaller class, permuted), by one RandomState stream."""
    labels = np.asarray(labels)
    classes = np.unique(labels)  # ascending: the order SEVERE's loop over a set of small non-negative ints takes
    if num_examples < 1:
        raise DatasetError(f"a few-shot draw takes a positive number of examples, got {num_examples}")
    if not len(classes):
        return np.empty(0, np.int64)
    per_class = math.ceil(num_examples / len(classes))
    state = np.random.RandomState(seed)
    picks = []
    for c in classes:
        members = np.flatnonzero(labels == c)  # the class's positions in list order
        picks.append(members[state.choice(len(members), min(per_class, len(members)), replace=False)])
    return np.concatenate(picks)


@dataclass(frozen=True)
class FewShotDraw:
    """What a few-shot draw took: how many clips the list names, the missing ones, the classes found, the clips
    drawn per class (all of a class with fewer) and the drawn paths, relative to the root, in draw order."""

    listed: int
    missing: list[str]
    classes: int
    per_class: int
    drawn: list[str]

    def summary(self) -> str:
        """Two lines for the console: the list and the draw."""
        found = self.listed - len(self.missing)
        return (
            f"list: {self.listed} clips, {found} found, {len(self.missing)} missing\n"
            f"drawn: {len(self.drawn)} clips, up to {self.per_class} from each of {self.classes} classes"
        )

    def report(self, out: str | Path) -> None:
        """Print the summary and where the draw was written, and the warning (stderr) if clips are missing."""
        print(f"{self.summary()}\nwritten to {out}")
        if self.warning():
            print(f"warning: {self.warning()}", file=sys.stderr)

    def warning(self) -> str | None:
        """Why the draw is not SEVERE's published one when clips are missing; None when every clip was found."""
        if not self.missing:
            return None
        return (
            f"{len(self.missing)} listed clips are missing ({some_names(self.missing, 3)}): missing clips change which "
            "clips the draw picks, in their classes and possibly later ones; SEVERE's published subsets assume the "
            "full list"
        )


def draw_few_shot(
    root: str,
    annotations: str,
    out: str | Path,
    *,
    layout: str = "auto",
    subset: str = "train",
    split: int = 1,
    examples: int = 1000,
    seed: int = SEVERE_SEED,
) -> FewShotDraw:
    """Draw SEVERE's few-shot subset of a split's official list (the clips on disk, found by stat alone) and write
    it to ``out``, one path a line relative to ``root`` as the files are named on disk."""
    lists = ListSpec(annotations=annotations, split=split, subset=subset)
    layout = resolve_layout(root, lists, layout, None)
    if LAYOUTS[layout].actions is not None:
        raise DatasetError(f"layout '{layout}' is multi-label: a few-shot draw needs one label per clip")
    _, candidates = listed_candidates(root, layout, lists, None)
    found = [c for c in candidates if c.reason is None]
    if not found:
        raise DatasetError(f"none of the {len(candidates)} clips that the {layout} list names is under {root}")
    rows = severe_subset([c.label for c in found], examples, seed=seed)
    drawn = [found[r].path for r in rows]
    Path(out).write_text("".join(f"{p}\n" for p in drawn))
    classes = len({c.label for c in found})
    missing = [c.path for c in candidates if c.reason is not None]
    return FewShotDraw(len(candidates), missing, classes, math.ceil(examples / classes), drawn)


def main(argv: list[str] | None = None) -> int:
    """Draw SEVERE's few-shot subset from the command line (or as a subcommand, with its ``argv``); 2 on a bad
    dataset or setting."""
    parser = argparse.ArgumentParser(
        prog="python -m cvrl_pl.data.few_shot",
        description="Draw the SEVERE benchmark's few-shot training subset of an official list, as SEVERE draws it, "
        "and write it as a data.label_subset file.",
    )
    parser.add_argument("--layout", default="auto", choices=("auto", *ANNOTATED), help="dataset layout")
    parser.add_argument("--root", required=True, help="dataset root (the clips)")
    parser.add_argument("--annotations", required=True, help="folder of the official lists")
    parser.add_argument("--subset", default="train", help="subset of the split (default: train)")
    parser.add_argument("--split", type=int, default=1, help="official split (default: 1)")
    parser.add_argument("--examples", type=int, default=1000, help="examples to draw (default: 1000, SEVERE's)")
    parser.add_argument("--seed", type=int, default=SEVERE_SEED, help=f"seed (default: {SEVERE_SEED}, SEVERE's)")
    parser.add_argument("--out", required=True, help="the list file to write (data.label_subset)")
    args = parser.parse_args(argv)
    try:
        draw = draw_few_shot(**vars(args))  # the options are named as its parameters
    except DatasetError as exc:
        print(f"error: {exc.named('--' + exc.key) if isinstance(exc, DatasetKeyError) else exc}", file=sys.stderr)
        return 2
    draw.report(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
