"""The GPU graphs, defined on a machine without a GPU: DALI checks device placement when a graph is defined
(a GPU node passed where only CPU data is allowed fails here), so CI catches GPU-path mistakes without a device."""

import numpy as np
import pytest

from dali_pipelines.evaluate import eval_pipeline
from dali_pipelines.params import ViewAugConfig
from dali_pipelines.pretrain import pretrain_pipeline
from dali_pipelines.sources import PretrainSource, TestViewSource, TrainClipSource
from dali_pipelines.table import VideoTable
from dali_pipelines.verify import OneSample, check_pipeline

TABLE = VideoTable(("a.mp4",), np.array([50]), np.array([64]), np.array([48]), np.array([0]))
VIEWS = (ViewAugConfig(32, blur_prob=1.0), ViewAugConfig(32, blur_prob=0.1, solarize_prob=0.2))
FRAME_OPS = {"WarpAffine", "CoordTransform", "GaussianBlur", "Resize", "Crop", "Stack", "Cast"}


def _ops(pipe) -> dict[str, set[str]]:
    """Operator type -> the devices it runs on, for every operator upstream of the pipeline's outputs."""
    found: dict[str, set[str]] = {}
    stack, seen = list(pipe._graph_out), set()
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        found.setdefault(type(node.source._op).__name__, set()).add(node.device)
        stack += list(node.source.inputs)
    return found


def test_pretraining_graph_for_a_gpu_decodes_and_augments_on_the_device():
    source = PretrainSource(TABLE, VIEWS, {"distribution": "decreasing"}, num_frames=4, stride=2, batch_size=2)
    pipe = pretrain_pipeline(source, device_id=0, py_workers=1)
    assert pipe._graph_out[0].device == "gpu"  # the views
    ops = _ops(pipe)
    for name in ("WarpAffine", "CoordTransform", "GaussianBlur"):
        assert ops[name] == {"gpu"}, ops
    # Every sample by its own decoder: NVDEC (fn.decoders.video on "mixed", output on the GPU), DALI's CPU decoder
    # (MJPEG, which DALI's GPU decoder lacks), or PyAV frames from the workers; the batch is merged on the GPU.
    assert ops["Video"] == {"gpu", "cpu"}
    assert {"Split", "Merge"} <= set(ops)


def test_a_cpu_pipeline_refuses_videos_routed_to_nvdec():
    source = PretrainSource(
        TABLE, VIEWS, {"distribution": "decreasing"}, num_frames=4, stride=2, batch_size=2, decoders="nvdec"
    )
    with pytest.raises(ValueError, match="CPU pipeline cannot decode with NVDEC"):
        pretrain_pipeline(source, device_id=None, py_workers=1)


@pytest.mark.parametrize("policy", [TrainClipSource, TestViewSource])
def test_evaluation_graphs_for_a_gpu_work_on_the_device(policy):
    clips = {"num_frames": 4, "stride": 2, "batch_size": 2}
    if policy is TrainClipSource:
        source = TrainClipSource(TABLE, VIEWS[0], **clips)
    else:
        source = TestViewSource(TABLE, num_temporal=2, num_spatial=3, **clips)
    pipe = eval_pipeline(source, device_id=0, crop_size=32, short_side=40, py_workers=1)
    assert pipe._graph_out[0].device == "gpu"
    ops = _ops(pipe)
    assert all(ops[name] == {"gpu"} for name in FRAME_OPS & set(ops)), ops
    assert ops["Video"] == {"gpu", "cpu"}


def test_the_decode_check_for_a_gpu_decodes_on_nvdec():
    """The one-sample check that finds a failed batch's bad video decodes as the training graph does: NVDEC, or
    DALI's CPU decoder for the videos routed there."""
    pipe = check_pipeline(OneSample(), device_id=0)
    assert pipe._graph_out[0].device == "gpu"
    assert _ops(pipe)["Video"] == {"gpu", "cpu"}
