"""The activations: one table, name -> graph op, array op, default alpha, derivative,
kinks.

The table lives in the engine because formulas (``expr``) may call every activation
and the engine imports nothing above it; ``gdcli.nn.activations`` looks names up in
it for the networks. The graph op (``autograd``) builds a node of the evaluation
graph; the array op computes the same values with the same numpy kernel, without a
graph. ``alpha`` is the slope parameter of leaky_relu and elu (None for the
activations without one). Derivatives are never written here a second time:
``values_and_derivatives`` runs the graph op backwards.

At a kink the derivative is PyTorch's convention: relu'(0) = 0, leaky_relu'(0) =
alpha, elu'(0) = alpha, and heaviside' = 0 everywhere (torch has no derivative for
it; at 0 it does not exist).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from gdcli.engine import autograd as ag
from gdcli.engine.autograd import Tensor


def identity(x: Tensor) -> Tensor:
    return x


def _identity_array(x: np.ndarray) -> np.ndarray:
    return x


@dataclass(frozen=True)
class Activation:
    """One activation: ``graph`` and ``array`` take ``(x)``, or ``(x, alpha)`` when
    ``alpha`` (the default slope) is not None; ``derivative`` says what flows back;
    ``kinks`` are the points where the derivative does not exist (the table and
    the pictures mark them); ``lecture`` marks the lecture's six, which
    compare-activations runs by default."""

    graph: Callable[..., Tensor]
    array: Callable[..., np.ndarray]
    alpha: float | None
    derivative: str
    lecture: bool = False
    kinks: tuple[float, ...] = ()


def _kinked(
    graph: Callable[..., Tensor], array: Callable[..., np.ndarray], alpha: float | None, d: str
) -> Activation:
    """A lecture activation with a kink at 0, where its derivative takes PyTorch's value."""
    return Activation(graph, array, alpha, d, lecture=True, kinks=(0.0,))


ACTIVATIONS: dict[str, Activation] = {
    "linear": Activation(identity, _identity_array, None, "1", lecture=True),
    "sigmoid": Activation(
        ag.sigmoid, ag.sigmoid_array, None, "s(x) (1 - s(x)), at most 1/4", lecture=True
    ),
    "tanh": Activation(ag.tanh, np.tanh, None, "1 - tanh(x)^2", lecture=True),
    "relu": _kinked(ag.relu, ag.relu_array, None, "1 for x > 0, else 0 (0 at the kink)"),
    "leaky_relu": _kinked(
        ag.leaky_relu, ag.leaky_relu_array, 0.01, "1 for x > 0, else alpha (alpha at the kink)"
    ),
    "heaviside": _kinked(
        ag.heaviside, ag.heaviside_array, None, "0 wherever it exists: nothing flows back"
    ),
    "elu": Activation(ag.elu, ag.elu_array, 1.0, "1 for x > 0, else alpha e^x"),
    "softplus": Activation(ag.softplus, ag.softplus_array, None, "sigmoid(x)"),
    "gelu": Activation(ag.gelu, ag.gelu_array, None, "Phi(x) + x phi(x), Phi the normal CDF"),
}
"""Activations by name (all elementwise)."""


def values_and_derivatives(
    name: str, x: Sequence[float] | np.ndarray, alpha: float | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """h(x) and h'(x) (float64, x's shape) of activation ``name`` (a key of the table):
    the graph op forward, then backward from a seed of ones, so h' is what
    backpropagation passes, kinks included. ``alpha`` None: the default slope."""
    entry = ACTIVATIONS[name]
    t = Tensor(np.asarray(x, dtype=np.float64), requires_grad=True)
    out = entry.graph(t) if alpha is None or entry.alpha is None else entry.graph(t, alpha)
    out.backward()  # a seed of ones (linear's output is its input: ones too)
    assert t.grad is not None
    return out.data.copy(), t.grad


def kink_at(name: str, x: float) -> bool:
    """Whether ``x`` is a kink of activation ``name``: a point where h' does not exist
    and the value shown is PyTorch's convention."""
    return float(x) in ACTIVATIONS[name].kinks


def activations_summary(points: Sequence[float]) -> dict[str, object]:
    """Every activation's h and h' at ``points`` (the JSON of ``gdcli activations``):
    its default alpha, its derivative in words, its kinks and, per point, h, h' and
    whether the point is a kink."""
    rows = []
    for name, entry in ACTIVATIONS.items():
        h, dh = values_and_derivatives(name, points)
        rows.append(
            {
                "name": name,
                "alpha": entry.alpha,
                "derivative": entry.derivative,
                "kinks": list(entry.kinks),
                "h": h.tolist(),
                "dh": dh.tolist(),
                "at_kink": [kink_at(name, x) for x in points],
            }
        )
    return {"command": "activations", "points": [float(x) for x in points], "activations": rows}
