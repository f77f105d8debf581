"""A video dataset on disk -> a checked, reusable index of its usable videos (paths, labels, counted frames).

The dataset's layout (cvrl_pl.data.layouts) lists the candidate files and their labels; every candidate is probed
once with PyAV, in parallel (probe.py): its video packets are counted and its first frame decoded, so the
training pipeline never meets a file it cannot read, and clip sampling knows the true frame count. Files that
fail are kept in ``excluded`` with a short reason (video_index.py, ``VideoIndex.report()``). The index is saved as
JSON next to the data and reused: only new or changed files are probed again (build.py). CLI: ``__main__.py``.
"""

from cvrl_pl.data.index.build import build_index, default_index_path, load_or_build_index
from cvrl_pl.data.index.probe import open_video, probe_video
from cvrl_pl.data.index.records import VideoInfo, VideoRecord
from cvrl_pl.data.index.video_index import VideoIndex
from cvrl_pl.errors import DatasetError

__all__ = [
    "DatasetError",
    "VideoIndex",
    "VideoInfo",
    "VideoRecord",
    "build_index",
    "default_index_path",
    "load_or_build_index",
    "open_video",
    "probe_video",
]
