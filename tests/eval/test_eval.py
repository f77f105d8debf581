"""Evaluation maths: kNN against brute force, linear probes, and multi-view aggregation by video id."""

import math

import pytest
import torch
import torch.nn.functional as F

from cvrl_pl.eval.knn import knn_scores, topk_accuracy
from cvrl_pl.eval.linear import fit_linear_probe, probe_scores
from cvrl_pl.eval.views import combine_by_video


def brute_force_knn(bank, labels, queries, num_classes, k, t):
    """One query at a time: sort all similarities, take the k largest, add exp(sim / t) to their classes."""
    bank, queries = F.normalize(bank, dim=1), F.normalize(queries, dim=1)
    out = torch.zeros(len(queries), num_classes)
    for i, q in enumerate(queries):
        sims = [(float(q @ b), int(lab)) for b, lab in zip(bank, labels, strict=True)]
        for sim, lab in sorted(sims, reverse=True)[: min(k, len(sims))]:
            out[i, lab] += math.exp(sim / t)
    return out


@pytest.mark.parametrize(
    ("n_bank", "n_query", "k", "chunk"),
    [(50, 13, 7, 16), (64, 20, 10, 8), (30, 5, 200, 7), (17, 17, 17, 1), (100, 3, 1, 1000)],
)
def test_knn_matches_brute_force(n_bank, n_query, k, chunk):
    gen = torch.Generator().manual_seed(n_bank * k)
    bank, queries = torch.randn(n_bank, 6, generator=gen), torch.randn(n_query, 6, generator=gen)
    labels = torch.randint(0, 4, (n_bank,), generator=gen)
    got = knn_scores(bank, labels, queries, 4, k=k, temperature=0.1, chunk_size=chunk)
    torch.testing.assert_close(got, brute_force_knn(bank, labels, queries, 4, k, 0.1), rtol=1e-4, atol=1e-4)


def test_knn_classifies_clusters_and_topk_accuracy():
    centres = torch.eye(3) * 10
    bank = centres.repeat_interleave(20, 0) + torch.randn(60, 3, generator=torch.Generator().manual_seed(0))
    labels = torch.arange(3).repeat_interleave(20)
    scores = knn_scores(bank, labels, centres + 0.1, 3, k=10)
    assert topk_accuracy(scores, torch.arange(3)) == {1: 100.0, 5: 100.0}
    assert topk_accuracy(torch.tensor([[0.1, 0.5, 0.4], [0.9, 0.05, 0.05]]), torch.tensor([2, 0]), (1, 2)) == {
        1: 50.0,
        2: 100.0,
    }


def test_linear_probe_separates_separable_features_and_is_at_chance_on_random_labels():
    gen = torch.Generator().manual_seed(0)
    directions = F.normalize(torch.randn(10, 32, generator=gen), dim=1)
    train_y, val_y = torch.arange(10).repeat(30), torch.arange(10).repeat(10)
    train_x = directions[train_y] + 0.05 * torch.randn(300, 32, generator=gen)
    val_x = directions[val_y] + 0.05 * torch.randn(100, 32, generator=gen)
    probe = fit_linear_probe(train_x, train_y, 10, epochs=50, lr=0.01)
    assert topk_accuracy(probe_scores(probe, val_x), val_y)[1] >= 98.0

    noise_x, noise_y = torch.randn(2000, 32, generator=gen), torch.randint(0, 10, (2000,), generator=gen)
    probe = fit_linear_probe(noise_x[:1000], noise_y[:1000], 10, epochs=30, lr=0.01)
    assert topk_accuracy(probe_scores(probe, noise_x[1000:]), noise_y[1000:])[1] == pytest.approx(10.0, abs=4.0)


def test_folded_standardisation_keeps_the_probe_linear_in_normalised_features():
    x = torch.randn(200, 8, generator=torch.Generator().manual_seed(1)) * torch.arange(1, 9)
    probe = fit_linear_probe(x, (x[:, 0] > 0).long(), 2, epochs=20)
    assert isinstance(probe, torch.nn.Linear)
    torch.testing.assert_close(probe_scores(probe, x), probe(F.normalize(x, dim=1)))


def test_thirty_view_average_uses_each_view_once():
    # 2 videos x 10 clips; each sample carries 3 spatial views already averaged by the caller; padding repeats
    # (video 1, clip 9) and (video 0, clip 0) as FILL does at the end of an epoch.
    vids = torch.tensor([v for v in (0, 1) for _ in range(10)] + [1, 0])
    clips = torch.tensor(list(range(10)) * 2 + [9, 0])
    values = torch.stack([vids.float() * 100 + clips.float(), torch.ones(22)], dim=1)
    ids, means, counts = combine_by_video(values, vids, clips)
    assert ids.tolist() == [0, 1] and counts.tolist() == [10, 10]
    torch.testing.assert_close(means, torch.tensor([[4.5, 1.0], [104.5, 1.0]]))
    # scores of shape (N, classes): the averaged prediction, not a vote
    ids, means, _ = combine_by_video(
        torch.tensor([[0.9, 0.1], [0.2, 0.8], [0.2, 0.8]]), torch.tensor([5, 5, 5]), torch.tensor([0, 1, 2])
    )
    torch.testing.assert_close(means, torch.tensor([[1.3 / 3, 1.7 / 3]]))


def test_max_combining_takes_each_class_highest_view_and_ignores_padding():
    # multi-label scores: video 3 has 3 views (one padded repeat of clip 1), video 8 has 2
    scores = torch.tensor([[0.1, 0.7], [0.6, 0.2], [0.6, 0.2], [0.3, 0.9], [0.4, 0.1]])
    vids, clips = torch.tensor([3, 3, 3, 8, 8]), torch.tensor([0, 1, 1, 0, 1])
    ids, best, counts = combine_by_video(scores, vids, clips, combine="max")
    assert ids.tolist() == [3, 8] and counts.tolist() == [2, 2]
    torch.testing.assert_close(best, torch.tensor([[0.6, 0.7], [0.4, 0.9]]))
    with pytest.raises(ValueError, match="combine must be one of mean, max"):
        combine_by_video(scores, vids, clips, combine="median")
