"""Videos that fail to read or decode while a run trains: found, reported once, left out, and the run goes on.

Indexing proves that a file opens and its first frame decodes; damage further in (common in downloaded Kinetics),
or a file changed or removed after indexing, only shows when the pipeline decodes it. Such a failure ends a DALI
pipeline without naming the sample, so the loader hands it here: the guard decodes the failed batch's samples
one by one (dali_pipelines/verify.py), reports each culprit in the log and in ``<run>/bad_videos.jsonl``, and
returns the videos to exclude. The file is shared by every rank and read back by a resumed run, so a video found
once is left out everywhere from then on. Too many failures (a data disk that went away) stop the run instead.
"""

from __future__ import annotations

import json
import logging
import re
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
import torch

from cvrl_pl.errors import DatasetError
from dali_pipelines.failures import ReadFailure
from dali_pipelines.sources import ClipSource
from dali_pipelines.table import VideoTable
from dali_pipelines.verify import undecodable

BAD_VIDEOS_FILE = "bad_videos.jsonl"
log = logging.getLogger(__name__)

# How an exhausted GPU speaks: torch, CUDA's runtime and driver, and DALI's allocators.
_OUT_OF_MEMORY = re.compile(r"out of memory|cudaErrorMemoryAllocation|CUDA_ERROR_OUT_OF_MEMORY|bad_alloc", re.I)


def is_out_of_memory(exc: BaseException) -> bool:
    """Whether a pipeline's or a step's error is memory running out, which the bad-video guard must never take for
    a damaged video (it would report good videos and leave them out)."""
    return isinstance(exc, torch.cuda.OutOfMemoryError | MemoryError) or bool(_OUT_OF_MEMORY.search(str(exc)))


class TooManyBadVideos(DatasetError):
    """More of a batch or an epoch failed than the limits allow: the data, not a few files, is broken."""


class ReaderFault(DatasetError):
    """Several videos of one codec failed the same way before any byte reached the decoder: the reader (cvrl-pl,
    PyAV, DALI) is at fault, not the videos, and leaving them out one by one would silently shrink the dataset."""


FIELDS = tuple(ReadFailure.__dataclass_fields__)  # a failure's own fields in a bad_videos.jsonl record


def _signature(record: dict) -> tuple | None:
    """The failure signature of a bad_videos.jsonl record (ReadFailure.signature), or None for a record without
    its fields (written before they existed, or by hand)."""
    try:
        return ReadFailure(**{k: record[k] for k in FIELDS}).signature()
    except (KeyError, TypeError):
        return None


class BadVideoGuard:
    """Finds, reports and excludes videos that fail at run time, within the limits of
    ``max_batch_share`` (of one batch's videos) and ``max_epoch_share`` (of one epoch's, per rank); stops as a
    reader fault once ``reader_fault_videos`` videos fail the same way before decoding (0: never)."""

    def __init__(
        self,
        path: Path | None,
        *,
        max_batch_share: float,
        max_epoch_share: float,
        reader_fault_videos: int = 3,
        device_id: int | None = None,
        rank: int = 0,
        step: Callable[[], int] = lambda: -1,
    ):
        self.path = Path(path) if path is not None else None  # None: report in the log only
        self.max_batch_share, self.max_epoch_share = max_batch_share, max_epoch_share
        self.reader_fault_videos = reader_fault_videos
        self.device_id, self.rank, self.step = device_id, rank, step
        self.records: dict[str, dict] = {}  # path -> its report, from this process and the file
        self._failed_in_epoch: Counter[tuple[int, int]] = Counter()  # (source, epoch) -> videos found

    def known(self) -> dict[str, dict]:
        """Every video reported so far: by this process, other ranks, and earlier starts of the run; less those
        whose failure was found to be a reader fault (a rerun, the reader mended or not, tries them again)."""
        if self.path is not None and self.path.is_file():
            lines = [json.loads(line) for line in self.path.read_text().splitlines() if line.strip()]
            faults = {tuple(r["reader_fault"]) for r in lines if "reader_fault" in r}
            for record in lines:
                if "path" in record and _signature(record) not in faults:
                    self.records.setdefault(record["path"], record)
        return self.records

    def known_ids(self, table: VideoTable) -> frozenset[int]:
        """The ids of ``table``'s videos that are known to fail."""
        known = self.known()
        if not known:  # the usual case: no need to walk a large table's paths
            return frozenset()
        return frozenset(i for i, path in enumerate(table.paths) if str(path) in known)

    def report(self, failure: ReadFailure, *, epoch: int) -> None:
        """Log and record a failing video, once per run whichever rank finds it first."""
        if failure.path in self.known():
            return
        record = {"path": failure.path, "epoch": epoch, "step": self.step(), "rank": self.rank, **failure.record()}
        self.records[failure.path] = record
        log.warning(
            "left out a video that fails to decode: %s (epoch %d, step %d): %s",
            failure.path,
            epoch,
            record["step"],
            failure.reason(),
        )
        self._append(record)

    def _append(self, record: dict) -> None:
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a") as f:  # one short line per append: the ranks' lines do not interleave
                f.write(json.dumps(record) + "\n")

    def check_reader(self, failures: Iterable[ReadFailure]) -> None:
        """Raise ReaderFault when one of ``failures`` happened before decoding and ``reader_fault_videos`` reported
        videos share its signature; the fault is recorded, so that a rerun tries those videos again."""
        suspects = [f for f in failures if f.before_decoding]
        if self.reader_fault_videos <= 0 or not suspects:
            return
        reported = [(r["path"], _signature(r)) for r in self.known().values()]  # the file read once
        for failure in suspects:
            signature = failure.signature()
            same = [path for path, other in reported if other == signature]
            if len(same) >= self.reader_fault_videos:
                self._append({"reader_fault": list(signature), "videos": len(same)})
                raise ReaderFault(
                    f"{len(same)} {failure.codec} videos failed the same way before decoding, which no damage in a "
                    f"video explains: a fault of the reader, not of the videos, so the run stops instead of "
                    f"leaving every {failure.codec} video out (data.reader_fault_videos={self.reader_fault_videos}). "
                    f"{failure.reason()}. First: {same[0]}. The next start of this run tries them again."
                )

    def recover(
        self, source: ClipSource, epoch: int, batch: int, error: Exception, *, lookahead: int
    ) -> frozenset[int]:
        """After the pipeline failed fetching ``batch`` of ``epoch``: the videos to exclude from now on.

        ``lookahead``: how many batches past ``batch`` the pipeline may already have been making (loader.batches_ahead),
        where the failure may have come from. Re-raises ``error`` if no sample of those batches fails on its own: then
        the fault is not in a video. Raises :class:`ReaderFault` when videos of a codec fail the same way before
        decoding, :class:`TooManyBadVideos` past the limits.
        """
        size, total = source.batch_size, len(source.plan(epoch))
        positions = range(batch * size, min(total, (batch + 1 + lookahead) * size))
        failed = undecodable(source, epoch, positions, self.device_id)
        if not failed or any(_OUT_OF_MEMORY.search(f.message) for f in failed.values()):
            raise error  # no video explains it, or the check itself ran out of memory: not the videos' fault
        for failure in failed.values():
            self.report(failure, epoch=epoch)
        self.check_reader(failed.values())
        in_batch = {source.video_of(source.item_at(epoch, i)[0]) for i in positions[:size]} & failed.keys()
        self._failed_in_epoch[id(source), epoch] += len(failed)
        videos = np.unique(source.video_of(source.plan(epoch).items())).size
        where = f"epoch {epoch}, batch {batch}"
        if len(in_batch) > self.max_batch_share * size:
            raise TooManyBadVideos(
                f"{len(in_batch)} of the {size} videos of {where} fail to read or decode (more than "
                f"data.max_bad_batch_share={self.max_batch_share:g}): is the data still there? "
                f"First: {next(iter(failed.values())).reason()}"
            )
        if self._failed_in_epoch[id(source), epoch] > self.max_epoch_share * videos:
            raise TooManyBadVideos(
                f"{self._failed_in_epoch[id(source), epoch]} of this rank's {videos} videos failed in epoch {epoch} "
                f"(more than data.max_bad_epoch_share={self.max_epoch_share:g}); see {self.path}"
            )
        return source.excluded | failed.keys()
