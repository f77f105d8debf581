#!/usr/bin/env bash
# GPU readiness: the headline figures on one GPU (an H100), written as one JSON file that names the GPU, the driver
# and the versions that gave them. Aimed at 4 to 5 minutes on an H100 (an estimate: not yet run on one).
#
#   bash benchmarks/gpu_check.sh [OUT_DIR]          # default OUT_DIR: $OUT/gpu_check if OUT is set, else ./gpu_check
#
# Installs nothing: runs this checkout (src/ and the repository root on PYTHONPATH) under $PYTHON (default: python,
# else python3), which must find torch, pytorch-lightning, torchmetrics, omegaconf, nvidia-dali and av. On the GPU
# box these come from scripts/gpu/unpack_and_check.sh, which installs what scripts/gpu/pack.sh carried there.
#
# Steps: (0) the hard videos (benchmarks/hard_videos.py: odd sizes, BT.709, full range, B-frames, open GOPs,
# MPEG-4 part 2 packed B-frames, VP9 hidden frames) remuxed as training remuxes them and decoded by NVDEC, forced
# even where the routing sends them elsewhere, against PyAV: PSNR and differences per video, and the routing's
# choice for each (bench_hard_videos.py); (1) H.264 test videos at Kinetics-like size (340x256, 10 s); (2) the
# DALI pipeline with mixed (NVDEC) decoding and the full augmentation on the GPU, in clips/s, against decoding
# alone; (3) the R3D-50 16x224 training step in bf16 at the largest batch that fits, with the tensors on the GPU
# (ceiling) and fed by the DALI pipeline (end to end), their ratio and the end-to-end wait for batches; (4) NT-Xent
# against the global batch up to 4096. Step (2) also times the pipeline at 2, 4, 8 and 16 DALI threads, the
# figures that data.dali_threads=auto's GPU rule is to be set from. A step that fails is named in the JSON's
# "failed" and the log, and the others still run.
# GPU_CHECK_DEVICE=cpu runs the same steps at toy sizes on a CPU (to check the script without a GPU); there the
# hard videos go to DALI's CPU decoder, which reads only the VP8 and VP9 ones.
#
# OUT_DIR receives only gpu_check.json and a short gpu_check.log (the device tool brings back a few files, two
# folders deep): the videos and each step's full output go to GPU_CHECK_SCRATCH (default: a temporary folder,
# removed at the end; name one to keep the videos for a rerun).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-${OUT:-.}/gpu_check}
device=${GPU_CHECK_DEVICE:-gpu}
py=${PYTHON:-$(command -v python || command -v python3)}
scratch=${GPU_CHECK_SCRATCH:-}
if [[ -z $scratch ]]; then
    scratch=$(mktemp -d)
    trap 'rm -rf "$scratch"' EXIT
fi
mkdir -p "$out" "$scratch"
rm -f "$scratch"/{hard_videos,data,train,loss}.json
export PYTHONPATH="$PWD/src:$PWD${PYTHONPATH:+:$PYTHONPATH}"
log=$out/gpu_check.log
started=$(date -u +%Y-%m-%dT%H:%M:%SZ)
command="GPU_CHECK_DEVICE=$device bash benchmarks/gpu_check.sh${*:+ $*}"
echo "$started $command (python: $py, scratch: $scratch)" >"$log"

# Each step has a time limit, so that a hung step cannot take the rest of a device run with it: the report comes
# back in any case (the GPU limits add up to 9 1/4 minutes, the device tool allows 10 a run: a run that also
# installs the wheels has no room for a step at its limit; the steps are expected to take 4 to 5 minutes in all).
if [[ $device == gpu ]]; then
    videos=(--codec h264 --width 340 --height 256 --video-dir "$scratch/videos")
    data=(--videos 64 --frames 250 --num-frames 16 --crop 224 --batch 32 --workers 8 --threads 8
          --thread-sweep 2,4,8,16 --seconds 12 --rounds 2)
    train=(--encoder r3d50 --base-channels 64 --frames 16 --size 224 --batch max --variants bf16,bf16+cl
           --videos 64 --video-frames 250 --workers 8 --threads 8 --warmup 5 --seconds 12)
    loss=(--sizes 256,512,1024,2048,4096)
    hard=(--timeout 20)  # one video's NVDEC decode, in a process of its own: about 3 s expected
    limits=(180 210 90 75)
else
    videos=(--codec h264 --width 96 --height 72 --video-dir "$scratch/videos")
    data=(--videos 8 --frames 40 --num-frames 4 --crop 32 --batch 4 --workers 1 --threads 1 --thread-sweep 1,2
          --seconds 1)
    train=(--encoder r3d18 --base-channels 8 --frames 4 --size 32 --batch 4 --variants fp32
           --videos 8 --video-frames 40 --workers 1 --threads 1 --warmup 1 --seconds 1)
    loss=(--sizes 64,128 --repeats 1)
    hard=(--timeout 60)
    limits=(600 600 300 300)
fi

# step NAME LIMIT SCRIPT ARGS...: runs one benchmark for at most LIMIT seconds (timeout ends its whole process
# group: DALI's workers too), its output to the console and to $scratch/NAME.log, its figures to
# $scratch/NAME.json. A failure is logged with the output's last lines, and the check goes on.
step() {
    local name=$1 limit=$2 script=$3 begin=$SECONDS
    shift 3
    if timeout --kill-after=10 "$limit" "$py" "$script" --device "$device" "$@" --json "$scratch/$name.json" 2>&1 |
        tee "$scratch/$name.log"; then
        echo "$name: done in $((SECONDS - begin)) s" >>"$log"
    else
        local status=$?
        if ((status == 124)); then echo "$name: stopped at its limit, $limit s" >>"$log"; fi
        echo "$name: FAILED (status $status) after $((SECONDS - begin)) s; its output ended:" >>"$log"
        tail -n 40 "$scratch/$name.log" >>"$log"
    fi
}

start=$SECONDS
step hard_videos "${limits[3]}" benchmarks/bench_hard_videos.py "${hard[@]}" --video-dir "$scratch/hard_videos"
step data "${limits[0]}" benchmarks/bench_data.py "${videos[@]}" "${data[@]}"
step train "${limits[1]}" benchmarks/bench_train.py "${videos[@]}" "${train[@]}"
step loss "${limits[2]}" benchmarks/bench_loss.py "${loss[@]}"

"$py" benchmarks/gpu_check_report.py --device "$device" --figures "$scratch" --json "$out/gpu_check.json" \
    --started "$started" --command "$command" --seconds "$((SECONDS - start))"
