"""The losses and output activations, as fused nodes of the evaluation graph.

Each loss node computes its value and its adjoint from the logits in one step
(``bce_with_logits``, ``softmax_cross_entropy``) or from the outputs (``mse``), with
a hand-written backward closure. The two from the logits are array functions
wrapped in a node (``LOGIT_LOSSES``), so the trainer's step without a graph
(``fused``) computes the very same numbers.
"""

from __future__ import annotations

from collections.abc import Callable
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


Adjoint = Callable[[np.ndarray], np.ndarray]
"""A loss's adjoint with respect to the logits for the loss's adjoint ``g`` (0-d)."""


def bce_with_logits_arrays(zd: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, Adjoint]:
    """``bce_with_logits`` on arrays: its value (0-d) and its adjoint."""
    n = zd.shape[0]
    t = np.asarray(y, dtype=zd.dtype).reshape(n, 1)
    out = np.asarray((np.logaddexp(0.0, zd) - t * zd).sum() / n)

    def adjoint(g: np.ndarray) -> np.ndarray:
        return (ag.sigmoid_array(zd) - t) * (g / n)

    return out, adjoint


def bce_with_logits(z: Tensor, y: np.ndarray) -> Tensor:
    """Mean binary cross-entropy of sigmoid(z) against 0/1 targets, from the logits.

    z (n, 1), y (n,). The loss is mean(softplus(z) - y z), with softplus computed as
    logaddexp(0, z), so it is finite for any logit; the adjoint is (sigmoid(z) - y)/n.
    """
    return _node(z, "bce", *bce_with_logits_arrays(z.data, y))


def softmax_cross_entropy_arrays(zd: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, Adjoint]:
    """``softmax_cross_entropy`` on arrays: its value (0-d) and its adjoint."""
    n = zd.shape[0]
    rows = np.arange(n)
    idx = np.asarray(y, dtype=np.intp)
    s = zd - zd.max(axis=1, keepdims=True)
    e = np.exp(s)
    total = e.sum(axis=1, keepdims=True)
    out = np.asarray((np.log(total[:, 0]) - s[rows, idx]).sum() / n)

    def adjoint(g: np.ndarray) -> np.ndarray:
        d = e / total
        d[rows, idx] -= 1.0
        d *= g / n
        return d

    return out, adjoint


def softmax_cross_entropy(z: Tensor, y: np.ndarray) -> Tensor:
    """Mean cross-entropy of softmax(z) against integer classes, from the logits.

    z (n, k), y (n,) in 0..k-1. The loss is mean(logsumexp(z) - z[y]) with the row
    maximum subtracted first; the adjoint is (softmax(z) - onehot(y))/n.
    """
    return _node(z, "cross_entropy", *softmax_cross_entropy_arrays(z.data, y))


LOGIT_LOSSES: dict[str, Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, Adjoint]]] = {
    "bce": bce_with_logits_arrays,
    "cross_entropy": softmax_cross_entropy_arrays,
}
"""The losses computed from the logits in one step, on arrays: loss -> (value, adjoint)."""


def _node(z: Tensor, op: str, out: np.ndarray, adjoint: Adjoint) -> Tensor:
    """The loss node of value ``out`` on the logits ``z``."""

    def backward(g: np.ndarray) -> None:
        z._accumulate(adjoint(g))

    return Tensor._make(out, (z,), op, backward)


def mse(pred: Tensor, target: np.ndarray) -> Tensor:
    """Mean over ALL elements of (pred - target)^2; target has pred's shape."""
    diff = pred.data - np.asarray(target, dtype=pred.data.dtype)
    size = diff.size
    out = np.asarray(np.vdot(diff, diff) / size)

    def backward(g: np.ndarray) -> None:
        pred._accumulate(diff * (2 * g / size))

    return Tensor._make(out, (pred,), "mse", backward)
