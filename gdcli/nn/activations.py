"""The hidden-layer activations of the networks: lookups in the one table of
activations (``gdcli.engine.activations``, which formulas read too).

The graph op builds a node of the evaluation graph for training; the array op
computes the same values with the same numpy kernel, without a graph, for
inference. ``alpha`` is the slope parameter of leaky_relu and elu.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from gdcli.engine.activations import ACTIVATIONS, Activation, identity
from gdcli.engine.autograd import Tensor
from gdcli.errors import ConfigError, did_you_mean

__all__ = ["ACTIVATIONS", "Activation", "activation", "activation_array", "identity", "lookup"]


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
