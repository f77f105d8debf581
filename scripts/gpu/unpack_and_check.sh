#!/usr/bin/env bash
# On the GPU box, from the repository root: one device run per folder that scripts/gpu/pack.sh made,
#   carry [".gpuK"], command "bash scripts/gpu/unpack_and_check.sh [COMMAND...]"
# Each run stashes the parts it carries (every .gpuK/ here) in $GPU_SCRATCH, outside the repository so that they
# outlive the run while the machine stays up, and says which parts are still missing. The run that completes the
# set checks and joins them, installs the wheels into $GPU_SCRATCH/site (offline, no dependencies: the box's own
# torch stays) once, says which DALI build it installed (pack.sh --dali), and runs COMMAND (default: bash
# benchmarks/gpu_check.sh) with that folder on PYTHONPATH.
#
# Environment: GPU_SCRATCH (default /tmp/cvrl-gpu), PYTHON (default python3, the box's interpreter with torch),
# and what the command reads (gpu_check.sh: OUT, GPU_CHECK_DEVICE).
set -euo pipefail
cd "$(dirname "$0")/../.."
scratch=${GPU_SCRATCH:-/tmp/cvrl-gpu}
py=${PYTHON:-python3}
(($#)) || set -- bash benchmarks/gpu_check.sh
start=$SECONDS

shopt -s nullglob
carried=(.gpu[0-9]*/)
if ((${#carried[@]} == 0)); then
    echo "no .gpuK/ folder here: carry one that scripts/gpu/pack.sh made" >&2
    exit 2
fi
stash=$scratch/parts
mkdir -p "$stash"
for folder in "${carried[@]}"; do cp "$folder"* "$stash/"; done

mapfile -t parts < <(awk '{ print $2 }' "$stash/SHA256SUMS")
missing=()  # pack.sh put part k (from 0) in .gpu<k+1>/
for k in "${!parts[@]}"; do [[ -f $stash/${parts[k]} ]] || missing+=(".gpu$((k + 1))"); done
echo "parts: $((${#parts[@]} - ${#missing[@]})) of ${#parts[@]} present in $stash (carried: ${carried[*]})"
if ((${#missing[@]})); then
    echo "missing ${#missing[@]}: carry ${missing[*]} in the next runs, one folder a run"
    exit 0
fi
if ! (cd "$stash" && sha256sum --check --quiet SHA256SUMS); then
    echo "parts that do not match SHA256SUMS (from an older pack?): rm -r $stash, and carry the folders again" >&2
    exit 1
fi

# Installed once per set of parts: a rerun on the same machine goes straight to the command.
if ! cmp -s "$stash/SHA256SUMS" "$scratch/site/.parts"; then
    rm -rf "$scratch/wheels" "$scratch/site"
    mkdir -p "$scratch/wheels"
    (cd "$stash" && cat "${parts[@]}") | tar -xf - -C "$scratch/wheels"
    "$py" -m pip install --quiet --no-index --no-deps --no-compile --target "$scratch/site" "$scratch/wheels"/*.whl
    cp "$stash/SHA256SUMS" "$scratch/site/.parts"
    rm -rf "$scratch/wheels"
    count=$(find "$scratch/site" -maxdepth 1 -name '*.dist-info' | wc -l)
    dali=$(find "$scratch/site" -maxdepth 1 -name 'nvidia_dali_*.dist-info' -printf '%f' | sed 's/\.dist-info$//')
    echo "installed $count wheels in $((SECONDS - start)) s${dali:+ (DALI: $dali)}"
fi

export PYTHONPATH="$scratch/site${PYTHONPATH:+:$PYTHONPATH}" PYTHON=$py
"$@"
