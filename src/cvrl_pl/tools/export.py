"""Export the encoder of a pretraining checkpoint for use without Lightning.

``python -m cvrl_pl.tools.export CKPT --out encoder.pt`` writes the encoder's plain state dict with its architecture
(see :mod:`cvrl_pl.models.encoder_file`); ``model.init=encoder.pt`` starts linear evaluation or fine-tuning from it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cvrl_pl.models.encoder_file import export_encoder


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", type=Path, help="a pretraining checkpoint (runs/<name>/checkpoints/last.ckpt)")
    parser.add_argument("--out", required=True, type=Path, help="output file, e.g. encoder.pt")
    args = parser.parse_args(argv)
    try:
        blob = export_encoder(args.checkpoint, args.out)
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    params = sum(v.numel() for k, v in blob["state_dict"].items() if "running" not in k and "num_batches" not in k)
    print(f"wrote {args.out}: {blob['arch']}, {params / 1e6:.3f}M parameters, step {blob['global_step']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
