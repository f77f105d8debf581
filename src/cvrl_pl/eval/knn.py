"""Weighted kNN classification on L2-normalised features (the usual SSL monitor; Wu et al. 2018).

Cosine similarity, the k nearest bank features (k capped at the bank size), each voting for its class with weight
exp(sim / T). Queries and the bank are both processed in chunks, keeping a running top-k, so memory stays at
O(chunk x chunk + queries x k) beside the bank itself, whatever the bank's size.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
import torch.nn.functional as F


def nearest(
    bank: torch.Tensor, queries: torch.Tensor, k: int, chunk_size: int = 1024
) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """For each chunk of queries: (its rows of ``queries``, cosine similarities and bank indices of its k nearest
    bank rows, most similar first). Both sides in chunks, with a running top-k: memory O(chunk^2 + chunk x k)."""
    k = min(k, bank.shape[0])
    bank = F.normalize(bank, dim=1)
    for start_q in range(0, queries.shape[0], chunk_size):
        q = F.normalize(queries[start_q : start_q + chunk_size], dim=1)
        top_sim = torch.full((q.shape[0], 0), float("-inf"), dtype=torch.float32, device=q.device)
        top_idx = torch.zeros((q.shape[0], 0), dtype=torch.long, device=q.device)
        for start in range(0, bank.shape[0], chunk_size):
            sim = (q @ bank[start : start + chunk_size].T).float()
            sim, idx = sim.topk(min(k, sim.shape[1]), dim=1)
            top_sim, order = torch.cat([top_sim, sim], 1).topk(min(k, top_sim.shape[1] + sim.shape[1]), dim=1)
            top_idx = torch.cat([top_idx, idx + start], 1).gather(1, order)
        yield torch.arange(start_q, start_q + q.shape[0], device=q.device), top_sim, top_idx


def knn_scores(
    bank: torch.Tensor,
    bank_labels: torch.Tensor,
    queries: torch.Tensor,
    num_classes: int,
    *,
    k: int = 200,
    temperature: float = 0.1,
    chunk_size: int = 1024,
) -> torch.Tensor:
    """Class scores (Q, num_classes) of each query: the sum of exp(sim / T) over its k nearest bank features."""
    scores = []
    for rows, top_sim, top_idx in nearest(bank, queries, k, chunk_size):
        votes = torch.zeros(len(rows), num_classes, device=queries.device)
        votes.scatter_add_(1, bank_labels[top_idx], (top_sim / temperature).exp())
        scores.append(votes)
    return torch.cat(scores)


def topk_accuracy(scores: torch.Tensor, labels: torch.Tensor, ks: tuple[int, ...] = (1, 5)) -> dict[int, float]:
    """Percentage of rows whose label is among the k highest scores, for each k (capped at the class count)."""
    ranked = scores.topk(min(max(ks), scores.shape[1]), dim=1).indices
    hits = ranked == labels[:, None]
    return {k: 100.0 * hits[:, :k].any(dim=1).float().mean().item() for k in ks}
