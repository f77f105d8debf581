"""Fixtures of the data tests: small videos of every codec, written once and copied into each test's tree."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cvrl_pl.data.index import build as index_build
from tests.helpers.videos import write_video


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[str, Path]:
    """Small videos written once, copied into each test's tree."""
    d = tmp_path_factory.mktemp("clips")
    return {
        "vp9_37": write_video(d / "vp9_37.webm", 37, codec="vp9"),
        "h264_37": write_video(d / "h264_37.mp4", 37, codec="h264"),
        "vp9_20": write_video(d / "vp9_20.webm", 20, codec="vp9"),
        "h264_12": write_video(d / "h264_12.mp4", 12, codec="h264"),
        "vp8_15": write_video(d / "vp8_15.webm", 15, codec="vp8"),
        "mjpeg_9": write_video(d / "mjpeg_9.avi", 9, codec="mjpeg"),
        "vp9_5": write_video(d / "vp9_5.webm", 5, codec="vp9"),
        "vp9_40": write_video(d / "vp9_40.webm", 40, codec="vp9"),
        "h264_40": write_video(d / "h264_40.mp4", 40, codec="h264"),
    }


@pytest.fixture
def probe_counter(monkeypatch) -> list[str]:
    """Every path probed, in order: reuse must probe nothing it already knows."""
    probed: list[str] = []
    real = index_build.probe_iter

    def counting(paths, workers=None, progress=True, verify="first", **kwargs):
        probed.extend(os.path.basename(p) for p in paths)
        yield from real(paths, workers, progress, verify, **kwargs)

    monkeypatch.setattr(index_build, "probe_iter", counting)
    return probed
