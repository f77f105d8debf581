"""Real footage loses no video: a folder of the files users have (H.264 as downloads ship it with audio as stream 0,
VFR, odd sizes, portrait, HEVC, AV1, VP8, VP9, MPEG-4 and MJPEG in AVI, 10-bit and 4:4:4 H.264, ProRes, 12 frames,
one keyframe in 300, 64x48) pretrains for 3 epochs through train.py with every video read every epoch and nothing
in bad_videos.jsonl. That each file decodes to the right frames is tests/dali_pipelines/test_codecs.py's job."""

from __future__ import annotations

import json
from collections import defaultdict

from cvrl_pl.data.index import VideoIndex
from tests.helpers.real_world import REAL_WORLD, write_real_world

EPOCHS, BATCH = 3, 4


def test_every_kind_of_real_file_pretrains_without_a_bad_video(tmp_path, train):
    data = tmp_path / "real_world"
    write_real_world(data)
    proc = train(
        "--config",
        "conf/generated.yaml",
        "data.source=video",
        f"data.root={data}",
        "data.num_frames=4",
        "data.crop_size=32",
        f"data.batch_size={BATCH}",
        "data.num_workers=1",
        "model.base_channels=8",
        "model.proj_hidden_dim=32",
        "trainer.checkpoint_every_n_steps=0",
        "trainer.trace_batches=true",
        f"trainer.max_epochs={EPOCHS}",
        "trainer.run_name=r",
        f"trainer.output_dir={tmp_path}",
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    run = tmp_path / "r"
    assert not (run / "bad_videos.jsonl").exists(), (run / "bad_videos.jsonl").read_text()
    index = VideoIndex.load(data / ".cvrl_index")
    assert sorted(index.videos.paths) == sorted(REAL_WORLD) and not index.excluded  # every file indexed
    epochs = defaultdict(set)
    for line in (run / "trace" / "rank0.jsonl").read_text().splitlines():
        step = json.loads(line)
        assert step["batch_size"] == BATCH
        epochs[step["epoch"]].update(step["video_ids"])
    assert sorted(epochs) == list(range(EPOCHS))
    assert all(seen == set(range(len(REAL_WORLD))) for seen in epochs.values())  # every video, every epoch
    losses = json.loads((run / "metrics.json").read_text())["train_loss"]
    assert len(losses) == EPOCHS and all(loss > 0 for loss in losses)
