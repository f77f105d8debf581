"""Feature extraction for the probes: views averaged per video, and under DDP gathered with padding removed."""

import torch

from cvrl_pl.eval.features import extract_features
from tests.helpers.ddp import run_gloo


def _encoder():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 2 * 4 * 4, 5))


def _batches(samples, spatial=2):
    """Loader batches of (video, clip) samples whose views are a deterministic function of (video, clip, view)."""
    out = []
    for chunk in (samples[i : i + 2] for i in range(0, len(samples), 2)):
        views = torch.stack(
            [
                torch.stack([torch.full((3, 2, 4, 4), float(v * 10 + c + s / 10)) for s in range(spatial)])
                for v, c in chunk
            ]
        )
        out.append(
            {
                "views": views,
                "label": torch.tensor([v % 3 for v, _ in chunk]),
                "video_id": torch.tensor([v for v, _ in chunk]),
                "clip_idx": torch.tensor([c for _, c in chunk]),
            }
        )
    return out


ALL = [(v, c) for v in range(3) for c in range(2)]  # 3 videos x 2 clips
SHARDS = [ALL[:3] + [ALL[0]], ALL[3:] + [ALL[5]]]  # two ranks of 4 samples: 3 real + 1 padding repeat each


def test_views_are_averaged_per_video():
    got = extract_features(_encoder(), _batches(ALL + [ALL[2], ALL[3]]), torch.device("cpu"))  # with 2 repeats
    enc = _encoder().eval()
    with torch.no_grad():
        expected = torch.stack(
            [
                torch.stack(
                    [enc(torch.full((1, 3, 2, 4, 4), v * 10 + c + s / 10))[0] for c in range(2) for s in range(2)]
                ).mean(0)
                for v in range(3)
            ]
        )
    assert got.video_ids.tolist() == [0, 1, 2] and got.labels.tolist() == [0, 1, 2]
    torch.testing.assert_close(got.features, expected)


def _rank(rank, world_size):
    f = extract_features(_encoder(), _batches(SHARDS[rank]), torch.device("cpu"))
    return f.features, f.labels, f.video_ids


def test_ranks_gather_every_video_once():
    single = extract_features(_encoder(), _batches(ALL), torch.device("cpu"))
    results = run_gloo(2, _rank)
    for rank in (0, 1):
        features, labels, ids = results[rank]
        assert ids.tolist() == [0, 1, 2] and labels.tolist() == [0, 1, 2]
        torch.testing.assert_close(features, single.features)  # padding repeats did not weigh twice
