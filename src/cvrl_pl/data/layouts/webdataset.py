"""``webdataset`` layout: tar shards as video2dataset writes them (WebVid, Panda-70M), on disk or object storage.

``data.root`` is a folder or URL prefix holding ``NNNNN.tar`` (beside them video2dataset's ``NNNNN.parquet`` and
``NNNNN_stats.json``, which are not read), or a brace pattern naming the shards (``s3://b/wv/{00000..10741}.tar``).
A sample is the members sharing a key (``00000042.json``, ``00000042.mp4``, ``00000042.txt``); its video member is
a candidate, read later from its bytes in the shard (storage.Member). A failed sample (json and txt, no video) is
excluded as such, counted, never an error. A shard that cannot be read, or a tar cut short, is excluded by name with
the members before the damage kept. Only the tar's headers are read here, never a member's data.
"""

from __future__ import annotations

import posixpath
import tarfile
from concurrent.futures import ThreadPoolExecutor

from cvrl_pl.data.layouts.files import Candidate, ListSpec, base_folder, has_video_extension, is_pattern, visible
from cvrl_pl.data.layouts.tar_shards import expand_braces, tar_members
from cvrl_pl.errors import DatasetError
from dali_pipelines import storage

SHARD_SUFFIX = ".tar"
FAILED = "failed sample: no video in the shard"  # video2dataset's failed_to_download / failed_to_subsample
LISTING_THREADS = 32  # shards whose headers are read at once: each is a chain of small ranged reads


def shards_of(root: str) -> tuple[str, list[str]]:
    """(the folder the shards are named relative to, their names relative to it, sorted): a brace pattern's
    expansion, or the visible ``*.tar`` directly in the folder ``root``."""
    if is_pattern(root):
        folder = base_folder(root)
        names = [name[len(folder) + 1 :] for name in expand_braces(root)]
        return folder, sorted(names)
    names = [name for name, st in storage.list_folder(root) if st.is_file and visible(name)]
    return root, sorted(name for name in names if is_shard(name))


def is_shard(name: str) -> bool:
    return name.endswith(SHARD_SUFFIX)


def sample_key(member: str) -> str:
    """A member's sample key, as webdataset groups members: its name up to the first dot of its last part
    (``00000042_00001.mp4`` -> ``00000042_00001``)."""
    folder, name = posixpath.split(member)
    return posixpath.join(folder, name.partition(".")[0])


def shard_candidates(folder: str, name: str) -> list[Candidate]:
    """The candidates of one shard: its video members (path ``<shard>/<member>``, the member's size and data offset,
    the shard's mtime), failed samples, the members a truncated tar cuts, or the shard itself when unreadable."""
    shard = storage.join(folder, name)
    try:
        mtime = storage.stat(shard).mtime_ns
        entries, damage = tar_members(shard)
    except FileNotFoundError:
        return [Candidate(name, -1, reason="missing")]
    except (OSError, tarfile.TarError) as exc:
        return [Candidate(name, -1, reason=f"unreadable shard: {type(exc).__name__}: {exc}")]
    found, keys_with_video, keys = [], set(), {}
    for entry in entries:
        key = sample_key(entry.name)
        keys[key] = None  # an ordered set
        if has_video_extension(entry.name):
            keys_with_video.add(key)
            reason = None if entry.complete else f"damaged shard: {damage}"
            found.append(Candidate(f"{name}/{entry.name}", -1, entry.size, mtime, reason, offset=entry.offset))
    last = next(reversed(keys), None)
    for key in keys:
        if key not in keys_with_video:  # the last sample's video may be what a cut tar lost
            cut = damage and key == last
            found.append(Candidate(f"{name}/{key}", -1, reason=f"damaged shard: {damage}" if cut else FAILED))
    if damage:
        found.append(Candidate(name, -1, reason=f"damaged shard: {damage}"))
    return found


def part_of(names: list[str], part: tuple[int, int]) -> list[str]:
    """Part k of n of the sorted shard ``names``: a contiguous slice, so that the parts' indexes, each sorted by
    path, are the whole index sorted when put end to end."""
    k, n = part
    return names[k * len(names) // n : (k + 1) * len(names) // n]


def webdataset_candidates(
    root: str, lists: ListSpec, skip: str | None, *, part: tuple[int, int] | None = None
) -> tuple[list[str], list[Candidate]]:
    """No classes; every video member of every shard (of part k of n), with label -1 (pretraining data)."""
    folder, names = shards_of(root)
    if not names:
        raise DatasetError(f"no shards in {root}: the webdataset layout reads *.tar there (or a brace pattern)")
    if part is not None:
        names = part_of(names, part)
        if not names:
            return [], []
    with ThreadPoolExecutor(min(LISTING_THREADS, len(names))) as pool:
        per_shard = pool.map(shard_candidates, [folder] * len(names), names)
        return [], [c for found in per_shard for c in found]
