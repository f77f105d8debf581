"""The storage layer's parts on their own: the ranges still to fetch, the file object over byte ranges (what it
fetches, how often), members of a shard read as their own bytes."""

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
