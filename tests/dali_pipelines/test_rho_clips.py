"""rho clips per video at the source: rho = 2 is bit for bit the two-clip source as it was, more clips each get
their own draws, and the per-clip blur / solarize probabilities follow params.per_clip."""

import json
from pathlib import Path

import numpy as np
import pytest

from dali_pipelines.params import ViewAugConfig, per_clip
from dali_pipelines.sources import PretrainSource
from dali_pipelines.table import VideoTable

RECORDED = Path(__file__).parent / "recorded" / "two_clip_samples.json"
T = 4
VIEWS = (ViewAugConfig(crop_size=32, blur_prob=1.0), ViewAugConfig(crop_size=32, blur_prob=0.1, solarize_prob=0.2))


def _source(tmp_path: Path, views: tuple[ViewAugConfig, ...], temporal: dict) -> PretrainSource:
    """A source over two videos (40 frames, and 5: shorter than a clip) of a stand-in file: sample() only reads it."""
    dummy = tmp_path / "video.bin"
    dummy.write_bytes(bytes(8))
    table = VideoTable((str(dummy),) * 2, np.array([40, 5]), np.array([64, 64]), np.array([48, 48]), np.array([0, 1]))
    return PretrainSource(table, views, temporal, num_frames=T, stride=2, batch_size=2)


def test_two_clips_are_bit_for_bit_the_samples_recorded_before_rho_clips(tmp_path):
    """Starts and view parameters of the two-clip source, recorded from the code before aug.num_clips (commit
    fe5fde9): every law, a long and a looped video, three seeds; the first frame of each clip, rounded to 4 places."""
    rows = json.loads(RECORDED.read_text())
    assert len(rows) == 24
    for distribution, vid, seed, starts, warp, colour, sigma, solarize in rows:
        source = _source(tmp_path, VIEWS, {"distribution": distribution, "power": 1.0, "gap": 7})
        out = source.in_order(source.sample(vid, np.random.default_rng(seed)))
        first = slice(0, None, T)
        assert out["starts"].tolist() == starts
        assert np.round(out["warp"][first], 4).tolist() == warp
        assert np.round(out["colour_a"][first].sum((1, 2)), 4).tolist() == colour
        assert np.round(out["blur_sigma"][first], 4).tolist() == sigma
        assert out["solarize"][first].tolist() == solarize


def test_rho_clips_each_draw_their_own_augmentation(tmp_path):
    views = tuple(ViewAugConfig(crop_size=32, blur_prob=p) for p in per_clip((1.0, 0.1), 4))
    source = _source(tmp_path, views, {"distribution": "decreasing"})
    out = source.in_order(source.sample(0, np.random.default_rng(3)))
    assert out["starts"].shape == (4,) and out["frames"].shape == (4 * T,)
    for k, start in enumerate(out["starts"]):
        assert out["frames"][k * T : (k + 1) * T].tolist() == [start + 2 * j for j in range(T)]
    warps = out["warp"].reshape(4, T, 2, 3)
    assert all(np.array_equal(w, np.repeat(w[:1], T, 0)) for w in warps)  # one draw per clip (consistent)
    assert len({w[0].tobytes() for w in warps}) == 4  # four independent crops
    assert (out["blur_sigma"].reshape(4, T)[[0, 2]] > 0).all()  # clips 1 and 3 take view 1's blur_prob = 1


def test_per_clip_probabilities():
    assert per_clip([1.0, 0.1], 2) == (1.0, 0.1)
    assert per_clip([1.0, 0.1], 3) == (1.0, 0.1, 1.0)  # the paper's two alternate
    assert per_clip([1.0, 0.1], 4) == (1.0, 0.1, 1.0, 0.1)
    assert per_clip([0.5, 0.4, 0.3], 3) == (0.5, 0.4, 0.3)  # one per clip
    with pytest.raises(ValueError, match="3 values for 4 clips"):
        per_clip([0.5, 0.4, 0.3], 4)
