#!/usr/bin/env bash
# The GPU box's install and check, rehearsed on this CPU: a venv holding only the box's packages (the "box:" line
# of scripts/gpu/wheels.txt, with the local torch wheel), the wheels packed for this Python by pack.sh, one
# simulated device run per part (a fresh copy of the working tree plus one .gpuK/ folder), the last of which
# installs them and runs benchmarks/gpu_check.sh in CPU mode (its JSON names the DALI distribution installed); then,
# on the installed wheels, import_check.py, and import_check.py again with six hidden (the module the box lacked).
# Figures: docs/benchmarks.md.
#
#   bash scripts/gpu/rehearse.sh [WORK]     # WORK: scratch folder, default /tmp/cvrl-rehearse (emptied first)
set -euo pipefail
cd "$(dirname "$0")/../.."
work=${1:-/tmp/cvrl-rehearse}
rm -rf "$work" && mkdir -p "$work"
py=$work/venv/bin/python
timed() { local t=$SECONDS; "$@"; echo "  ($((SECONDS - t)) s: $*)" >&2; }

box=$(sed -n 's/^# box://p' scripts/gpu/wheels.txt)
timed python3 -m venv "$work/venv"
# torch: the local CPU wheel (the box has its CUDA build); Lightning and torchmetrics as the box pins them.
timed "$py" -m pip install --quiet torch==2.13.0
# shellcheck disable=SC2086  # the names split on purpose
timed "$py" -m pip install --quiet $(echo $box | sed -e 's/\btorch\b//' -e 's/pytorch-lightning/pytorch-lightning==2.6.6/' \
    -e 's/torchmetrics/torchmetrics==1.9.0/')
"$py" -m pip list --format=freeze >"$work/venv-packages.txt"
if "$py" -c "import six" 2>/dev/null; then echo "six is importable in the box's venv: the rehearsal cannot show it is needed" >&2; fi

version=$("$py" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
timed bash scripts/gpu/pack.sh --python "$version"  # the default DALI build, our pin: the one the box gets too
mapfile -t folders < <(ls -d .gpu[0-9]* | sort -V)
for folder in "${folders[@]}"; do
    rm -rf "$work/box" && mkdir -p "$work/box"
    git ls-files -z --cached --others --exclude-standard | tar --null -T - -cf - | tar -xf - -C "$work/box"
    cp -r "$folder" "$work/box/"
    (cd "$work/box" && GPU_SCRATCH=$work/scratch PYTHON=$py GPU_CHECK_DEVICE=cpu OUT=$work/out \
        timed bash scripts/gpu/unpack_and_check.sh)
done
site=$work/scratch/site
PYTHONPATH=$site:src:. "$py" scripts/gpu/import_check.py
mv "$site/six.py" "$work/six.py"
if PYTHONPATH=$site:src:. "$py" scripts/gpu/import_check.py >"$work/without_six.json" 2>&1; then
    echo "without six: the check passed, so six is not needed" >&2
else
    echo "without six: $(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["conditional_graph"])' "$work/without_six.json")"
fi
mv "$work/six.py" "$site/six.py"
echo "the check's JSON: $work/out/gpu_check/gpu_check.json"
