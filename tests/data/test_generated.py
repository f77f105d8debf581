"""The in-memory generated dataset: view shapes and range, clip-consistent crops, the temporal sampler's gaps."""

import numpy as np
import torch
from omegaconf import OmegaConf

from cvrl_pl.config import load_config
from cvrl_pl.data.generated import GeneratedVideoPairs, random_resized_crop_flip, render_frames


def _cfg(*overrides):
    return load_config(None, ["data.num_frames=4", "data.crop_size=32", "data.generated.size=48", *overrides])


def test_views_shape_and_range():
    item = GeneratedVideoPairs(_cfg())[3]
    for view in (item["view1"], item["view2"]):
        assert view.shape == (3, 4, 32, 32) and view.dtype == torch.float32
        assert view.min() >= 0.0 and view.max() <= 1.0


def test_rho_views_per_video():
    item = GeneratedVideoPairs(_cfg("aug.num_clips=4"))[3]
    assert [k for k in item if k.startswith("view")] == ["view1", "view2", "view3", "view4"]
    assert all(item[f"view{k}"].shape == (3, 4, 32, 32) for k in range(1, 5))
    assert len({item[f"view{k}"].sum().item() for k in range(1, 5)}) == 4  # four different clips


def test_videos_are_deterministic_and_move():
    frames = np.arange(6)
    a, b = render_frames(7, frames, 48, seed=0), render_frames(7, frames, 48, seed=0)
    assert torch.equal(a, b)
    assert not torch.equal(a[0], a[5])  # the object moves
    assert not torch.equal(a, render_frames(8, frames, 48, seed=0))


def test_same_start_and_no_spatial_augmentation_gives_identical_views():
    cfg = _cfg(
        "aug.temporal.distribution=same", "aug.crop_area=[1.0,1.0]", "aug.crop_aspect=[1.0,1.0]", "aug.flip_prob=0.0"
    )
    item = GeneratedVideoPairs(cfg)[0]
    torch.testing.assert_close(item["view1"], item["view2"])
    assert not torch.equal(GeneratedVideoPairs(_cfg())[0]["view1"], GeneratedVideoPairs(_cfg())[0]["view2"])


def test_crop_and_flip_are_the_same_for_every_frame():
    still = render_frames(1, np.zeros(5, dtype=int), 48, seed=0)  # five copies of one frame
    view = random_resized_crop_flip(
        still, 32, np.random.default_rng(0), area=(0.3, 1.0), aspect=(0.5, 2.0), flip_prob=0.5
    )
    for t in range(1, 5):
        assert torch.equal(view[:, 0], view[:, t])


def test_config_is_not_mutated():
    cfg = _cfg()
    before = OmegaConf.to_yaml(cfg)
    GeneratedVideoPairs(cfg)[0]
    assert OmegaConf.to_yaml(cfg) == before
