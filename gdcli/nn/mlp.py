"""Multilayer perceptrons on the autograd engine: the architecture, the layers, the
training step's graph, inference without a graph and a gradient check.

A network's parameters are a ``list[Layer]``, one ``Layer(W, b)`` per dense layer with
``W`` of shape (fan_in, fan_out) and ``b`` of shape (fan_out,); ``flatten`` turns them
into the flat list of arrays ``[W1, b1, W2, b2, ...]`` the optimizers work on.

The training step (``loss_and_grads``) builds one small evaluation graph per minibatch:
one fused ``dense`` node per layer (``x @ W + b``), one activation node per hidden
layer and one fused loss node. The fused nodes have hand-written backward closures,
so the graph costs a handful of Python objects per layer on top of the matrix
products a hand-written numpy loop would do. The trainer runs the same numbers
without the graph, into preallocated buffers (``fused.Step``). Inference (``predict_proba``,
``saturation_stats``) runs the activations' array ops, without a graph.

Everything stays in the architecture's dtype (float32 by default): inputs and
targets are cast once on entry, and scale factors are Python numbers or arrays of
that dtype, which numpy's promotion rules (NEP 50) never widen.
"""

from __future__ import annotations

import math
import numbers
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal, NamedTuple

import numpy as np

from gdcli.data import Task
from gdcli.engine import autograd as ag
from gdcli.engine.autograd import Tensor
from gdcli.errors import ConfigError, did_you_mean
from gdcli.nn import losses
from gdcli.nn.activations import ACTIVATIONS, activation, activation_array, identity
from gdcli.nn.losses import LOSSES, OUTPUTS, LossName, Output

DType = Literal["float32", "float64"]


class Layer(NamedTuple):
    """One dense layer: ``W`` (fan_in, fan_out) and ``b`` (fan_out,)."""

    W: np.ndarray
    b: np.ndarray


def flatten(layers: Sequence[Layer]) -> list[np.ndarray]:
    """``[W1, b1, W2, b2, ...]``: the flat parameter list the optimizers work on."""
    return [a for layer in layers for a in layer]


def unflatten(arrays: Sequence[np.ndarray]) -> list[Layer]:
    """Inverse of ``flatten``."""
    if len(arrays) % 2:
        raise ValueError(f"expected [W1, b1, W2, b2, ...], got {len(arrays)} arrays")
    return [Layer(arrays[i], arrays[i + 1]) for i in range(0, len(arrays), 2)]


# -- architecture ------------------------------------------------------------

DTYPES: tuple[str, ...] = ("float32", "float64")


@dataclass(frozen=True)
class Architecture:
    """The shape of an MLP and how it is scored.

    ``sizes`` are the layer widths (input, hidden..., output); ``activations`` name
    one activation per hidden layer; ``alpha`` is the slope of leaky_relu / elu (None:
    each one's default, 0.01 and 1.0). ``output`` is the activation applied to the
    last layer's logits (sigmoid needs 1 output, softmax at least 2) and ``loss``
    scores it: bce with sigmoid, cross_entropy with softmax, mse with any of them.
    """

    sizes: tuple[int, ...]
    activations: tuple[str, ...]
    alpha: float | None = None
    output: Output = "sigmoid"
    loss: LossName = "bce"
    dtype: DType = "float32"

    def __post_init__(self) -> None:
        # tuples even when built from lists (from_dict, configs), so the object hashes
        object.__setattr__(self, "sizes", tuple(self.sizes))
        object.__setattr__(self, "activations", tuple(self.activations))
        problems = [*self._alpha_problems(), *self._layer_problems()]
        problems += self._head_problems(sizes_ok=not problems)
        if self.dtype not in DTYPES:
            problems.append(f"unknown dtype {self.dtype!r}; valid: {', '.join(DTYPES)}")
        if problems:
            raise ConfigError(*problems)
        check_size(self)

    def _alpha_problems(self) -> list[str]:
        if self.alpha is None:
            return []
        if isinstance(self.alpha, numbers.Real) and math.isfinite(self.alpha):
            object.__setattr__(self, "alpha", float(self.alpha))
            return []
        return [f"alpha must be a finite number, got {self.alpha!r}"]

    def _layer_problems(self) -> list[str]:
        problems = []
        widths_ok = all(
            isinstance(s, numbers.Integral) and not isinstance(s, bool) and s >= 1
            for s in self.sizes
        )
        if len(self.sizes) < 2 or not widths_ok:
            problems.append(f"sizes must be at least 2 positive integers, got {list(self.sizes)}")
        else:
            object.__setattr__(self, "sizes", tuple(int(s) for s in self.sizes))
        if len(self.activations) != max(len(self.sizes) - 2, 0):
            problems.append(
                f"{len(self.activations)} activations for {len(self.sizes) - 2} hidden layers"
            )
        problems += [
            f"unknown activation {a!r}{did_you_mean(a, ACTIVATIONS)}"
            for a in self.activations
            if a not in ACTIVATIONS
        ]
        return problems

    def _head_problems(self, sizes_ok: bool) -> list[str]:
        """The output activation, its loss and its number of units; the units only
        when the sizes are valid."""
        if self.output not in OUTPUTS:
            return [f"unknown output {self.output!r}; valid: {', '.join(OUTPUTS)}"]
        if self.output not in LOSSES.get(self.loss, ()):
            return [f"loss {self.loss!r} does not go with output {self.output!r}"]
        if sizes_ok and self.output == "sigmoid" and self.sizes[-1] != 1:
            return [f"a sigmoid output needs 1 unit, got {self.sizes[-1]}"]
        if sizes_ok and self.output == "softmax" and self.sizes[-1] < 2:
            return [f"a softmax output needs at least 2 units, got {self.sizes[-1]}"]
        return []

    @property
    def np_dtype(self) -> np.dtype[Any]:
        return np.dtype(self.dtype)

    @property
    def task(self) -> Task:
        """binary (sigmoid output), multiclass (softmax) or regression (identity)."""
        return OUTPUTS[self.output]

    def n_params(self) -> int:
        """Number of scalar parameters (weights and biases)."""
        return sum((i + 1) * o for i, o in zip(self.sizes[:-1], self.sizes[1:], strict=True))

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able fields (lists, strings, numbers, null)."""
        return {
            "sizes": list(self.sizes),
            "activations": list(self.activations),
            "alpha": self.alpha,
            "output": self.output,
            "loss": self.loss,
            "dtype": self.dtype,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Architecture:
        """Inverse of ``to_dict``; unknown or missing keys are errors."""
        fields = ("sizes", "activations", "alpha", "output", "loss", "dtype")
        unknown = sorted(set(d) - set(fields))
        missing = [f for f in fields if f not in d]
        if unknown or missing:
            raise ConfigError(f"architecture: unknown keys {unknown}, missing keys {missing}")
        return cls(**{f: d[f] for f in fields})


MAX_TRAINING_BYTES = 2 * 2**30
"""The memory training a network may need (``training_bytes``): 2 GiB."""


def training_bytes(arch: Architecture, rows: int = 0) -> int:
    """About the memory (bytes) that training ``arch`` needs at its peak.

    The parameters, their gradients and an optimizer's two moments (4 copies of the
    parameters), and for ``rows`` rows at once (a minibatch, or the whole training
    set when the metrics are computed) every layer's pre-activation, activation and
    adjoint (3 copies of rows x width), all in the architecture's dtype.
    """
    item = np.dtype(arch.dtype).itemsize
    return item * (4 * arch.n_params() + 3 * rows * sum(arch.sizes))


def check_size(arch: Architecture, rows: int = 0) -> None:
    """ConfigError when training ``arch`` on ``rows`` rows at once would need more than
    MAX_TRAINING_BYTES, saying the size and the limit; checked before any allocation."""
    from gdcli.data import size_text

    need = training_bytes(arch, rows)
    if need > MAX_TRAINING_BYTES:
        on = f" on {rows} rows" if rows else ""
        raise ConfigError(
            f"the network {list(arch.sizes)} has {arch.n_params():,} parameters; training it"
            f"{on} needs about {size_text(need)} of memory ({arch.dtype} weights, gradients,"
            f" optimizer state and activations); the limit is {size_text(MAX_TRAINING_BYTES)}"
        )


def default_output_and_loss(
    task: Task, n_classes: int | None = None
) -> tuple[Output, LossName, int]:
    """(output activation, loss, number of outputs) that fit a task."""
    if task == "binary":
        return "sigmoid", "bce", 1
    if task == "multiclass":
        if n_classes is None or n_classes < 2:
            raise ConfigError(f"a multiclass task needs at least 2 classes, got {n_classes}")
        return "softmax", "cross_entropy", n_classes
    if task == "regression":
        return "identity", "mse", 1
    raise ConfigError(f"unknown task {task!r}; valid: binary, multiclass, regression")


# -- fused nodes -------------------------------------------------------------


def dense(x: Tensor, W: Tensor, b: Tensor) -> Tensor:
    """``x @ W + b`` as one node: x (n, in), W (in, out), b (out,) -> (n, out).

    The adjoint of ``x`` is computed only when ``x`` needs it (not for the data).
    """
    xd, Wd = x.data, W.data
    out = xd @ Wd
    out += b.data

    def backward(g: np.ndarray) -> None:
        if W.requires_grad:
            W._accumulate(xd.T @ g)
        if b.requires_grad:
            b._accumulate(g.sum(axis=0))
        if x.requires_grad:
            x._accumulate(g @ Wd.T)

    return Tensor._make(out, (x, W, b), "dense", backward)


# -- the network -------------------------------------------------------------


def forward(arch: Architecture, params: Sequence[tuple[Tensor, Tensor]], X: np.ndarray) -> Tensor:
    """Logits (n, n_out) before the output activation, as an evaluation graph.

    ``params`` holds one (W, b) pair of Tensors per layer; X (n, n_in) is cast to the
    architecture's dtype and enters the graph as a constant.
    """
    h = Tensor(np.asarray(X, dtype=arch.np_dtype), op="const")
    *hidden, last = params
    for (W, b), name in zip(hidden, arch.activations, strict=True):
        h = activation(name, arch.alpha)(dense(h, W, b))
    return dense(h, *last)


def _target(arch: Architecture, y: np.ndarray, n_out: int) -> np.ndarray:
    """The mse target: one-hot for multiclass, a column (n, 1) for 1-D y otherwise."""
    y = np.asarray(y)
    if arch.output == "softmax":
        return np.eye(n_out, dtype=arch.np_dtype)[y]
    return y.reshape(-1, 1) if y.ndim == 1 else y


def loss(arch: Architecture, logits: Tensor, y: np.ndarray) -> Tensor:
    """The scalar loss of the logits against ``y``, as a graph node.

    y: (n,) 0/1 labels (binary), (n,) class indices (multiclass), (n,) or (n, n_out)
    values (regression). sigmoid+bce and softmax+cross_entropy use the fused nodes on
    the logits; mse applies the output activation, then compares with the target.
    """
    if arch.loss == "bce":
        return losses.bce_with_logits(logits, y)
    if arch.loss == "cross_entropy":
        return losses.softmax_cross_entropy(logits, y)
    out = {"sigmoid": ag.sigmoid, "softmax": losses.softmax}.get(arch.output, identity)(logits)
    return losses.mse(out, _target(arch, y, logits.shape[1]))


def loss_and_grads(
    arch: Architecture,
    layers: Sequence[Layer],
    X: np.ndarray,
    y: np.ndarray,
    l2: float = 0.0,
) -> tuple[float, list[Layer], np.ndarray]:
    """Loss, its gradient with respect to every parameter, and the logits.

    The loss is the data loss plus ``0.5 * l2 * sum(W**2)`` over the weight
    matrices only (biases are not penalized), so the penalty adds ``l2 * W`` to each
    weight gradient. Gradients come back as Layers of the parameters' shapes, in the
    architecture's dtype (parameters of another dtype are cast, not mixed in); the
    logits (n, n_out) are the pre-output-activation values.
    """
    dt = arch.np_dtype
    params = [
        (
            Tensor(np.asarray(W, dtype=dt), requires_grad=True),
            Tensor(np.asarray(b, dtype=dt), requires_grad=True),
        )
        for W, b in layers
    ]
    logits = forward(arch, params, X)
    value = loss(arch, logits, y)
    value.backward()
    total = float(value.data)
    grads = []
    for tW, tb in params:
        gW, gb = tW.grad, tb.grad
        assert gW is not None and gb is not None
        if l2:
            W = tW.data
            total += 0.5 * l2 * float(np.vdot(W, W))
            gW += l2 * W
        grads.append(Layer(gW, gb))
    return total, grads, logits.data


# -- inference without a graph -----------------------------------------------


def layer_values(
    arch: Architecture, layers: Sequence[Layer], X: np.ndarray
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Each layer's pre-activation z = h @ W + b (n, fan_out) and activation, in turn:
    the hidden layers' activations, then the logits and the output activation
    (sigmoid probabilities (n, 1), softmax probabilities or the identity)."""
    h = np.asarray(X, dtype=arch.np_dtype)
    for k, (W, b) in enumerate(layers):
        z = h @ W
        z += b
        if k < len(arch.activations):
            h = activation_array(arch.activations[k], arch.alpha)(z)
        else:
            h = {"sigmoid": ag.sigmoid_array, "softmax": losses.softmax_array}.get(
                arch.output, _same
            )(z)
        yield z, h


def _same(z: np.ndarray) -> np.ndarray:
    return z


def _preactivations(
    arch: Architecture, layers: Sequence[Layer], X: np.ndarray
) -> Iterator[np.ndarray]:
    """Each layer's x @ W + b in turn, hidden layers first, then the logits."""
    return (z for z, _ in layer_values(arch, layers, X))


def logits_array(arch: Architecture, layers: Sequence[Layer], X: np.ndarray) -> np.ndarray:
    """The logits (n, n_out) with numpy only."""
    return deque(_preactivations(arch, layers, X), maxlen=1).pop()


def predict_proba(arch: Architecture, layers: Sequence[Layer], X: np.ndarray) -> np.ndarray:
    """Class probabilities (n, k) for classification, predictions (n, n_out) for regression.

    A binary (sigmoid) model gives two columns [1 - p, p], so rows always sum to 1.
    """
    z = logits_array(arch, layers, X)
    if arch.output == "sigmoid":
        p = ag.sigmoid_array(z[:, 0])
        return np.stack([1.0 - p, p], axis=1)
    if arch.output == "softmax":
        return losses.softmax_array(z)
    return z


def predict(arch: Architecture, layers: Sequence[Layer], X: np.ndarray) -> np.ndarray:
    """Class indices (n,) int64 for classification; values (n,) (or (n, n_out)) for regression.

    A sigmoid output predicts class 1 where its logit is positive: the same rule as the
    accuracy during training, also where float32 rounds p to exactly 0.5.
    """
    if arch.output == "sigmoid":
        return (logits_array(arch, layers, X)[:, 0] > 0).astype(np.int64)
    out = predict_proba(arch, layers, X)
    if arch.output == "identity":
        return out[:, 0] if out.shape[1] == 1 else out
    return out.argmax(axis=1).astype(np.int64)


SATURATION_DERIVATIVE = 0.02
"""A sigmoid/tanh unit is saturated on a sample when its derivative there is below this:
sigmoid'(z) < 0.02 <=> |z| > 3.87 and tanh'(z) < 0.02 <=> |z| > 2.64."""


def saturation_stats(arch: Architecture, layers: Sequence[Layer], X: np.ndarray) -> dict[str, Any]:
    """How many hidden units have (almost) no gradient to pass back, on the data X.

    For each hidden layer (in order), ``layers`` lists ``activation``, ``units``,
    ``dead_fraction`` (relu layers: the fraction of units whose pre-activation is
    <= 0 on every sample of X, so they never pass a gradient; None otherwise) and
    ``saturated_fraction`` (sigmoid/tanh layers: the fraction of (sample, unit)
    pairs where the derivative is below ``SATURATION_DERIVATIVE``; None otherwise).
    ``dead_fraction`` and ``saturated_fraction`` at the top level pool the relu units,
    and the sigmoid/tanh (sample, unit) pairs, of all hidden layers (None if none).
    """
    per_layer: list[dict[str, Any]] = []
    dead = dead_total = sat = sat_total = 0
    for name, z in zip(arch.activations, _preactivations(arch, layers, X), strict=False):
        entry: dict[str, Any] = {
            "activation": name,
            "units": z.shape[1],
            "dead_fraction": None,
            "saturated_fraction": None,
        }
        if name == "relu":
            n_dead = int(np.all(z <= 0, axis=0).sum())
            entry["dead_fraction"] = n_dead / z.shape[1]
            dead, dead_total = dead + n_dead, dead_total + z.shape[1]
        elif name in ("sigmoid", "tanh"):
            if name == "sigmoid":
                s = ag.sigmoid_array(z)
                deriv = s * (1.0 - s)
            else:
                deriv = 1.0 - np.tanh(z) ** 2
            n_sat = int((deriv < SATURATION_DERIVATIVE).sum())
            entry["saturated_fraction"] = n_sat / z.size
            sat, sat_total = sat + n_sat, sat_total + z.size
        per_layer.append(entry)
    return {
        "layers": per_layer,
        "dead_fraction": dead / dead_total if dead_total else None,
        "saturated_fraction": sat / sat_total if sat_total else None,
    }


# -- gradient check ----------------------------------------------------------


def check_gradients(
    arch: Architecture,
    layers: Sequence[Layer],
    X: np.ndarray,
    y: np.ndarray,
    l2: float = 0.0,
    eps: float = 1e-6,
) -> float:
    """Largest relative error of backprop against central differences, over all parameters.

    Everything runs on float64 copies (whatever the architecture's dtype). For each
    flattened parameter component the finite difference uses the step
    ``eps * max(1, |p|)``, and the error is ``|a - b| / max(|a| + |b|, floor)`` with
    a = backprop, b = finite difference and floor = 1% of the largest |a| + |b| over
    all components: relative for the gradient's substantial components, absolute
    at that scale for the near-zero ones. (A float64 loss carries rounding errors
    of ~1e-16, so with eps = 1e-6 each finite difference is off by ~1e-10 and a
    purely per-component error of a 1e-5 component would read 1e-5 for a correct
    gradient; a correct one reads ~1e-7 here, a wrong one typically 1e-2 or more.)
    """
    arch64 = replace(arch, dtype="float64")
    flat = [np.array(a, dtype=np.float64) for a in flatten(layers)]
    X64 = np.asarray(X, dtype=np.float64)
    _, grads, _ = loss_and_grads(arch64, unflatten(flat), X64, y, l2)

    def value() -> float:
        params = [(Tensor(W), Tensor(b)) for W, b in unflatten(flat)]
        total = float(loss(arch64, forward(arch64, params, X64), y).data)
        return total + 0.5 * l2 * sum(float(np.vdot(W, W)) for W in flat[::2])

    a_parts, b_parts = [], []
    for p, g in zip(flat, flatten(grads), strict=True):
        fd = np.empty_like(p)
        for i in np.ndindex(p.shape):
            orig = p[i]
            h = eps * max(1.0, abs(orig))
            p[i] = orig + h
            hi_x, f_hi = p[i], value()
            p[i] = orig - h
            lo_x, f_lo = p[i], value()
            p[i] = orig
            fd[i] = (f_hi - f_lo) / (hi_x - lo_x)
        a_parts.append(g.ravel())
        b_parts.append(fd.ravel())
    a, b = np.concatenate(a_parts), np.concatenate(b_parts)
    scale = np.abs(a) + np.abs(b)
    floor = max(1e-2 * float(scale.max(initial=0.0)), 1e-12)
    return float(np.max(np.abs(a - b) / np.maximum(scale, floor), initial=0.0))
