"""The clip-length check behind bf16 on a CPU: which Conv3d layers a clip overhangs, and the shortest clip that fits."""

import pytest
import torch

from cvrl_pl.models import build_encoder
from cvrl_pl.models.temporal_fit import Overhang, fitting_frames, temporal_overhangs


def _meta(name: str, **kwargs) -> torch.nn.Module:
    with torch.device("meta"):
        return build_encoder(name, **kwargs)


def test_four_frames_overhang_the_stem_and_the_temporal_stages_of_r3d18():
    # stem: 5-frame kernel over 4 frames, stride 2 -> 2 frames for the 3-frame kernels of res4 and res5 (2 blocks each)
    late = [Overhang(f"stages.{s}.{b}.branch.0.0", 3, 2) for s in (2, 3) for b in (0, 1)]
    assert temporal_overhangs(_meta("r3d18"), 4, 64) == [Overhang("stem.0.0", 5, 4), *late]
    assert fitting_frames(_meta("r3d18"), 4, 64) == 5


@pytest.mark.parametrize("frames", [1, 5, 8, 16])
def test_clips_that_fit_have_no_overhang(frames):
    # One frame is not an overhang: every kernel then reads one real frame among padding, which bf16 handles.
    assert temporal_overhangs(_meta("r3d50"), frames, 64) == []
    assert fitting_frames(_meta("r3d50"), frames, 64) == frames


def test_r3d50_at_the_paper_clip_fits_and_at_two_frames_needs_five():
    assert temporal_overhangs(_meta("r3d50"), 16, 224) == []
    found = temporal_overhangs(_meta("r3d50"), 2, 64)
    assert found[0] == Overhang("stem.0.0", 5, 2) and len(found) == 1  # then 1 frame for every later layer
    assert fitting_frames(_meta("r3d50"), 2, 64) == 5


def test_a_real_encoder_is_checked_and_left_without_hooks():
    encoder = build_encoder("r3d18", base_channels=8)
    assert len(temporal_overhangs(encoder, 3, 32)) == 5
    assert all(not m._forward_pre_hooks for m in encoder.modules())
    assert encoder.stem[0][0].weight.grad is None


# Every (kernel, frames) pair the check lets through: 1 frame, or at least as many frames as the kernel spans.
FITTING = [(k, t) for k in (1, 3, 5) for t in range(1, 7) if not 1 < t < k]


@pytest.mark.parametrize(("kernel", "frames"), FITTING)
def test_bf16_weight_gradients_match_fp32_wherever_the_check_passes(kernel, frames):
    """What the check relies on, on this CPU's torch: where no overhang is found, a bf16 Conv3d's weight gradient
    is the fp32 one to bf16 accuracy (where one is, it is not: docs/benchmarks.md)."""
    conv = torch.nn.Conv3d(8, 16, (kernel, 3, 3), padding=(kernel // 2, 1, 1), bias=False)
    torch.manual_seed(kernel * 10 + frames)
    x = torch.randn(4, 8, frames, 8, 8)
    upstream = torch.randn(4, 16, frames, 8, 8)
    conv(x).backward(upstream)
    reference = conv.weight.grad.clone()
    conv.weight.grad = None
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = conv(x)
    out.backward(upstream.to(out.dtype))
    assert torch.linalg.vector_norm(conv.weight.grad - reference) < 0.02 * torch.linalg.vector_norm(reference)
