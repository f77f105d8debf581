"""An index's usable videos read column by column from its memory-mapped folder: each video's relative path (every
folder stored once), one video as a VideoRecord, a whole column as an array."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import fields

import numpy as np

from cvrl_pl.data.index.columns import MappedColumn, Ragged, Strings
from cvrl_pl.data.index.records import CATEGORIES, VideoRecord
from cvrl_pl.data.layouts.files import video_ref
from dali_pipelines import storage


class RelativePaths(Sequence[str]):
    """Each video's path relative to the root, from the dirs table and the file names (each folder stored once)."""

    def __init__(self, dirs: Strings, dir_ids: MappedColumn, names: Strings):
        self.dirs, self.dir_ids, self.names = dirs, dir_ids, names

    def __len__(self) -> int:
        return len(self.names)

    def __getitem__(self, i: int) -> str:  # type: ignore[override]
        folder, name = self.dirs[int(self.dir_ids[i])], self.names[i]
        return f"{folder}/{name}" if folder else name

    def __iter__(self) -> Iterator[str]:
        return (self[i] for i in range(len(self)))


class References(Sequence[storage.Ref]):
    """Each video's reference for dali_pipelines.storage: its file under the root, or its member of a tar shard
    (columns ``offset`` >= 0 and ``size``); picklable by file name, like the columns."""

    def __init__(self, paths: RelativePaths, offsets: MappedColumn, sizes: MappedColumn, root: str):
        self.paths, self.offsets, self.sizes, self.root = paths, offsets, sizes, root

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> storage.Ref:  # type: ignore[override]
        return video_ref(self.root, self.paths[i], offset=int(self.offsets[i]), size=int(self.sizes[i]))

    def __iter__(self) -> Iterator[storage.Ref]:
        return (self[i] for i in range(len(self)))


class ExcludedFiles(Sequence[tuple[str, str]]):
    """An index's rejected files as (path, reason), read from its columns when asked: a shard set with millions of
    failed samples opens without a Python object for each."""

    def __init__(self, paths: Strings, reasons: Strings):
        self.paths, self.reasons = paths, reasons

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> tuple[str, str]:  # type: ignore[override]
        return self.paths[i], self.reasons[i]

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return zip(self.paths, self.reasons, strict=True)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence) or len(self) != len(other):
            return False
        return all(mine == tuple(theirs) for mine, theirs in zip(self, other, strict=True))

    __hash__ = None  # type: ignore[assignment]


class VideoColumns(Sequence[VideoRecord]):
    """The usable videos of an index, column by column, memory-mapped from its folder: ``videos[i]`` is video i's
    VideoRecord; ``videos.column(name)`` a whole column as a numpy array, for vectorised use."""

    def __init__(self, columns: dict, dirs: Strings, vocab: dict[str, list[str]]):
        self.columns, self.vocab = columns, vocab
        self.paths = RelativePaths(dirs, columns["dir"], columns["name"])

    def __len__(self) -> int:
        return len(self.paths)

    def references(self, root: str) -> References:
        """Each video's storage reference, the index's relative paths taken under ``root``."""
        return References(self.paths, self.columns["offset"], self.columns["size"], root)

    def column(self, name: str) -> np.ndarray:
        """A fixed column as an array (for a category: the strings, as an object array)."""
        values = np.asarray(self.columns[name])
        if name in CATEGORIES:
            return np.asarray(self.vocab[name], object)[values] if len(values) else np.empty(0, object)
        return values

    def ragged(self, name: str) -> Ragged:
        return self.columns[name]

    def take(self, rows: np.ndarray) -> VideoColumns:
        """Videos ``rows`` (in that order), their columns in memory."""
        rows = np.asarray(rows, np.int64)
        taken = {k: c.take(rows) if isinstance(c, Ragged) else np.asarray(c)[rows] for k, c in self.columns.items()}
        return VideoColumns(taken, self.paths.dirs, self.vocab)

    def __getitem__(self, i: int | slice) -> VideoRecord | list[VideoRecord]:  # type: ignore[override]
        if isinstance(i, slice):
            return [self[k] for k in range(*i.indices(len(self)))]
        if not -len(self) <= i < len(self):
            raise IndexError(f"video {i} of {len(self)}")
        i %= len(self)
        values = {}
        for f in fields(VideoRecord):
            if f.name == "path":
                values["path"] = self.paths[i]
            elif f.name in CATEGORIES:
                values[f.name] = self.vocab[f.name][int(self.columns[f.name][i])]
            elif isinstance(self.columns[f.name], Ragged):
                values[f.name] = tuple(self.columns[f.name][i].tolist())
            else:
                values[f.name] = self.columns[f.name][i].item()
        return VideoRecord(**values)

    def __iter__(self) -> Iterator[VideoRecord]:
        return (self[i] for i in range(len(self)))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, VideoColumns) and list(self) == list(other)

    __hash__ = None  # type: ignore[assignment]
