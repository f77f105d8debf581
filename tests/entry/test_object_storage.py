"""Pretraining from shards on S3 (moto, in a subprocess) through train.py with two processes: every key with a video
is trained on exactly once per epoch, the failed and the broken samples never, and the run equals, batch for batch,
the same run from the local copy of the shards. Each rank's source worker is forked after its parent used S3 (the
index is built from S3 first) and makes its own client: the start method the pipelines use on a CPU."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from benchmarks.object_store import moto_server, s3_environment
from cvrl_pl.data.index import VideoIndex
from dali_pipelines import remote
from tests.helpers.shard_data import write_shard_set

EPOCHS = 2


def _run(train, tmp_path, root: str, name: str) -> list[dict]:
    proc = train(
        "--config",
        "conf/generated.yaml",
        "data.source=video",
        f"data.root={root}",
        "data.num_frames=4",
        "data.crop_size=32",
        "data.batch_size=4",
        "data.num_workers=1",
        "model.base_channels=8",
        "model.proj_hidden_dim=32",
        "trainer.devices=2",
        "trainer.checkpoint_every_n_steps=0",
        "trainer.trace_batches=true",
        f"trainer.max_epochs={EPOCHS}",
        f"trainer.run_name={name}",
        f"trainer.output_dir={tmp_path}",
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert not (tmp_path / name / "bad_videos.jsonl").exists()
    steps = []
    for rank in (0, 1):
        steps += [
            json.loads(line) for line in (tmp_path / name / "trace" / f"rank{rank}.jsonl").read_text().splitlines()
        ]
    return sorted(steps, key=lambda s: (s["step"], s["rank"]))


def test_pretraining_from_s3_equals_the_local_shards_batch_for_batch(tmp_path, train, monkeypatch):
    shard_set = write_shard_set(tmp_path / "wv", tmp_path / "scratch")
    with moto_server() as endpoint:
        for name, value in {**s3_environment(endpoint), "CVRL_CACHE": str(tmp_path / "cache")}.items():
            monkeypatch.setenv(name, value)
        fs = remote.filesystem("s3://videos")
        fs.mkdir("videos")
        for path in sorted(shard_set.folder.iterdir()):
            fs.put_file(str(path), f"videos/wv/{path.name}")
        from_s3 = _run(train, tmp_path, "s3://videos/wv", "s3")
    local = _run(train, tmp_path, str(shard_set.folder), "local")
    index = VideoIndex.load(shard_set.folder / ".cvrl_index")
    keys = [path.rpartition("/")[2].partition(".")[0] for path in index.videos.paths]
    assert sorted(keys) == sorted(shard_set.keys)
    for epoch in range(EPOCHS):
        seen = Counter(keys[v] for s in from_s3 if s["epoch"] == epoch for v in s["video_ids"])
        assert seen == Counter(shard_set.keys)  # every key with a video, exactly once, on one of the two ranks
    assert [(s["step"], s["rank"], s["video_ids"]) for s in from_s3] == [
        (s["step"], s["rank"], s["video_ids"]) for s in local
    ]
    assert [s["loss"] for s in from_s3] == pytest.approx([s["loss"] for s in local], rel=1e-6, abs=1e-7)
