"""The hidden-layer activations: one table, name -> graph op, array op, default alpha,
derivative.

The graph op (``autograd``) builds a node of the evaluation graph for training; the
array op computes the same values with the same numpy kernel, without a graph, for
inference. ``alpha`` is the slope parameter of leaky_relu and elu (None for the
activations without one).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from gdcli.engine import autograd as ag
from gdcli.engine.autograd import Tensor
from gdcli.errors import ConfigError, did_you_mean


def identity(x: Tensor) -> Tensor:
    return x


def _identity_array(x: np.ndarray) -> np.ndarray:
    return x


@dataclass(frozen=True)
class Activation:
    """One activation: ``graph`` and ``array`` take ``(x)``, or ``(x, alpha)`` when
    ``alpha`` (the default slope) is not None; ``derivative`` says what flows back;
    ``lecture`` marks the lecture's six, which compare-activations runs by default."""

    graph: Callable[..., Tensor]
    array: Callable[..., np.ndarray]
    alpha: float | None
    derivative: str
    lecture: bool = False


ACTIVATIONS: dict[str, Activation] = {
    "linear": Activation(identity, _identity_array, None, "1", lecture=True),
    "sigmoid": Activation(
        ag.sigmoid, ag.sigmoid_array, None, "s(x) (1 - s(x)), at most 1/4", lecture=True
    ),
    "tanh": Activation(ag.tanh, np.tanh, None, "1 - tanh(x)^2", lecture=True),
    "relu": Activation(
        ag.relu, ag.relu_array, None, "1 for x > 0, else 0 (0 at the kink)", lecture=True
    ),
    "leaky_relu": Activation(
        ag.leaky_relu, ag.leaky_relu_array, 0.01, "1 for x > 0, else alpha", lecture=True
    ),
    "heaviside": Activation(
        ag.heaviside,
        ag.heaviside_array,
        None,
        "0 wherever it exists: nothing flows back",
        lecture=True,
    ),
    "elu": Activation(ag.elu, ag.elu_array, 1.0, "1 for x > 0, else alpha e^x"),
    "softplus": Activation(ag.softplus, ag.softplus_array, None, "sigmoid(x)"),
    "gelu": Activation(
        ag.gelu, ag.gelu_array, None, "0.5 (1 + t) + 0.5 x (1 - t^2) du/dx, t = tanh(u)"
    ),
}
"""Hidden-layer activations by name (all elementwise)."""


def lookup(name: str) -> Activation:
    """The table entry of activation ``name``; a ConfigError naming the valid ones if none."""
    entry = ACTIVATIONS.get(name)
    if entry is None:
        raise ConfigError(
            f"unknown activation {name!r}{did_you_mean(name, ACTIVATIONS)}; "
            f"valid: {', '.join(ACTIVATIONS)}"
        )
    return entry


def activation(name: str, alpha: float | None = None) -> Callable[[Tensor], Tensor]:
    """The graph op ``name``; ``alpha`` (None: the default) only for leaky_relu/elu."""
    entry = lookup(name)
    if alpha is None or entry.alpha is None:
        return entry.graph
    fn, a = entry.graph, float(alpha)
    return lambda x: fn(x, a)


def activation_array(name: str, alpha: float | None = None) -> Callable[[np.ndarray], np.ndarray]:
    """The array op of ``activation(name, alpha)``: same values, no graph."""
    entry = lookup(name)
    if alpha is None or entry.alpha is None:
        return entry.array
    fn, a = entry.array, float(alpha)
    return lambda x: fn(x, a)
