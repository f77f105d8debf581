"""The synthetic demo dataset (the quickstart's): deterministic videos, eight classes of four shapes x two motions."""

import numpy as np

from cvrl_pl.data.synthetic import SyntheticSpec, class_names, render_video


def test_synthetic_videos_are_deterministic_and_classes_share_shapes():
    spec = SyntheticSpec(num_frames=12, size=32)
    a, b = render_video(3, 7, spec), render_video(3, 7, spec)
    assert a.shape == (12, 32, 32, 3) and a.dtype == np.uint8 and np.array_equal(a, b)
    assert not np.array_equal(a, render_video(3, 8, spec))
    assert not np.array_equal(a[0], a[-1])  # the object moves
    names = class_names()
    assert len(names) == 8 and names[0].split("_")[0] == names[1].split("_")[0]  # one shape, two motions


def test_synthetic_slide_moves_across_and_spin_turns_in_place():
    spec = SyntheticSpec(num_frames=16)
    names = class_names()

    def centroids(label):
        video = render_video(label, 0, spec).astype(float).mean(-1)
        mask = video > video.max() * 0.8  # the off-white object
        yy, xx = np.mgrid[0 : spec.size, 0 : spec.size]
        return np.array([[xx[m].mean(), yy[m].mean()] for m in mask])

    slide, spin = names.index("square_slide"), names.index("square_spin")
    assert np.linalg.norm(np.diff(centroids(slide), axis=0), axis=1).mean() > 1.0
    assert np.linalg.norm(np.diff(centroids(spin), axis=0), axis=1).mean() < 0.5
    turned = render_video(spin, 0, spec)
    assert not np.array_equal(turned[0], turned[1])  # it turns even where it barely drifts
