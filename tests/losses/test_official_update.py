"""loss.update_scale=official with optim.name=sgd_keras against the official TensorFlow code itself (its loss and
Keras' SGD, run in the TensorFlow environment of the conversion test), at one replica."""

import json

import pytest

from cvrl_pl.losses import update_scale
from tests.helpers import ROOT


@pytest.fixture(scope="module")
def compared(convert_env) -> dict:
    done = convert_env.run(str(ROOT / "tests/losses/official_update.py"), timeout=900)
    assert done.returncode == 0, done.stderr[-4000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_official_gradient_is_twice_ours_at_one_replica_and_the_setting_matches_it(compared):
    assert compared["official_grad_error"] < 1e-5  # loss x 2, weight decay x 1: the official gradient
    assert compared["mean_grad_error"] > 0.2  # ours is half its contrastive part: visibly another update
    # the values too: 2 x our mean + wd * sum(kernel ** 2) / 2 is the official total loss
    assert compared["ours_official_loss"] == pytest.approx(compared["tf_total_loss"], rel=1e-5)
    assert compared["ours_mean_loss"] < 0.6 * compared["tf_total_loss"]


def test_sgd_keras_takes_the_official_steps_while_the_rate_changes_and_torch_sgd_does_not(compared):
    assert compared["moved"] > 1e-2  # the kernel moved: the steps are not all zero
    assert compared["sgd_keras_step_error"] < 1e-5
    assert compared["sgd_step_error"] > 1e-2  # torch's momentum scales the whole velocity by the new rate


def test_update_scale_factors_grow_with_the_replicas():
    assert update_scale("mean", 64) == (1.0, 1.0)
    assert update_scale("official", 1) == (2.0, 1.0)
    # Keras sums the 64 replicas' gradients of loss_a + loss_b, each a mean over the replica's own anchors; DDP
    # averages ours: 2 x 64. Each replica's L2 term adds the decay once: 64 times.
    assert update_scale("official", 64) == (128.0, 64.0)
    with pytest.raises(ValueError, match="unknown update scale 'sum'"):
        update_scale("sum", 1)
