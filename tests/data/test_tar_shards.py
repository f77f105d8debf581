"""Tar shards without reading their data: the names a brace pattern stands for; a shard's members from its headers
(PAX headers too), and a tar cut inside a member or between two, which tarfile alone takes for a whole one."""

from __future__ import annotations

import io
import tarfile

import pytest

from cvrl_pl.data.layouts.tar_shards import expand_braces, tar_members


def test_brace_patterns_expand_as_webdataset_names_shards():
    assert expand_braces("s3://b/wv/{00008..00011}.tar") == [
        "s3://b/wv/00008.tar",
        "s3://b/wv/00009.tar",
        "s3://b/wv/00010.tar",
        "s3://b/wv/00011.tar",
    ]
    assert expand_braces("{a,b}/{0..1}.tar") == ["a/0.tar", "a/1.tar", "b/0.tar", "b/1.tar"]
    assert expand_braces("plain.tar") == ["plain.tar"]
    with pytest.raises(ValueError, match="takes digits"):
        expand_braces("{a..c}.tar")


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
    entries, damage = tar_members(str(whole))
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
    cut_entries, damage = tar_members(str(cut))
    assert [e.complete for e in cut_entries] == [True, True, False] and damage.startswith("cut short: b.mp4 ends")
    at_boundary = tmp_path / "boundary.tar"  # cut between members: tarfile alone takes it for the end
    at_boundary.write_bytes(data[: entries[2].offset - 1536])
    entries, damage = tar_members(str(at_boundary))
    assert [e.name for e in entries] == ["a.mp4", "a.txt"] and "no end-of-archive blocks" in damage
