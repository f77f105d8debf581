"""The decode check: which samples of a failed batch cannot be read or decoded, each decoded again on its own with
the pipeline's decoder, and what the decoder said."""

import numpy as np
import pytest

from dali_pipelines.decoders import DALI_CPU, PYAV
from dali_pipelines.params import ViewAugConfig
from dali_pipelines.sources import PretrainSource
from dali_pipelines.table import VideoTable
from dali_pipelines.verify import error_message, undecodable
from tests.helpers.damage import damage_payload, replace_with_garbage, truncate
from tests.helpers.videos import write_video

VIEW = ViewAugConfig(crop_size=16)


@pytest.mark.parametrize("decoder", ["dali_cpu", "pyav", "mixed"])
def test_finds_exactly_the_videos_that_fail(tmp_path, decoder):
    """Each video is checked with its own decoder; "mixed" alternates DALI's CPU decoder and PyAV."""
    good = [write_video(tmp_path / f"g{i}.webm", 40) for i in range(2)]
    damaged = damage_payload(good[0], tmp_path / "damaged.webm", from_frame=3)
    cut = truncate(write_video(tmp_path / "cut.webm", 40), keep=0.1)
    junk = replace_with_garbage(write_video(tmp_path / "junk.webm", 40))
    paths = [*good, damaged, cut, junk, tmp_path / "gone.webm"]
    n = len(paths)
    table = VideoTable(
        tuple(map(str, paths)), np.full(n, 40), np.full(n, 64), np.full(n, 48), np.zeros(n, int),
        codecs=["vp9"] * n, profiles=["Profile 0"] * n,
    )  # fmt: skip
    source = PretrainSource(
        table,
        (VIEW, VIEW),
        {"distribution": "uniform"},
        num_frames=4,
        stride=4,
        batch_size=n,
        shuffle=False,
        decoders=np.array([DALI_CPU, PYAV] * 3) if decoder == "mixed" else decoder,
    )
    found = undecodable(source, 0, range(n))
    assert sorted(found) == [2, 3, 4, 5]  # the two good videos decode
    assert all(f.codec == "vp9 Profile 0" and f.path == str(paths[k]) for k, f in found.items())
    gone = found[5]
    assert (gone.stage, gone.error) == ("reading", "FileNotFoundError") and "No such file or directory" in gone.message
    damage = found[2]
    assert damage.stage == "decoding"
    if decoder != "pyav":  # video 2 is on DALI's CPU decoder
        assert (damage.error, damage.decoder) == ("RuntimeError", "dali_cpu")
        assert damage.message == "Failed to send packet to decoder: Invalid data found when processing input"
        assert damage.next_step().startswith("try data.decoder=pyav")
    else:
        assert (damage.error, damage.decoder) == ("VideoDecodeError", "pyav (vp9)")
        assert damage.message == f"{damaged}: decoding failed after 3 frames: Invalid data found when processing input"
        assert damage.next_step().startswith("the file is damaged: re-encode it")
    assert damage.reason() == (
        f"decoding failed: {damage.error}: {damage.message} [decoder {damage.decoder}, codec vp9 Profile 0]; "
        f"next: {damage.next_step()}"
    )
    assert {f.stage for f in (found[3], found[4])} == {"decoding"}  # cut short, garbage: no first frame decodes
    source.exclude(found)
    assert undecodable(source, 0, range(n)) == {}  # their places are filled by good videos


def test_error_message_keeps_the_decoders_words():
    dali = RuntimeError(
        "Critical error in pipeline:\nError in CPU operator `nvidia.dali.fn.decoders.video`,\n...\nencountered:\n\n"
        'Assert on "ret >= 0" failed: Failed to send packet to decoder: Invalid data\nC++ context: [/x.cc:164] \n'
        "Current pipeline object is no longer valid."
    )
    assert error_message(dali) == "Failed to send packet to decoder: Invalid data"
    tagged = RuntimeError("Critical error:\nencountered:\n\n[/opt/dali/a.cc:245] Failed to open video file\n")
    assert error_message(tagged) == "Failed to open video file"
    assert error_message(FileNotFoundError("[Errno 2] No such file: 'x'\nmore")) == "[Errno 2] No such file: 'x'"
