"""Where an index lives: its default place (beside the dataset, or on this machine for a URL), the place of a part
of it, and the unfinished builds beside it (a killed build's folder, or one still running elsewhere)."""

from __future__ import annotations

import glob
import os
import socket

from cvrl_pl.data.index.records import DEFAULT_INDEX_NAME
from cvrl_pl.data.layouts import LAYOUTS
from cvrl_pl.data.layouts.files import ListSpec, base_folder
from dali_pipelines import storage


def unfinished_builds(path: str) -> list[str]:
    """The folders of builds of the index at ``path`` that did not finish (killed, or still running elsewhere)."""
    return sorted(p for p in glob.glob(glob.escape(path) + ".partial-*") if os.path.isdir(p))


def stale(folder: str) -> bool:
    """Whether an unfinished build's folder is left over: written by this process, or by one of this host that is
    gone. Another host's build is left to that host."""
    host, _, pid = folder.rpartition(".partial-")[2].rpartition("-")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return int(pid) == os.getpid()


def default_index_path(root: str | os.PathLike, layout: str = "auto", lists: ListSpec | None = None) -> str:
    """``<root>/.cvrl_index``, a hidden folder, so that it is never a candidate; for a layout read through official
    lists one folder per split and subset (``.cvrl_index.ucf101-split1-test``), as they share one root. A URL's
    index is kept on this machine: ``$CVRL_CACHE`` (default ~/.cache/cvrl-pl)/index/<the URL as a name>/."""
    name = DEFAULT_INDEX_NAME
    if layout in LAYOUTS and LAYOUTS[layout].subsets and lists is not None:
        name += f".{layout}-split{lists.split}-{lists.subset}"
    root = storage.absolute(os.fspath(root))
    if storage.is_url(root):
        cache = os.environ.get("CVRL_CACHE", os.path.join(os.path.expanduser("~"), ".cache", "cvrl-pl"))
        return os.path.join(cache, "index", slug(root), name)
    return os.path.join(base_folder(root), name)


def part_path(index_path: str, part: tuple[int, int]) -> str:
    """Where the index of part k of n is kept: beside the whole index's place."""
    return f"{index_path}.part-{part[0]}-of-{part[1]}"


def slug(path: str) -> str:
    """A file name for an index path: its characters that are not safe in a name replaced."""
    return "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in path.strip("/"))
