"""Whether the node's shared memory holds what the input pipelines pass through it, checked before they start.

DALI's parallel sources hand every sample from the Python workers to the pipeline through /dev/shm: the encoded
file for DALI's decoders, the decoded frames for PyAV. Docker's default /dev/shm is 64 MB; a pipeline that outgrows
it dies at its first batch with "Worker data receiving interrupted" and nothing about shared memory (measured:
8 VP9 files of 4 MB with /dev/shm at 8 MB). This check says so, with the numbers and the fixes, before the run.
"""

from __future__ import annotations

import os

import numpy as np

from cvrl_pl.data.index import VideoIndex
from cvrl_pl.data.index.columns import read_rows
from cvrl_pl.data.index.records import CHUNK
from cvrl_pl.errors import ConfigError
from dali_pipelines.decoders import PYAV

SHM_PATH = "/dev/shm"


def sample_bytes(
    index: VideoIndex, decoders: np.ndarray, frames_per_sample: int, *, start: int = 0, stop: int | None = None
) -> np.ndarray:
    """Per video (``start`` to ``stop``), the bytes one sample of it passes through shared memory: the file for
    DALI's decoders, the decoded RGB frames (at the video's own size) for PyAV."""
    columns, stop = index.videos.columns, len(index.videos) if stop is None else stop
    files = read_rows(columns["size"], start, stop).astype(np.int64)
    width, height = (read_rows(columns[side], start, stop).astype(np.int64) for side in ("width", "height"))
    return np.where(np.asarray(decoders[start:stop]) == PYAV, width * height * 3 * frames_per_sample, files)


def largest_samples(index: VideoIndex, decoders: np.ndarray, frames_per_sample: int, count: int) -> np.ndarray:
    """The ``count`` largest of ``sample_bytes``, computed in chunks (no index-long temporaries)."""
    largest = np.empty(0, np.int64)
    for start in range(0, len(index.videos), CHUNK):
        chunk = sample_bytes(index, decoders, frames_per_sample, start=start, stop=start + CHUNK)
        sizes = np.concatenate([largest, chunk])
        largest = np.partition(sizes, len(sizes) - count)[-count:] if len(sizes) > count else sizes  # no sort
    return np.sort(largest)[::-1]


def shm_capacity(path: str = SHM_PATH) -> int | None:
    """The size of the shared-memory file system in bytes; None where there is none to ask."""
    try:
        st = os.statvfs(path)
    except OSError:
        return None
    return st.f_blocks * st.f_frsize


def check_shared_memory(
    index: VideoIndex,
    decoders: np.ndarray,
    *,
    frames_per_sample: int,
    batch_size: int,
    py_workers: int,
    prefetch: int,
    ranks_per_node: int,
) -> None:
    """ConfigError if (workers + prefetch) batches of this split's largest samples, on every rank of the node, may
    not fit in /dev/shm. ``batch_size`` is per rank; without parallel workers (``py_workers=0``) nothing is shared."""
    capacity = shm_capacity()
    if py_workers <= 0 or capacity is None or not index.videos:
        return
    sizes = largest_samples(index, decoders, frames_per_sample, batch_size)
    batch = int(sizes.sum())  # a batch of the largest samples
    need = (py_workers + prefetch) * batch * ranks_per_node
    if need > capacity:
        raise ConfigError(
            f"{index.root}: the input pipelines may need {_mib(need)} of shared memory, but {SHM_PATH} holds "
            f"{_mib(capacity)} ((data.num_workers {py_workers} + prefetch {prefetch}) batches x {_mib(batch)} for "
            f"{batch_size} of the largest samples x {ranks_per_node} rank(s) on this node; the largest sample is "
            f"{_mib(int(sizes[0]))}). Give the container more (docker run --shm-size={_shm_size(need)}), or lower "
            "data.num_workers or the batch per rank (data.batch_size, or more devices)"
        )


def _mib(n: int) -> str:
    return f"{n / 2**20:.1f} MiB"


def _shm_size(need: int) -> str:
    """A --shm-size that holds ``need`` with a margin, in whole GiB (or MiB below 1 GiB)."""
    wanted = need * 1.25
    return f"{int(np.ceil(wanted / 2**30))}g" if wanted >= 2**30 else f"{int(np.ceil(wanted / 2**20))}m"
