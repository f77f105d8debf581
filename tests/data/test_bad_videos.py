"""A video that breaks after indexing costs one sample, never the run: the DALI loader finds it, reports it once,
leaves it out and keeps every batch full, on the DALI CPU decoder and on PyAV; and too many failures stop it."""

from __future__ import annotations

import gc
import itertools
import json
import weakref
from collections import Counter
from functools import partial

import numpy as np
import pytest

from cvrl_pl.data.bad_videos import BadVideoGuard, TooManyBadVideos
from cvrl_pl.data.batches import pretrain_batch
from cvrl_pl.data.loader import DaliLoader
from dali_pipelines.failures import ReadFailure
from dali_pipelines.params import ViewAugConfig
from dali_pipelines.pretrain import OUTPUTS, pretrain_pipeline
from dali_pipelines.sources import PretrainSource
from dali_pipelines.table import VideoTable
from tests.helpers.damage import damage_payload, replace_with_garbage, truncate
from tests.helpers.videos import write_video

NUM_GOOD, FRAMES, BATCH = 9, 40, 4
VIEW = ViewAugConfig(crop_size=16, jitter_prob=0.0, grayscale_prob=0.0)


def _table(paths) -> VideoTable:
    n = len(paths)
    return VideoTable(tuple(map(str, paths)), np.full(n, FRAMES), np.full(n, 64), np.full(n, 48), np.zeros(n, int))


@pytest.fixture
def dataset(tmp_path):
    """9 good VP9 videos and 3 more that break as they would after indexing: damaged payload from frame 5 on,
    cut to a tenth, and replaced by garbage. The index (the table) still says 40 frames for each."""
    good = [write_video(tmp_path / f"good{i}.webm", FRAMES) for i in range(NUM_GOOD)]
    damaged = damage_payload(good[0], tmp_path / "damaged.webm", from_frame=5)
    cut = truncate(write_video(tmp_path / "cut.webm", FRAMES), keep=0.1)
    garbage = replace_with_garbage(write_video(tmp_path / "garbage.webm", FRAMES))
    return good, [damaged, cut, garbage]


def _loader(paths, decoder, guard, rho=2, **source_kwargs) -> DaliLoader:
    source = PretrainSource(
        _table(paths),
        (VIEW,) * rho,
        {"distribution": "uniform"},
        num_frames=4,
        stride=2,
        batch_size=BATCH,
        seed=5,
        decoders=decoder,
        **source_kwargs,
    )

    def build(src):
        return pretrain_pipeline(src, None, num_threads=1, py_workers=1)

    return DaliLoader(
        source,
        build=build,
        names=OUTPUTS,
        progress=lambda: (0, 0),
        transform=partial(pretrain_batch, num_views=rho),
        guard=guard,
    )


def _epoch(loader: DaliLoader) -> list[dict]:
    """One epoch as Lightning reads it: exactly ``len(loader)`` batches, never asking for one more."""
    return list(itertools.islice(iter(loader), len(loader)))


def _guard(path, **limits) -> BadVideoGuard:
    return BadVideoGuard(path, **({"max_batch_share": 0.5, "max_epoch_share": 0.5} | limits))


@pytest.mark.parametrize(("decoder", "rho"), [("dali_cpu", 2), ("pyav", 2), ("dali_cpu", 3)])
def test_bad_videos_are_reported_once_and_left_out(dataset, tmp_path, decoder, rho):
    good, bad = dataset
    paths = good + bad
    record = tmp_path / "run" / "bad_videos.jsonl"
    loader = _loader(paths, decoder, _guard(record), rho=rho)
    epochs = []
    for _ in range(3):
        batches = _epoch(loader)
        assert len(batches) == len(loader) == 3  # 12 videos in batches of 4: the epoch keeps its length
        assert all(b[f"view{rho}"].shape == (BATCH, 3, 4, 16, 16) for b in batches)  # and every batch its size
        epochs.append(Counter(int(v) for b in batches for v in b["video_id"]))
    reports = [json.loads(line) for line in record.read_text().splitlines()]
    assert sorted(r["path"] for r in reports) == sorted(map(str, bad))  # each bad video once
    assert all(r["reason"] and r["epoch"] == 0 for r in reports)
    for seen in epochs:
        assert set(range(NUM_GOOD)) <= set(seen)  # every good video, every epoch
        assert sum(seen.values()) == len(paths)
    assert not set(epochs[-1]) & set(range(NUM_GOOD, len(paths)))  # the bad ones are gone
    assert loader.source.excluded == frozenset(range(NUM_GOOD, len(paths)))


def test_good_samples_are_the_same_with_or_without_bad_ones(dataset, tmp_path):
    """Leaving a video out changes only the samples that took its place: a resumed run, which knows the bad
    videos from the start, reads every good video's samples exactly as an uninterrupted one."""
    good, bad = dataset
    paths = good + bad[:1]
    loader = _loader(paths, "dali_cpu", _guard(tmp_path / "a.jsonl"))
    first = _epoch(loader)  # epoch 0 finds the damaged video on the way
    known = _loader(paths, "dali_cpu", _guard(tmp_path / "a.jsonl"))  # a second start, the file already written
    again = _epoch(known)
    assert known.source.excluded == frozenset({NUM_GOOD})
    items = known.source.plan(0)
    for i in range(len(items)):
        b, k = divmod(i, BATCH)
        if items[i] != NUM_GOOD:  # a good video's place: same video, same clips
            assert int(first[b]["video_id"][k]) == int(again[b]["video_id"][k]) == items[i]
            assert first[b]["starts"][k].tolist() == again[b]["starts"][k].tolist()


def test_other_ranks_reports_are_left_out_from_the_next_epoch(dataset, tmp_path):
    good, bad = dataset
    record = tmp_path / "bad_videos.jsonl"
    loader = _loader(good + bad[:1], "dali_cpu", _guard(record))
    _epoch(loader)
    record.write_text(record.read_text() + json.dumps({"path": str(good[3]), "reason": "rank 1 says so"}) + "\n")
    seen = {int(v) for b in _epoch(loader) for v in b["video_id"]}
    assert 3 not in seen and NUM_GOOD not in seen and loader.source.excluded == frozenset({3, NUM_GOOD})


def test_too_many_failures_in_a_batch_stop_the_run(dataset, tmp_path):
    good, bad = dataset
    loader = _loader(good[:1] + bad, "dali_cpu", _guard(tmp_path / "b.jsonl", max_batch_share=0.5))
    with pytest.raises(TooManyBadVideos, match=r"3 of the 4 videos of epoch 0, batch 0 fail .*max_bad_batch_share=0.5"):
        list(loader)


def test_too_many_failures_in_an_epoch_stop_the_run(dataset, tmp_path):
    good, bad = dataset
    loader = _loader(good + bad, "pyav", _guard(tmp_path / "c.jsonl", max_epoch_share=0.2))
    with pytest.raises(TooManyBadVideos, match=r"of this rank's 12 videos failed in epoch 0 .*max_bad_epoch_share=0.2"):
        list(loader)


def test_a_failure_that_no_video_explains_is_raised(dataset, tmp_path):
    good, _ = dataset
    loader = _loader(good[:4], "dali_cpu", _guard(tmp_path / "d.jsonl"))
    loader._build = lambda src: (_ for _ in ()).throw(AssertionError("never built"))  # noqa: ARG005
    guard = loader.guard
    with pytest.raises(RuntimeError, match="not a video"):
        guard.recover(loader.source, 0, 0, RuntimeError("not a video"), lookahead=2)


def test_a_failure_deep_in_the_prefetch_queue_is_found(dataset, tmp_path):
    """Prefetch depth 4 and 3 source workers: a worker's failure surfaces up to 7 batches before the batch that
    holds the video (a look-ahead of 2 batches re-raised it as no video's fault); it is found, and the run goes on."""
    good, _ = dataset
    paths = list(good * 3)
    paths[12] = tmp_path / "gone.webm"  # batch 6 of 14: deleted after indexing
    source = PretrainSource(
        _table(paths), (VIEW, VIEW), {"distribution": "uniform"}, num_frames=4, stride=2, batch_size=2, shuffle=False
    )
    record = tmp_path / "deep.jsonl"
    loader = DaliLoader(
        source,
        build=lambda src: pretrain_pipeline(src, None, num_threads=1, py_workers=3, prefetch=4),
        names=OUTPUTS,
        progress=lambda: (0, 0),
        transform=partial(pretrain_batch, num_views=2),
        guard=_guard(record),
    )
    batches = _epoch(loader)
    assert loader._lookahead == 7 and len(batches) == len(loader) == 14
    assert [json.loads(line)["path"] for line in record.read_text().splitlines()] == [str(paths[12])]
    assert 12 not in {int(v) for b in batches for v in b["video_id"]}


def test_running_out_of_memory_is_never_taken_for_a_bad_video(dataset, tmp_path, monkeypatch):
    """An exhausted GPU fails the pipeline like a damaged file; the guard must not report and leave out the batch's
    good videos for it, whether the pipeline or the guard's own check runs out."""
    from cvrl_pl.data import bad_videos

    assert bad_videos.is_out_of_memory(RuntimeError("Critical error in pipeline: CUDA error: out of memory"))
    assert bad_videos.is_out_of_memory(RuntimeError("cudaErrorMemoryAllocation")) and not bad_videos.is_out_of_memory(
        RuntimeError("Failed to send packet to decoder: Invalid data found when processing input")
    )
    good, _ = dataset
    record = tmp_path / "oom.jsonl"
    loader = _loader(good[:8], "dali_cpu", _guard(record))
    loader._build = lambda src: (_ for _ in ()).throw(RuntimeError("CUDA error: out of memory"))  # noqa: ARG005
    with pytest.raises(RuntimeError, match="out of memory"):
        _epoch(loader)
    assert not record.exists() and loader.source.excluded == frozenset()
    oom = ReadFailure("v.webm", "decoding", "RuntimeError", "CUDA error: out of memory", "nvdec", "h264 High")
    monkeypatch.setattr(bad_videos, "undecodable", lambda *a: {0: oom})  # noqa: ARG005
    with pytest.raises(RuntimeError, match="pipeline failed"):
        loader.guard.recover(loader.source, 0, 0, RuntimeError("pipeline failed"), lookahead=1)
    assert not record.exists()


def test_a_failed_pipeline_left_in_a_reference_cycle_is_collected_before_workers_are_forked(dataset, tmp_path):
    """A failed pipeline can linger in a reference cycle (its error's traceback holds it). Collected in a forked
    source worker, its shutdown waits forever for DALI threads only the parent has: the loader collects it first."""
    good, _ = dataset
    loader = _loader(good[:4], "dali_cpu", _guard(tmp_path / "e.jsonl"))
    old = pretrain_pipeline(loader.source, None, num_threads=1, py_workers=1)
    old.build()
    cycle: list = [old]
    cycle.append(cycle)
    ref = weakref.ref(old)
    gc.disable()  # only an explicit collection frees the cycle
    try:
        del old, cycle
        assert ref() is not None
        batches = _epoch(loader)  # builds its pipeline, forking a worker
        assert ref() is None
    finally:
        gc.enable()
    assert len(batches) == len(loader) == 1
