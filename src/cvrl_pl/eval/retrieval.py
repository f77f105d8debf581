"""Video retrieval recall (the nearest-neighbour retrieval protocol of video SSL papers, e.g. Xu et al. 2019,
Han et al. 2020): each test video queries the training videos by cosine similarity of L2-normalised features; a
query is a hit at k when any of its k nearest training videos has its class. R@k is the percentage of hits."""

from __future__ import annotations

import torch

from cvrl_pl.eval.knn import nearest


def recall_at_k(
    bank: torch.Tensor,
    bank_labels: torch.Tensor,
    queries: torch.Tensor,
    query_labels: torch.Tensor,
    *,
    ks: tuple[int, ...] = (1, 5, 10, 20, 50),
    chunk_size: int = 1024,
) -> dict[int, float]:
    """R@k for each k (a k past the bank size counts the whole bank), computed in chunks like the kNN."""
    hits = torch.zeros(len(ks), dtype=torch.long)
    for rows, _, top_idx in nearest(bank, queries, max(ks), chunk_size):
        same = bank_labels[top_idx] == query_labels[rows, None]
        hits += torch.stack([same[:, :k].any(dim=1).sum() for k in ks]).cpu()
    return {k: 100.0 * int(h) / max(1, queries.shape[0]) for k, h in zip(ks, hits, strict=True)}
