"""Tar shards as video2dataset writes them, indexed and read where they lie: a local folder, S3 (a real moto server in
a subprocess) and a web server honouring Range. Failed samples are counted, never errors; damaged and missing shards
are named; the bytes read back are the member's, byte for byte; transient server errors are retried and counted."""

from __future__ import annotations

import itertools
import json
import shutil
import tarfile
from functools import partial

import pyarrow.parquet as pq
import pytest
import torch

from benchmarks.object_store import http_server, moto_server, s3_environment
from cvrl_pl.data.bad_videos import BadVideoGuard
from cvrl_pl.data.batches import pretrain_batch
from cvrl_pl.data.decoding import choose_decoders
from cvrl_pl.data.index import load_or_build_index
from cvrl_pl.data.layouts.webdataset import FAILED
from cvrl_pl.data.loader import DaliLoader, video_table
from cvrl_pl.errors import DatasetError
from dali_pipelines import remote, storage
from dali_pipelines.params import ViewAugConfig
from dali_pipelines.pretrain import OUTPUTS, pretrain_pipeline
from dali_pipelines.sources import PretrainSource
from tests.helpers.shard_data import FRAMES, LONG_KEY, write_shard_set

BUCKET = "videos"


@pytest.fixture(scope="module")
def shard_set(tmp_path_factory):
    return write_shard_set(tmp_path_factory.mktemp("shards"), tmp_path_factory.mktemp("scratch"))


@pytest.fixture(scope="module")
def s3(shard_set):
    """A moto server holding the shard set under s3://videos/wv/; the environment points S3 clients at it."""
    with moto_server() as endpoint, pytest.MonkeyPatch.context() as env:
        for name, value in s3_environment(endpoint).items():
            env.setenv(name, value)
        fs = remote.filesystem(f"s3://{BUCKET}")
        fs.mkdir(BUCKET)
        for path in sorted(shard_set.folder.iterdir()):
            fs.put_file(str(path), f"{BUCKET}/wv/{path.name}")
        yield endpoint


def _two_epochs(index, guard: BadVideoGuard | None = None) -> list[dict]:
    """Two epochs of pretraining batches of ``index``: H.264 by PyAV, VP9 by DALI's CPU decoder, in one forked
    worker; videos that fail are found and left out by ``guard``."""
    view = ViewAugConfig(crop_size=16)
    source = PretrainSource(
        video_table(index),
        (view, view),
        {"distribution": "uniform"},
        num_frames=4,
        stride=2,
        batch_size=2,
        seed=3,
        decoders=choose_decoders("auto", index, None),
    )
    loader = DaliLoader(
        source,
        build=lambda src: pretrain_pipeline(src, None, num_threads=1, py_workers=1),
        names=OUTPUTS,
        progress=lambda: (0, 0),
        transform=partial(pretrain_batch, num_views=2),
        guard=guard,
    )
    return [batch for _ in range(2) for batch in itertools.islice(iter(loader), len(loader))]


def build(root, tmp_path, **kwargs):
    return load_or_build_index(str(root), workers=1, progress=False, log=print, **kwargs)


def _summary(index):
    v = index.videos
    return [(r.path, r.num_frames, r.codec, r.size, r.offset, r.keyframes, r.keyframe_pts) for r in v], sorted(
        index.excluded
    )


def test_the_shards_are_what_video2dataset_writes(shard_set):
    """The helper's shards hold what the issue lists: a PAX header before every member (data 1536 bytes after the
    member's header), sorted members per key, parquet and stats beside each tar."""
    with tarfile.open(shard_set.folder / "00000.tar") as tar:
        members = tar.getmembers()
        assert [m.name for m in members] == [
            f"{shard_set.keys[0]}.json",
            f"{shard_set.keys[0]}.mp4",
            f"{shard_set.keys[0]}.txt",
            "000001.json",
            "000001.txt",
            f"{shard_set.keys[1]}.json",
            f"{shard_set.keys[1]}.txt",
            f"{shard_set.keys[1]}.webm",
        ]
        assert {m.offset_data - m.offset for m in members} == {1536}
        status = json.loads(tar.extractfile("000001.json").read())["status"]
    assert status == "failed_to_download"
    assert shard_set.keys[1].endswith("_00001")
    assert pq.read_table(shard_set.folder / "00000.parquet").num_rows == 3
    stats = json.loads((shard_set.folder / "00000_stats.json").read_text())
    assert (stats["count"], stats["successes"], stats["failed_to_download"]) == (3, 2, 1)
    with tarfile.open(shard_set.folder / "00001.tar") as tar:
        assert f"{LONG_KEY}.mp4" in tar.getnames()  # over 100 characters: kept by the PAX path record


def test_a_local_shard_set_is_indexed_member_by_member(shard_set, tmp_path):
    index = build(shard_set.folder, tmp_path)
    assert index.layout == "webdataset"  # recognised by auto: the folder holds *.tar
    paths = list(index.videos.paths)
    assert paths == sorted(f"{'00000' if i < 2 else '00001'}.tar/{name}" for i, name in enumerate(shard_set.videos))
    assert [r.num_frames for r in index.videos] == [FRAMES] * 4
    assert sorted(index.excluded) == [("00000.tar/000001", FAILED), (shard_set.broken, "corrupt: moov atom not found")]
    table = video_table(index)
    for i, path in enumerate(paths):
        ref = table.paths[i]
        assert isinstance(ref, storage.Member) and str(ref) == f"{shard_set.folder}/{path.replace('.tar/', '.tar:')}"
        assert storage.read(ref) == shard_set.videos[ref.name]  # the member's own bytes, from its offset
    report = index.report()
    assert "failed sample 1" in report
    # The build report says what probing read against what the 5 probed members hold. These members of a few KiB
    # are read whole (4 KiB blocks); at 10 s and 60 s bench_shards.py measures 0.12 and 0.027 of them.
    probing = index.probing
    stored = sum(map(len, shard_set.videos.values())) + index.excluded_meta[shard_set.broken]["size"]
    assert probing["videos"] == 5 and probing["bytes_stored"] == stored and 0 < probing["bytes_read"] <= stored
    line = f"probing read {probing['bytes_read'] / 2**20:.1f} MiB of the {stored / 2**20:.1f} MiB its 5 videos hold"
    assert line in report


def test_damaged_and_missing_shards_are_named_and_the_rest_kept(shard_set, tmp_path):
    folder = tmp_path / "wv"
    shutil.copytree(shard_set.folder, folder)
    with tarfile.open(folder / "00001.tar") as tar:
        long_member = tar.getmember(f"{LONG_KEY}.mp4")
    data = (folder / "00001.tar").read_bytes()
    (folder / "00001.tar").write_bytes(data[: long_member.offset_data + 100])  # cut inside the long-named video
    index = build(f"{folder}/{{00000..00002}}.tar", tmp_path)
    assert [r.path for r in index.videos] == [f"00000.tar/{n}" for n in list(shard_set.videos)[:2]]
    reasons = dict(index.excluded)
    assert reasons["00002.tar"] == "missing"
    assert reasons["00001.tar"].startswith("damaged shard: cut short")
    assert reasons[f"00001.tar/{LONG_KEY}.mp4"].startswith("damaged shard: cut short")
    assert reasons["00000.tar/000001"] == FAILED
    assert len(reasons) == 4  # the members after the cut are not there to name: the shard is


def test_a_saved_index_of_shards_is_reused_until_a_shard_changes(shard_set, tmp_path):
    folder = tmp_path / "wv"
    shutil.copytree(shard_set.folder, folder)
    heard = []
    build(folder, tmp_path, note=heard.append)
    build(folder, tmp_path, note=heard.append)
    assert "reused without listing" in heard[-1]
    (folder / "00001.tar").write_bytes((folder / "00001.tar").read_bytes())  # rewritten in place: a new mtime
    index = build(folder, tmp_path, note=heard.append)
    assert "a shard was added, removed or rewritten" in heard[-1]
    assert len(index.videos) == 4


def test_the_same_shards_on_s3_index_and_read_as_on_disk(shard_set, s3, tmp_path, monkeypatch):
    monkeypatch.setenv("CVRL_CACHE", str(tmp_path / "cache"))
    local = build(shard_set.folder, tmp_path)
    remote = build(f"s3://{BUCKET}/wv", tmp_path)
    assert remote.folder.startswith(str(tmp_path / "cache" / "index"))  # a URL's index is kept on this machine
    assert _summary(remote) == _summary(local)
    pattern = build(f"s3://{BUCKET}/wv/{{00000..00001}}.tar", tmp_path)
    assert _summary(pattern) == _summary(local)
    table = video_table(remote)
    assert [storage.read(table.paths[i]) for i in range(len(table))] == list(shard_set.videos.values())
    # Two epochs through the pretraining pipeline, its source in a worker forked after this process used S3 (the
    # start method of the pipelines on a CPU): the same batches from S3 as from disk, to the bit.
    from_disk, from_s3 = (_two_epochs(index) for index in (local, remote))
    assert len(from_s3) == 4 and all(
        a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
        for a, b in zip(from_disk, from_s3, strict=True)
    )


def test_a_missing_bucket_or_credential_is_named_before_anything_is_read(s3, tmp_path, monkeypatch):
    with pytest.raises(DatasetError, match="dataset root not found: s3://no-such-bucket/wv"):
        build("s3://no-such-bucket/wv", tmp_path, index_path=tmp_path / "i1")
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    with pytest.raises(DatasetError, match=r"cannot reach dataset root: s3://videos/wv: NoCredentialsError.*AWS_\*"):
        build(f"s3://{BUCKET}/wv", tmp_path, index_path=tmp_path / "i2")


def test_storage_options_reach_the_filesystem(s3, tmp_path, monkeypatch):
    """data.storage_options instead of the environment: the endpoint and keys given as options work alone."""
    for name in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name)
    monkeypatch.setenv("CVRL_CACHE", str(tmp_path / "cache"))
    options = {"endpoint_url": s3, "key": "testing", "secret": "testing"}
    remote.configure(f"s3://{BUCKET}/wv", options)
    try:
        index = build(f"s3://{BUCKET}/wv", tmp_path)
        assert len(index.videos) == 4
    finally:
        remote.configure(f"s3://{BUCKET}/wv", None)


def test_shards_over_http_with_transient_errors_are_retried_and_counted(shard_set, tmp_path, monkeypatch):
    monkeypatch.setattr(remote, "BACKOFF", 0.01)
    local = build(shard_set.folder, tmp_path)
    with http_server(shard_set.folder, fail=3) as url:
        before = storage.COUNTS["retries"]
        index = build(f"{url}/{{00000..00001}}.tar", tmp_path, index_path=tmp_path / "http")
        assert storage.COUNTS["retries"] - before == 3  # the three 503 answers, each tried again
    assert _summary(index) == _summary(local)


def test_a_server_that_keeps_failing_names_the_shard(shard_set, tmp_path, monkeypatch):
    monkeypatch.setattr(remote, "BACKOFF", 0.001)
    with (
        http_server(shard_set.folder, fail=1000) as url,
        pytest.raises(DatasetError, match="every file was rejected") as raised,
    ):
        build(f"{url}/{{00000..00001}}.tar", tmp_path, index_path=tmp_path / "http")
    assert "00000.tar: unreadable shard:" in str(raised.value) and "503" in str(raised.value)


def test_an_index_built_in_parts_and_merged_is_the_whole_index(shard_set, tmp_path, capsys):
    """Two machines (a Slurm array of 2) index a part each, one merges: the same index as built at once, which the
    next start reuses without listing a shard."""
    from cvrl_pl.data.index.__main__ import main

    folder = tmp_path / "wv"
    shutil.copytree(shard_set.folder, folder)
    whole = build(shard_set.folder, tmp_path)
    for k in (0, 1):
        assert main([str(folder), "--part", f"{k}/2", "--workers", "1", "--quiet"]) == 0
        assert (folder / f".cvrl_index.part-{k}-of-2").is_dir()
    part0 = load_or_build_index(str(folder), part=(0, 2), workers=1, progress=False)
    assert {p.partition("/")[0] for p in part0.videos.paths} == {"00000.tar"}  # a contiguous half of the shards
    assert main([str(folder), "--merge", "2", "--quiet"]) == 0
    heard = []
    merged = build(folder, tmp_path, note=heard.append)
    assert "reused without listing" in heard[-1]
    assert _summary(merged) == _summary(whole) and merged.excluded_meta.keys() == whole.excluded_meta.keys()
    assert merged.part is None and part0.part == (0, 2)
    assert merged.probing == whole.probing  # the parts' probing figures, summed
    capsys.readouterr()
    assert main([str(folder), "--merge", "3", "--quiet"]) == 2  # a part that was never built is named
    assert "part 0 of 3 is not built" in capsys.readouterr().err
    assert main([str(shard_set.folder), "--part", "2/2", "--quiet"]) == 2
    assert "--part 2/2: the part is counted from 0 to 1" in capsys.readouterr().err


def test_a_shard_cut_after_indexing_costs_its_videos_not_the_run(shard_set, tmp_path):
    """A shard re-uploaded short after indexing: its members are reported by name, like any bad video, and the run
    trains on the rest."""
    folder = tmp_path / "wv"
    shutil.copytree(shard_set.folder, folder)
    index = build(folder, tmp_path)
    (folder / "00001.tar").write_bytes((folder / "00001.tar").read_bytes()[:3000])  # inside its first member
    record = tmp_path / "bad_videos.jsonl"
    guard = BadVideoGuard(record, max_batch_share=1.0, max_epoch_share=1.0)
    batches = _two_epochs(index, guard)
    lines = [json.loads(line) for line in record.read_text().splitlines()]
    lost = [p for p in index.videos.paths if p.startswith("00001.tar/")]
    assert sorted(line["path"] for line in lines) == sorted(f"{folder}/{p.replace('.tar/', '.tar:')}" for p in lost)
    assert {line["stage"] for line in lines} == {"reading"}
    trained = {int(v) for batch in batches for v in batch["video_id"].view(-1).tolist()}
    assert trained == {i for i, p in enumerate(index.videos.paths) if p.startswith("00000.tar/")}
