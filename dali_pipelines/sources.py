"""Where a pipeline's samples come from: epoch plans, shards, and the per-sample Python source.

A parallel ``fn.external_source`` calls a source object once per sample. The object decides which video the
sample is (a shuffled, sharded epoch plan that is the same on every rank), draws the CVRL clip starts and the
augmentation parameters, and returns either the encoded file (decoded by DALI: ``decoder="dali"``) or frames
decoded with PyAV (``decoder="pyav"``: H.264/HEVC on a CPU-only machine, where DALI's CPU decoder cannot).
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass

import numpy as np
import nvidia.dali.fn as fn
from nvidia.dali.pipeline import DataNode

from dali_pipelines.params import PARAM_NAMES, ViewAugConfig, draw_view_params, stack_clips
from dali_pipelines.sampling import clip_frame_indices, sample_clip_starts

log = logging.getLogger(__name__)

# Parameters of steps that a view never applies (probability 0) are produced but pruned from the graph: harmless.
warnings.filterwarnings("ignore", message="The external source node .* not used")

# Codecs that DALI's CPU video decoder handles (dali_notes.md); anything else needs PyAV on a CPU-only machine.
DALI_CPU_CODECS = frozenset({"vp8", "vp9", "mjpeg"})


@dataclass(frozen=True)
class VideoTable:
    """What the sources need to know of the indexed videos (plain arrays: cheap to pickle into workers)."""

    paths: tuple[str, ...]
    num_frames: np.ndarray
    widths: np.ndarray
    heights: np.ndarray
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.paths)


def epoch_plan(
    num_videos: int,
    num_shards: int,
    shard_id: int,
    batch_size: int,
    epoch: int,
    seed: int,
    shuffle: bool = True,
    drop_last: bool = False,
) -> np.ndarray:
    """Video ids this shard reads in ``epoch``, a whole number of batches long, with equal length on all shards.

    Every shard shuffles with the same seed, so shards stay disjoint. ``drop_last=False`` (FILL) pads with
    videos from the start of the order so that every video is read at least once; ``True`` (DROP) reads each
    video at most once.
    """
    if num_videos < 1:
        raise ValueError("an epoch needs at least one video")
    order = np.random.default_rng([seed, epoch]).permutation(num_videos) if shuffle else np.arange(num_videos)
    if drop_last:
        per_shard = num_videos // num_shards
        steps = per_shard // batch_size
        if steps == 0:
            raise ValueError(
                f"{num_videos} videos over {num_shards} shards do not fill one batch of {batch_size}; "
                "use last_batch=fill or a smaller batch"
            )
    else:
        per_shard = -(-num_videos // num_shards)
        steps = -(-per_shard // batch_size)
    order = np.resize(order, per_shard * num_shards)  # np.resize repeats from the start: FILL's padding
    shard = order[shard_id * per_shard : (shard_id + 1) * per_shard]
    return np.resize(shard, steps * batch_size).astype(np.int64)


def decode_pyav(path: str, indices: np.ndarray) -> np.ndarray:
    """Frames ``indices`` (any order, repeats allowed) of a video as uint8 (N, H, W, 3), decoded with PyAV.

    Decodes from the start up to the last frame needed. If the file yields fewer frames than the index says
    (damage past the probed part), the missing positions wrap around the frames that did decode, with a warning.
    """
    import av  # imported here: only the PyAV path needs it

    wanted = set(int(i) for i in indices)
    last = max(wanted)
    got: dict[int, np.ndarray] = {}
    decoded = 0
    try:
        with av.open(path) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            for k, frame in enumerate(container.decode(stream)):
                decoded = k + 1
                if k in wanted:
                    got[k] = frame.to_ndarray(format="rgb24")
                if k >= last:
                    break
    except av.error.FFmpegError as exc:
        log.warning("%s: decoding stopped after %d frames: %s", path, decoded, exc)
    if not got:
        raise RuntimeError(f"{path}: no frame could be decoded")
    if len(got) < len(wanted):
        log.warning("%s: only %d frames decode; looping them", path, decoded)
        return decode_pyav(path, np.asarray(indices) % decoded)
    return np.stack([got[int(i)] for i in indices])


class ClipSource:
    """What every per-sample source shares: the video table, the epoch plan of this shard, reading a video.

    An epoch enumerates ``len(table) * items_per_video`` items (several clips per video for the test views).
    """

    OUTPUTS: tuple[str, ...] = ()
    items_per_video = 1

    def __init__(
        self,
        table: VideoTable,
        num_frames: int,
        stride: int,
        batch_size: int,
        shard_id: int = 0,
        num_shards: int = 1,
        seed: int = 0,
        shuffle: bool = True,
        drop_last: bool = False,
        decoder: str = "dali",
    ):
        if decoder not in ("dali", "pyav"):
            raise ValueError(f"decoder must be dali or pyav, got {decoder!r}")
        self.table, self.num_frames, self.stride = table, num_frames, stride
        self.batch_size, self.shard_id, self.num_shards = batch_size, shard_id, num_shards
        self.seed, self.shuffle, self.drop_last, self.decoder = seed, shuffle, drop_last, decoder
        # A resumed run sets the epoch it resumes at, so the shuffles continue, not repeat, and, resuming mid-epoch,
        # the samples of that epoch already trained on.
        self.first_epoch, self.skip = 0, 0
        self._plan: tuple[int, np.ndarray] | None = None

    def plan(self, epoch: int) -> np.ndarray:
        """This shard's items for ``epoch`` (cached: the source is called once per sample)."""
        if self._plan is None or self._plan[0] != epoch:
            n = len(self.table) * self.items_per_video
            args = (self.batch_size, epoch, self.seed, self.shuffle, self.drop_last)
            self._plan = (epoch, epoch_plan(n, self.num_shards, self.shard_id, *args))
        return self._plan[1]

    def __len__(self) -> int:
        """Samples per epoch on this shard (a whole number of batches)."""
        return len(self.plan(0))

    def __call__(self, info) -> tuple[np.ndarray, ...]:
        epoch = self.first_epoch + info.epoch_idx
        items = self.plan(epoch)
        i = info.idx_in_epoch + (self.skip if info.epoch_idx == 0 else 0)
        if i >= len(items):
            raise StopIteration
        rng = np.random.default_rng([self.seed, epoch, self.shard_id, i])
        return self.sample(int(items[i]), rng)

    def sample(self, item: int, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
        raise NotImplementedError

    def clip(self, vid: int, start: int) -> np.ndarray:
        """Stored-frame indices of the clip of video ``vid`` that starts at ``start``."""
        return clip_frame_indices(start, self.num_frames, self.stride, int(self.table.num_frames[vid]))

    def video(self, vid: int, frames: np.ndarray) -> np.ndarray:
        """The encoded file for DALI's decoder, or the frames ``frames`` decoded with PyAV."""
        path = self.table.paths[vid]
        if self.decoder == "pyav":
            return decode_pyav(path, frames)
        return np.fromfile(path, dtype=np.uint8)

    def size(self, vid: int) -> tuple[int, int]:
        return int(self.table.widths[vid]), int(self.table.heights[vid])


class PretrainSource(ClipSource):
    """Two CVRL clips of one video, decoded together, and each view's augmentation parameters.

    Outputs: the video (bytes, or PyAV frames (2T, H, W, 3)), the frame indices of both clips (2T,), the per-frame
    augmentation parameters of both clips (params.PARAM_NAMES, 2T frames each), the two clip starts and the video id.
    """

    OUTPUTS = ("video", "frames", *PARAM_NAMES, "starts", "video_id")

    def __init__(self, table: VideoTable, views: tuple[ViewAugConfig, ViewAugConfig], temporal: dict, **kwargs):
        super().__init__(table, **kwargs)
        self.views, self.temporal = views, dict(temporal)

    def sample(self, vid: int, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
        length = int(self.table.num_frames[vid])
        starts = sample_clip_starts(length, self.num_frames, self.stride, rng, **self.temporal)
        frames = np.concatenate([self.clip(vid, s) for s in starts])
        params = stack_clips([draw_view_params(rng, cfg, self.num_frames, *self.size(vid)) for cfg in self.views])
        out = [self.video(vid, frames), frames.astype(np.int32), *params.values()]
        return (*out, np.asarray(starts, np.int32), np.asarray(vid, np.int64))


class EvalSource(ClipSource):
    """Labelled clips for evaluation.

    ``train``: one clip per video from a random start, with its crop/flip parameters (``view``).
    ``test``: ``num_temporal`` clips per video with evenly spaced starts, one sample each, with the normalised
    positions of ``num_spatial`` crops along the long side (after the graph's short-side resize).
    Outputs: the video, the frame indices (T,), [train: the view's parameters | test: crop positions (S, 2)],
    the label, the video id and the clip index.
    """

    def __init__(
        self,
        table: VideoTable,
        mode: str,
        view: ViewAugConfig | None = None,
        num_temporal: int = 10,
        num_spatial: int = 3,
        **kwargs,
    ):
        if mode not in ("train", "test"):
            raise ValueError(f"mode must be train or test, got {mode!r}")
        if mode == "train" and view is None:
            raise ValueError("train mode needs the view's augmentation config")
        kwargs.setdefault("shuffle", mode == "train")
        super().__init__(table, **kwargs)
        self.mode, self.view = mode, view
        self.num_spatial = num_spatial
        self.items_per_video = num_temporal if mode == "test" else 1
        middle = (0.5,) * num_spatial if num_spatial == 1 else tuple(np.linspace(0.0, 1.0, num_spatial))
        self._along = np.asarray(middle, np.float32)
        params = PARAM_NAMES if mode == "train" else ("crop_pos",)
        self.OUTPUTS = ("video", "frames", *params, "label", "video_id", "clip_idx")

    def sample(self, item: int, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
        vid, k = divmod(item, self.items_per_video)
        length = int(self.table.num_frames[vid])
        last_start = length - (self.num_frames - 1) * self.stride - 1
        if self.mode == "train":
            start = int(rng.integers(0, last_start + 1)) if last_start >= 0 else int(rng.integers(0, length))
        else:
            start = eval_clip_start(k, self.items_per_video, last_start)
        frames = self.clip(vid, start)
        out: list[np.ndarray] = [self.video(vid, frames), frames.astype(np.int32)]
        width, height = self.size(vid)
        if self.mode == "train":
            out += stack_clips([draw_view_params(rng, self.view, self.num_frames, width, height)]).values()
        else:
            centre = np.full(self.num_spatial, 0.5, np.float32)
            xy = (self._along, centre) if width >= height else (centre, self._along)
            out.append(np.stack(xy, axis=1))
        label = np.asarray(self.table.labels[vid], np.int64)
        return (*out, label, np.asarray(vid, np.int64), np.asarray(k, np.int64))


def eval_clip_start(k: int, num_clips: int, last_start: int) -> int:
    """Start of test clip k of ``num_clips`` evenly spaced over [0, last_start] (0 for a video too short)."""
    if last_start <= 0:
        return 0
    if num_clips == 1:
        return last_start // 2
    return int(round(k * last_start / (num_clips - 1)))


def read_samples(source: ClipSource, py_workers: int, prefetch: int) -> dict[str, DataNode]:
    """The graph's entry: the source's outputs by name, produced by ``py_workers`` processes in parallel."""
    parallel = {"parallel": True, "prefetch_queue_depth": prefetch} if py_workers > 0 else {}
    outputs = fn.external_source(source, num_outputs=len(source.OUTPUTS), batch=False, **parallel)
    return dict(zip(source.OUTPUTS, outputs))  # noqa: B905 (DALI's autograph has no zip(strict=))


def decode(video: DataNode, frames: DataNode, decoder: str, device: str) -> DataNode:
    """uint8 frames (F, H, W, C) on ``device``: DALI's decoder picks ``frames`` (in any order, in one call) out of
    the encoded file, on the GPU through NVDEC ("mixed"); PyAV frames arrive already decoded."""
    if decoder == "dali":
        return fn.decoders.video(video, frames=frames, device="mixed" if device == "gpu" else "cpu")
    frames = fn.reshape(video, layout="FHWC")
    return frames.gpu() if device == "gpu" else frames


def pipeline_kwargs(
    source: ClipSource, device_id: int | None, num_threads: int, py_workers: int, seed: int, prefetch: int
) -> dict:
    """Arguments of a ``pipeline_def`` graph fed by ``source``; ``device_id=None`` builds a CPU-only pipeline."""
    return {
        "batch_size": source.batch_size,
        "num_threads": num_threads,
        "device_id": device_id,
        "seed": seed,
        "py_num_workers": max(py_workers, 1),
        # Forking a process that has initialised CUDA is unsafe: spawn the Python workers on GPU machines.
        "py_start_method": "fork" if device_id is None else "spawn",
        "prefetch_queue_depth": prefetch,
    }
