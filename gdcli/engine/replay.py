"""Record once, replay many: f and its gradient at many points as a flat program.

A descent evaluates the same function at new points every iteration, so its
evaluation graph has the same shape every time. ``Program.record`` builds the graph
once (the same ``Tensor`` operations as ``autograd.value_and_grad``) and keeps its
nodes in evaluation order. ``Program.value_and_grad`` then copies the new points
into the input's buffer, recomputes every node's value into its own buffer (numpy
calls with ``out=``) and runs the nodes' backward closures from the output to the
input: no node is made, no closure is built, no graph is sorted again.

The numbers are those of the graph built afresh, to the last bit: the forward
kernels are the numpy calls the operations make (``np.power(a, b, out=o)`` is what
``a ** b`` computes), and the backward pass runs the very closures the operations
made, which read the parents' values from the buffers the forward pass refreshed.
A node whose value is a view of its parent's (a column ``X[:, i]``) is refreshed
with it and needs no kernel.

Replay cannot apply, and ``record`` returns None, where an operation keeps more
than its node's value for its backward pass (``gelu``, ``logsumexp``), selects
with a fancy index, or gives a value that is not a writable array of its own: the
caller then builds the graph every time.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from gdcli.engine import autograd as ag
from gdcli.engine.autograd import Objective, Tensor

Kernel = Callable[[], Any]

_BINARY: dict[str, Any] = {
    "add": np.add,
    "sub": np.subtract,
    "mul": np.multiply,
    "div": np.true_divide,
    "pow": np.power,
    "max": np.maximum,
}
_UNARY: dict[str, Any] = {
    "neg": np.negative,
    "exp": np.exp,
    "log": np.log,
    "sqrt": np.sqrt,
    "abs": np.abs,
    "sin": np.sin,
    "cos": np.cos,
    "tan": np.tan,
    "tanh": np.tanh,
    "sinh": np.sinh,
    "cosh": np.cosh,
    "arctan": np.arctan,
}
# operations recomputed by their array function and copied into the node's buffer
_COPIED: dict[str, Callable[[Tensor], np.ndarray]] = {
    "sigmoid": lambda n: ag.sigmoid_array(n.parents[0].data),
    "relu": lambda n: ag.relu_array(n.parents[0].data),
    "heaviside": lambda n: ag.heaviside_array(n.parents[0].data),
    "softplus": lambda n: ag.softplus_array(n.parents[0].data),
    "norm": lambda n: np.sqrt((n.parents[0].data * n.parents[0].data).sum(axis=n.args[0])),
    "matmul": lambda n: n.parents[0].data @ n.parents[1].data,
    "stack": lambda n: np.stack([p.data for p in n.parents], axis=-1),
}
_VIEWS = frozenset({"index", "reshape", "transpose"})


def _kernel(node: Tensor) -> Kernel | None:
    """The numpy call that refreshes ``node.data`` in place from its parents' values;
    None when it cannot (see the module docstring)."""
    o, op, parents = node.data, node.op, node.parents
    if op in _BINARY:
        fn, a, b = _BINARY[op], parents[0], parents[1]
        return lambda: fn(a.data, b.data, out=o)
    if op in _UNARY:
        fn, a = _UNARY[op], parents[0]
        return lambda: fn(a.data, out=o)
    if op == "sum":
        a = parents[0]
        axis, keepdims = node.args
        return lambda: np.sum(a.data, axis=axis, keepdims=keepdims, out=o)
    if op in _COPIED:
        compute = _COPIED[op]
        return lambda: np.copyto(o, compute(node))
    return None


def _is_view(node: Tensor) -> bool:
    return node.op in _VIEWS and np.shares_memory(node.data, node.parents[0].data)


class Program:
    """f and its gradient at the rows of (N, d) arrays of one shape, replayed."""

    def __init__(self, x: Tensor, y: Tensor, order: list[Tensor], kernels: list[Kernel]) -> None:
        self._x, self._y = x, y
        self._order = order  # inputs first, as ``Tensor.backward`` visits them
        self._backward = [n._backward for n in reversed(order) if n._backward is not None]
        self._nodes = [n for n in reversed(order) if n._backward is not None]
        self._kernels = kernels

    @classmethod
    def record(cls, objective: Objective, X: np.ndarray) -> Program | None:
        """The program of ``objective`` at points shaped like X (N, d); None where
        replay cannot apply."""
        x = Tensor(np.array(X, dtype=np.float64), requires_grad=True)
        with np.errstate(all="ignore"):
            y = objective(x)
        if not y.requires_grad or y.data.shape != X.shape[:-1]:
            return None
        order = y._differentiable_order()
        kernels: list[Kernel] = []
        for node in order:
            if node is x or _is_view(node):
                continue
            data = node.data
            own = isinstance(data, np.ndarray) and data.flags.writeable and data.base is None
            kernel = _kernel(node) if own else None
            if kernel is None:
                return None
            kernels.append(kernel)
        return cls(x, y, order, kernels)

    def value_and_grad(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Values (N,) and gradients (N, d) at the rows of X, as new arrays: the same
        numbers as ``autograd.value_and_grad``."""
        np.copyto(self._x.data, X)
        for kernel in self._kernels:
            kernel()
        for node in self._order:
            node.grad = None
        y = self._y
        y.grad = ag._ones_like(y.data)
        for node, step in zip(self._nodes, self._backward, strict=True):
            if node.grad is not None:
                step(node.grad)
        g = self._x.grad
        return y.data.copy(), (np.zeros_like(X) if g is None else g)
