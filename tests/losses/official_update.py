"""Run with TensorFlow and tf-models-official (requirements-convert.txt): the official CVRL pretraining's loss
(official/projects/video_ssl/losses/losses.py, ``contrastive_loss``: loss_a + loss_b plus its L2 term) and its SGD
(tf_keras' legacy SGD, momentum 0.9, as the Model Garden's ``sgd`` builds it) on a small linear model at one
replica, against cvrl_pl's NT-Xent and optimisers on the same data. Prints one JSON line; used by
tests/losses/test_official_update.py.

    python tests/losses/official_update.py
"""

from __future__ import annotations

import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import tf_keras  # noqa: E402
import torch  # noqa: E402
from official.projects.video_ssl.losses import losses  # noqa: E402

from cvrl_pl.losses import NTXentLoss, update_scale  # noqa: E402
from cvrl_pl.optim import build_optimizer  # noqa: E402

N, D_IN, D_OUT, TEMPERATURE, WD = 8, 16, 12, 0.1, 0.05
LRS = [0.0, 0.05, 0.1, 0.2, 0.1, 0.02]  # warm-up then decay: where the two momentum forms differ


class Linear:
    """What contrastive_loss reads of a Keras model: its trainable variables, the kernels named so."""

    def __init__(self, kernel: np.ndarray):
        self.kernel = tf.Variable(kernel, name="kernel")
        self.trainable_variables = [self.kernel]


def official_step(model: Linear, x: np.ndarray) -> tuple[tf.Tensor, tf.Tensor]:
    """The official total loss and its gradient with respect to the kernel."""
    with tf.GradientTape() as tape:
        hidden = tf.matmul(x, model.kernel)  # rows 0..N-1 the first clips, N..2N-1 the second (tf.split in the loss)
        total = losses.contrastive_loss(hidden, 1, True, TEMPERATURE, model, WD)["total_loss"]
    return total, tape.gradient(total, model.kernel)


def ours(kind: str, kernel: np.ndarray, x: torch.Tensor) -> tuple[torch.nn.Linear, float, float]:
    """A linear model with ``kernel`` and the loss and decay factors of loss.update_scale=``kind`` at one replica."""
    model = torch.nn.Linear(D_IN, D_OUT, bias=False)
    with torch.no_grad():
        model.weight.copy_(torch.from_numpy(kernel.T.copy()))
    loss_factor, decay_factor = update_scale(kind, 1)
    return model, loss_factor, decay_factor


def our_loss(model: torch.nn.Linear, x: torch.Tensor, factor: float) -> torch.Tensor:
    return NTXentLoss(TEMPERATURE)(*model(x).chunk(2)) * factor


def run_steps(name: str, kind: str, kernel: np.ndarray, x: torch.Tensor) -> np.ndarray:
    """The kernel after one optimiser step per rate of LRS, with cvrl_pl's optimiser ``name``."""
    model, loss_factor, decay_factor = ours(kind, kernel, x)
    optimizer = build_optimizer(name, model, LRS[0], momentum=0.9, weight_decay=WD * decay_factor, lars_eta=0.001)
    for lr in LRS:
        for group in optimizer.param_groups:
            group["lr"] = lr
        optimizer.zero_grad()
        our_loss(model, x, loss_factor).backward()
        optimizer.step()
    return model.weight.detach().numpy().T


def main() -> None:
    rng = np.random.default_rng(0)
    x_np = rng.normal(size=(2 * N, D_IN)).astype(np.float32)
    kernel = rng.normal(size=(D_IN, D_OUT)).astype(np.float32) / 4
    x = torch.from_numpy(x_np)

    total, official_grad = official_step(Linear(kernel), x_np)
    results = {}
    for kind in ("official", "mean"):
        model, loss_factor, decay_factor = ours(kind, kernel, x)
        loss = our_loss(model, x, loss_factor)
        loss.backward()
        # what the optimiser adds to the gradient: coupled weight decay on the kernel
        grad = (model.weight.grad + WD * decay_factor * model.weight.detach()).numpy().T
        scale = float(np.abs(official_grad.numpy()).max())
        results[f"{kind}_grad_error"] = float(np.abs(grad - official_grad.numpy()).max()) / scale
        l2 = WD * decay_factor * float((model.weight.detach() ** 2).sum()) / 2
        results[f"ours_{kind}_loss"] = float(loss.detach()) + l2
    results["tf_total_loss"] = float(total)

    # The update over steps with a changing rate: tf_keras' legacy SGD (momentum 0.9) on the official loss.
    official = Linear(kernel)
    optimizer = tf_keras.optimizers.legacy.SGD(learning_rate=LRS[0], momentum=0.9)
    for lr in LRS:
        optimizer.learning_rate = lr
        _, g = official_step(official, x_np)
        optimizer.apply_gradients([(g, official.kernel)])
    after = official.kernel.numpy()
    moved = float(np.abs(after - kernel).max())
    for name in ("sgd_keras", "sgd"):
        mine = run_steps(name, "official", kernel, x)
        results[f"{name}_step_error"] = float(np.abs(mine - after).max()) / moved
    results["moved"] = moved
    print(json.dumps(results))


if __name__ == "__main__":
    main()
