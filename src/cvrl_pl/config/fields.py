"""How a schema field is declared: a default, a one-line help text for the README's config reference, and for a
closed set its choices."""

from __future__ import annotations

from dataclasses import field
from typing import Any


def setting(default: Any, help: str, choices: tuple[str, ...] | None = None) -> Any:
    """A schema field with a default and a one-line help text for the config reference; ``choices`` closes the
    set of values (checked after merging) and fills ``{choices}`` in the help text."""
    metadata = {"help": help.format(choices="|".join(choices)) if choices else help}
    if choices:
        metadata["choices"] = tuple(choices)
    if isinstance(default, list | dict):
        return field(default_factory=lambda: type(default)(default), metadata=metadata)
    return field(default=default, metadata=metadata)


def section(cls: type, help: str) -> Any:
    return field(default_factory=cls, metadata={"help": help})
