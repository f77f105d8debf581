"""The storage layer's parts on their own: the ranges still to fetch, the file object over byte ranges (what it
fetches, how often), members of a shard, which errors are transient and the retries."""

from __future__ import annotations

import pytest

from dali_pipelines import storage


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
