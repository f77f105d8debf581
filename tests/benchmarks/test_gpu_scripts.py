"""The GPU box's scripts without a GPU or the network: scripts/gpu/pack.sh cuts wheels into parts that fit a device
run, scripts/gpu/unpack_and_check.sh stashes them run by run and installs them once all are there, and the GPU
check's report names the machine and the steps that failed."""

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
    installed = {"dali": "nvidia-dali-cuda120"}  # DALI's name here: the box's is nvidia-dali-cuda130
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
    _wheel(wheels, "fakesmall", b"small")
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
    check = "import hashlib, fakebig, fakesmall, pathlib; print(hashlib.sha256(pathlib.Path(fakebig.__file__)"
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
    assert report["failed"] == ["train"] and report["data"] == {"pipeline_clips_s": 1.0} and "train" not in report
    machine = report["machine"]
    assert machine["device"] == "cpu" and machine["torch"] and machine["python"]
    assert set(machine) >= {"driver", "dali", "pyav", "cuda", "capability", "nvdec_library"}
