"""DALI pipelines on CPU: frame-exact clips for both decoders, consistent augmentation, shards, test views."""

from dataclasses import replace

import numpy as np
import pytest
import torch

from cvrl_pl.data.batches import channels_first, split_views
from cvrl_pl.data.index import VideoIndex, load_or_build_index
from cvrl_pl.data.loader import video_table
from dali_pipelines import pretrain
from dali_pipelines.decoders import DALI_CPU, PYAV
from dali_pipelines.evaluate import eval_pipeline
from dali_pipelines.graph import pipeline_kwargs
from dali_pipelines.params import ViewAugConfig
from dali_pipelines.pretrain import pretrain_pipeline
from dali_pipelines.sampling import clip_frame_indices, eval_clip_start
from dali_pipelines.sources import PretrainSource, TestViewSource, TrainClipSource
from dali_pipelines.table import VideoTable
from tests.helpers.videos import read_index, write_video

T, STRIDE = 6, 2
# Resize the whole frame, no flip, no colour: the decoded frames stay readable.
PLAIN = ViewAugConfig(
    crop_size=32, crop_area=(1.0, 1.0), crop_aspect=(4 / 3, 4 / 3), flip_prob=0.0, jitter_prob=0.0, grayscale_prob=0.0
)


def _table(paths, lengths, width=64, height=48, labels=None):
    n = len(paths)
    return VideoTable(
        tuple(map(str, paths)),
        np.array(lengths),
        np.full(n, width),
        np.full(n, height),
        np.array(labels if labels is not None else range(n)),
    )


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    """Index-coded videos: VP9 (DALI's CPU decoder) and H.264 (PyAV); one shorter than a clip."""
    root = tmp_path_factory.mktemp("videos")
    lengths = [40, 33, 25, 60, 9]
    return {
        codec: ([write_video(root / f"{codec}{i}.{ext}", n, codec=codec) for i, n in enumerate(lengths)], lengths)
        for codec, ext in (("vp9", "webm"), ("h264", "mp4"))
    }


def _epoch(pipe, names):
    """Every batch of one epoch, as lists of per-sample numpy arrays by output name."""
    pipe.build()
    out = {name: [] for name in names}
    while True:
        try:
            batch = pipe.run()
        except StopIteration:
            return out
        for name, tensors in zip(names, batch, strict=True):
            out[name] += [np.array(tensors[i]) for i in range(len(tensors))]


def _pretrain_epoch(source, py_workers=1):
    """One epoch of the pretraining pipeline, its views split as the loader splits them: (C, T, H, W) per view,
    as "view1", ..., "view<rho>"."""
    out = _epoch(pretrain_pipeline(source, None, py_workers=py_workers), ("views", "starts", "video_id"))
    rho = len(source.views)
    split = [split_views(torch.from_numpy(v)[None], rho) for v in out.pop("views")]
    for k in range(rho):
        out[f"view{k + 1}"] = [views[k][0].numpy() for views in split]
    return out


def _eval_epoch(source, **kwargs):
    """One epoch of an evaluation pipeline, its views channels first as the loader gives them."""
    out = _epoch(eval_pipeline(source, None, **kwargs), ("views", "label", "video_id", "clip_idx"))
    out["views"] = [channels_first(torch.from_numpy(v)).numpy() for v in out["views"]]
    return out


@pytest.mark.parametrize(
    ("codec", "decoder", "rho"),
    [("vp9", "dali_cpu", 2), ("h264", "pyav", 2), ("vp9", "pyav", 2), ("vp9", "dali_cpu", 4)],
)
def test_clips_hold_exactly_the_sampled_frames(videos, codec, decoder, rho):
    """Every clip of the rho (all decoded in one call) holds exactly the frames its start names."""
    paths, lengths = videos[codec]
    source = PretrainSource(
        _table(paths, lengths),
        (PLAIN,) * rho,
        {"distribution": "uniform"},
        num_frames=T,
        stride=STRIDE,
        batch_size=2,
        decoders=decoder,
    )
    out = _pretrain_epoch(source)
    assert sorted(set(int(v) for v in out["video_id"])) == list(range(len(paths)))  # every video this epoch
    views = zip(*(out[f"view{k + 1}"] for k in range(rho)), strict=True)
    for clips, starts, vid in zip(views, out["starts"], out["video_id"], strict=True):
        assert len(starts) == rho and all(clip.shape == (3, T, 32, 32) for clip in clips)
        length = lengths[int(vid)]
        for view, start in zip(clips, starts, strict=True):
            got = [read_index(view[:, k]) for k in range(T)]
            assert got == clip_frame_indices(int(start), T, STRIDE, length).tolist()
        if length >= (T - 1) * STRIDE + 1:
            assert max(starts) + (T - 1) * STRIDE < length  # whole clips, no looping, when the video is long enough


def test_full_augmentation_is_consistent_within_each_view(tmp_path):
    still = np.random.default_rng(0).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    path = write_video(tmp_path / "still.webm", 20, frames=np.repeat(still[None], 20, 0), lossless=True)
    table = _table([path] * 4, [20] * 4)
    base = ViewAugConfig(crop_size=32, blur_prob=1.0, solarize_prob=0.5, jitter_prob=1.0, grayscale_prob=0.3)

    def run(consistent):
        views = (replace(base, consistent=consistent), replace(base, consistent=consistent, blur_prob=0.5))
        source = PretrainSource(table, views, {"distribution": "decreasing"}, num_frames=T, stride=STRIDE, batch_size=4)
        return _pretrain_epoch(source)

    out = run(True)
    for v1, v2 in zip(out["view1"], out["view2"], strict=True):
        for view in (v1, v2):
            assert np.array_equal(view, np.repeat(view[:, :1], T, axis=1))  # bit-identical frames
            assert view.min() >= 0.0 and view.max() <= 1.0
        assert np.abs(v1 - v2).mean() > 0.02  # the two views differ
    out = run(False)
    for view in out["view1"] + out["view2"]:
        frame_diff = np.abs(view - view[:, :1]).mean(axis=(0, 2, 3))
        assert (frame_diff[1:] > 0.01).all()  # every frame augmented on its own


def test_odd_sizes_give_the_crop_size(tmp_path):
    path = write_video(tmp_path / "odd.webm", 20, width=129, height=97)
    crop = replace(PLAIN, crop_size=40, crop_area=(0.3, 1.0), crop_aspect=(0.5, 2.0))

    def source(views):
        return PretrainSource(
            _table([path], [20], 129, 97),
            views,
            {"distribution": "decreasing"},
            num_frames=T,
            stride=STRIDE,
            batch_size=1,
        )

    out = _pretrain_epoch(source((crop, crop)), py_workers=0)
    assert out["view1"][0].shape == out["view2"][0].shape == (3, T, 40, 40)
    with pytest.raises(ValueError, match=r"one crop size, got \[32, 40\]"):  # both views run through one chain
        pretrain_pipeline(source((PLAIN, crop)), None, py_workers=0)


def test_two_ranks_read_disjoint_videos_that_cover_the_index(videos):
    paths, lengths = videos["vp9"]
    table = _table(paths + paths[:1], lengths + lengths[:1])  # 6 videos
    seen = []
    for rank in (0, 1):
        source = PretrainSource(
            table,
            (PLAIN, PLAIN),
            {"distribution": "same"},
            num_frames=T,
            stride=STRIDE,
            batch_size=3,
            shard_id=rank,
            num_shards=2,
            seed=3,
        )
        out = _pretrain_epoch(source)
        seen.append([int(v) for v in out["video_id"]])
    assert len(seen[0]) == len(seen[1]) == 3  # equal step counts
    assert not set(seen[0]) & set(seen[1])
    assert set(seen[0]) | set(seen[1]) == set(range(6))


def test_test_views_cover_every_clip_of_every_video_once(tmp_path):
    # portrait videos: the centre square crop keeps every index bar
    lengths = [40, 31, 12]
    paths = [write_video(tmp_path / f"p{i}.webm", n, width=48, height=64) for i, n in enumerate(lengths)]
    source = TestViewSource(
        _table(paths, lengths, 48, 64, labels=[2, 0, 1]),
        num_temporal=4,
        num_spatial=1,
        num_frames=T,
        stride=STRIDE,
        batch_size=5,
    )
    out = _eval_epoch(source, crop_size=48, short_side=48, py_workers=1)
    pairs = [(int(v), int(k)) for v, k in zip(out["video_id"], out["clip_idx"], strict=True)]
    assert len(pairs) == 15 and set(pairs) == {(v, k) for v in range(3) for k in range(4)}  # 12 + 3 padding
    for views, label, vid, k in zip(out["views"], out["label"], out["video_id"], out["clip_idx"], strict=True):
        assert views.shape == (1, 3, T, 48, 48)
        assert int(label) == [2, 0, 1][int(vid)]
        length = lengths[int(vid)]
        start = eval_clip_start(int(k), 4, length - (T - 1) * STRIDE - 1)
        assert [read_index(views[0][:, t]) for t in range(T)] == clip_frame_indices(start, T, STRIDE, length).tolist()


def test_three_spatial_crops_run_along_the_long_side(tmp_path):
    ramp = np.repeat(np.repeat(np.linspace(0, 255, 96).astype(np.uint8)[None, :, None], 48, 0), 3, 2)
    path = write_video(tmp_path / "ramp.webm", 16, width=96, height=48, frames=np.repeat(ramp[None], 16, 0))
    source = TestViewSource(
        _table([path], [16], 96, 48), num_temporal=2, num_spatial=3, num_frames=T, stride=STRIDE, batch_size=2
    )
    out = _eval_epoch(source, crop_size=24, short_side=24, py_workers=0)
    left, centre, right = (out["views"][0][i].mean() for i in range(3))
    assert out["views"][0].shape == (3, 3, T, 24, 24)
    assert left < 0.3 and 0.4 < centre < 0.6 and right > 0.7


def test_train_views_for_evaluation(videos):
    paths, lengths = videos["vp9"]
    source = TrainClipSource(
        _table(paths, lengths, labels=[4, 3, 2, 1, 0]),
        replace(PLAIN, flip_prob=0.5),
        num_frames=T,
        stride=STRIDE,
        batch_size=5,
    )
    out = _eval_epoch(source, crop_size=32, py_workers=1)
    assert [out["views"][i].shape for i in range(5)] == [(3, T, 32, 32)] * 5
    assert sorted((int(v), int(lab)) for v, lab in zip(out["video_id"], out["label"], strict=True)) == [
        (0, 4),
        (1, 3),
        (2, 2),
        (3, 1),
        (4, 0),
    ]


def test_blur_and_solarize_are_applied(tmp_path):
    """Each clip takes its own view's blur and solarize, also with rho = 3 clips in one chain."""
    noise = np.random.default_rng(0).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    path = write_video(tmp_path / "noise.webm", 10, frames=np.repeat(noise[None], 10, 0), lossless=True)
    blurred = replace(PLAIN, blur_prob=1.0, blur_sigma=(1.5, 1.5))
    solarized = replace(PLAIN, solarize_prob=1.0)
    for views in ((blurred, PLAIN), (PLAIN, solarized), (blurred, PLAIN, solarized)):
        source = PretrainSource(
            _table([path] * 2, [10] * 2), views, {"distribution": "same"}, num_frames=4, stride=1, batch_size=2
        )
        out = _pretrain_epoch(source, py_workers=0)
        clips = {v: out[f"view{k + 1}"][0] for k, v in enumerate(views) if v is not PLAIN}
        plain = out[f"view{views.index(PLAIN) + 1}"][0]
        if blurred in clips:  # the blurred view has far less pixel-to-pixel variation than the plain one
            assert np.abs(np.diff(clips[blurred], axis=-1)).mean() < 0.3 * np.abs(np.diff(plain, axis=-1)).mean()
        if solarized in clips:  # solarized: every value above 0.5 is folded to 1 - x
            np.testing.assert_allclose(clips[solarized], np.where(plain >= 0.5, 1 - plain, plain), atol=1e-6)


def test_spawned_workers_make_the_batches_forked_ones_make(tmp_path, monkeypatch):
    """On a GPU the Python workers are spawned (forking a process with CUDA is unsafe): each gets the source by
    pickle, with a saved index's memory-mapped columns by file name. Here, on a CPU, spawned and forked workers
    make the same epoch, VP9 through DALI's CPU decoder and H.264 through PyAV."""
    for i, codec in enumerate(("vp9", "h264", "vp9", "h264")):
        write_video(tmp_path / "data" / f"v{i}.{'webm' if codec == 'vp9' else 'mp4'}", 24, codec=codec)
    index = load_or_build_index(tmp_path / "data", workers=1, progress=False)
    table = video_table(VideoIndex.load(index.folder))  # the columns memory-mapped, as a run reads them
    decoders = np.array([DALI_CPU if v.codec == "vp9" else PYAV for v in index.videos], np.int8)
    options = {"num_frames": T, "stride": STRIDE, "batch_size": 2, "decoders": decoders}

    def epoch():
        return _pretrain_epoch(PretrainSource(table, (PLAIN, PLAIN), {}, **options), py_workers=2)

    forked = epoch()

    def spawning(*args, **kwargs):
        return {**pipeline_kwargs(*args, **kwargs), "py_start_method": "spawn"}

    monkeypatch.setattr(pretrain, "pipeline_kwargs", spawning)
    spawned = epoch()
    assert forked.keys() == spawned.keys() and len(forked["video_id"]) == 4
    for name, batches in forked.items():
        for a, b in zip(batches, spawned[name], strict=True):
            np.testing.assert_array_equal(a, b)
