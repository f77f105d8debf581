"""benchmarks/bench_probes.py at toy sizes: both probes run in their own processes and every figure is there and
consistent. It checks that the benchmark works, not how fast the probes are."""

import json
import math
import subprocess
import sys

import pytest

from cvrl_pl.models.attentive import AttentiveHead, PoolerSpec
from tests.helpers import ROOT


@pytest.mark.slow
def test_probes_benchmark_times_both_probes_on_the_r3d50_map():
    args = ["--videos", "4", "--classes", "5", "--batch", "2", "--linear-batch", "4", "--frames", "16"]
    args += ["--width", "32", "--heads", "4", "--threads", "1", "--seconds", "0"]
    proc = subprocess.run(
        [sys.executable, "benchmarks/bench_probes.py", *args], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert {"torch", "threads", "date", "frames"} <= set(result) and result["threads"] == 1
    (row,) = result["frames"].values()
    assert list(result["frames"]) == ["16"] and row["map"] == [2048, 8, 7, 7] and row["tokens"] == 392
    assert row["cache_bytes_per_video_f32"] == 4 * 2048 * 392
    assert row["cache_gib_f32"] == pytest.approx(4 * 4 * 2048 * 392 / 2**30, abs=1e-3)
    assert row["cache_gib_bf16"] == pytest.approx(row["cache_gib_f32"] / 2, abs=1e-3)
    figures = ["linear_s_per_epoch", "attentive_s_per_epoch", "attentive_over_linear", "linear_peak_mib"]
    figures += ["attentive_peak_mib", "linear_params", "attentive_params"]
    assert all(math.isfinite(row[key]) and row[key] > 0 for key in figures), row
    assert row["linear_epochs_timed"] == row["attentive_epochs_timed"] == 1  # --seconds 0: one epoch each
    assert row["attentive_over_linear"] == pytest.approx(
        row["attentive_s_per_epoch"] / row["linear_s_per_epoch"], rel=0.01, abs=0.1
    )
    head = AttentiveHead(2048, 5, spec=PoolerSpec(width=32, heads=4), grid=(8, 7, 7))
    assert row["attentive_params"] == sum(p.numel() for p in head.parameters())
    assert row["linear_params"] == 2048 * 5 + 5
