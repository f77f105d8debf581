#!/usr/bin/env bash
# Packs the wheels the GPU box lacks (scripts/gpu/wheels.txt) for the device tool, which carries at most 64 MiB a
# run: one tar stream of the wheels, cut into parts of at most 60 MiB, one ignored folder per run (.gpu1/ ...
# .gpuN/), each also holding SHA256SUMS, the checksums of every part.
#
#   scripts/gpu/pack.sh [--python 3.12] [--dali nvidia-dali-cuda120]     # defaults: the box's Python, our pin
#   scripts/gpu/pack.sh --wheels DIR        # cut the wheels in DIR instead of downloading (GPU_PART_SIZE: 60M)
#
# Then one device run per folder, back to back (the box keeps its /tmp only while it is up, 30 s after a run):
#   carry [".gpuK"], command "bash scripts/gpu/unpack_and_check.sh"
# The run that completes the set installs the wheels and runs benchmarks/gpu_check.sh.
#
# DALI's build: by default the one requirements.txt pins, nvidia-dali-cuda120, the binary users install. It links
# the CUDA 12.9 runtime statically (libdali.so needs no libcudart), and a newer driver runs an older CUDA runtime,
# so it should run on the box's CUDA 13 driver (untried there). It is 424 MB against 199 MB for
# --dali nvidia-dali-cuda130 (the CUDA 13 build of the same version): 8 runs of 60 MiB instead of 4.
set -euo pipefail
cd "$(dirname "$0")/../.."

python_version=3.12
dali=nvidia-dali-cuda120
from=
while (($#)); do
    case $1 in
        --python) python_version=${2:?} ;;
        --dali) dali=${2:?} ;;
        --wheels) from=$(realpath "${2:?}") ;;
        *) echo "usage: $0 [--python 3.12] [--dali nvidia-dali-cuda120|nvidia-dali-cuda130] [--wheels DIR]" >&2; exit 2 ;;
    esac
    shift 2
done
part_size=${GPU_PART_SIZE:-60M}  # split's size syntax
mib() { awk -v b="$1" 'BEGIN { if (b < 1048576) printf "%.0f KiB", b / 1024; else printf "%.1f MiB", b / 1048576 }'; }

rm -rf .gpu .gpu[0-9]*
mkdir -p .gpu/wheels .gpu/parts
if [[ -n $from ]]; then
    cp "$from"/*.whl .gpu/wheels/
else
    mapfile -t wanted < <(sed -e 's/#.*//' -e 's/[[:space:]]//g' -e "s/^DALI==/$dali==/" scripts/gpu/wheels.txt |
        grep .)
    # --no-deps: wheels.txt names every wheel needed. pip matches manylinux tags exactly: name each one in use.
    "${PYTHON:-python3}" -m pip download --quiet --no-deps --only-binary=:all: --dest .gpu/wheels \
        --python-version "$python_version" --implementation cp \
        --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
        "${wanted[@]}"
fi
wheels=(.gpu/wheels/*.whl)
if [[ -z $from ]] && ((${#wheels[@]} != ${#wanted[@]})); then
    echo "expected ${#wanted[@]} wheels in .gpu/wheels, found ${#wheels[@]}" >&2
    exit 1
fi
for wheel in "${wheels[@]}"; do echo "  $(mib "$(stat -c %s "$wheel")")  ${wheel##*/}"; done

# One stream, so that small wheels fill the space the large ones leave: the fewest runs for the part size.
tar -cf - -C .gpu/wheels "${wheels[@]##*/}" | split -b "$part_size" -d -a 2 - .gpu/parts/wheels.tar.
(cd .gpu/parts && sha256sum wheels.tar.* >SHA256SUMS)
parts=(.gpu/parts/wheels.tar.*)
for k in "${!parts[@]}"; do
    mkdir ".gpu$((k + 1))"
    mv "${parts[k]}" ".gpu$((k + 1))/"
    cp .gpu/parts/SHA256SUMS ".gpu$((k + 1))/"
done

# What travels in a run: the working tree (tracked and untracked files git does not ignore) plus one folder.
tree=$(
    { git ls-files -z --cached --others --exclude-standard | xargs -0 -r stat -c %s -- 2>/dev/null || true; } |
        awk '{ s += $1 } END { print s + 0 }'
)
total=$(cat "${wheels[@]}" | wc -c)
largest=$(du -sb .gpu[0-9]*/ | sort -n | tail -n 1 | cut -f1)
echo "runs: ${#parts[@]} (.gpu1/ ... .gpu${#parts[@]}/), wheels: ${#wheels[@]}, total $(mib "$total")"
echo "each run carries the working tree, $(mib "$tree"), and one folder, at most $(mib "$largest")"
if ((tree + largest > 64 * 1048576)); then
    echo "over the device tool's 64 MiB a run: use a smaller GPU_PART_SIZE" >&2
    exit 1
fi
