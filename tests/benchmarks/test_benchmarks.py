"""The benchmarks at toy sizes (the GPU readiness script in its CPU mode): every step runs and the figures are
consistent.

This checks that the benchmarks work, not how fast anything is: speed is shown by running them, never by tests."""

import json
import os
import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest

from dali_pipelines.pyav_decode import decode_pyav
from tests.helpers import ROOT
from tests.helpers.decord_pkgs import decord_folder
from tests.helpers.interpreter import python_on_path
from tests.helpers.videos import read_index, write_video


@pytest.mark.slow
def test_gpu_check_in_cpu_mode_writes_every_figure(tmp_path, tmp_path_factory):
    # The script runs `python ...`: make that the interpreter running the tests.
    env = {**python_on_path(tmp_path_factory.mktemp("bin")), "GPU_CHECK_DEVICE": "cpu"}
    scratch = tmp_path_factory.mktemp("scratch")  # the videos: the output folder gets the report and log only
    env["GPU_CHECK_SCRATCH"] = str(scratch)
    proc = subprocess.run(
        ["bash", "benchmarks/gpu_check.sh", str(tmp_path)], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    figures = json.loads((tmp_path / "gpu_check.json").read_text())
    assert figures == json.loads(proc.stdout.strip().splitlines()[-1])

    data = figures["data"]
    assert data["decoder"] == "pyav" and "h264" in data["videos"]  # H.264 on a CPU: DALI cannot decode it
    for key in ("pipeline", "decode_only", "baseline"):
        assert data[f"{key}_clips_s"] > 0
    assert data["pipeline_vs_decode_only"] == pytest.approx(
        data["pipeline_clips_s"] / data["decode_only_clips_s"], abs=2e-3
    )

    (train,) = figures["train"]["variants"].values()
    assert train["batch"] == 4 and train["ceiling_clips_s"] > 0 and train["end_to_end_clips_s"] > 0
    # both clips/s figures carry 4 significant digits, the ratio 3 decimals
    assert train["end_to_end_vs_ceiling"] == pytest.approx(
        train["end_to_end_clips_s"] / train["ceiling_clips_s"], rel=1.5e-3, abs=1e-3
    )
    assert 0.0 <= train["end_to_end_data_wait"] < 1.0

    loss = figures["loss"]["sizes"]
    assert [row["batch"] for row in loss] == [64, 128]
    assert loss[1]["batch_vs_previous"] == 2.0 and all(row["ms"] > 0 for row in loss)
    assert [row["logits_mib"] for row in loss] == [round(4 * (2 * n) ** 2 / 2**20, 1) for n in (64, 128)]
    assert len(list((scratch / "videos" / "all").glob("*.mp4"))) == 8  # shared by the data and train benchmarks
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gpu_check.json", "gpu_check.log"]
    assert figures["failed"] == [] and figures["machine"]["device"] == "cpu" and figures["machine"]["dali"]
    hard = figures["hard_videos"]  # on a CPU, DALI's CPU decoder: the VP8 and VP9 ones (test_gpu_scripts.py)
    assert hard["decoder"] == "dali_cpu" and hard["videos"]["vp9_hidden"]["matches_pyav"]
    assert sorted(figures["data"]["threads_clips_s"]) == ["1", "2"]  # the DALI thread sweep
    assert all(rate > 0 for rate in figures["data"]["threads_clips_s"].values())


def _run(script: str, args: list[str], tmp_path, env: dict[str, str] | None = None) -> dict:
    """The benchmark ``script`` run with ``args`` on videos in ``tmp_path``, by the tests' interpreter (``env``: its
    environment); its figures."""
    out = tmp_path / "figures.json"
    proc = subprocess.run(
        [sys.executable, f"benchmarks/{script}", *args, "--video-dir", str(tmp_path), "--json", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(out.read_text())


def test_data_benchmark_stages_add_up_to_the_full_pipeline(tmp_path):
    args = ["--videos", "4", "--frames", "30", "--width", "64", "--height", "48", "--num-frames", "4", "--crop", "32"]
    args += ["--batch", "2", "--workers", "1", "--threads", "1", "--seconds", "1", "--rounds", "1", "--stages"]
    args += ["--guarded", "--num-clips", "3"]
    figures = _run("bench_data.py", args, tmp_path)
    assert figures["decord"].startswith("not installed")  # decord is an extra, not in the tests' environment
    assert figures["sparse_vs_whole"] == pytest.approx(
        figures["decode_only_clips_s"] / figures["decode_whole_clips_s"], abs=2e-3
    )
    # 30-frame videos with the encoder's keyframes: the kept packets are at most the file, plus Matroska's headers
    assert 0 < figures["bytes_per_sample"] <= figures["whole_bytes_per_sample"] + 1024
    assert figures["rho3_vs_pipeline"] == pytest.approx(figures["rho3_clips_s"] / figures["pipeline_clips_s"], abs=2e-3)
    stages = figures["stages_clips_s"]
    assert list(stages) == ["decode", "crop", "colour", "blur", "solarize"] and all(r > 0 for r in stages.values())
    # the steps' costs telescope: decoding plus every step is the time per clip of the full pipeline
    total = sum(figures["step_ms_per_clip"].values())
    assert total == pytest.approx(1000 / stages["solarize"], rel=0.02)
    assert figures["guarded_clips_s"] > 0
    assert figures["guarded_vs_pipeline"] == pytest.approx(
        figures["guarded_clips_s"] / figures["pipeline_clips_s"], abs=2e-3
    )


def test_index_benchmark_times_both_verification_levels(tmp_path):
    args = ["--videos", "3", "--frames", "20", "--width", "64", "--height", "48", "--workers", "1"]
    figures = _run("bench_index.py", args, tmp_path)
    assert figures["videos"] == "3 x 20 frames, 64x48 vp9"
    first, full = figures["first_s_per_video_hour"], figures["full_s_per_video_hour"]
    assert first > 0 and full > 0 and figures["full_vs_first"] == pytest.approx(full / first, abs=0.01)


def test_loss_benchmark_compares_clips_per_video_at_each_batch():
    cmd = [sys.executable, "benchmarks/bench_loss.py", "--sizes", "16,32", "--num-clips", "2,3", "--repeats", "1"]
    proc = subprocess.run([*cmd, "--device", "cpu"], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = json.loads(proc.stdout.strip().splitlines()[-1])["sizes"]
    assert [(row["clips"], row["batch"]) for row in rows] == [(2, 16), (2, 32), (3, 16), (3, 32)]
    assert [row["logits_mib"] for row in rows] == [
        round(4 * (c * n) ** 2 / 2**20, 1) for c, n in ((2, 16), (2, 32), (3, 16), (3, 32))
    ]
    assert rows[3]["batch_vs_previous"] == 2.0 and "ms_vs_previous" not in rows[2]  # doublings within one rho
    assert rows[2]["ms_vs_2_clips"] == pytest.approx(rows[2]["ms"] / rows[0]["ms"], rel=0.02, abs=0.01)


def test_threads_benchmark_times_processes_side_by_side_and_alone():
    cmd = [sys.executable, "benchmarks/bench_threads.py", "--processes", "2", "--threads", "1", "--steps", "1"]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert (result["processes"], result["steps"]) == (2, 1)
    assert set(result["side_by_side_s"]) == set(result["alone_s"]) == {"1"}
    assert result["side_by_side_s"]["1"] > 0 and result["alone_s"]["1"] > 0
    assert result["side_by_side_over_1_thread"] == {"1": 1.0}


def _with_path(folder) -> dict[str, str]:
    """This process's environment with ``folder`` first on PYTHONPATH."""
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(folder), os.environ.get("PYTHONPATH")]))}


@pytest.fixture(scope="module")
def decord_path():
    """A folder holding decord (requirements-decord.txt), installed for these tests only."""
    return decord_folder()


def test_decode_costs_benchmark_splits_a_sample_into_its_parts(tmp_path):
    cmd = [sys.executable, "benchmarks/bench_decode_costs.py", "--codec", "vp9", "--videos", "2", "--video-seconds"]
    cmd += ["4", "--gop", "20", "--width", "64", "--height", "48", "--num-frames", "4", "--samples", "3"]
    proc = subprocess.run([*cmd, "--video-dir", str(tmp_path)], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    figures = json.loads(proc.stdout.strip().splitlines()[-1])
    assert figures["videos"] == "2 x 100 frames, 64x48, vp9, gop 20" and figures["samples"] == 3
    # spans start at most 19 frames before a wanted frame: never more frames than from frame 0
    assert figures["frames_wanted"] <= figures["frames_sparse"] <= figures["frames_whole"] <= 100
    assert figures["frame_ratio"] == pytest.approx(figures["frames_whole"] / figures["frames_sparse"], abs=0.01)
    parts = ("remux", "pyav_decode", "pyav_convert", "pyav_sparse", "pyav_whole", "dali_sparse", "dali_whole")
    assert all(figures[f"{part}_ms"] > 0 for part in parts) and "decord_ms" not in figures  # decord: an extra
    per_frame = (figures["dali_sparse_ms"] - figures["dali_last_frame_only_ms"]) / (figures["frames_wanted"] - 1)
    assert figures["dali_ms_per_output_frame"] == pytest.approx(per_frame, abs=0.02)


@pytest.mark.parametrize(
    "name, options",
    [
        ("h264_bframes.mp4", dict(codec="h264", gop=12, bframes=3)),
        ("vp9.webm", dict(codec="vp9", gop=16)),
        ("mpeg4.avi", dict(codec="mpeg4", gop=10)),
    ],
)
def test_decord_baseline_reads_the_frames_pyav_reads(decord_path, tmp_path, monkeypatch, name, options):
    monkeypatch.syspath_prepend(str(decord_path))
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    from baselines import decode_decord

    wanted = np.array([40, 42, 44, 10, 12, 42, 89, 0])  # overlapping clips out of order, a repeat, both ends
    path = str(write_video(tmp_path / name, 90, **options))
    frames = decode_decord(path, wanted)
    assert [read_index(f) for f in frames] == wanted.tolist()  # display order, repeats included
    # and the same pixels, but for rounding: decord converts to RGB with swscale's default (fast) rounding, the
    # pipeline as DALI's decoder does (pyav_decode.frame_rgb); at most 1 level apart, 0.19 on average at most (MPEG-4)
    difference = np.abs(frames.astype(np.int16) - decode_pyav(path, wanted).astype(np.int16))
    assert difference.max() <= 1 and difference.mean() <= 0.25


def test_data_benchmark_times_decord_beside_the_pipeline(decord_path, tmp_path):
    args = ["--videos", "4", "--frames", "60", "--gop", "20", "--width", "64", "--height", "48", "--num-frames", "4"]
    args += ["--crop", "32", "--batch", "2", "--workers", "1", "--threads", "1", "--seconds", "1", "--rounds", "1"]
    figures = _run(
        "bench_data.py", [*args, "--codec", "h264"], tmp_path, {**os.environ, "PYTHONPATH": str(decord_path)}
    )
    assert "decord" not in figures  # the note that it is not installed
    assert figures["decord_clips_s"] > 0 and figures["decord_decode_only_clips_s"] > 0
    assert figures["pipeline_vs_decord"] == pytest.approx(
        figures["pipeline_clips_s"] / figures["decord_clips_s"], abs=2e-3
    )
    assert figures["decode_only_vs_decord_decode_only"] == pytest.approx(
        figures["decode_only_clips_s"] / figures["decord_decode_only_clips_s"], abs=2e-3
    )


def test_train_benchmark_sizes_the_batch_end_to_end_and_backs_off_on_out_of_memory(monkeypatch):
    """--batch max (GPU): the search runs the input pipeline too, an out-of-memory error means "does not fit" (never
    a crash, never a bad video), and a timed run that still runs out backs off to 3/4 of the batch."""
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    import bench_train

    seen = []

    def measure(cfg, device, data, **_):
        seen.append((cfg.data.batch_size, data))
        if cfg.data.batch_size > limit:
            raise RuntimeError("Critical error in pipeline: CUDA error: out of memory")
        return 10.0, 0.25

    monkeypatch.setattr(bench_train, "measure", measure)
    monkeypatch.setattr(
        bench_train,
        "config",
        lambda args, root, variant, batch: SimpleNamespace(data=SimpleNamespace(batch_size=batch)),
    )
    monkeypatch.setattr(bench_train.torch.cuda, "empty_cache", lambda: None)
    args = SimpleNamespace(device="gpu", warmup=1, seconds=0.0)
    limit = 50
    assert bench_train.largest_batch(args, ROOT, "bf16") == 48  # 8, 16, 32 fit, 64 does not, 48 does
    assert {data for _, data in seen} == {"end_to_end"}
    limit, seen[:] = 40, []
    assert bench_train.measure_backing_off(args, ROOT, "bf16", 64) == (36, [10.0, 10.0, 0.25])  # 64 -> 48 -> 36
    limit = 0
    monkeypatch.setattr(bench_train, "measure", lambda *a, **k: (_ for _ in ()).throw(ValueError("a real bug")))
    with pytest.raises(ValueError, match="a real bug"):
        bench_train.measure_backing_off(args, ROOT, "bf16", 64)


@pytest.mark.slow
def test_scale_benchmark_measures_the_columnar_index_beside_the_json_one(tmp_path):
    proc = subprocess.run(
        [sys.executable, "benchmarks/bench_scale.py", "--sizes", "20000", "--json-sizes", "20000", "--shards", "10"]
        + ["--dir", tmp_path],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["shards"] == 10  # Panda-70M's shape: clips as members of tar shards
    figures = result["sizes"]["20000"]
    fields = ("build_s", "save_s", "load_s", "rank_peak_rss_mb", "worker_rss_mb", "plan_s", "disk_mb", "pickled_kb")
    old = figures["json"]
    for key in fields:
        assert figures[key] > 0 and old[key] > 0, key
    assert figures["batch_lookup_ms"] > 0 and figures["rank_peak_rss_mb"] >= figures["rank_rss_before_index_mb"]
    ratios = ("load_s", "rank_peak_rss_mb", "worker_rss_mb", "disk_mb", "save_s")
    assert all(figures[f"{key}_json_over_columnar"] > 0 for key in ratios)  # measured side by side, not judged here
    # The source pickled into a worker: file names, a quarter of a byte a video (the packed decoder codes: 4.9 KiB)
    # and the epoch plan's round tables (4 of 142 values here), against every path as a string.
    assert 4.9 < figures["pickled_kb"] < 12 and old["pickled_kb"] > 1500
    assert figures["disk_mb"] < old["disk_mb"]
    assert list(tmp_path.iterdir()) == []  # the indexes are removed


def test_start_benchmark_reuses_the_index_and_measures_the_old_listing_beside_it(tmp_path):
    """bench_start.py at toy sizes: the start reuses the saved index (it asserts the log line itself) and the
    per-file listing every start did before is measured beside it."""
    cmd = [sys.executable, "benchmarks/bench_start.py", "--files", "3000", "--sizes", "3000,8000", "--dir", tmp_path]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    figures = json.loads(proc.stdout.strip().splitlines()[-1])
    assert figures["files"] == 3000 and set(figures["sizes"]) == {"3000", "8000"}
    assert figures["listing_s"] > 0 and figures["listing_over_start"] > 0  # measured side by side, not judged here
    assert all(size["start_s"] > 0 and size["start_added_mb"] >= 0 for size in figures["sizes"].values())
    assert list(tmp_path.iterdir()) == []  # the root and its indexes are removed


def test_shards_benchmark_reads_s3_and_disk_side_by_side():
    """bench_shards.py at toy sizes: every figure is there, a sample fetches less than its member in one round trip
    with the index's byte ranges, and the pipeline ran from S3 and from disk."""
    cmd = [sys.executable, "benchmarks/bench_shards.py", "--videos", "2", "--seconds", "4", "--samples", "4"]
    proc = subprocess.run(
        [*cmd, "--batches", "1", "--workers", "1"], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    figures = json.loads(proc.stdout.strip().splitlines()[-1])
    assert 0 < figures["fetched_over_member_4s_ranged"] <= 1 and figures["round_trips_per_sample_4s_ranged"] == 1
    assert figures["round_trips_per_sample_4s_lazy"] >= 1 and figures["index_read_over_stored_4s"] > 0
    assert figures["clips_per_s_s3"] > 0 and figures["clips_per_s_local"] > 0 and figures["s3_over_local"] > 0
