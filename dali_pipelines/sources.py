"""Where a pipeline's samples come from: the per-sample Python sources.

A parallel ``fn.external_source`` (graph.read_samples) calls a source object once per sample. The object decides
which video the sample is (plan.EpochPlan: shuffled, sharded, the same on every rank), draws the clip starts
(sampling.py) and the augmentation parameters (params.py). Each video has its own decoder (decoders.py): the
source hands DALI the encoded file (NVDEC or DALI's CPU decoder), or decodes the frames itself with PyAV (H.264 on a
CPU, AV1 on a Hopper GPU, ...), and says which in the sample's ``decoder`` output, so one batch can mix them.
Everything here is NumPy: the sources run in worker processes, outside the graph.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from dali_pipelines import storage
from dali_pipelines.decoders import DECODER_NAMES, NVDEC, PYAV, decoder_codes
from dali_pipelines.failures import FileChanged, stage
from dali_pipelines.packets import byte_ranges, sparse_video
from dali_pipelines.params import PARAM_NAMES, ViewAugConfig, draw_view_params, stack_clips
from dali_pipelines.plan import EpochPlan
from dali_pipelines.pyav_decode import decode_pyav
from dali_pipelines.sampling import (
    clip_frame_indices,
    eval_clip_start,
    linspace_clip_start,
    resampled_length,
    sample_clip_starts,
    start_range,
    time_frame_indices,
    train_clip_start,
    video_part,
)
from dali_pipelines.table import VideoTable
from dali_pipelines.targets import ActionTargets

# How a sample hands over its video: the encoded packets and decoded frames, one of them empty (the graph takes the
# one its ``decoder`` output names), the decoder code, which frames of the packets DALI's decoders pick (each once,
# ascending), and the order that puts the picked frames back as the clips asked for them (repeats included).
VIDEO_OUTPUTS = ("encoded", "decoded", "decoder", "picks", "order")
NO_BYTES = np.empty(0, np.uint8)
NO_FRAMES = np.empty((0, 0, 0, 3), np.uint8)


class ClipSource:
    """What every per-sample source shares: the video table, the epoch plan of this shard, reading a video.

    An epoch enumerates ``len(table) * items_per_video`` items (several clips per video for the test views). A
    concrete source's ``sample`` builds its outputs by name; they reach the graph in its class's ``OUTPUTS`` order.

    Clips are ``num_frames`` frames every ``stride`` stored frames, or, with ``fps``, frames 1/fps seconds apart
    (sampling.time_frame_indices): then a clip's start and a video's ``length`` count those resampled frames.
    """

    OUTPUTS: tuple[str, ...] = ()
    items_per_video = 1

    def __init__(
        self,
        table: VideoTable,
        *,
        num_frames: int,
        stride: int,
        batch_size: int,
        shard_id: int = 0,
        num_shards: int = 1,
        seed: int = 0,
        shuffle: bool = True,
        drop_last: bool = False,
        decoders: str | np.ndarray = "dali_cpu",
        fps: float | None = None,
    ):
        if fps is not None and table.fps is None:
            raise ValueError("clips sampled by time (fps) need the videos' frame rates (VideoTable.fps)")
        self.table, self.num_frames, self.stride, self.fps = table, num_frames, stride, fps
        self.batch_size, self.shard_id, self.num_shards = batch_size, shard_id, num_shards
        self.seed, self.shuffle, self.drop_last = seed, shuffle, drop_last
        # Per video: decoders.NVDEC, DALI_CPU or PYAV (one name given: that decoder for every video).
        self.decoders = decoder_codes(decoders, len(table))
        self._first_epoch, self._skip = 0, 0  # where the source starts (resume_at)
        self._excluded: frozenset[int] = frozenset()  # videos left out (exclude)
        self._plan: tuple[int, EpochPlan] | None = None

    @property
    def first_epoch(self) -> int:
        """The epoch the source's first pass reads (resume_at)."""
        return self._first_epoch

    @property
    def excluded(self) -> frozenset[int]:
        """The ids of the videos left out (exclude)."""
        return self._excluded

    def resume_at(self, epoch: int, skip: int) -> None:
        """Start at ``epoch``, past its first ``skip`` samples: a resumed run continues the shuffles, not repeats
        them, and, resumed mid-epoch, leaves out the samples of that epoch already trained on."""
        self._first_epoch, self._skip = epoch, skip

    def exclude(self, videos: Iterable[int]) -> bool:
        """Leave ``videos`` out from now on, besides those already left out (videos that failed to read or decode
        at run time: their places go to other videos, see item_at); whether any of them is new."""
        excluded = self._excluded | frozenset(videos)
        changed, self._excluded = excluded != self._excluded, excluded
        return changed

    def plan(self, epoch: int) -> EpochPlan:
        """This shard's items for ``epoch`` (cached: the source is called once per sample)."""
        if self._plan is None or self._plan[0] != epoch:
            n = len(self.table) * self.items_per_video
            plan = EpochPlan(
                n,
                self.num_shards,
                self.shard_id,
                self.batch_size,
                epoch=epoch,
                seed=self.seed,
                shuffle=self.shuffle,
                drop_last=self.drop_last,
            )
            self._plan = (epoch, plan)
        return self._plan[1]

    def __len__(self) -> int:
        """Samples per epoch on this shard (a whole number of batches)."""
        return len(self.plan(0))

    def video_of(self, item: int) -> int:
        """The video an item of the plan reads."""
        return item // self.items_per_video

    def item_at(self, epoch: int, i: int) -> tuple[int, np.random.Generator]:
        """The item that sample ``i`` of ``epoch`` reads, and its random generator (a function of the position, so
        a resumed run draws exactly what an uninterrupted one draws).

        An excluded video's place goes to the item at the same place one batch later in the plan (or the next one
        after it that is not excluded), with a generator of its own: the batch keeps its size, no video appears
        twice in it (unless the epoch is one batch), and every other sample is unchanged. A test view taken this
        way repeats a (video, clip) pair of the plan, which the per-video averages count once.
        """
        items = self.plan(epoch)
        item = items[i]
        if self.video_of(item) not in self.excluded:
            return item, np.random.default_rng([self.seed, epoch, self.shard_id, i])
        for j in range(1, len(items) + 1):
            other = items[(i + self.batch_size - 1 + j) % len(items)]
            if self.video_of(other) not in self.excluded:
                return other, np.random.default_rng([self.seed, epoch, self.shard_id, i, j])
        raise RuntimeError(f"every video of shard {self.shard_id}'s epoch {epoch} is excluded as unreadable")

    def sample_at(self, epoch: int, i: int) -> dict[str, np.ndarray]:
        """The outputs of sample ``i`` of ``epoch``, by name, in ``OUTPUTS`` order."""
        return self.in_order(self.sample(*self.item_at(epoch, i)))

    def __call__(self, info) -> tuple[np.ndarray, ...]:
        epoch = self.first_epoch + info.epoch_idx
        i = info.idx_in_epoch + (self._skip if info.epoch_idx == 0 else 0)
        if i >= len(self.plan(epoch)):
            raise StopIteration
        return tuple(self.sample_at(epoch, i).values())  # external_source's outputs, in OUTPUTS order

    def sample(self, item: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """The outputs of ``item`` by name (every name of ``OUTPUTS``), drawn with ``rng``."""
        raise NotImplementedError

    def in_order(self, outputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """A sample's ``outputs`` in ``OUTPUTS`` order; a ValueError naming the source and the names that differ
        otherwise, so that no output reaches the graph under another's name."""
        if outputs.keys() != set(self.OUTPUTS):
            missing = [name for name in self.OUTPUTS if name not in outputs]
            extra = [name for name in outputs if name not in self.OUTPUTS]
            raise ValueError(
                f"{type(self).__name__}.sample's outputs are not its OUTPUTS: missing {missing}, unexpected {extra}"
            )
        return {name: outputs[name] for name in self.OUTPUTS}

    @property
    def step(self) -> int:
        """The distance between a clip's frames, in the units of ``length``."""
        return 1 if self.fps else self.stride

    def length(self, vid: int) -> int:
        """Video ``vid``'s frames, in the units a clip's start counts: stored frames, or resampled ones (``fps``)."""
        n = int(self.table.num_frames[vid])
        return resampled_length(n, float(self.table.fps[vid]), self.fps) if self.fps else n

    def clip(self, vid: int, start: int) -> np.ndarray:
        """Stored-frame indices of the clip of video ``vid`` that starts at ``start`` (in ``length``'s units)."""
        n = int(self.table.num_frames[vid])
        if self.fps:
            rate = float(self.table.fps[vid])
            return time_frame_indices(start, self.num_frames, video_fps=rate, fps=self.fps, num_video_frames=n)
        return clip_frame_indices(start, self.num_frames, self.stride, n)

    def video(self, vid: int, frames: np.ndarray) -> tuple[np.ndarray, ...]:
        """VIDEO_OUTPUTS of video ``vid`` for its frames ``frames`` (any order, repeats allowed): only the packets
        those frames need, for DALI's decoders, or those frames decoded with PyAV; each frame decoded once.
        A failure raises failures.VideoReadError naming its stage (reading, remuxing, decoding, frame missing)."""
        ref, code = self.table.paths[vid], np.asarray(self.decoders[vid], np.int32)
        named = {"path": ref, "decoder": DECODER_NAMES[code], "codec": self.table.format_of(vid)}
        with stage("reading", **named):  # bytes only, through storage.py, whatever holds the video
            self._check_unchanged(vid, ref)
            if self.table.keyframes is None:  # the whole file, from frame 0 (what the pipeline did before packets.py)
                data, whole = storage.read(ref), ref
                picks, order = np.asarray(frames, np.int32), np.arange(len(frames), dtype=np.int32)
            else:  # the packets the frames need (writing them into one stream raises RemuxError: "remuxing")
                keyframes, stamps = self.table.keyframes[vid], self.table.keyframe_pts[vid]
                fresh, ranges = code == NVDEC, self._ranges(vid, frames)
                sparse = sparse_video(ref, frames, keyframes, stamps, fresh_start=fresh, ranges=ranges)
                data, whole, picks, order = sparse.data, None, sparse.frames, sparse.order
        if code == PYAV:
            with stage("decoding", **named):
                return NO_BYTES, decode_pyav(data, picks, name=whole), code, picks, order
        return np.frombuffer(data, np.uint8), NO_FRAMES, code, picks, order

    def _ranges(self, vid: int, frames: np.ndarray) -> list[tuple[int, int]]:
        """The byte ranges of video ``vid`` that reading ``frames`` takes, where the table knows its packets."""
        t = self.table
        if t.keyframe_pos is None or t.data_ends is None or t.sizes is None:
            return []
        return byte_ranges(
            frames,
            t.keyframes[vid],
            t.keyframe_pos[vid],
            t.keyframe_bytes[vid],
            data_end=int(t.data_ends[vid]),
            size=int(t.sizes[vid]),
        )

    def _check_unchanged(self, vid: int, ref: storage.Ref) -> None:
        """FileChanged if the video's size or mtime (a member's: its shard's) is not what indexing saw (its frames
        may be others), OSError if it is gone."""
        found = storage.stat(ref)
        if self.table.sizes is None:
            return
        indexed = (int(self.table.sizes[vid]), int(self.table.mtimes[vid]))
        if (found.size, found.mtime_ns) != indexed:
            raise FileChanged(
                f"{ref}: changed since it was indexed (size {indexed[0]} -> {found.size} bytes, mtime "
                f"{indexed[1]} -> {found.mtime_ns}); index the dataset again"
            )

    def video_outputs(self, vid: int, frames: np.ndarray) -> dict[str, np.ndarray]:
        """``video``'s outputs by name (VIDEO_OUTPUTS)."""
        return dict(zip(VIDEO_OUTPUTS, self.video(vid, frames), strict=True))

    def size(self, vid: int) -> tuple[int, int]:
        return int(self.table.widths[vid]), int(self.table.heights[vid])


class PretrainSource(ClipSource):
    """rho = len(views) CVRL clips of one video (two in the paper), decoded together, and each view's augmentation
    parameters.

    Outputs: the video (VIDEO_OUTPUTS: packets, or PyAV frames), the frame indices of every clip
    (rho T,), the per-frame augmentation parameters of every clip (params.PARAM_NAMES, rho T frames each), the rho
    clip starts and the video id.
    """

    OUTPUTS = (*VIDEO_OUTPUTS, "frames", *PARAM_NAMES, "starts", "video_id")

    def __init__(self, table: VideoTable, views: tuple[ViewAugConfig, ...], temporal: dict, **kwargs):
        super().__init__(table, **kwargs)
        self.views, self.temporal = tuple(views), dict(temporal)

    def sample(self, vid: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """Video ``vid``'s rho clips, drawn with ``rng``."""
        length = int(self.table.num_frames[vid])
        rho = len(self.views)
        starts = sample_clip_starts(length, self.num_frames, self.stride, rng, **self.temporal, num_clips=rho)
        frames = np.concatenate([self.clip(vid, s) for s in starts])
        params = stack_clips([draw_view_params(rng, cfg, self.num_frames, self.size(vid)) for cfg in self.views])
        return {
            **self.video_outputs(vid, frames),
            "frames": frames.astype(np.int32),
            **params,
            "starts": np.asarray(starts, np.int32),
            "video_id": np.asarray(vid, np.int64),
        }


class LabelledSource(ClipSource):
    """What the evaluation sources share: a labelled clip's outputs.

    Outputs: the video (VIDEO_OUTPUTS), the frame indices (T,), the sampling policy's parameters, the label, the
    video id and the clip index. With ``targets`` (a multi-label dataset) the label is multi-hot float32
    (num_classes,), by the policy's ``multi_hot``.
    """

    def __init__(self, table: VideoTable, *, targets: ActionTargets | None = None, segments: int = 1, **kwargs):
        super().__init__(table, **kwargs)
        self.targets, self.segments = targets, segments

    def parts(self, vid: int) -> list[tuple[int, int]]:
        """(First position, positions) of each of the ``segments`` equal parts of video ``vid`` (``length``'s
        units): a sample holds one clip from each, their frames concatenated (V-JEPA's clips of one view)."""
        length = self.length(vid)
        return [video_part(j, self.segments, length) for j in range(self.segments)]

    def labelled(self, vid: int, k: int, frames: np.ndarray, params: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The outputs of clip ``k`` of video ``vid``, made of ``frames``, with its policy's ``params``."""
        return {
            **self.video_outputs(vid, frames),
            "frames": frames.astype(np.int32),
            **params,
            "label": self.label(vid, frames),
            "video_id": np.asarray(vid, np.int64),
            "clip_idx": np.asarray(k, np.int64),
        }

    def label(self, vid: int, frames: np.ndarray) -> np.ndarray:
        """The sample's label: the video's class index, or its multi-hot targets (``targets``)."""
        if self.targets is None:
            return np.asarray(self.table.labels[vid], np.int64)
        return self.multi_hot(vid, frames)

    def multi_hot(self, vid: int, frames: np.ndarray) -> np.ndarray:
        """The multi-hot targets of video ``vid``'s clip made of ``frames``."""
        raise NotImplementedError


class TrainClipSource(LabelledSource):
    """The protocols' training clips: ``clips_per_video`` per video and epoch (SEVERE draws 10), each from a random
    start, shuffled each epoch, with its crop, flip and colour parameters (``view``, params.PARAM_NAMES); a
    multi-label clip takes the actions its frames overlap. With ``segments`` > 1 a sample is one clip from a random
    start in each part of the video, each with its own view parameters (V-JEPA draws each clip's crop alone)."""

    OUTPUTS = (*VIDEO_OUTPUTS, "frames", *PARAM_NAMES, "label", "video_id", "clip_idx")

    def __init__(self, table: VideoTable, view: ViewAugConfig, *, clips_per_video: int = 1, **kwargs):
        super().__init__(table, **kwargs)
        self.view, self.items_per_video = view, clips_per_video

    def sample(self, item: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """Clip ``k`` of video ``vid`` and its view's parameters, drawn with ``rng``."""
        vid, k = divmod(item, self.items_per_video)
        starts = [first + train_clip_start(n, self.num_frames, self.step, rng) for first, n in self.parts(vid)]
        frames = np.concatenate([self.clip(vid, start) for start in starts])
        params = stack_clips([draw_view_params(rng, self.view, self.num_frames, self.size(vid)) for _ in starts])
        return self.labelled(vid, k, frames, params)

    def multi_hot(self, vid: int, frames: np.ndarray) -> np.ndarray:
        """The clip's actions (ActionTargets.clip)."""
        return self.targets.clip(vid, frames)


class TestViewSource(LabelledSource):
    """The test views: ``num_temporal`` clips per video with evenly spaced starts (sampling.eval_clip_start; by time,
    sampling.linspace_clip_start), one sample each, in plan order
    (not shuffled unless ``shuffle``), with the normalised positions of ``num_spatial`` crops along the long side
    (``crop_pos`` (S, 2), after the graph's short-side resize); a multi-label view takes its whole video's actions.
    With ``segments`` > 1, view k is the k-th of those clips placed in each part of the video, frames concatenated."""

    __test__ = False  # named Test...: pytest must not collect it from the test modules that import it
    OUTPUTS = (*VIDEO_OUTPUTS, "frames", "crop_pos", "label", "video_id", "clip_idx")

    def __init__(self, table: VideoTable, *, num_temporal: int = 10, num_spatial: int = 3, **kwargs):
        kwargs.setdefault("shuffle", False)
        super().__init__(table, **kwargs)
        self.items_per_video, self.num_spatial = num_temporal, num_spatial
        middle = (0.5,) * num_spatial if num_spatial == 1 else tuple(np.linspace(0.0, 1.0, num_spatial))
        self._along = np.asarray(middle, np.float32)

    def sample(self, item: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """Test view ``item``: clip ``k`` of video ``vid`` (``rng`` unused: nothing is drawn)."""
        vid, k = divmod(item, self.items_per_video)
        n = self.items_per_video
        frames = np.concatenate([self.clip(vid, first + self.start(k, n, length)) for first, length in self.parts(vid)])
        width, height = self.size(vid)
        centre = np.full(self.num_spatial, 0.5, np.float32)
        xy = (self._along, centre) if width >= height else (centre, self._along)
        return self.labelled(vid, k, frames, {"crop_pos": np.stack(xy, axis=1)})

    def start(self, k: int, n: int, length: int) -> int:
        """Where clip ``k`` of ``n`` starts in ``length`` positions (a whole video, or one part of it)."""
        if self.fps:  # SEVERE's dense test places its clips so
            return linspace_clip_start(k, n, length, self.num_frames)
        return eval_clip_start(k, n, start_range(length, self.num_frames, self.stride) - 1)

    def multi_hot(self, vid: int, frames: np.ndarray) -> np.ndarray:
        """The whole video's actions (ActionTargets.video)."""
        return self.targets.video(vid)
