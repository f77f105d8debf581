"""Training objectives."""

from cvrl_pl.losses.ntxent import NTXentLoss, NTXentOutput, positive_top1, update_scale

__all__ = ["NTXentLoss", "NTXentOutput", "positive_top1", "update_scale"]
