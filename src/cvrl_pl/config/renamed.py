"""Config keys renamed since they were introduced: the old name still loads, with a warning naming the new one."""

from __future__ import annotations

import copy
import warnings
from collections.abc import Mapping
from typing import Any

from cvrl_pl.errors import ConfigError

# Keys renamed since they were introduced: the old name still loads, with a warning naming the new one.
RENAMED: dict[str, str] = {
    "eval.train_root": "probe.train.root",
    "eval.val_root": "val.root",
    "eval.val_layout": "val.layout",
    "eval.val_annotations": "val.annotations",
    "eval.val_split": "val.split",
    "eval.val_subset": "val.subset",
    "eval.every_n_epochs": "probe.every_n_epochs",
    "eval.knn_k": "probe.knn_k",
    "eval.knn_temperature": "probe.knn_temperature",
    "eval.probe_epochs": "probe.epochs",
    "eval.probe_lr": "probe.lr",
    "eval.probe_views": "probe.views",
}


class DeprecatedKeyWarning(FutureWarning):
    """A renamed config key was used; it still works, under its new name."""


def current_name(key: str, origin: str) -> str:
    """The current name of ``key``, warning when it is a renamed one."""
    new = RENAMED.get(key)
    if new is None:
        return key
    warnings.warn(
        f"{origin}: config key '{key}' is deprecated; use '{new}' (it is read as '{new}' for now)",
        DeprecatedKeyWarning,
        stacklevel=4,
    )
    return new


def upgrade_keys(tree: Mapping[str, Any], origin: str) -> dict[str, Any]:
    """A nested config dict with every renamed key moved to its new name (with a warning naming both); setting
    both names is an error."""
    tree = copy.deepcopy(dict(tree))
    for old in RENAMED:
        *parents, leaf = old.split(".")
        node = tree
        for part in parents:
            node = node.get(part) if isinstance(node, dict) else None
        if not isinstance(node, dict) or leaf not in node:
            continue
        value = node.pop(leaf)
        new = current_name(old, origin)
        *new_parents, new_leaf = new.split(".")
        target = tree
        for part in new_parents:
            target = target.setdefault(part, {})
        if new_leaf in target:
            raise ConfigError(f"{origin}: both '{old}' (deprecated) and '{new}' are set; keep only '{new}'")
        target[new_leaf] = value
    return tree
