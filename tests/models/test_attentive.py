"""The attentive probe's head: shapes, masking, position embeddings learnt on one grid and interpolated to another,
V-JEPA's block structure, and its place in the head registry and the task table."""

import pytest
import torch

from cvrl_pl.config import load_config
from cvrl_pl.models.attentive import AttentiveHead, AttentivePooler, PoolerSpec
from cvrl_pl.models.heads import HEADS
from cvrl_pl.module import head_options
from cvrl_pl.tasks import TASKS

SPEC = PoolerSpec(width=32, self_blocks=1, heads=4, mlp_ratio=2.0)


def test_the_head_maps_a_feature_map_to_logits_at_its_grid_and_at_another():
    torch.manual_seed(0)
    head = AttentiveHead(64, 5, spec=SPEC, grid=(2, 4, 4)).eval()
    assert head(torch.randn(3, 64, 2, 4, 4)).shape == (3, 5)
    assert head(torch.randn(3, 64, 4, 7, 5)).shape == (3, 5)  # larger test crops, longer clips: interpolated
    assert head.positions(2, 4, 4).shape == (2 * 4 * 4, 32)
    # on its own grid the embeddings are the learnt ones: time t's plus position (h, w)'s
    pos = head.positions(2, 4, 4).view(2, 4, 4, 32)
    torch.testing.assert_close(pos[1, 2, 3], head.time[0, :, 1] + head.space[0, :, 2 * 4 + 3])
    head.to(memory_format=torch.channels_last_3d)  # as the classifier module converts itself: no 4-D parameter


def test_masked_tokens_change_nothing():
    torch.manual_seed(0)
    pooler = AttentivePooler(SPEC).eval()
    tokens = torch.randn(2, 10, 32)
    mask = torch.zeros(2, 10, dtype=torch.bool)
    mask[:, 7:] = True  # the last 3 tokens are padding
    other = tokens.clone()
    other[:, 7:] = torch.randn(2, 3, 32) * 100
    with torch.no_grad():
        torch.testing.assert_close(pooler(tokens, mask), pooler(other, mask))
        torch.testing.assert_close(pooler(tokens, mask), pooler(tokens[:, :7]))
        assert not torch.allclose(pooler(tokens), pooler(other))  # unmasked, they count


def test_v_jepa_structure_and_initialisation():
    pooler = AttentivePooler(PoolerSpec(width=64, self_blocks=0, heads=16))
    assert len(pooler.blocks) == 0 and pooler.query.shape == (1, 1, 64)
    assert pooler.cross.attn.in_proj_bias is not None  # qkv bias
    assert 0.005 < pooler.query.std().item() < 0.05  # trunc-normal 0.02
    # width 512 on R3D-50's 2048 channels: the projection and one block, far below a 2048-wide block's ~50M
    head = AttentiveHead(2048, 400, spec=PoolerSpec(), grid=(8, 7, 7))
    n = sum(p.numel() for p in head.parameters())
    assert (
        n
        == 2048 * 512
        + 512
        + 512 * 8
        + 512 * 49
        + 512
        + 4 * 512 * 512
        + 4 * 512
        + 4 * 512
        + (512 * 2048 + 2048 + 2048 * 512 + 512)
        + 512 * 400
        + 400
    )
    with pytest.raises(ValueError, match="heads \\(5\\) must divide its width \\(32\\)"):
        AttentivePooler(PoolerSpec(width=32, heads=5))


def test_attentive_probe_is_a_task_row_training_the_attentive_head_on_the_training_grid():
    task = TASKS["attentive_probe"]
    assert task.frozen and task.trains and task.head_of("linear") == "attentive" and HEADS["attentive"] is AttentiveHead
    cfg = load_config(None, ["task=attentive_probe", "model.encoder=r3d18", "eval.num_frames=16", "eval.crop_size=224"])
    options = head_options(cfg, "attentive")
    assert options["grid"] == (8, 7, 7)  # R3D: the stem halves time, then the map is 1/32 of the crop
    assert options["spec"] == PoolerSpec(width=512, self_blocks=0, heads=16, mlp_ratio=4.0)
    assert head_options(cfg, "linear") == {}
