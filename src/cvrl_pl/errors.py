"""The errors a user's input causes, each with a message that names the file or key at fault. The entry points
print them as ``error: ...`` and exit with code 2; nothing else in a run catches them."""

from __future__ import annotations


class ConfigError(ValueError):
    """A configuration problem: an unknown key, a wrong type or choice, a value that does not fit the run."""


class DatasetError(ValueError):
    """A dataset that cannot be indexed or used, with a message naming the root or file at fault."""


class DatasetKeyError(DatasetError):
    """A dataset split's setting that does not fit its layout. ``key`` is the setting's short name (``annotations``,
    ``split``, ``subset``, ``csv``); ``named(full)`` gives the message with the name the user wrote (``val.split``
    in a config, ``--split`` on the command line)."""

    def __init__(self, key: str, template: str):
        self.key, self.template = key, template
        super().__init__(template.replace("{key}", key))  # not format(): a path in it may hold braces

    def named(self, full: str) -> DatasetKeyError:
        return DatasetKeyError(full, self.template)
