"""Object-storage clients' parts on their own: which errors are transient, retries with backoff (counted), and the
options configured per dataset root."""

from __future__ import annotations

import os

import pytest

from dali_pipelines import remote


class _Status(Exception):
    def __init__(self, status: int):
        super().__init__(f"HTTP {status}")
        self.status = status


def test_transient_errors_are_told_from_lasting_ones():
    assert remote.transient(TimeoutError()) and remote.transient(ConnectionResetError())
    assert remote.transient(_Status(503)) and remote.transient(_Status(500)) and remote.transient(_Status(429))
    assert remote.transient(OSError("An error occurred (SlowDown) when calling GetObject"))
    assert not remote.transient(_Status(404)) and not remote.transient(_Status(403))
    assert not remote.transient(FileNotFoundError("s3://b/k")) and not remote.transient(PermissionError())
    assert not remote.transient(ValueError("bad range"))


def test_retrying_backs_off_counts_and_gives_up(monkeypatch):
    slept = []
    monkeypatch.setattr(remote.time, "sleep", slept.append)
    calls = []

    def flaky():
        calls.append(1)
        if len(calls) < 3:
            raise _Status(503)
        return "ok"

    before = remote.COUNTS["retries"]
    assert remote.retrying("x", flaky) == "ok"
    assert remote.COUNTS["retries"] - before == 2 and len(slept) == 2
    b = remote.BACKOFF
    assert b * 0.5 <= slept[0] <= b * 1.5 and b <= slept[1] <= b * 3  # doubled, with jitter
    with pytest.raises(OSError, match="x: _Status: HTTP 503"):  # a client's own error, as an OSError naming it
        remote.retrying("x", lambda: (_ for _ in ()).throw(_Status(503)))
    assert len(slept) == 2 + remote.RETRIES
    with pytest.raises(FileNotFoundError):  # never retried
        remote.retrying("x", lambda: (_ for _ in ()).throw(FileNotFoundError("gone")))
    assert len(slept) == 2 + remote.RETRIES


def test_options_go_to_the_longest_configured_prefix(monkeypatch):
    monkeypatch.delenv(remote.OPTIONS_VARIABLE, raising=False)
    remote.configure("s3://a", {"key": "1"})
    remote.configure("s3://a/deep", {"key": "2"})
    assert remote.options_for("s3://a/deep/x.tar") == {"key": "2"}
    assert remote.options_for("s3://a/x.tar") == {"key": "1"} and remote.options_for("s3://b/x") == {}
    remote.configure("s3://a", None)
    remote.configure("s3://a/deep", None)
    assert remote.OPTIONS_VARIABLE not in os.environ
