"""What every layout shares: which list to read, the candidate file record, telling a video by its name, walking a
folder tree, reading annotation lines, and finding a listed file under its own name or a transcoded one."""

from __future__ import annotations

import os
import posixpath
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cvrl_pl.errors import DatasetError
from dali_pipelines import storage

MEMBER_SEPARATOR = ".tar/"  # an indexed member's path: "<shard>.tar/<member name>"

# Extensions a listed video may have on disk besides its own: the copies ``python -m cvrl_pl.data.prepare`` writes.
TRANSCODED_EXTENSIONS = (".webm", ".mp4", ".mkv")
# ... and, for the datasets the SEVERE benchmark converts to .avi (SSv2, FineGym), that copy too.
AVI_OR_TRANSCODED = (".avi", *TRANSCODED_EXTENSIONS)
# Extensions of the files taken for videos where a layout must tell them from stray files without opening them (a
# folder dataset's root, beside the class folders, where a README.txt or a manifest.json is ignored).
VIDEO_EXTENSIONS = (
    ".3g2",
    ".3gp",
    ".asf",
    ".avi",
    ".divx",
    ".f4v",
    ".flv",
    ".m2ts",
    ".m2v",
    ".m4v",
    ".mkv",
    ".mov",
    ".mp4",
    ".mpeg",
    ".mpg",
    ".mts",
    ".mxf",
    ".ogv",
    ".ts",
    ".vob",
    ".webm",
    ".wmv",
    ".y4m",
)


@dataclass(frozen=True)
class ListSpec:
    """Which list of a dataset a layout reads besides the root: a CSV file (csv, kinetics), or a dataset's official
    annotation files with the split number and subset to take (ucf101, hmdb51, ssv2, charades, gym99)."""

    csv: str | None = None
    annotations: str | None = None
    split: int = 1
    subset: str | None = None


@dataclass
class Candidate:
    """A file the layout lists (it may be missing), with its label and stat; ``reason`` set when already rejected."""

    path: str  # relative to the dataset root, POSIX separators
    label: int  # class id, -1 when unlabelled
    size: int = -1
    mtime_ns: int = -1
    reason: str | None = None
    offset: int = -1  # a tar member's (path "<shard>/<member>"): its data's first byte in the shard; -1: a file


def visible(name: str) -> bool:
    """Hidden files and folders (a leading dot: the index itself, editor files) are never candidates."""
    return not name.startswith(".")


def has_video_extension(name: str) -> bool:
    """Whether a file's name ends in one of ``VIDEO_EXTENSIONS``, in any letter case."""
    return name.lower().endswith(VIDEO_EXTENSIONS)


def some_names(names: Sequence[str], limit: int = 10, *, total: int | None = None) -> str:
    """``a, b, c and 7 more``: the first ``limit`` of ``names`` (of ``total``, by default all) for a one-line
    message, the rest counted."""
    total = len(names) if total is None else total
    more = f" and {total - limit} more" if total > limit else ""
    return ", ".join(names[:limit]) + more


def is_index(path: str, skip: str | None) -> bool:
    """Whether ``path`` is the index ``skip`` (a folder, or an older index file) or one of its unfinished builds."""
    return skip is not None and (path == skip or path.startswith(skip + "."))


def walk_files(top: str, skip: str | None) -> list[str]:
    """Absolute paths of the visible regular files under ``top``, at any depth, in sorted order, the index
    ``skip`` left out."""
    found = []
    for folder, dirs, files in os.walk(top):
        dirs[:] = sorted(d for d in dirs if visible(d) and not is_index(os.path.join(folder, d), skip))
        for name in sorted(files):
            path = os.path.join(folder, name)
            if visible(name) and not is_index(path, skip) and os.path.isfile(path):
                found.append(path)
    return found


def abspath(root: str, rel: str) -> str:
    """The absolute path of ``rel`` (POSIX, relative to ``root``)."""
    return os.path.join(root, *rel.split("/"))


def is_pattern(root: str) -> bool:
    """Whether ``root`` names its shards with braces (``{00000..10741}.tar``) rather than being their folder."""
    return "{" in root


def base_folder(root: str) -> str:
    """The folder (or URL prefix) that a dataset's paths are relative to: the root, or the folder part of a brace
    pattern of shards (``s3://b/wv/{00000..10741}.tar`` -> ``s3://b/wv``)."""
    return root[: root.index("{")].rpartition("/")[0] if is_pattern(root) else root


def video_ref(root: str, path: str, *, offset: int = -1, size: int = -1) -> storage.Ref:
    """What storage reads for an indexed ``path``: the file under ``root``, or, with an ``offset``, the member of a
    tar shard (``path`` = ``<shard>.tar/<member>``) with its data's offset and size."""
    base = base_folder(root)
    if offset < 0:
        return storage.join(base, path)
    shard, _, member = path.partition(MEMBER_SEPARATOR)
    return storage.Member(storage.join(base, shard + MEMBER_SEPARATOR[:-1]), member, offset, size)


def relpath(root: str, path: str) -> str:
    """``path`` relative to ``root``, with POSIX separators (as the index stores it)."""
    return Path(os.path.relpath(path, root)).as_posix()


def annotation_text(path: str) -> str:
    """The text of an annotation file (a BOM dropped); DatasetError naming the file if it cannot be read."""
    try:
        with open(path, encoding="utf-8-sig") as f:
            return f.read()
    except FileNotFoundError:
        raise DatasetError(f"annotation file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path}: cannot read the annotation file: {exc}") from None


def annotation_lines(path: str) -> Iterator[tuple[int, str]]:
    """(line number, stripped text) of the non-blank lines of an annotation list; Windows line endings and a BOM
    are fine (the UCF-101 lists have both)."""
    for number, line in enumerate(annotation_text(path).splitlines(), 1):
        if line.strip():
            yield number, line.strip()


@dataclass
class Folders:
    """Folder listings of a dataset root, read once each, to find where a listed video is on disk."""

    root: str
    _names: dict[str, dict[str, list[str]]] = field(default_factory=dict)

    def _listing(self, folder: str) -> dict[str, list[str]]:
        """Lower-cased name -> the visible names in ``folder`` (POSIX, relative to root) that have it."""
        if folder not in self._names:
            full = abspath(self.root, folder) if folder else self.root
            names = sorted(n for n in os.listdir(full) if visible(n)) if os.path.isdir(full) else []
            by_lower: dict[str, list[str]] = {}
            for n in names:
                by_lower.setdefault(n.lower(), []).append(n)
            self._names[folder] = by_lower
        return self._names[folder]

    def find(self, names: Iterable[str], extensions: tuple[str, ...] = TRANSCODED_EXTENSIONS) -> str | None:
        """The first of ``names`` (POSIX paths relative to root) found on disk, trying each under its own name, then
        its name in another letter case (when only one file matches), then with each of ``extensions``."""
        names = list(names)
        tries = [*names, *(posixpath.splitext(n)[0] + e for n in names for e in extensions)]
        for rel in dict.fromkeys(tries):
            folder, name = posixpath.split(rel)
            matches = self._listing(folder).get(name.lower(), [])
            if name in matches:
                return rel
            if len(matches) == 1:
                return posixpath.join(folder, matches[0])
        return None


def annotation_folder(path: str | None) -> str:
    """The folder of a dataset's official lists, given as the folder or as one of its files."""
    if path is None or not os.path.exists(path):
        raise DatasetError(f"annotation folder not found: {path}")
    return path if os.path.isdir(path) else os.path.dirname(os.path.abspath(path))
