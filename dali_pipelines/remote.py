"""Clients of object storage for dali_pipelines.storage: one fsspec filesystem per process and per dataset root's
options (made in the process that uses it, after it starts: s3fs's event loop does not survive a fork), transient
errors told from lasting ones and retried with backoff, and the counts of what was fetched. Options come from the
usual environment (AWS_ENDPOINT_URL, AWS_*) or ``configure`` per dataset root; they travel to spawned processes in
the environment (``OPTIONS_VARIABLE``)."""

from __future__ import annotations

import json
import os
import random
import re
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

# JSON {URL prefix: keyword arguments of fsspec.filesystem} (data.storage_options per dataset root)
OPTIONS_VARIABLE = "CVRL_STORAGE_OPTIONS"
RETRIES = 5  # attempts after the first for a transient error
BACKOFF = 0.1  # seconds before the first retry, doubled each time (with jitter), at most BACKOFF_MAX
BACKOFF_MAX = 5.0
# Per process: ranged reads ("requests"), calls that waited for them ("rounds": their ranges in flight together),
# bytes fetched, retried transient errors, files and members opened.
COUNTS: Counter = Counter()


def configure(prefix: str, options: dict[str, Any] | None) -> None:
    """Keyword arguments for the fsspec filesystems that read URLs under ``prefix`` (a dataset root), in this
    process and its children (None or {}: the environment's defaults alone)."""
    table = json.loads(os.environ.get(OPTIONS_VARIABLE, "{}"))
    table.pop(prefix, None)
    if options:
        table[prefix] = dict(options)
    if table:
        os.environ[OPTIONS_VARIABLE] = json.dumps(table, sort_keys=True)
    else:
        os.environ.pop(OPTIONS_VARIABLE, None)


def options_for(url: str) -> dict[str, Any]:
    """The options ``configure`` gave the longest prefix of ``url`` ({} if none)."""
    table = json.loads(os.environ.get(OPTIONS_VARIABLE, "{}"))
    found = [prefix for prefix in table if url.startswith(prefix)]
    return table[max(found, key=len)] if found else {}


_CLIENTS: dict[tuple[int, str, str], Any] = {}  # by process, scheme, options and AWS_* environment
_CLIENTS_LOCK = threading.Lock()


def filesystem(url: str):
    """This process's fsspec filesystem for ``url`` (its scheme and configured options), made on first use in
    this process: never inherited through a fork, as s3fs's event loop does not survive one."""
    import fsspec  # imported here: local datasets need no fsspec

    protocol, options = url.partition("://")[0], options_for(url)
    environment = sorted((k, v) for k, v in os.environ.items() if k.startswith("AWS_"))  # what a client read
    key = (os.getpid(), protocol, json.dumps([options, environment], sort_keys=True))
    with _CLIENTS_LOCK:
        if key not in _CLIENTS:
            _CLIENTS[key] = fsspec.filesystem(protocol, skip_instance_cache=True, **options)
        return _CLIENTS[key]


def transient(exc: BaseException) -> bool:
    """Whether a remote error may pass if tried again: timeouts, dropped connections, 5xx and 429 answers; not a
    missing object, a refused credential, or a bad request."""
    if isinstance(exc, FileNotFoundError | PermissionError | IsADirectoryError | NotADirectoryError):
        return False
    if isinstance(exc, TimeoutError | ConnectionError):
        return True
    status = getattr(exc, "status", None) or getattr(exc, "code", None)
    if isinstance(status, int) and 400 <= status < 600:
        return status >= 500 or status == 429
    names = {cls.__name__ for cls in type(exc).__mro__}
    if names & {
        "ClientConnectionError",
        "ClientPayloadError",
        "ServerTimeoutError",
        "ConnectionClosedError",
        "EndpointConnectionError",
        "ReadTimeoutError",
        "ConnectTimeoutError",
        "IncompleteRead",
    }:
        return True
    text = str(exc)
    return bool(re.search(r"\b(5\d\d|SlowDown|ServiceUnavailable|InternalError|RequestTimeout|reset)\b", text))


def retrying(what: str, call: Callable[[], Any]) -> Any:
    """``call()`` (reading ``what``), tried again after a transient error (``RETRIES`` times, exponential backoff
    with jitter); the error of the last try, or a non-transient one, is raised as an OSError (a client's own
    error type, aiohttp's or botocore's, named in its message)."""
    for attempt in range(RETRIES + 1):
        try:
            return call()
        except Exception as exc:
            if not transient(exc) or attempt == RETRIES:
                if isinstance(exc, OSError):
                    raise
                raise OSError(f"{what}: {type(exc).__name__}: {exc}") from exc  # one contract for every client
            COUNTS["retries"] += 1
            time.sleep(min(BACKOFF_MAX, BACKOFF * 2**attempt) * (0.5 + random.random()))
    raise AssertionError("unreachable")


def mtime_ns(info: dict) -> int:
    """An fsspec ``info``'s modification time in ns (S3's LastModified, a local mtime, HTTP's Last-Modified)."""
    for key in ("LastModified", "last_modified", "mtime", "created"):
        value = info.get(key)
        if value is None:
            continue
        if hasattr(value, "timestamp"):
            return int(value.timestamp() * 1e9)
        if isinstance(value, int | float):
            return int(value * 1e9)
        if isinstance(value, str):
            from email.utils import parsedate_to_datetime

            try:
                return int(parsedate_to_datetime(value).timestamp() * 1e9)
            except (TypeError, ValueError):
                continue
    return 0
