"""The losses and output activations, as fused nodes of the evaluation graph.

Each loss node computes its value and its adjoint from the logits in one step
(``bce_with_logits``, ``softmax_cross_entropy``) or from the outputs (``mse``), with
a hand-written backward closure.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from gdcli.data import Task
from gdcli.engine import autograd as ag
from gdcli.engine.autograd import Tensor

Output = Literal["sigmoid", "softmax", "identity"]
LossName = Literal["bce", "cross_entropy", "mse"]

OUTPUTS: dict[str, Task] = {"sigmoid": "binary", "softmax": "multiclass", "identity": "regression"}
"""Output activation -> the task it serves."""

LOSSES: dict[str, tuple[str, ...]] = {
    "bce": ("sigmoid",),
    "cross_entropy": ("softmax",),
    "mse": ("sigmoid", "softmax", "identity"),
}
"""Loss -> the output activations it scores."""


def softmax_array(z: np.ndarray) -> np.ndarray:
    """Row-wise softmax of z (n, k), shifted by the row maximum so it never overflows."""
    e = np.exp(z - z.max(axis=1, keepdims=True))
    e /= e.sum(axis=1, keepdims=True)
    return e


def softmax(z: Tensor) -> Tensor:
    """Row-wise softmax as one node (for the mse loss on a multiclass task)."""
    p = softmax_array(z.data)

    def backward(g: np.ndarray) -> None:
        gp = g * p
        z._accumulate(gp - p * gp.sum(axis=1, keepdims=True))

    return Tensor._make(p, (z,), "softmax", backward)


def bce_with_logits(z: Tensor, y: np.ndarray) -> Tensor:
    """Mean binary cross-entropy of sigmoid(z) against 0/1 targets, from the logits.

    z (n, 1), y (n,). The loss is mean(softplus(z) - y z), with softplus computed as
    logaddexp(0, z), so it is finite for any logit; the adjoint is (sigmoid(z) - y)/n.
    """
    zd = z.data
    n = zd.shape[0]
    t = np.asarray(y, dtype=zd.dtype).reshape(n, 1)
    out = np.asarray((np.logaddexp(0.0, zd) - t * zd).sum() / n)

    def backward(g: np.ndarray) -> None:
        z._accumulate((ag.sigmoid_array(zd) - t) * (g / n))

    return Tensor._make(out, (z,), "bce", backward)


def softmax_cross_entropy(z: Tensor, y: np.ndarray) -> Tensor:
    """Mean cross-entropy of softmax(z) against integer classes, from the logits.

    z (n, k), y (n,) in 0..k-1. The loss is mean(logsumexp(z) - z[y]) with the row
    maximum subtracted first; the adjoint is (softmax(z) - onehot(y))/n.
    """
    zd = z.data
    n = zd.shape[0]
    rows = np.arange(n)
    idx = np.asarray(y, dtype=np.intp)
    s = zd - zd.max(axis=1, keepdims=True)
    e = np.exp(s)
    total = e.sum(axis=1, keepdims=True)
    out = np.asarray((np.log(total[:, 0]) - s[rows, idx]).sum() / n)

    def backward(g: np.ndarray) -> None:
        d = e / total
        d[rows, idx] -= 1.0
        d *= g / n
        z._accumulate(d)

    return Tensor._make(out, (z,), "cross_entropy", backward)


def mse(pred: Tensor, target: np.ndarray) -> Tensor:
    """Mean over ALL elements of (pred - target)^2; target has pred's shape."""
    diff = pred.data - np.asarray(target, dtype=pred.data.dtype)
    size = diff.size
    out = np.asarray(np.vdot(diff, diff) / size)

    def backward(g: np.ndarray) -> None:
        pred._accumulate(diff * (2 * g / size))

    return Tensor._make(out, (pred,), "mse", backward)
