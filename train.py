#!/usr/bin/env python
"""Train CVRL: ``python train.py --config conf/pretrain.yaml [dotted.key=value ...]``."""

import sys

from cvrl_pl.train import main

if __name__ == "__main__":
    sys.exit(main())
