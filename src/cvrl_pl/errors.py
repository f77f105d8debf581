"""The errors a user's input causes, each with a message that names the file or key at fault. The entry points
print them as ``error: ...`` and exit with code 2; nothing else in a run catches them."""


class ConfigError(ValueError):
    """A configuration problem: an unknown key, a wrong type or choice, a value that does not fit the run."""


class DatasetError(ValueError):
    """A dataset that cannot be indexed or used, with a message naming the root or file at fault."""
