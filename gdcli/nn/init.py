"""Weight initializers: a registry by name, the default for each activation, and
fresh layers drawn from a caller's generator."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from gdcli.errors import ConfigError, did_you_mean
from gdcli.nn.activations import lookup
from gdcli.nn.mlp import Architecture, Layer


def _uniform(limit: Callable[[int, int], float]) -> Callable[..., np.ndarray]:
    def init(fan_in: int, fan_out: int, rng: np.random.Generator, std: float) -> np.ndarray:
        return rng.uniform(-1.0, 1.0, (fan_in, fan_out)) * limit(fan_in, fan_out)

    return init


def _normal(scale: Callable[[int, int], float]) -> Callable[..., np.ndarray]:
    def init(fan_in: int, fan_out: int, rng: np.random.Generator, std: float) -> np.ndarray:
        return rng.standard_normal((fan_in, fan_out)) * scale(fan_in, fan_out)

    return init


INITIALIZERS: dict[str, Callable[..., np.ndarray]] = {
    # U(-l, l) has variance l^2 / 3; N(0, s^2) plain (not truncated) normals
    "glorot_uniform": _uniform(lambda i, o: math.sqrt(6.0 / (i + o))),  # var 2/(in+out)
    "glorot_normal": _normal(lambda i, o: math.sqrt(2.0 / (i + o))),
    "he_uniform": _uniform(lambda i, o: math.sqrt(6.0 / i)),  # var 2/in
    "he_normal": _normal(lambda i, o: math.sqrt(2.0 / i)),
    "lecun_uniform": _uniform(lambda i, o: math.sqrt(3.0 / i)),  # var 1/in
    "lecun_normal": _normal(lambda i, o: math.sqrt(1.0 / i)),
    "normal": lambda i, o, rng, std: rng.standard_normal((i, o)) * std,  # var std^2
}
"""Weight initializers by name: (fan_in, fan_out, rng, std) -> float64 (fan_in, fan_out)."""

DEFAULT_NORMAL_STD = 0.01


def default_initializer(activation_name: str) -> str:
    """He (normal) for the ReLU family, Glorot (uniform) for everything else."""
    lookup(activation_name)
    if activation_name in ("relu", "leaky_relu", "elu", "gelu"):
        return "he_normal"
    return "glorot_uniform"


def init_layers(
    arch: Architecture,
    initializer: str | None,
    std: float | None,
    rng: np.random.Generator,
) -> list[Layer]:
    """Fresh parameters: weights drawn from ``rng`` layer by layer, biases zero.

    ``initializer`` names one entry of ``INITIALIZERS`` for every layer; None picks
    ``default_initializer`` of each hidden layer's activation for that layer and
    glorot_uniform for the output layer. ``std`` is the standard deviation of the
    ``normal`` initializer (default 0.01) and is an error with any other.
    Every initializer draws one standardized array per layer in the same order, so
    two architectures that differ only in their activations get identical weights
    from the same seed and initializer. Draws are float64, then cast to the dtype.
    """
    if initializer is not None and initializer not in INITIALIZERS:
        raise ConfigError(
            f"unknown initializer {initializer!r}{did_you_mean(initializer, INITIALIZERS)}; "
            f"valid: {', '.join(INITIALIZERS)}"
        )
    if std is not None and initializer != "normal":
        raise ConfigError("std only applies to the 'normal' initializer")
    if std is not None and not std > 0:
        raise ConfigError(f"std must be > 0, got {std}")
    names = (
        [initializer] * (len(arch.sizes) - 1)
        if initializer is not None
        else [*(default_initializer(a) for a in arch.activations), "glorot_uniform"]
    )
    dt = arch.np_dtype
    s = DEFAULT_NORMAL_STD if std is None else float(std)
    return [
        Layer(INITIALIZERS[name](i, o, rng, s).astype(dt), np.zeros(o, dtype=dt))
        for name, i, o in zip(names, arch.sizes[:-1], arch.sizes[1:], strict=True)
    ]
