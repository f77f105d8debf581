"""Augmentation parameters (NumPy): crop boxes, warp matrices, the composed colour map, consistency per frame."""

import numpy as np
import pytest

from dali_pipelines.params import (
    LUMA,
    PARAM_NAMES,
    ViewAugConfig,
    blur_window,
    colour_maps,
    crop_flip_matrix,
    draw_view_params,
    hue_matrix,
    random_resized_crop_box,
    saturation_matrix,
    stack_clips,
)


def test_crop_boxes_respect_area_aspect_and_bounds():
    rng = np.random.default_rng(0)
    areas, ratios = [], []
    for _ in range(3000):
        x0, y0, w, h = random_resized_crop_box(rng, (340, 256), (0.3, 1.0), (0.5, 2.0))
        assert x0 >= 0 and y0 >= 0 and x0 + w <= 340 + 1e-9 and y0 + h <= 256 + 1e-9
        areas.append(w * h / (340 * 256))
        ratios.append(w / h)
    assert min(areas) >= 0.3 - 1e-9 and max(areas) <= 1.0 + 1e-9
    assert min(ratios) >= 0.5 - 1e-9 and max(ratios) <= 2.0 + 1e-9
    # area uniform in [0.3, 1] (mean 0.65) before large boxes with extreme ratios are rejected and redrawn
    assert 0.5 < np.mean(areas) < 0.65


def test_crop_box_fallback_is_centred():
    # an aspect range impossible for the area forces the fallback: the largest centred box, ratio clamped
    x0, y0, w, h = random_resized_crop_box(np.random.default_rng(0), (100, 50), (1.0, 1.0), (0.9, 1.0))
    assert (w, h) == (50.0, 50.0) and (x0, y0) == (25.0, 0.0)


def test_warp_matrix_maps_output_corners_to_the_box():
    m = crop_flip_matrix((10.0, 20.0, 64.0, 32.0), 16, flip=False)
    assert np.allclose(m @ [0, 0, 1], [10, 20]) and np.allclose(m @ [16, 16, 1], [74, 52])
    f = crop_flip_matrix((10.0, 20.0, 64.0, 32.0), 16, flip=True)
    assert np.allclose(f @ [0, 0, 1], [74, 20]) and np.allclose(f @ [16, 16, 1], [10, 52])


def _apply_sequentially(image, ops):
    """Reference colour jitter on an (N, 3) image: each op applied in turn, contrast about the current mean."""
    x = image.copy()
    for name, f in ops:
        if name == "brightness":
            x = f * x
        elif name == "contrast":
            x = f * x + (1 - f) * x.mean(axis=0)
        elif name == "saturation":
            x = f * x + (1 - f) * (x @ LUMA)[:, None]
        elif name == "hue":
            x = x @ hue_matrix(f).T
        elif name == "gray":
            x = np.repeat((x @ LUMA)[:, None], 3, axis=1)
    return x


class _Recorder:
    """A generator stand-in that records the order colour_maps draws and permutes."""

    def __init__(self, seed):
        self.rng = np.random.default_rng(seed)
        self.order = None

    def uniform(self, lo, hi):
        return self.rng.uniform(lo, hi)

    def permutation(self, names):
        self.order = list(self.rng.permutation(names))
        return self.order


@pytest.mark.parametrize("seed", range(5))
def test_composed_colour_map_equals_ops_applied_in_turn(seed):
    image = np.random.default_rng(100 + seed).uniform(0, 1, size=(500, 3))
    rec = _Recorder(seed)
    a, b = colour_maps(rec, jitter=True, strength=1.0, grayscale=seed % 2 == 1)
    # replay the same factors in the recorded order
    replay = np.random.default_rng(seed)
    factors = dict(
        zip(["brightness", "contrast", "saturation", "hue"], [replay.uniform(0.2, 1.8) for _ in range(3)], strict=False)
    )
    factors["hue"] = replay.uniform(-0.2, 0.2)
    ops = [(name, factors[name]) for name in rec.order] + ([("gray", None)] if seed % 2 else [])
    expected = _apply_sequentially(image, ops)
    got = image @ a.T + b @ image.mean(axis=0)
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_identity_and_grayscale_maps():
    a, b = colour_maps(np.random.default_rng(0), jitter=False, strength=1.0, grayscale=False)
    assert np.array_equal(a, np.eye(3, dtype=np.float32)) and not b.any()
    a, _ = colour_maps(np.random.default_rng(0), jitter=False, strength=1.0, grayscale=True)
    np.testing.assert_allclose(a, saturation_matrix(0.0), atol=1e-7)
    np.testing.assert_allclose(a @ [0.2, 0.5, 0.9], [LUMA @ [0.2, 0.5, 0.9]] * 3, atol=1e-6)


def test_hue_rotation_keeps_luma_and_a_full_turn_is_identity():
    rgb = np.array([0.8, 0.3, 0.1])
    assert LUMA @ (hue_matrix(0.13) @ rgb) == pytest.approx(LUMA @ rgb)
    np.testing.assert_allclose(hue_matrix(1.0), np.eye(3), atol=1e-12)


def test_strength_zero_means_no_jitter():
    a, b = colour_maps(np.random.default_rng(1), jitter=True, strength=0.0, grayscale=False)
    np.testing.assert_allclose(a, np.eye(3), atol=1e-6)
    np.testing.assert_allclose(b, 0, atol=1e-6)


def test_consistent_parameters_repeat_one_draw_per_frame():
    cfg = ViewAugConfig(crop_size=32, blur_prob=0.5, solarize_prob=0.5)
    p = draw_view_params(np.random.default_rng(3), cfg, 8, (80, 64))
    assert p.warp.shape == (8, 2, 3) and p.colour_a.shape == (8, 3, 3) and p.blur_sigma.shape == (8,)
    for field in (p.warp, p.colour_a, p.colour_b, p.blur_sigma, p.solarize):
        assert (field == field[:1]).all()
    q = draw_view_params(np.random.default_rng(3), ViewAugConfig(crop_size=32, consistent=False), 8, (80, 64))
    assert len({m.tobytes() for m in q.warp}) == 8


def test_probabilities_are_honoured():
    rng = np.random.default_rng(4)
    cfg = ViewAugConfig(crop_size=32, jitter_prob=0.8, grayscale_prob=0.2, blur_prob=0.1, solarize_prob=0.2)
    draws = [draw_view_params(rng, cfg, 1, (64, 64)) for _ in range(4000)]
    blur = np.mean([d.blur_sigma[0] > 0 for d in draws])
    solarize = np.mean([d.solarize[0] > 0 for d in draws])
    flipped = np.mean([d.warp[0, 0, 0] < 0 for d in draws])
    gray = np.mean([np.allclose(d.colour_a[0][0], d.colour_a[0][1], atol=1e-6) for d in draws])
    assert blur == pytest.approx(0.1, abs=0.02) and solarize == pytest.approx(0.2, abs=0.02)
    assert flipped == pytest.approx(0.5, abs=0.03) and gray == pytest.approx(0.2, abs=0.02)
    sigmas = [d.blur_sigma[0] for d in draws if d.blur_sigma[0] > 0]
    assert min(sigmas) >= 0.1 and max(sigmas) <= 2.0


def test_blur_window_is_ten_percent_of_the_crop_cut_at_three_sigma():
    assert [blur_window(s) for s in (16, 64, 112, 224)] == [3, 7, 11, 23]
    assert [blur_window(224, sigma) for sigma in (0.0, 0.1, 0.5, 1.0, 2.0)] == [1, 3, 5, 7, 13]
    assert blur_window(112, 2.0) == 11  # never wider than 10% of the crop
    # the Gaussian weights cut off beyond 3 sigma sum to under 0.3% of the kernel's
    x = np.arange(-11, 12)
    k = np.exp(-(x**2) / (2 * 2.0**2))
    assert k[np.abs(x) > 6].sum() / k.sum() < 0.003


def test_parameters_per_frame_and_stacked_clips():
    cfg = ViewAugConfig(crop_size=112, blur_prob=1.0)
    views = [draw_view_params(np.random.default_rng(s), c, 8, (80, 64)) for s, c in ((0, cfg), (1, ViewAugConfig(112)))]
    assert views[0].blur_window.dtype == np.int32 and (views[0].blur_window >= 3).all()
    assert (views[1].blur_window == 1).all() and (views[1].blur_sigma == 0).all()  # not blurred: the identity
    stacked = stack_clips(views)
    assert list(stacked) == list(PARAM_NAMES)
    for name in PARAM_NAMES:
        assert len(stacked[name]) == 16
        np.testing.assert_array_equal(stacked[name][8:], getattr(views[1], name))


def test_jitter_maxima_bound_each_change_and_keep_the_strengths_draws():
    # Only hue allowed: brightness, contrast and saturation factors are exactly 1, so luma is kept.
    a, b = colour_maps(np.random.default_rng(3), True, 1.0, False, maxima=(0.0, 0.0, 0.0, 0.2))
    assert np.allclose(LUMA @ (a + b), LUMA, atol=1e-5) and not np.allclose(a, np.eye(3))
    # Brightness alone, up to 0.4: a multiple of the identity within [0.6, 1.4].
    for seed in range(20):
        a, b = colour_maps(np.random.default_rng(seed), True, 1.0, False, maxima=(0.4, 0.0, 0.0, 0.0))
        assert np.allclose(a, a[0, 0] * np.eye(3)) and 0.6 <= a[0, 0] <= 1.4 and not b.any()
    # The strength's maxima (0.8 s, 0.8 s, 0.8 s, 0.2 s) draw exactly what no maxima draw.
    s = 0.5
    got = colour_maps(np.random.default_rng(7), True, s, False, maxima=(0.8 * s, 0.8 * s, 0.8 * s, 0.2 * s))
    same = colour_maps(np.random.default_rng(7), True, s, False)
    assert all(np.array_equal(x, y) for x, y in zip(got, same, strict=True))
