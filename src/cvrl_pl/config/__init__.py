"""The configuration: the schema's defaults (schema.py), then a YAML file from ``conf/``, then ``key=value``
overrides, validated with errors that name the file or key; renamed keys upgraded (renamed.py). The README's
config reference is generated from the schema (``python -m cvrl_pl.config --markdown``).
"""

from __future__ import annotations

import dataclasses
import difflib
import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf
from omegaconf.errors import ConfigKeyError, OmegaConfBaseException, ValidationError

from cvrl_pl.config.renamed import RENAMED, DeprecatedKeyWarning, current_name, upgrade_keys
from cvrl_pl.config.schema import Config
from cvrl_pl.errors import ConfigError
from cvrl_pl.tasks import TASKS
from dali_pipelines.params import per_clip

__all__ = [
    "RENAMED",
    "Config",
    "ConfigError",
    "DeprecatedKeyWarning",
    "as_schema",
    "choices",
    "load_config",
    "markdown_reference",
]


def _walk(obj: Any, prefix: str = "") -> Iterator[tuple[str, Any, dataclasses.Field]]:
    """Every key of the schema (sections and leaves), depth first, with its default and its field."""
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        yield prefix + f.name, value, f
        if dataclasses.is_dataclass(value):
            yield from _walk(value, prefix + f.name + ".")


def _suggest(key: str) -> str:
    close = difflib.get_close_matches(key, [k for k, _, _ in _walk(Config())], n=1, cutoff=0.5)
    return f" Did you mean '{close[0]}'?" if close else ""


def _explain(exc: OmegaConfBaseException, origin: str) -> ConfigError:
    key = getattr(exc, "full_key", None) or ""
    if isinstance(exc, ConfigKeyError):
        return ConfigError(f"{origin}: unknown config key '{key}'.{_suggest(key)}")
    if isinstance(exc, ValidationError):
        detail = str(exc).splitlines()[0]
        return ConfigError(f"{origin}: invalid value for '{key}': {detail}")
    return ConfigError(f"{origin}: {str(exc).splitlines()[0]}")


def choices() -> dict[str, tuple[str, ...]]:
    """Every key whose values form a closed set, with its allowed values (from the registries that define them)."""
    return {key: f.metadata["choices"] for key, _, f in _walk(Config()) if "choices" in f.metadata}


def _check_choices(cfg: DictConfig) -> None:
    for key, allowed in choices().items():
        value = OmegaConf.select(cfg, key)
        values = list(value) if isinstance(value, ListConfig) else [value]  # a list: each of its items
        wrong = [v for v in values if v not in allowed]
        if wrong or not values:
            raise ConfigError(f"config key '{key}' is '{value}'; allowed values: {', '.join(allowed)}")


def _check_eval(cfg: DictConfig) -> None:
    """The keys that no type check covers: the protocols' counts, sampling rate, jitter and selection rules, the
    schedule's milestones and the input normalisation's three channels."""
    e, o = cfg.eval, cfg.optim
    for key in ("train_clips", "select_clips", "segments"):
        if e[key] < 1:
            raise ConfigError(f"config key 'eval.{key}' is {e[key]}; allowed values: a positive integer")
    if e.fps is not None and not e.fps > 0:
        raise ConfigError(f"config key 'eval.fps' is {e.fps}; allowed values: null or a positive rate")
    if len(e.jitter) not in (0, 4) or any(v < 0 for v in e.jitter):
        raise ConfigError(
            f"config key 'eval.jitter' is {list(e.jitter)}; allowed values: [] or four non-negative maxima "
            "[brightness, contrast, saturation, hue]"
        )
    m = cfg.model
    if len(m.input_mean) != 3 or len(m.input_std) != 3 or min(m.input_std) <= 0:
        raise ConfigError(
            f"config keys 'model.input_mean' and 'model.input_std' are {list(m.input_mean)} and {list(m.input_std)}; "
            "allowed values: three means and three positive standard deviations, one per RGB channel"
        )
    if e.segments > 1 and not TASKS[cfg.task].head:
        raise ConfigError(
            f"config key 'eval.segments' is {e.segments}: several clips a view feed a trained head, not task={cfg.task}"
        )
    _check_grid(cfg)
    if len(set(e.selection)) != len(e.selection):
        raise ConfigError(f"config key 'eval.selection' is {list(e.selection)}: a rule is listed twice")
    if list(o.milestones) != sorted(set(o.milestones)) or any(m < 1 for m in o.milestones):
        raise ConfigError(
            f"config key 'optim.milestones' is {list(o.milestones)}; allowed values: ascending epochs >= 1"
        )


def _check_grid(cfg: DictConfig) -> None:
    """A grid of heads (eval.heads) trains on a frozen encoder, tests the last epoch's weights of the head chosen on
    held-out videos, and holds out a fraction in (0, 1)."""
    h = cfg.eval.heads
    if not (h.lr or h.weight_decay):
        return
    task = TASKS[cfg.task]
    if not (task.head and task.frozen):
        raise ConfigError(
            f"config key 'eval.heads': a grid of heads shares one frozen encoder's features; task={cfg.task} "
            "trains no head on a frozen encoder (task=linear_eval or attentive_probe do)"
        )
    if list(cfg.eval.selection) != ["last"]:
        raise ConfigError(
            f"config keys 'eval.heads' and 'eval.selection' ({list(cfg.eval.selection)}): a grid's head is chosen on "
            "held-out training videos and tested at its last epoch; set eval.selection=[last]"
        )
    if not 0.0 < h.holdout < 1.0:
        raise ConfigError(f"config key 'eval.heads.holdout' is {h.holdout}; allowed values: (0, 1)")


def _check_threads(cfg: DictConfig) -> None:
    value = str(cfg.data.dali_threads)
    if value != "auto" and not (value.isdigit() and int(value) > 0):
        raise ConfigError(f"config key 'data.dali_threads' is '{value}'; allowed values: auto, or a positive integer")


def _check_clips(cfg: DictConfig) -> None:
    """rho >= 2, and the per-clip probabilities fit it (one per clip, or the paper's two: params.per_clip)."""
    rho = cfg.aug.num_clips
    if rho < 2:
        raise ConfigError(f"config key 'aug.num_clips' is {rho}; CVRL needs at least 2 clips per video")
    if rho != 2 and cfg.loss.update_scale == "official":
        raise ConfigError(f"loss.update_scale=official is the official two-clip loss's scale; aug.num_clips is {rho}")
    for key in ("blur_prob", "solarize_prob"):
        try:
            per_clip(cfg.aug[key], rho)
        except ValueError as exc:
            raise ConfigError(f"config key 'aug.{key}': {exc} (aug.num_clips={rho})") from exc


def _check_labels(cfg: DictConfig) -> None:
    """The label subset keys: a fraction in (0, 1], for the classification protocols only (a list given in
    data.label_subset wins over the fraction: it is used as it is)."""
    d = cfg.data
    if not 0.0 < d.label_fraction <= 1.0:
        raise ConfigError(f"config key 'data.label_fraction' is {d.label_fraction}; allowed values: (0, 1]")
    if (d.label_fraction < 1.0 or d.label_subset) and not TASKS[cfg.task].head:
        key = "data.label_subset" if d.label_subset else "data.label_fraction"
        *others, last = (name for name, task in TASKS.items() if task.head)
        trained = f"task={', '.join(others)} or {last}"
        raise ConfigError(f"{key} selects labelled training videos: it applies to {trained}, not task={cfg.task}")


def as_schema(cfg: DictConfig | Mapping[str, Any]) -> DictConfig:
    """``cfg`` (a loaded config, or the plain dict a checkpoint stored) merged over the schema's defaults, renamed
    keys upgraded: what a module rebuilds from its hyper-parameters."""
    tree = OmegaConf.to_container(cfg, resolve=True) if isinstance(cfg, DictConfig) else cfg
    return OmegaConf.merge(OmegaConf.structured(Config), upgrade_keys(tree, "checkpoint config"))


def load_config(path: str | Path | None = None, overrides: list[str] | tuple[str, ...] = ()) -> DictConfig:
    """Schema defaults, then the YAML file at ``path``, then ``dotted.key=value`` overrides; validated."""
    cfg = OmegaConf.structured(Config)
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"config file not found: {path}")
        try:
            file_cfg = OmegaConf.load(path)
        except Exception as exc:  # yaml errors come in several types
            raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
        try:
            cfg = OmegaConf.merge(cfg, upgrade_keys(OmegaConf.to_container(file_cfg), str(path)))
        except OmegaConfBaseException as exc:
            raise _explain(exc, str(path)) from exc
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override '{item}' is not of the form dotted.key=value")
        key, value = item.split("=", 1)
        try:
            cfg = OmegaConf.merge(cfg, OmegaConf.from_dotlist([f"{current_name(key, f'override {item!r}')}={value}"]))
        except OmegaConfBaseException as exc:
            raise _explain(exc, f"override '{item}'") from exc
    try:
        OmegaConf.resolve(cfg)  # e.g. trainer.run_name=sweep-${oc.env:WANDB_RUN_ID}, fixed once for the whole run
    except OmegaConfBaseException as exc:
        key = getattr(exc, "full_key", None) or "?"
        raise ConfigError(f"config key '{key}': {str(exc).splitlines()[0]}") from exc
    _check_choices(cfg)
    _check_clips(cfg)
    _check_threads(cfg)
    _check_labels(cfg)
    _check_eval(cfg)
    OmegaConf.set_readonly(cfg, True)
    return cfg


def markdown_reference() -> str:
    """The config reference as a Markdown table, one row per leaf key, generated from the schema."""
    rows = ["| key | default | meaning |", "| --- | --- | --- |"]

    for key, value, f in _walk(Config()):
        if not dataclasses.is_dataclass(value):
            shown = value if isinstance(value, str) else json.dumps(value)
            meaning = f.metadata["help"].replace("|", "\\|")
            rows.append(f"| `{key}` | `{shown}` | {meaning} |")
    return "\n".join(rows) + "\n"
