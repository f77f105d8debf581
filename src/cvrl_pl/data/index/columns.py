"""Tables kept as one raw little-endian file per column in a folder, described by its ``manifest.json``, and read
back memory-mapped: every rank and worker of a node shares one copy through the page cache.

A fixed column holds one value per row (``<table>.<column>.bin``). A ragged column (strings as UTF-8 bytes, a
video's keyframes) holds its values end to end (``.values.bin``) and each row's end offset (``.ends.bin``). Rows are
appended in chunks; a commit rewrites the manifest atomically after the chunk's bytes are written, so a writer
killed mid-chunk leaves a folder that ``ColumnWriter(..., resume=True)`` cuts back to its last commit.
"""

from __future__ import annotations

import json
import mmap
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

MANIFEST = "manifest.json"


@dataclass(frozen=True)
class Spec:
    """A column's type: numpy dtype of its values, and whether each row holds a run of them (ragged)."""

    dtype: str
    ragged: bool = False


Schema = Mapping[str, Mapping[str, Spec]]  # table -> column -> spec


class MappedColumn:
    """One column file, memory-mapped read-only. Pickles as its file name, so a worker process maps the same pages
    instead of receiving a copy."""

    def __init__(self, path: str, dtype: str, count: int):
        self._args = (path, dtype, count)
        self._map: mmap.mmap | None = None
        if count == 0:  # mmap cannot map an empty file
            self.array = np.empty(0, dtype)
        else:
            mapped = np.memmap(path, dtype, "r", shape=(count,))
            self._map, self.array = mapped._mmap, mapped.view(np.ndarray)

    def __reduce__(self):
        return MappedColumn, self._args

    def __len__(self) -> int:
        return len(self.array)

    def __getitem__(self, key):
        return self.array[key]

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        return self.array if dtype is None else self.array.astype(dtype)

    def read(self, start: int, stop: int) -> np.ndarray:
        """Rows start..stop-1 (as a slice clips them) copied out of the map, whose pages are then let go of: they
        stay in the page cache, but not in this process's resident memory. Read through the map, not the file by
        name: a column replaced or removed since it was opened (a newer index) reads as it was."""
        _, dtype, count = self._args
        start, stop, _ = slice(start, stop).indices(count)
        if stop <= start:
            return np.empty(0, dtype)
        rows = np.array(self.array[start:stop])
        itemsize = np.dtype(dtype).itemsize
        first = start * itemsize // mmap.PAGESIZE * mmap.PAGESIZE
        self._map.madvise(mmap.MADV_DONTNEED, first, stop * itemsize - first)
        return rows


def read_rows(column: MappedColumn | np.ndarray, start: int, stop: int) -> np.ndarray:
    """Rows start..stop-1 of a fixed column, as a new array. A mapped column lets go of the pages it read: a scan of
    every row of a 70M-row column in chunks leaves the process's resident memory as it was, where reading the map
    alone would keep every page it touched resident in the process (and in its peak)."""
    if isinstance(column, MappedColumn):
        return column.read(start, stop)
    return np.array(column[start:stop])


class Ragged:
    """A ragged column: ``column[i]`` is row i's values (an array view)."""

    def __init__(self, values: MappedColumn | np.ndarray, ends: MappedColumn | np.ndarray):
        self.values, self.ends = values, ends

    def __len__(self) -> int:
        return len(self.ends)

    def bounds(self, i: int) -> tuple[int, int]:
        return (int(self.ends[i - 1]) if i > 0 else 0), int(self.ends[i])

    def __getitem__(self, i: int) -> np.ndarray:
        start, end = self.bounds(i)
        return self.values[start:end]

    def lengths(self) -> np.ndarray:
        return np.diff(np.asarray(self.ends), prepend=0)

    def take(self, rows: np.ndarray) -> Ragged:
        """Rows ``rows`` (in that order) as a ragged column of the same kind, in memory."""
        rows = np.asarray(rows, np.int64)
        ends = np.asarray(self.ends, np.int64)
        starts = np.concatenate([[0], ends[:-1]])[rows]
        lengths = ends[rows] - starts
        new_ends = np.cumsum(lengths)
        # position j of the new values comes from the old value at its row's start + (j - the row's new start)
        positions = np.repeat(starts - (new_ends - lengths), lengths) + np.arange(int(lengths.sum()))
        return type(self)(np.asarray(self.values)[positions], new_ends)


class Strings(Ragged, Sequence[str]):
    """A ragged column of UTF-8 strings: ``column[i]`` is a str."""

    def __getitem__(self, i: int) -> str:  # type: ignore[override]
        start, end = self.bounds(i)
        return bytes(self.values[start:end]).decode()

    def __iter__(self) -> Iterator[str]:
        """Every string in order, read a chunk of rows at a time (a million rows in about a second, where indexing
        them one by one takes several)."""
        for first in range(0, len(self), ITER_CHUNK):
            yield from self.rows(first, first + ITER_CHUNK)

    def rows(self, start: int, stop: int) -> list[str]:
        """Rows start..stop-1 (as a slice clips them), their bytes read at once."""
        start, stop, _ = slice(start, stop).indices(len(self))
        if stop <= start:
            return []
        ends = read_rows(self.ends, start, stop)
        first = int(read_rows(self.ends, start - 1, start)[0]) if start else 0
        data = read_rows(self.values, first, int(ends[-1])).tobytes()
        bounds = np.concatenate([[0], ends - first]).tolist()
        return [data[a:b].decode() for a, b in zip(bounds[:-1], bounds[1:], strict=True)]


ITER_CHUNK = 1 << 16  # rows of a string column decoded per read when iterating


class Coded(Sequence[str]):
    """A column of small codes read as the strings of its vocabulary: ``column[i]`` is ``vocab[codes[i]]``."""

    def __init__(self, codes: MappedColumn | np.ndarray, vocab: Sequence[str]):
        self.codes, self.vocab = codes, list(vocab)

    def __len__(self) -> int:
        return len(self.codes)

    def __getitem__(self, i: int) -> str:  # type: ignore[override]
        return self.vocab[int(self.codes[i])]


@dataclass(frozen=True)
class Runs:
    """Rows of a ragged column given at once: their values end to end, and each row's length."""

    values: np.ndarray
    lengths: np.ndarray


def _ragged_parts(rows: Sequence | Runs) -> tuple[np.ndarray, np.ndarray]:
    """Values end to end and each row's length, from Runs, a list of arrays or a list of strings."""
    if isinstance(rows, Runs):
        return rows.values, np.asarray(rows.lengths, np.int64)
    if rows and isinstance(rows[0], str):
        rows = [np.frombuffer(r.encode(), np.uint8) for r in rows]
    lengths = np.fromiter((len(r) for r in rows), np.int64, len(rows))
    values = np.concatenate([np.asarray(r) for r in rows]) if len(rows) else np.empty(0)
    return values, lengths


def _files(table: str, column: str, spec: Spec) -> dict[str, str]:
    """Part ("values", "ends") -> file name of a column."""
    if spec.ragged:
        return {"values": f"{table}.{column}.values.bin", "ends": f"{table}.{column}.ends.bin"}
    return {"values": f"{table}.{column}.bin"}


def write_manifest(folder: Path, manifest: dict) -> None:
    """Replace the manifest atomically: a reader sees the old commit or the new one, never half of one."""
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{MANIFEST}.", suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        json.dump(manifest, f, indent=1)
    os.replace(tmp, folder / MANIFEST)


def read_manifest(folder: str | os.PathLike) -> dict:
    with open(Path(folder) / MANIFEST) as f:
        return json.load(f)


class ColumnWriter:
    """Appends rows to the tables of a folder, chunk by chunk; ``commit`` makes what was appended durable.

    ``resume=True`` continues a folder written with the same schema, cut back to its last commit; otherwise (or
    if there is none) the folder starts empty.
    """

    def __init__(self, folder: str | os.PathLike, schema: Schema, *, resume: bool = False):
        self.folder, self.schema = Path(folder), {t: dict(cols) for t, cols in schema.items()}
        described = {t: {c: [s.dtype, s.ragged] for c, s in cols.items()} for t, cols in self.schema.items()}
        old = self._committed() if resume else None
        if old is not None and old.get("schema") == described:
            self.manifest = old
        else:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder.mkdir(parents=True)
            self.manifest = {"schema": described, "sizes": {}, "rows": {t: 0 for t in self.schema}, "meta": {}}
            write_manifest(self.folder, self.manifest)
        for table, columns in self.schema.items():  # cut every file back to the last commit
            for column, spec in columns.items():
                for name in _files(table, column, spec).values():
                    with open(self.folder / name, "ab") as f:
                        f.truncate(self.manifest["sizes"].get(name, 0))

    def _committed(self) -> dict | None:
        try:
            return read_manifest(self.folder)
        except (OSError, ValueError):
            return None

    @property
    def meta(self) -> dict:
        """What the last commit recorded beside the columns."""
        return self.manifest["meta"]

    def rows(self, table: str) -> int:
        return self.manifest["rows"][table]

    def append(self, table: str, columns: Mapping[str, Sequence | np.ndarray | Runs]) -> None:
        """Write one chunk of rows of ``table`` (every column, equal lengths); durable at the next ``commit``."""
        specs = self.schema[table]
        if set(columns) != set(specs):
            raise ValueError(f"table {table}: expected columns {sorted(specs)}, got {sorted(columns)}")
        counts = set()
        for column, spec in specs.items():
            files = _files(table, column, spec)
            if spec.ragged:
                values, lengths = _ragged_parts(columns[column])
                last = self._last_end(files["ends"])
                self._write(files["ends"], last + np.cumsum(lengths), "<i8")
                counts.add(len(lengths))
            else:
                values = columns[column]
                counts.add(len(values))
            self._write(files["values"], values, spec.dtype)
        if len(counts) != 1:
            raise ValueError(f"table {table}: columns of different lengths {sorted(counts)}")
        self.manifest["rows"][table] += counts.pop()

    def _last_end(self, name: str) -> int:
        size = self.manifest["sizes"].get(name, 0)
        if not size:
            return 0
        with open(self.folder / name, "rb") as f:
            f.seek(size - 8)
            return int(np.frombuffer(f.read(8), "<i8")[0])

    def _write(self, name: str, values, dtype: str) -> None:
        data = np.ascontiguousarray(values, dtype=dtype).tobytes()
        with open(self.folder / name, "ab") as f:
            f.write(data)
        self.manifest["sizes"][name] = self.manifest["sizes"].get(name, 0) + len(data)

    def commit(self, **meta) -> None:
        """Record the rows appended so far, and ``meta`` beside them."""
        self.manifest["meta"].update(meta)
        write_manifest(self.folder, self.manifest)


def open_tables(folder: str | os.PathLike) -> tuple[dict, dict[str, dict[str, MappedColumn | Ragged]]]:
    """The committed meta of a folder written by ColumnWriter, and its tables' columns, memory-mapped (uint8 ragged
    columns as Strings)."""
    folder = Path(folder)
    manifest = read_manifest(folder)
    tables: dict[str, dict[str, MappedColumn | Ragged]] = {}
    for table, columns in manifest["schema"].items():
        rows, tables[table] = manifest["rows"][table], {}
        for column, (dtype, ragged) in columns.items():
            files = {part: str(folder / name) for part, name in _files(table, column, Spec(dtype, ragged)).items()}
            if ragged:
                count = manifest["sizes"].get(Path(files["values"]).name, 0) // np.dtype(dtype).itemsize
                values, ends = MappedColumn(files["values"], dtype, count), MappedColumn(files["ends"], "<i8", rows)
                tables[table][column] = (Strings if np.dtype(dtype) == np.uint8 else Ragged)(values, ends)
            else:
                tables[table][column] = MappedColumn(files["values"], dtype, rows)
    return manifest["meta"], tables
