#!/usr/bin/env bash
# GPU readiness: the headline figures on one GPU (an H100) in under 8 minutes, written as one JSON file.
#
#   bash benchmarks/gpu_check.sh [OUT_DIR]          # default OUT_DIR: $OUT if set, else ./gpu_check
#
# Needs, beyond the image's PyTorch (a CUDA build of torch==2.13.0), all pinned in requirements.txt:
#   nvidia-dali-cuda120==2.4.0   (no internet on the GPU box: carry the wheel, set DALI_WHEEL=path/to/it.whl)
#   pytorch-lightning==2.6.6 torchmetrics==1.9.0 omegaconf==2.4.0 av==18.1.0 numpy tqdm, and this repository
#   (installed here with --no-deps). Wheels in $WHEELS (a folder) are installed offline first if it is set.
#
# Steps: (1) H.264 test videos at Kinetics-like size (340x256, 10 s); (2) the DALI pipeline with mixed (NVDEC)
# decoding and the full augmentation on the GPU, in clips/s, against decoding alone; (3) the R3D-50 16x224
# training step in bf16 at the largest batch that fits, with the tensors on the GPU (ceiling) and fed by the
# DALI pipeline (end to end), their ratio and the end-to-end wait for batches; (4) NT-Xent against the global
# batch up to 4096.
# GPU_CHECK_DEVICE=cpu runs the same steps at toy sizes on a CPU (to check the script without a GPU).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-${OUT:-.}/gpu_check}
mkdir -p "$out"
device=${GPU_CHECK_DEVICE:-gpu}

if [[ -n "${WHEELS:-}" ]]; then pip install -q --no-index --find-links "$WHEELS" "$WHEELS"/*.whl; fi
if [[ -n "${DALI_WHEEL:-}" ]]; then pip install -q --no-deps "$DALI_WHEEL"; fi
python -c "import cvrl_pl" 2>/dev/null || pip install -q --no-deps -e .

if [[ $device == gpu ]]; then
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$out/gpu.txt"
    videos=(--codec h264 --width 340 --height 256 --video-dir "$out/videos")
    data=(--videos 64 --frames 250 --num-frames 16 --crop 224 --batch 32 --workers 8 --threads 8 --seconds 30 --rounds 2)
    train=(--encoder r3d50 --base-channels 64 --frames 16 --size 224 --batch max --variants bf16,bf16+cl
           --videos 64 --video-frames 250 --workers 8 --threads 8 --warmup 5 --seconds 20)
    loss=(--sizes 256,512,1024,2048,4096)
else
    videos=(--codec h264 --width 96 --height 72 --video-dir "$out/videos")
    data=(--videos 8 --frames 40 --num-frames 4 --crop 32 --batch 4 --workers 1 --threads 1 --seconds 1)
    train=(--encoder r3d18 --base-channels 8 --frames 4 --size 32 --batch 4 --variants fp32
           --videos 8 --video-frames 40 --workers 1 --threads 1 --warmup 1 --seconds 1)
    loss=(--sizes 64,128 --repeats 1)
fi

start=$SECONDS
python benchmarks/bench_data.py --device "$device" "${videos[@]}" "${data[@]}" --json "$out/data.json"
python benchmarks/bench_train.py --device "$device" "${videos[@]}" "${train[@]}" --json "$out/train.json"
python benchmarks/bench_loss.py --device "$device" "${loss[@]}" --json "$out/loss.json"

python - "$out" "$((SECONDS - start))" <<'EOF'
import json, sys
from pathlib import Path
out = Path(sys.argv[1])
figures = {name: json.loads((out / f"{name}.json").read_text()) for name in ("data", "train", "loss")}
figures["seconds"] = int(sys.argv[2])
(out / "gpu_check.json").write_text(json.dumps(figures, indent=1))
print(json.dumps(figures))
EOF
