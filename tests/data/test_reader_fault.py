"""A bad video's reason says what failed and what to do: the stage (reading, remuxing, decoding, a frame
missing), the exception and its words, the decoder, the codec and profile, and a next step; bad_videos.jsonl and
the log carry it. Videos of one codec failing the same way before decoding are the reader's fault, not theirs: after
``data.reader_fault_videos`` of them the run stops with a named error instead of dropping them one by one, and
the next start tries them again."""

from __future__ import annotations

import itertools
import json
import logging
from functools import partial

import av
import pytest

from cvrl_pl.data.bad_videos import BadVideoGuard, ReaderFault
from cvrl_pl.data.batches import pretrain_batch
from cvrl_pl.data.decoding import choose_decoders
from cvrl_pl.data.index import load_or_build_index
from cvrl_pl.data.loader import DaliLoader, video_table
from dali_pipelines import packets
from dali_pipelines.failures import PREPARE
from dali_pipelines.params import ViewAugConfig
from dali_pipelines.pretrain import OUTPUTS, pretrain_pipeline
from dali_pipelines.sources import PretrainSource, TestViewSource
from dali_pipelines.verify import undecodable
from tests.helpers.damage import damage_payload
from tests.helpers.videos import write_video

VIEW = ViewAugConfig(crop_size=16, jitter_prob=0.0, grayscale_prob=0.0)


def _remux_fails_for(codec: str):
    """A stand-in for packets.remux_stream that fails on every ``codec`` stream as the AV1 bug did: PyAV looked up
    an encoder named like the decoder."""
    real = packets.remux_stream

    def remux_stream(out, stream):
        if stream.codec_context.name == codec:
            raise av.codec.codec.UnknownCodecError("libdav1d")
        return real(out, stream)

    return remux_stream


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    """4 H.264 and 4 VP9 videos (a keyframe every 8 frames), indexed."""
    root = tmp_path_factory.mktemp("mixed")
    for i in range(4):
        write_video(root / "a" / f"h{i}.mp4", 32, codec="h264", gop=8)
        write_video(root / "b" / f"v{i}.webm", 32, codec="vp9", gop=8)
    return load_or_build_index(root, workers=1, progress=False)


def test_a_remux_failure_and_a_decode_failure_give_different_complete_reasons(tmp_path, monkeypatch, caplog):
    good = write_video(tmp_path / "data" / "a" / "good.mp4", 32, codec="h264", gop=8)
    damage_payload(good, tmp_path / "data" / "a" / "damaged.mp4", from_frame=9)
    index = load_or_build_index(tmp_path / "data", workers=1, progress=False)
    source = TestViewSource(video_table(index), num_frames=8, stride=2, batch_size=1, num_temporal=1, decoders="pyav")
    ids = {path: i for i, path in enumerate(index.videos.paths)}
    assert undecodable(source, 0, [ids["a/good.mp4"]]) == {}
    decode = undecodable(source, 0, [ids["a/damaged.mp4"]])[ids["a/damaged.mp4"]]
    monkeypatch.setattr(packets, "remux_stream", _remux_fails_for("h264"))
    remux = undecodable(source, 0, [ids["a/good.mp4"]])[ids["a/good.mp4"]]

    codec, decoder = "h264 Constrained Baseline", "pyav (h264)"
    assert (remux.stage, remux.error, remux.message, remux.decoder, remux.codec) == (
        "remuxing",
        "UnknownCodecError",
        "libdav1d",
        decoder,
        codec,
    )
    assert remux.before_decoding and not decode.before_decoding
    assert (decode.stage, decode.error, decode.decoder, decode.codec) == (
        "decoding",
        "VideoDecodeError",
        decoder,
        codec,
    )
    # the view decodes from the keyframe at 8: frame 8, then the damage at 9
    assert decode.message == "decoding failed after 1 of the frames kept: Invalid data found when processing input"
    assert decode.next_step() == f"the file is damaged: re-encode it from its source with {PREPARE}, or leave it out"
    assert remux.next_step() == (
        f"if other {codec} videos fail the same way this is a cvrl-pl bug: report it with this line and the output of "
        f"python -m cvrl_pl.tools.read_clip {remux.path} --frames 0 --out x.npy; for this file, re-encode it with "
        f"{PREPARE}"
    )
    assert remux.reason() == f"remuxing failed: UnknownCodecError: libdav1d [decoder {decoder}, codec {codec}]; " + (
        f"next: {remux.next_step()}"
    )
    assert remux.reason() != decode.reason()

    record = tmp_path / "run" / "bad_videos.jsonl"
    guard = BadVideoGuard(record, max_batch_share=1.0, max_epoch_share=1.0)
    with caplog.at_level(logging.WARNING, logger="cvrl_pl.data.bad_videos"):
        guard.report(remux, epoch=0)
        guard.report(decode, epoch=0)
    lines = [json.loads(line) for line in record.read_text().splitlines()]
    for line, failure in zip(lines, (remux, decode), strict=True):
        assert {k: line[k] for k in ("path", "stage", "error", "message", "decoder", "codec", "next_step")} == {
            "path": failure.path,
            "stage": failure.stage,
            "error": failure.error,
            "message": failure.message,
            "decoder": failure.decoder,
            "codec": codec,
            "next_step": failure.next_step(),
        }
        assert line["reason"] == failure.reason()
        assert failure.reason() in caplog.text


def _loader(index, guard, **source_kwargs) -> DaliLoader:
    table = video_table(index)
    source = PretrainSource(
        table,
        (VIEW, VIEW),
        {"distribution": "uniform"},
        num_frames=4,
        stride=2,
        batch_size=2,
        seed=3,
        decoders=choose_decoders("auto", index, None),  # this CPU: PyAV for H.264, DALI's CPU decoder for VP9
        **source_kwargs,
    )
    return DaliLoader(
        source,
        build=lambda src: pretrain_pipeline(src, None, num_threads=1, py_workers=1),
        names=OUTPUTS,
        progress=lambda: (0, 0),
        transform=partial(pretrain_batch, num_views=2),
        guard=guard,
    )


def _epoch(loader: DaliLoader) -> list[dict]:
    return list(itertools.islice(iter(loader), len(loader)))


def test_videos_of_one_codec_failing_the_same_way_before_decoding_stop_the_run(mixed, tmp_path, monkeypatch):
    monkeypatch.setattr(packets, "remux_stream", _remux_fails_for("vp9"))  # forked source workers inherit it
    record = tmp_path / "bad_videos.jsonl"
    guard = BadVideoGuard(record, max_batch_share=1.0, max_epoch_share=1.0, reader_fault_videos=3)
    with pytest.raises(ReaderFault) as stopped:
        _epoch(_loader(mixed, guard))
    lines = [json.loads(line) for line in record.read_text().splitlines()]
    reported, fault = lines[:-1], lines[-1]
    count = len(reported)
    assert 3 <= count <= 4  # the guard checks a failed batch and the ones prefetched after it together
    assert {r["path"] for r in reported} <= {f"{mixed.root}/b/v{i}.webm" for i in range(4)}  # no H.264
    assert {(r["stage"], r["error"], r["message"], r["decoder"], r["codec"]) for r in reported} == {
        ("remuxing", "UnknownCodecError", "libdav1d", "dali_cpu", "vp9 Profile 0")
    }
    assert fault == {"reader_fault": ["remuxing", "UnknownCodecError", "libdav1d", "dali_cpu", "vp9 Profile 0"]} | {
        "videos": count
    }
    message = str(stopped.value)
    assert message.startswith(
        f"{count} vp9 Profile 0 videos failed the same way before decoding, which no damage in a video explains"
    )
    assert "remuxing failed: UnknownCodecError: libdav1d [decoder dali_cpu, codec vp9 Profile 0]" in message
    assert "data.reader_fault_videos=3" in message

    # The next start (the reader mended here) tries them again, and every video trains.
    monkeypatch.undo()
    rerun = _loader(mixed, BadVideoGuard(record, max_batch_share=1.0, max_epoch_share=1.0))
    assert rerun.guard.known() == {} and rerun.source.excluded == frozenset()
    seen = {int(v) for b in _epoch(rerun) for v in b["video_id"]}
    assert seen == set(range(8)) and len(record.read_text().splitlines()) == count + 1


def test_with_the_check_off_such_videos_are_left_out_one_by_one(mixed, tmp_path, monkeypatch):
    monkeypatch.setattr(packets, "remux_stream", _remux_fails_for("vp9"))
    record = tmp_path / "bad_videos.jsonl"
    loader = _loader(mixed, BadVideoGuard(record, max_batch_share=1.0, max_epoch_share=1.0, reader_fault_videos=0))
    seen = {int(v) for b in _epoch(loader) for v in b["video_id"]}
    vp9 = {i for i, path in enumerate(mixed.videos.paths) if path.endswith(".webm")}
    assert seen == set(range(8)) - vp9  # the H.264 videos fill the batches
    assert sorted(json.loads(line)["path"] for line in record.read_text().splitlines()) == sorted(
        f"{mixed.root}/{mixed.videos.paths[i]}" for i in vp9
    )
