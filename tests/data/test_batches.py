"""The pipelines' channels-last output handed on as (C, T, H, W) clips: views of the same memory, frames in order."""

import torch

from cvrl_pl.data.batches import batch_views, channels_first, pretrain_batch, split_views, view_names


def test_split_views_are_channels_last_views_of_the_pipeline_output():
    frames = torch.rand(2, 6, 4, 5, 3)  # (B, 2T, H, W, C): view 1's 3 frames, then view 2's
    v1, v2 = split_views(frames)
    assert v1.shape == v2.shape == (2, 3, 3, 4, 5)
    assert v1.data_ptr() == frames.data_ptr()  # no copy
    assert torch.equal(v2[1, 2, 0], frames[1, 3, :, :, 2])  # view 2's first frame is frame T, channel 2
    assert torch.equal(v1[0, :, 1], frames[0, 1].permute(2, 0, 1))
    assert v1[:1].is_contiguous(memory_format=torch.channels_last_3d)  # each clip: the channels_last_3d layout
    # a channels_last_3d model takes the pair as one batch with a single copy (torch.cat), keeping the format
    assert torch.cat([v1, v2]).is_contiguous(memory_format=torch.channels_last_3d)


def test_batches_keep_their_other_outputs():
    batch = pretrain_batch({"views": torch.zeros(1, 4, 2, 2, 3), "video_id": torch.tensor([7])})
    assert set(batch) == {"view1", "view2", "video_id"} and batch["video_id"].item() == 7
    assert channels_first(torch.zeros(2, 3, 4, 5, 6, 3)).shape == (2, 3, 3, 4, 5, 6)  # (B, S, ...) test views


def test_rho_views_split_in_order_as_view1_to_view_rho():
    frames = torch.rand(2, 6, 4, 5, 3)  # (B, 3T, H, W, C): three views of 2 frames
    batch = pretrain_batch({"views": frames, "video_id": torch.tensor([3, 4])}, num_views=3)
    assert set(batch) == {"view1", "view2", "view3", "video_id"} and view_names(3) == ("view1", "view2", "view3")
    views = batch_views(batch)
    assert [v.shape for v in views] == [(2, 3, 2, 4, 5)] * 3
    assert torch.equal(views[2][1, :, 0], frames[1, 4].permute(2, 0, 1))  # view 3 starts at frame 2T
    assert views[2].data_ptr() == frames[:, 4:].data_ptr()  # still views of the pipeline's memory
