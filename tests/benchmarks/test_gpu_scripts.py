"""The GPU box's scripts without a GPU or the network: scripts/gpu/pack.sh cuts wheels into parts that fit a device
run, scripts/gpu/unpack_and_check.sh stashes them run by run and installs them once all are there, the GPU check's
report names the machine, the DALI build and the steps that failed, and its hard-videos step decodes on DALI's CPU
decoder what that reads."""

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from importlib import metadata

import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.helpers import ROOT

SCRIPTS = [
    "benchmarks/gpu_check.sh",
    "scripts/gpu/pack.sh",
    "scripts/gpu/unpack_and_check.sh",
    "scripts/gpu/rehearse.sh",
]


@pytest.mark.parametrize("script", SCRIPTS)
def test_script_parses(script):
    subprocess.run(["bash", "-n", str(ROOT / script)], check=True)


def test_wheel_pins_agree_with_requirements():
    pins = dict(re.findall(r"^([\w.-]+)==(\S+)", (ROOT / "requirements.txt").read_text(), re.M))
    packed = dict(re.findall(r"^([\w.-]+)==(\S+)", (ROOT / "scripts/gpu/wheels.txt").read_text(), re.M))
    assert packed["DALI"] == pins["nvidia-dali-cuda120"]
    assert packed["av"] == pins["av"] and packed["omegaconf"] == pins["omegaconf"]


def _names(line: str) -> set[str]:
    """The package names on wheels.txt's comment line that starts ``# <line>:``, normalised."""
    found = re.search(rf"^# {line}:(.*)$", (ROOT / "scripts/gpu/wheels.txt").read_text(), re.M)
    assert found, f"wheels.txt has no '# {line}:' line"
    return {canonicalize_name(n) for n in found.group(1).split()}


def test_every_requirement_of_a_packed_wheel_is_packed_on_the_box_or_left_out_on_purpose():
    """From the packed wheels' own metadata (as installed here, for Linux and Python 3.12, no extras): a
    requirement that is neither packed nor on the box fails the GPU run at its first import (six did)."""
    packed = {
        canonicalize_name(n) for n in re.findall(r"^([\w.-]+)==", (ROOT / "scripts/gpu/wheels.txt").read_text(), re.M)
    }
    installed = {"dali": "nvidia-dali-cuda120"}  # DALI's name here, and pack.sh's default for the box
    box, left_out = _names("box"), _names("not packed")
    environment = {**default_environment(), "python_version": "3.12", "python_full_version": "3.12.0", "extra": ""}
    unmet = {}
    for name in packed:
        for text in metadata.requires(installed.get(name, name)) or []:
            requirement = Requirement(text)
            if requirement.marker is not None and not requirement.marker.evaluate(environment):
                continue  # an extra, or another platform's
            wanted = canonicalize_name(requirement.name)
            if wanted not in packed | box | left_out:
                unmet.setdefault(name, []).append(wanted)
    assert unmet == {}
    assert "six" in packed and "six" not in box  # astunparse imports it; python-dateutil 4.0 no longer brings it


def _wheel(folder, name: str, payload: bytes):
    """A minimal pure-Python wheel of package ``name`` holding ``payload`` as name/payload.bin."""
    info = f"{name}-1.0.dist-info"
    files = {
        f"{name}/__init__.py": b"",
        f"{name}/payload.bin": payload,
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n".encode(),
        f"{info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = "".join(f"{path},,\n" for path in [*files, f"{info}/RECORD"])
    with zipfile.ZipFile(folder / f"{name}-1.0-py3-none-any.whl", "w") as whl:
        for path, data in {**files, f"{info}/RECORD": record.encode()}.items():
            whl.writestr(path, data)


def test_pack_then_unpack_run_by_run_installs_identical_files(tmp_path):
    repo = tmp_path / "repo"
    shutil.copytree(ROOT / "scripts/gpu", repo / "scripts/gpu")
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    payload = os.urandom(2_500_000)  # incompressible: three parts of 1 MiB
    _wheel(wheels, "fakebig", payload)
    _wheel(wheels, "nvidia_dali_fake", b"small")  # a DALI build, by its name
    env = {**os.environ, "GPU_PART_SIZE": "1M", "GPU_SCRATCH": str(tmp_path / "scratch"), "PYTHON": sys.executable}

    packed = subprocess.run(
        ["bash", "scripts/gpu/pack.sh", "--wheels", str(wheels)], cwd=repo, env=env, capture_output=True, text=True
    )
    assert packed.returncode == 0, packed.stderr
    assert "runs: 3 (.gpu1/ ... .gpu3/), wheels: 2" in packed.stdout
    folders = sorted(repo.glob(".gpu[0-9]*"))
    assert [f.name for f in folders] == [".gpu1", ".gpu2", ".gpu3"]
    for folder in folders:
        (part,) = folder.glob("wheels.tar.*")
        assert part.stat().st_size <= 2**20 and (folder / "SHA256SUMS").is_file()

    # One device run per folder: each run's tree holds only the folder it carries.
    aside = tmp_path / "aside"
    aside.mkdir()
    for folder in folders:
        folder.rename(aside / folder.name)
    check = "import hashlib, fakebig, nvidia_dali_fake, pathlib; print(hashlib.sha256(pathlib.Path(fakebig.__file__)"
    check += ".with_name('payload.bin').read_bytes()).hexdigest())"
    for k, folder in enumerate(folders, start=1):
        (aside / folder.name).rename(folder)
        run = subprocess.run(
            ["bash", "scripts/gpu/unpack_and_check.sh", sys.executable, "-c", check],
            cwd=repo,
            env=env,
            capture_output=True,
            text=True,
        )
        folder.rename(aside / folder.name)
        assert run.returncode == 0, run.stderr
        assert f"parts: {k} of 3 present" in run.stdout
        if k < 3:
            assert f"carry {' '.join(f'.gpu{j}' for j in range(k + 1, 4))} in the next runs" in run.stdout
    assert "installed 2 wheels in" in run.stdout and "s (DALI: nvidia_dali_fake-1.0)" in run.stdout
    assert run.stdout.split()[-1] == hashlib.sha256(payload).hexdigest()  # joined and installed byte for byte


def test_report_names_the_machine_and_the_failed_step(tmp_path):
    (tmp_path / "data.json").write_text('{"pipeline_clips_s": 1.0}')
    (tmp_path / "loss.json").write_text('{"sizes": []}')
    out = tmp_path / "gpu_check.json"
    args = ["--device", "cpu", "--figures", str(tmp_path), "--json", str(out), "--started", "now", "--command", "x"]
    proc = subprocess.run(
        [sys.executable, "benchmarks/gpu_check_report.py", *args, "--seconds", "3"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 1, proc.stderr  # a step failed
    report = json.loads(out.read_text())
    assert report == json.loads(proc.stdout.splitlines()[-1])
    assert report["failed"] == ["hard_videos", "train"] and report["data"] == {"pipeline_clips_s": 1.0}
    assert "train" not in report
    machine = report["machine"]
    assert machine["device"] == "cpu" and machine["torch"] and machine["python"]
    assert set(machine) >= {"driver", "dali", "pyav", "cuda", "capability", "nvdec_library"}
    # The DALI build that ran, by its distribution: here the pinned one (requirements.txt), as the box's pack carries.
    assert machine["dali_distribution"] == f"nvidia-dali-cuda120 {metadata.version('nvidia-dali-cuda120')}"


DALI_CPU_READS = {"odd_vp9", "odd_vp8", "fullrange_vp9", "vp9_hidden"}  # the hard videos in VP8 or VP9


def test_hard_videos_step_on_the_cpu_decodes_vp8_and_vp9_as_pyav_and_says_why_not_the_rest(tmp_path):
    out = tmp_path / "hard.json"
    cmd = [sys.executable, "benchmarks/bench_hard_videos.py", "--device", "cpu", "--video-dir", str(tmp_path)]
    proc = subprocess.run([*cmd, "--json", str(out)], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    figures = json.loads(out.read_text())
    assert figures["decoder"] == "dali_cpu" and figures["misrouted"] == []
    videos = figures["videos"]
    assert {"bframes_h264", "open_gop_start_h264", "mpeg4_packed_avi"} | DALI_CPU_READS <= set(videos)
    for name, video in videos.items():
        assert len(video["frames_asked"]) == 16 and video["remuxed_bytes"] > 0, name
        if name in DALI_CPU_READS:
            # Every frame asked, through the remux; measured equal to PyAV's bit for bit (2026-12-07).
            assert video["dali_frames"] == 16 and video["psnr_db"] == "inf" and video["max_abs_diff"] == 0, name
            assert video["matches_pyav"] and video["route_cpu"] == "dali_cpu", name
        else:
            assert video["not_decoded"] == f"DALI's CPU decoder does not read {video['codec']}", name
            assert video["codec"] in ("h264", "mpeg4") and "dali_frames" not in video, name
    # Routing on a Hopper GPU: odd sizes, hidden VP9 frames and a stream starting at no IDR stay off NVDEC.
    assert videos["odd_vp9"]["size"] == [63, 47] and videos["odd_vp9"]["route_gpu"] == "dali_cpu"
    assert videos["vp9_hidden"]["route_gpu"] == "dali_cpu" and videos["open_gop_start_h264"]["route_gpu"] == "pyav"
    on_nvdec = {"fullrange_vp9", "bframes_h264", "open_gop_h264", "bt709_h264", "mpeg4_avi", "mpeg4_packed_avi"}
    assert {name for name, video in videos.items() if video["route_gpu"] == "nvdec"} == on_nvdec
    # One clip across a keyframe, the other the last 8 frames.
    bframes = videos["bframes_h264"]
    assert bframes["keyframes"] == [0, 12, 24, 36, 48]
    assert bframes["frames_asked"] == [*range(8, 16), *range(52, 60)]


def test_hard_videos_step_reports_a_decoder_that_fails_or_hangs_and_goes_on():
    """Each decode runs in a process of its own: DALI's words come back, and a decode past its time is ended."""
    code = (
        "import json, numpy as np; from bench_hard_videos import dali_decode; "
        "broken = b'\\x1aE\\xdf\\xa3' + bytes(100); "
        "print(json.dumps([dali_decode(broken, np.arange(2), 1, None, t)[1] for t in (60, 0.01)]))"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, ["benchmarks", os.environ.get("PYTHONPATH")]))}
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    failed, slow = json.loads(proc.stdout.splitlines()[-1])
    assert failed.startswith("Failed to create video decoder")  # DALI's own words
    assert slow == "no answer within 0.01 s"
