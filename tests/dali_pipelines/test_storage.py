"""The storage layer's parts on their own: brace patterns, the ranges still to fetch, the file object over byte
ranges (what it fetches, how often), a tar's members from its headers, which errors are transient and the retries."""

from __future__ import annotations

import io
import tarfile

import pytest

from dali_pipelines import storage


def test_brace_patterns_expand_as_webdataset_names_shards():
    assert storage.expand_braces("s3://b/wv/{00008..00011}.tar") == [
        "s3://b/wv/00008.tar",
        "s3://b/wv/00009.tar",
        "s3://b/wv/00010.tar",
        "s3://b/wv/00011.tar",
    ]
    assert storage.expand_braces("{a,b}/{0..1}.tar") == ["a/0.tar", "a/1.tar", "b/0.tar", "b/1.tar"]
    assert storage.expand_braces("plain.tar") == ["plain.tar"]
    with pytest.raises(ValueError, match="takes digits"):
        storage.expand_braces("{a..c}.tar")


def test_gaps_merge_the_ranges_and_leave_out_what_is_held():
    assert storage.gaps([(0, 10), (5, 20), (30, 40)], [(3, 6), (8, 12), (35, 50)]) == [
        (0, 3),
        (6, 8),
        (12, 20),
        (30, 35),
    ]
    assert storage.gaps([(0, 10)], [(0, 10)]) == []
    assert storage.gaps([(4, 4), (7, 9)], []) == [(7, 9)]


def test_references_and_urls():
    assert storage.is_url("s3://b/k") and storage.is_url("https://h/x.tar") and not storage.is_url("/data/a.mp4")
    assert not storage.is_url("file:///data/a.mp4") and storage.absolute("file:///data/a.mp4") == "/data/a.mp4"
    assert storage.join("s3://b/wv/", "00000.tar") == "s3://b/wv/00000.tar"
    member = storage.Member("s3://b/wv/00000.tar", "000000.mp4", 1536, 10)
    assert str(member) == "s3://b/wv/00000.tar:000000.mp4"


@pytest.fixture
def blob(tmp_path):
    data = bytes(range(256)) * 64  # 16 KiB
    path = tmp_path / "blob.bin"
    path.write_bytes(data)
    return str(path), data


def test_a_range_file_reads_blocks_where_it_is_read_and_never_past_them(blob):
    path, data = blob
    before = dict(storage.COUNTS)
    file = storage.RangeFile(path, start=1000, size=5000, name="m", block=1024)
    assert file.read(10) == data[1000:1010]  # a block of 1024 fetched
    file.seek(4990)
    assert file.read(100) == data[5990:6000]  # the member ends at 5000: 10 bytes
    file.seek(500)
    assert file.read(2000) == data[1500:2024]  # a short read: up to the end of the first block
    assert storage.COUNTS["requests"] - before.get("requests", 0) == 2
    assert storage.COUNTS["bytes"] - before.get("bytes", 0) == 1024 + 10


def test_prefetched_ranges_come_in_one_round_and_serve_the_reads(blob):
    path, data = blob
    file = storage.RangeFile(path, size=len(data), name="m", block=4096)
    before = storage.COUNTS["requests"]
    file.prefetch([(0, 100), (5000, 5100), (50, 150)])
    assert storage.COUNTS["requests"] - before == 2  # [0, 150) and [5000, 5100)
    file.seek(5000)
    assert file.read(100) == data[5000:5100]
    file.seek(120)
    assert file.read(10) == data[120:130]
    assert storage.COUNTS["requests"] - before == 2  # nothing fetched again
    file.prefetch([(0, 200)])
    assert storage.COUNTS["requests"] - before == 3 and file.fetched[1][0] == 150  # only the part not held


def test_a_member_reads_and_stats_as_its_own_bytes(blob):
    path, data = blob
    member = storage.Member(path, "x.mp4", 100, 50)
    assert storage.read(member) == data[100:150]
    assert storage.read(member, offset=10, length=5) == data[110:115]
    with storage.open_file(member) as file:
        assert file.read() == data[100:150]
    assert storage.stat(member).size == 50
    with pytest.raises(OSError, match="the member ends at byte 17000, the shard holds 16384"):
        storage.stat(storage.Member(path, "x.mp4", 16000, 1000))


def _tar(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, payload in members.items():
            info = tarfile.TarInfo(name)
            info.size, info.mtime = len(payload), 1.5  # a float mtime: a PAX header
            tar.addfile(info, io.BytesIO(payload))
    return buffer.getvalue()


def test_tar_members_come_from_the_headers_and_a_cut_tar_is_told(tmp_path):
    data = _tar({"a.mp4": b"A" * 3000, "a.txt": b"t", "b.mp4": b"B" * 700})
    whole = tmp_path / "whole.tar"
    whole.write_bytes(data)
    entries, damage = storage.tar_members(str(whole))
    assert damage == "" and [(e.name, e.size, e.complete) for e in entries] == [
        ("a.mp4", 3000, True),
        ("a.txt", 1, True),
        ("b.mp4", 700, True),
    ]
    assert all(
        data[e.offset : e.offset + e.size] == {"a.mp4": b"A" * 3000, "a.txt": b"t", "b.mp4": b"B" * 700}[e.name]
        for e in entries
    )
    cut = tmp_path / "cut.tar"
    cut.write_bytes(data[: entries[2].offset + 100])  # inside b.mp4
    cut_entries, damage = storage.tar_members(str(cut))
    assert [e.complete for e in cut_entries] == [True, True, False] and damage.startswith("cut short: b.mp4 ends")
    at_boundary = tmp_path / "boundary.tar"  # cut between members: tarfile alone takes it for the end
    at_boundary.write_bytes(data[: entries[2].offset - 1536])
    entries, damage = storage.tar_members(str(at_boundary))
    assert [e.name for e in entries] == ["a.mp4", "a.txt"] and "no end-of-archive blocks" in damage


class _Status(Exception):
    def __init__(self, status: int):
        super().__init__(f"HTTP {status}")
        self.status = status


def test_transient_errors_are_told_from_lasting_ones():
    assert storage.transient(TimeoutError()) and storage.transient(ConnectionResetError())
    assert storage.transient(_Status(503)) and storage.transient(_Status(500)) and storage.transient(_Status(429))
    assert storage.transient(OSError("An error occurred (SlowDown) when calling GetObject"))
    assert not storage.transient(_Status(404)) and not storage.transient(_Status(403))
    assert not storage.transient(FileNotFoundError("s3://b/k")) and not storage.transient(PermissionError())
    assert not storage.transient(ValueError("bad range"))


def test_retrying_backs_off_counts_and_gives_up(monkeypatch):
    slept = []
    monkeypatch.setattr(storage.time, "sleep", slept.append)
    calls = []

    def flaky():
        calls.append(1)
        if len(calls) < 3:
            raise _Status(503)
        return "ok"

    before = storage.COUNTS["retries"]
    assert storage.retrying("x", flaky) == "ok"
    assert storage.COUNTS["retries"] - before == 2 and len(slept) == 2
    b = storage.BACKOFF
    assert b * 0.5 <= slept[0] <= b * 1.5 and b <= slept[1] <= b * 3  # doubled, with jitter
    with pytest.raises(OSError, match="x: _Status: HTTP 503"):  # a client's own error, as an OSError naming it
        storage.retrying("x", lambda: (_ for _ in ()).throw(_Status(503)))
    assert len(slept) == 2 + storage.RETRIES
    with pytest.raises(FileNotFoundError):  # never retried
        storage.retrying("x", lambda: (_ for _ in ()).throw(FileNotFoundError("gone")))
    assert len(slept) == 2 + storage.RETRIES


def test_options_go_to_the_longest_configured_prefix(monkeypatch):
    monkeypatch.delenv(storage.OPTIONS_VARIABLE, raising=False)
    storage.configure("s3://a", {"key": "1"})
    storage.configure("s3://a/deep", {"key": "2"})
    assert storage.options_for("s3://a/deep/x.tar") == {"key": "2"}
    assert storage.options_for("s3://a/x.tar") == {"key": "1"} and storage.options_for("s3://b/x") == {}
    storage.configure("s3://a", None)
    storage.configure("s3://a/deep", None)
    assert storage.OPTIONS_VARIABLE not in __import__("os").environ
