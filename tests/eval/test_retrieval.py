"""Retrieval recall against a brute-force loop, and the three-split summary's numbers and table."""

import math

import pytest
import torch
import torch.nn.functional as F

from cvrl_pl.eval.retrieval import recall_at_k
from cvrl_pl.eval.splits import report_table, summarise_splits


def brute_force_recall(bank, bank_labels, queries, query_labels, ks):
    """One query at a time: rank every training video by cosine similarity; a hit at k if any of the first k
    has the query's class."""
    bank, queries = F.normalize(bank, dim=1), F.normalize(queries, dim=1)
    hits = dict.fromkeys(ks, 0)
    for q, label in zip(queries, query_labels, strict=True):
        ranked = sorted(range(len(bank)), key=lambda i: -float(q @ bank[i]))
        for k in ks:
            hits[k] += any(int(bank_labels[i]) == int(label) for i in ranked[:k])
    return {k: 100.0 * h / len(queries) for k, h in hits.items()}


@pytest.mark.parametrize(("n_bank", "n_query", "classes", "chunk"), [(60, 25, 7, 8), (33, 40, 3, 5), (12, 9, 12, 1000)])
def test_recall_matches_brute_force(n_bank, n_query, classes, chunk):
    gen = torch.Generator().manual_seed(n_bank + n_query)
    bank, queries = torch.randn(n_bank, 16, generator=gen), torch.randn(n_query, 16, generator=gen)
    bank_labels = torch.randint(0, classes, (n_bank,), generator=gen)
    query_labels = torch.randint(0, classes, (n_query,), generator=gen)
    ks = (1, 5, 10, 20, 50)
    got = recall_at_k(bank, bank_labels, queries, query_labels, ks=ks, chunk_size=chunk)
    assert got == pytest.approx(brute_force_recall(bank, bank_labels, queries, query_labels, ks))
    assert list(got) == list(ks) and all(got[a] <= got[b] for a, b in zip(ks, ks[1:], strict=False))
    if n_bank <= 50:  # k past the gallery: the whole gallery, so a hit whenever the class is in it at all
        assert got[50] == 100.0 * sum(int(q in bank_labels) for q in query_labels) / n_query


def test_queries_that_are_the_gallery_find_themselves():
    gen = torch.Generator().manual_seed(0)
    features = torch.randn(40, 32, generator=gen)
    labels = torch.arange(40)  # one video per class: only the video itself is a hit
    recall = recall_at_k(features, labels, features.clone(), labels, ks=(1, 5), chunk_size=7)
    assert recall == {1: 100.0, 5: 100.0}
    shuffled = recall_at_k(features, labels, features, labels.roll(1), ks=(1,), chunk_size=7)
    assert shuffled[1] < 10.0


def test_split_summary_has_per_split_mean_and_sample_std():
    per_split = {
        1: {"top1": 70.0, "top5": 90.0, "videos": 10},
        2: {"top1": 74.0, "top5": 92.0, "videos": 12},
        3: {"top1": 72.0, "top5": 91.0, "videos": 11, "init": "x.pt"},
    }
    summary = summarise_splits(per_split)
    assert summary["splits"]["2"]["top1"] == 74.0
    assert summary["mean"] == {"top1": 72.0, "top5": 91.0, "videos": 11.0}
    assert summary["std"]["top1"] == pytest.approx(2.0) and summary["std"]["top5"] == pytest.approx(1.0)
    assert summarise_splits({1: {"top1": 5.0}})["std"] == {"top1": 0.0}
    table = report_table(summary, ["top1", "top5"]).splitlines()
    assert table[0] == "| split | top1 | top5 |" and table[2] == "| 1 | 70.00 | 90.00 |"
    assert table[-2:] == ["| mean | 72.00 | 91.00 |", "| std | 2.00 | 1.00 |"]
    assert math.isclose(summary["std"]["videos"], 1.0)
