"""``unlabelled`` layout: every visible file under root, at any depth, without labels (pretraining only)."""

from __future__ import annotations

from cvrl_pl.data.layouts.files import Candidate, ListSpec, relpath, walk_files


def unlabelled_candidates(root: str, lists: ListSpec, skip: str | None) -> tuple[list[str], list[Candidate]]:
    """No classes; every file under ``root`` with label -1."""
    return [], [Candidate(relpath(root, p), -1) for p in walk_files(root, skip)]
