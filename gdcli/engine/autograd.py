"""Reverse-mode differentiation over numpy arrays: the evaluation graph of the lecture.

A ``Tensor`` holds its forward value (``data``), the adjoint of the output with
respect to it (``grad``, filled in by ``backward``), the tensors it was computed
from (``parents``) and a closure that pushes its adjoint to those parents. The
closures add into the parents' adjoints, so a node used several times (``x*x + x``)
collects every contribution. ``backward`` orders the graph topologically without
recursion, then runs the closures from the output back to the inputs; it visits
only the nodes that depend on an input requiring a gradient, so constants cost
nothing there (``topological_order`` still lists every node, for display).

Operands broadcast as in numpy; the adjoint that flows back to a broadcast operand is
summed over the broadcast axes, so it always has the operand's shape.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

ArrayLike = Any
Backward = Callable[[np.ndarray], None]


def _unbroadcast(g: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sum ``g`` over the axes along which an operand of ``shape`` was broadcast."""
    if g.shape == shape:
        return g
    extra = g.ndim - len(shape)
    if extra:
        g = g.sum(axis=tuple(range(extra)))
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and g.shape[i] != 1)
    if axes:
        g = g.sum(axis=axes, keepdims=True)
    return g.reshape(shape)


class Tensor:
    """A node of the evaluation graph: a numpy array and how to differentiate it.

    ``op`` names the operation that made the node ("input", "const", "add", ...),
    for display in ``gdcli grad --graph``; ``args`` holds the operation's other
    arguments where it has any (a sum's axis), so that ``replay`` can run it again.
    """

    __slots__ = ("_backward", "args", "data", "grad", "name", "op", "parents", "requires_grad")

    __array_priority__ = 100.0  # so that ndarray + Tensor calls Tensor.__radd__

    def __init__(
        self,
        data: ArrayLike,
        requires_grad: bool = False,
        *,
        op: str = "input",
        name: str | None = None,
        dtype: Any = None,
    ) -> None:
        self.data: np.ndarray = np.asarray(data, dtype=dtype if dtype is not None else None)
        if self.data.dtype.kind != "f":
            self.data = self.data.astype(np.float64)
        self.grad: np.ndarray | None = None
        self.requires_grad = requires_grad
        self.parents: tuple[Tensor, ...] = ()
        self._backward: Backward | None = None
        self.op = op
        self.name = name
        self.args: tuple[Any, ...] = ()

    # -- construction ---------------------------------------------------------

    @staticmethod
    def _make(
        data: np.ndarray, parents: tuple[Tensor, ...], op: str, backward: Backward | None
    ) -> Tensor:
        """The node ``op`` computed from ``parents``: the one way every operation makes
        its node. (Without ``__init__``: operators make one per call, and constants
        one per number.)"""
        out = Tensor.__new__(Tensor)
        out.data = data
        out.grad = None
        out.op = op
        out.name = None
        out.args = ()
        requires_grad = False
        for p in parents:
            if p.requires_grad:
                requires_grad = True
                break
        out.requires_grad = requires_grad
        out.parents = parents
        out._backward = backward if requires_grad else None
        return out

    def _accumulate(self, g: np.ndarray) -> None:
        """Add ``g``, summed over the axes along which this node was broadcast, to its
        adjoint (``+=``, so a node used twice gets both contributions); nothing for a
        node that requires no gradient."""
        if self.requires_grad:
            shape = self.data.shape
            if g.shape != shape:
                g = _unbroadcast(g, shape)
            self.grad = g if self.grad is None else self.grad + g

    # -- properties -----------------------------------------------------------

    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def T(self) -> Tensor:
        return self.transpose()

    def numpy(self) -> np.ndarray:
        return self.data

    def item(self) -> float:
        return float(self.data.item())

    def __repr__(self) -> str:
        return f"Tensor({self.data!r}, op={self.op!r})"

    # -- backward pass --------------------------------------------------------

    def topological_order(self) -> list[Tensor]:
        """Every node that leads to this one, inputs first (evaluation order)."""
        order: list[Tensor] = []
        seen: set[int] = set()
        stack: list[tuple[Tensor, bool]] = [(self, False)]
        while stack:
            node, expanded = stack.pop()
            if expanded:
                order.append(node)
                continue
            if id(node) in seen:
                continue
            seen.add(id(node))
            stack.append((node, True))
            for p in node.parents:
                if id(p) not in seen:
                    stack.append((p, False))
        return order

    def _differentiable_order(self) -> list[Tensor]:
        """``topological_order()`` without the nodes no adjoint flows to; clears the
        adjoints of the nodes it returns.

        A node that does not require a gradient (a constant, or anything computed
        from constants only) has only such nodes as parents, so whole constant
        subgraphs are skipped and the remaining nodes keep their relative order:
        adjoints are summed in the same order as over the full graph. (Tensors hash
        by identity, so the set holds the nodes themselves.)
        """
        order: list[Tensor] = []
        seen: set[Tensor] = set()
        stack: list[tuple[Tensor, bool]] = [(self, False)]
        pop, push, mark, emit = stack.pop, stack.append, seen.add, order.append
        while stack:
            node, expanded = pop()
            if expanded:
                emit(node)
                continue
            if node in seen:
                continue
            mark(node)
            node.grad = None
            push((node, True))
            for p in node.parents:
                if p.requires_grad and p not in seen:
                    push((p, False))
        return order

    def backward(self, seed: ArrayLike | None = None) -> None:
        """Run the chain rule from this node back to the inputs.

        ``seed`` is d(output)/d(self); by default ones of this node's shape, so a
        scalar output gets the gradient and a vector output gets the gradient of
        its sum (the per-row gradients of independent rows). Only nodes that
        require a gradient are visited: constants never receive an adjoint.
        """
        order = self._differentiable_order()
        if seed is None:
            self.grad = _ones_like(self.data)
        else:
            self.grad = np.broadcast_to(seed, self.shape).copy()
        for node in reversed(order):
            step = node._backward
            if step is not None and node.grad is not None:
                step(node.grad)

    # -- arithmetic -----------------------------------------------------------

    def _plus(self, other: ArrayLike, sign: int) -> Tensor:
        """``self + other`` (sign 1) or ``self - other`` (sign -1) as one node.

        a - b stays a primitive rather than micrograd's a + (-b): that would show the
        lecture's one "sub" node as two in ``grad --graph`` and allocate a negated copy.
        """
        a, b = self, other if isinstance(other, Tensor) else _const(other, self.data.dtype)

        def backward(g: np.ndarray) -> None:
            if a.requires_grad:
                a._accumulate(g)
            if b.requires_grad:
                b._accumulate(g if sign > 0 else -g)

        out = a.data + b.data if sign > 0 else a.data - b.data
        return Tensor._make(out, (a, b), "add" if sign > 0 else "sub", backward)

    def __add__(self, other: ArrayLike) -> Tensor:
        return self._plus(other, 1)

    def __radd__(self, other: ArrayLike) -> Tensor:
        return as_tensor(other, self.data.dtype) + self

    def __neg__(self) -> Tensor:
        a = self

        def backward(g: np.ndarray) -> None:
            a._accumulate(-g)

        return Tensor._make(-a.data, (a,), "neg", backward)

    def __pos__(self) -> Tensor:
        return self

    def __sub__(self, other: ArrayLike) -> Tensor:
        return self._plus(other, -1)

    def __rsub__(self, other: ArrayLike) -> Tensor:
        return as_tensor(other, self.data.dtype) - self

    def __mul__(self, other: ArrayLike) -> Tensor:
        a, b = self, other if isinstance(other, Tensor) else _const(other, self.data.dtype)

        def backward(g: np.ndarray) -> None:
            if a is b:
                # a square x * x: both contributions are g * x, added one after the other
                ga = g * a.data
                a._accumulate(ga)
                a._accumulate(ga)
                return
            if a.requires_grad:
                a._accumulate(g * b.data)
            if b.requires_grad:
                b._accumulate(g * a.data)

        return Tensor._make(a.data * b.data, (a, b), "mul", backward)

    def __rmul__(self, other: ArrayLike) -> Tensor:
        return as_tensor(other, self.data.dtype) * self

    def __truediv__(self, other: ArrayLike) -> Tensor:
        # A primitive: a * b**-1 rounds twice, so its values would differ in the last bit.
        a, b = self, other if isinstance(other, Tensor) else _const(other, self.data.dtype)
        out = a.data / b.data

        def backward(g: np.ndarray) -> None:
            if a.requires_grad:
                a._accumulate(g / b.data)
            if b.requires_grad:
                b._accumulate(-g * out / b.data)

        return Tensor._make(out, (a, b), "div", backward)

    def __rtruediv__(self, other: ArrayLike) -> Tensor:
        return as_tensor(other, self.data.dtype) / self

    def __pow__(self, other: ArrayLike) -> Tensor:
        a, b = self, other if isinstance(other, Tensor) else _const(other, self.data.dtype)
        out = a.data**b.data

        def backward(g: np.ndarray) -> None:
            if a.requires_grad:
                if b.data.ndim == 0 and b.data.item() == 2.0:
                    # the commonest power, the square: a ** (2 - 1) is a itself
                    a._accumulate(g * b.data * a.data)
                else:
                    local = b.data * a.data ** (b.data - 1)
                    if not b.data.all():
                        # d(a^0)/da = 0, also at a = 0 where 0 * 0^-1 would be nan
                        local = np.where(b.data == 0, 0.0, local)
                    a._accumulate(g * local)
            if b.requires_grad:
                # d(a^b)/db = a^b log a, defined for a > 0; elsewhere the exponent
                # cannot vary continuously, so no contribution flows back.
                log_a = np.log(np.where(a.data > 0, a.data, 1.0))
                b._accumulate(g * out * log_a)

        return Tensor._make(out, (a, b), "pow", backward)

    def __rpow__(self, other: ArrayLike) -> Tensor:
        return as_tensor(other, self.data.dtype) ** self

    def __matmul__(self, other: ArrayLike) -> Tensor:
        return matmul(self, as_tensor(other, self.data.dtype))

    def __rmatmul__(self, other: ArrayLike) -> Tensor:
        return matmul(as_tensor(other, self.data.dtype), self)

    def __getitem__(self, index: Any) -> Tensor:
        a = self

        def backward(g: np.ndarray) -> None:
            full = _zeros_like(a.data)
            if _is_basic_index(index):
                # A basic index selects each element at most once, so there is nothing
                # to add up; g + 0.0 is the 0.0 + g that np.add.at would store (-0.0
                # becomes 0.0).
                full[index] = g + 0.0
            else:
                np.add.at(full, index, g)
            a._accumulate(full)

        out = Tensor._make(a.data[index], (a,), "index", backward)
        out.args = (index,)
        return out

    # -- shape ----------------------------------------------------------------

    def sum(self, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> Tensor:
        a = self

        def backward(g: np.ndarray) -> None:
            shape = a.data.shape
            if axis is not None and not keepdims:
                g = g.reshape(_kept_shape(shape, axis))
            if g.shape == shape and g.flags.c_contiguous:
                # already what broadcasting and copying would give
                a._accumulate(g)
            else:
                full = np.empty(shape, dtype=g.dtype)
                full[...] = g
                a._accumulate(full)

        out = Tensor._make(a.data.sum(axis=axis, keepdims=keepdims), (a,), "sum", backward)
        out.args = (axis, keepdims)
        return out

    def mean(self, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> Tensor:
        total = self.sum(axis=axis, keepdims=keepdims)
        return total * (total.data.size / self.data.size)

    def reshape(self, *shape: int | Sequence[int]) -> Tensor:
        a = self
        new_shape = shape[0] if len(shape) == 1 and not isinstance(shape[0], int) else shape

        def backward(g: np.ndarray) -> None:
            a._accumulate(g.reshape(a.data.shape))

        return Tensor._make(a.data.reshape(new_shape), (a,), "reshape", backward)

    def transpose(self, axes: Sequence[int] | None = None) -> Tensor:
        a = self
        inverse = None if axes is None else np.argsort(axes)

        def backward(g: np.ndarray) -> None:
            a._accumulate(np.transpose(g, inverse))

        return Tensor._make(np.transpose(a.data, axes), (a,), "transpose", backward)


def as_tensor(x: ArrayLike, dtype: Any = None) -> Tensor:
    """``x`` itself if it is a Tensor, else a constant node holding it."""
    if isinstance(x, Tensor):
        return x
    return _const(x, dtype)


def _const(x: ArrayLike, dtype: Any) -> Tensor:
    """A constant node holding ``x`` (a float array; integers become float64): the
    same node as ``Tensor(x, op="const", dtype=dtype)``."""
    data = np.asarray(x, dtype=dtype)
    if data.dtype.kind != "f":
        data = data.astype(np.float64)
    return Tensor._make(data, (), "const", None)


_BASIC_INDEX = frozenset({int, slice, type(None), type(Ellipsis)})


def _is_basic_index(index: Any) -> bool:
    """True for numpy's basic indexing (ints, slices, ``...``, None), which never
    selects an element twice. (True and False are not ints here: numpy reads them
    as masks.)"""
    for i in index if isinstance(index, tuple) else (index,):
        if type(i) not in _BASIC_INDEX and not isinstance(i, np.integer):
            return False
    return True


def _ones_like(x: np.ndarray) -> np.ndarray:
    """``np.ones_like(x)``, the quick way for the usual C-ordered array."""
    if x.flags.c_contiguous:
        out = np.empty(x.shape, dtype=x.dtype)
        out.fill(1)
        return out
    return np.ones_like(x)


def _zeros_like(x: np.ndarray) -> np.ndarray:
    """``np.zeros_like(x)``, the quick way for the usual C-ordered array."""
    if x.flags.c_contiguous:
        return np.zeros(x.shape, dtype=x.dtype)
    return np.zeros_like(x)


def _kept_shape(shape: tuple[int, ...], axis: int | tuple[int, ...]) -> tuple[int, ...]:
    """The shape of a sum over ``axis`` of an array of ``shape`` with keepdims=True."""
    if isinstance(axis, int):
        i = axis % len(shape)
        return (*shape[:i], 1, *shape[i + 1 :])
    reduced = {a % len(shape) for a in axis}
    return tuple(1 if i in reduced else k for i, k in enumerate(shape))


def _unary(a: Tensor, out: np.ndarray, op: str, local: Callable[[], np.ndarray]) -> Tensor:
    """A node ``out = f(a)`` whose derivative ``f'(a)`` is computed lazily by ``local``."""

    def backward(g: np.ndarray) -> None:
        a._accumulate(g * local())

    return Tensor._make(out, (a,), op, backward)


def matmul(a: Tensor, b: Tensor) -> Tensor:
    """Matrix product for 2-D operands (and a 1-D vector on either side)."""

    def backward(g: np.ndarray) -> None:
        ad, bd = a.data, b.data
        if a.requires_grad:
            if bd.ndim == 1:
                a._accumulate(np.multiply.outer(g, bd) if ad.ndim == 2 else g * bd)
            else:
                a._accumulate(g @ bd.T if ad.ndim == 2 else bd @ g)
        if b.requires_grad:
            if ad.ndim == 1:
                b._accumulate(np.multiply.outer(ad, g) if bd.ndim == 2 else g * ad)
            else:
                b._accumulate(ad.T @ g if bd.ndim == 2 else g @ ad)

    return Tensor._make(a.data @ b.data, (a, b), "matmul", backward)


def exp(a: Tensor) -> Tensor:
    out = np.exp(a.data)
    return _unary(a, out, "exp", lambda: out)


def log(a: Tensor) -> Tensor:
    return _unary(a, np.log(a.data), "log", lambda: 1.0 / a.data)


def sqrt(a: Tensor) -> Tensor:
    out = np.sqrt(a.data)
    return _unary(a, out, "sqrt", lambda: 0.5 / out)


def absolute(a: Tensor) -> Tensor:
    return _unary(a, np.abs(a.data), "abs", lambda: np.sign(a.data))


def sin(a: Tensor) -> Tensor:
    return _unary(a, np.sin(a.data), "sin", lambda: np.cos(a.data))


def cos(a: Tensor) -> Tensor:
    return _unary(a, np.cos(a.data), "cos", lambda: -np.sin(a.data))


def tan(a: Tensor) -> Tensor:
    out = np.tan(a.data)
    return _unary(a, out, "tan", lambda: 1.0 + out * out)


def tanh(a: Tensor) -> Tensor:
    out = np.tanh(a.data)
    return _unary(a, out, "tanh", lambda: 1.0 - out * out)


def sinh(a: Tensor) -> Tensor:
    return _unary(a, np.sinh(a.data), "sinh", lambda: np.cosh(a.data))


def cosh(a: Tensor) -> Tensor:
    return _unary(a, np.cosh(a.data), "cosh", lambda: np.sinh(a.data))


def arctan(a: Tensor) -> Tensor:
    return _unary(a, np.arctan(a.data), "arctan", lambda: 1.0 / (1.0 + a.data * a.data))


def sigmoid_array(x: np.ndarray) -> np.ndarray:
    """The logistic function, computed without overflow for large |x|."""
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def sigmoid(a: Tensor) -> Tensor:
    out = sigmoid_array(a.data)
    return _unary(a, out, "sigmoid", lambda: out * (1.0 - out))


# The activations' array kernels: the graph ops below and the MLP's graph-free
# inference (``gdcli.nn``) compute the same values with the same code.


def relu_array(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0.0)


def leaky_relu_array(x: np.ndarray, alpha: float = 0.01) -> np.ndarray:
    return np.where(x > 0, x, alpha * x)


def heaviside_array(x: np.ndarray) -> np.ndarray:
    return (x > 0).astype(x.dtype)


def elu_array(x: np.ndarray, alpha: float = 1.0) -> np.ndarray:
    return np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0.0)))


def softplus_array(x: np.ndarray) -> np.ndarray:
    """``log(1 + e^x)`` without overflow, in x's dtype."""
    return np.logaddexp(0.0, x).astype(x.dtype)


_ERF = np.frompyfunc(math.erf, 1, 1)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


def _gelu_parts(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """GELU's value x Phi(x) and the normal CDF Phi(x) (which its derivative reuses).

    numpy has no erf: ``math.erf`` per element (a Python call each, which the
    teaching-size networks afford) gives torch's exact values.
    """
    cdf = (0.5 * (1.0 + np.asarray(_ERF(x * math.sqrt(0.5)), dtype=np.float64))).astype(x.dtype)
    return x * cdf, cdf


def gelu_array(x: np.ndarray) -> np.ndarray:
    """GELU, x Phi(x) with the normal CDF Phi: torch's default (``approximate='none'``)."""
    return _gelu_parts(x)[0]


def relu(a: Tensor) -> Tensor:
    x = a.data

    def backward(g: np.ndarray) -> None:
        # a boolean mask multiplies without a float copy of itself
        a._accumulate(g * (x > 0))

    return Tensor._make(relu_array(x), (a,), "relu", backward)


def leaky_relu(a: Tensor, alpha: float = 0.01) -> Tensor:
    x = a.data
    return _unary(
        a,
        leaky_relu_array(x, alpha),
        "leaky_relu",
        lambda: np.where(x > 0, 1.0, alpha).astype(x.dtype),
    )


def heaviside(a: Tensor) -> Tensor:
    """The unit step. Its derivative is zero wherever it exists, so nothing flows back."""
    x = a.data
    return _unary(a, heaviside_array(x), "heaviside", lambda: np.zeros_like(x))


def elu(a: Tensor, alpha: float = 1.0) -> Tensor:
    x = a.data
    out = elu_array(x, alpha)
    # where x <= 0, out = alpha*(e^x - 1), so the derivative alpha*e^x is out + alpha
    return _unary(a, out, "elu", lambda: np.where(x > 0, 1.0, out + alpha).astype(x.dtype))


def softplus(a: Tensor) -> Tensor:
    x = a.data
    return _unary(a, softplus_array(x), "softplus", lambda: sigmoid_array(x))


def gelu(a: Tensor) -> Tensor:
    """GELU, x Phi(x): torch's default (``approximate='none'``), derivative Phi(x) + x phi(x)."""
    x = a.data
    out, cdf = _gelu_parts(x)
    return _unary(a, out, "gelu", lambda: cdf + x * np.exp(-0.5 * x * x) * _INV_SQRT_2PI)


def maximum(a: Tensor, b: Tensor) -> Tensor:
    """Elementwise max; at ties the adjoint is split evenly between the operands."""
    out = np.maximum(a.data, b.data)

    def backward(g: np.ndarray) -> None:
        wa = (a.data > b.data) + 0.5 * (a.data == b.data)
        a._accumulate(g * wa)
        b._accumulate(g * (1.0 - wa))

    return Tensor._make(out, (a, b), "max", backward)


def minimum(a: Tensor, b: Tensor) -> Tensor:
    return -maximum(-a, -b)


def logsumexp(a: Tensor, axis: int = -1) -> Tensor:
    """``log(sum(exp(a), axis))`` shifted by the maximum so it never overflows."""
    x = a.data
    m = np.max(x, axis=axis, keepdims=True)
    s = np.exp(x - m)
    total = s.sum(axis=axis, keepdims=True)
    out = (np.log(total) + m).squeeze(axis)

    def backward(g: np.ndarray) -> None:
        a._accumulate(np.expand_dims(g, axis) * (s / total))

    return Tensor._make(out, (a,), "logsumexp", backward)


def stack_columns(columns: Sequence[Tensor]) -> Tensor:
    """Stack tensors of shape (N,) into one of shape (N, k)."""
    parts = tuple(columns)

    def backward(g: np.ndarray) -> None:
        for i, p in enumerate(parts):
            p._accumulate(g[..., i])

    return Tensor._make(np.stack([p.data for p in parts], axis=-1), parts, "stack", backward)


# -- derivatives of functions of many points ------------------------------------

Objective = Callable[[Tensor], Tensor]
"""A function of a batch of points: (N, d) Tensor -> (N,) Tensor, rows independent."""


def value_and_grad(f: Objective, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Values (N,) and gradients (N, d) of ``f`` at the rows of ``X`` (N, d).

    The rows are independent, so the gradient of the sum of the values is the
    stack of the per-row gradients: one backward pass serves every point.
    """
    x = Tensor(X, requires_grad=True)
    y = f(x)
    y.backward()
    if x.grad is None:  # f does not depend on its variables
        return y.data, np.zeros_like(X, dtype=np.float64)
    return y.data, x.grad


def hessian(f: Objective, X: np.ndarray, rel_step: float = 1e-3) -> np.ndarray:
    """Hessians (N, d, d) of ``f`` at the rows of ``X`` (N, d).

    Central differences of the exact gradient with one Richardson extrapolation
    (steps h and h/2), so the truncation error is O(h^4) and the result agrees
    with the exact Hessian to about 1e-9 relative for smooth functions. All 4d
    shifted points of all N rows go through one vectorized backward pass; the
    result is symmetrized.
    """
    return hessian_and_spread(f, X, rel_step)[0]


def hessian_and_spread(
    f: Objective, X: np.ndarray, rel_step: float = 1e-3
) -> tuple[np.ndarray, np.ndarray]:
    """``hessian`` and, per row (N,), how far its two difference quotients (steps h and
    h/2) disagree, relative to the Hessian's size. Where f is smooth they agree to
    about 1e-6 or better; where the gradient jumps (a kink, as of |x| at 0) they
    differ by a factor of two, and the Hessian there means nothing."""
    X = np.asarray(X, dtype=np.float64)
    n, d = X.shape
    h = rel_step * np.maximum(1.0, np.abs(X))  # (N, d)
    eye = np.eye(d)
    # shifts[k] for k in (+h, -h, +h/2, -h/2): points (N, d_shift, d)
    offsets = []
    for scale in (1.0, -1.0, 0.5, -0.5):
        offsets.append(X[:, None, :] + scale * h[:, :, None] * eye[None, :, :])
    pts = np.concatenate(offsets, axis=1).reshape(-1, d)
    with np.errstate(all="ignore"):
        _, g = value_and_grad(f, pts)
    g = g.reshape(n, 4, d, d)
    hh = h[:, :, None]
    d_h = (g[:, 0] - g[:, 1]) / (2 * hh)
    d_h2 = (g[:, 2] - g[:, 3]) / hh
    H = (4.0 * d_h2 - d_h) / 3.0
    result: np.ndarray = 0.5 * (H + np.swapaxes(H, 1, 2))
    with np.errstate(all="ignore"):
        scale = np.maximum(1.0, np.abs(d_h).max(axis=(1, 2)))
        spread = np.abs(d_h2 - d_h).max(axis=(1, 2)) / scale
    return result, spread


def norm(a: Tensor, axis: int = -1) -> Tensor:
    """Euclidean norm along ``axis``.

    At the origin the norm has no derivative; the adjoint there is the zero
    subgradient, the one a minimizer needs to recognise the kink as a minimum.
    """
    x = a.data
    out = np.sqrt((x * x).sum(axis=axis))

    def backward(g: np.ndarray) -> None:
        r = np.expand_dims(out, axis)
        safe = np.where(r > 0, r, 1.0)
        a._accumulate(np.expand_dims(g, axis) * np.where(r > 0, x / safe, 0.0))

    node = Tensor._make(out, (a,), "norm", backward)
    node.args = (axis,)
    return node


def local_derivatives(node: Tensor) -> tuple[np.ndarray | None, ...]:
    """d node / d parent for each of ``node``'s parents: the factor the chain rule
    multiplies along each edge of the graph (``grad --graph`` shows them).

    Computed by the node's own backward closure, run once with an adjoint of 1 into
    fresh parent adjoints, so the numbers are those ``backward`` multiplies (PyTorch's
    conventions at kinks included) and every operation has them without a second
    table of derivatives. Elementwise scalars only: for a node or parent of more than
    one element the local derivative is a Jacobian, and for a parent no adjoint flows
    to (a constant) there is none; those edges get None. A parent used twice (``x*x``)
    gets the sum of its edges' factors on each of its edges, divided evenly (2x / 2).
    The graph's adjoints are left as they were.
    """
    parents = node.parents
    if node._backward is None or node.data.size != 1:
        return tuple(None for _ in parents)
    saved = [(p, p.grad) for p in parents]
    try:
        for p in parents:
            p.grad = None
        node._backward(_ones_like(node.data))
        found = {id(p): p.grad for p in parents}
    finally:
        for p, g in saved:
            p.grad = g
    uses = {id(p): sum(q is p for q in parents) for p in parents}
    out: list[np.ndarray | None] = []
    for p in parents:
        g = found[id(p)]
        ok = g is not None and p.requires_grad and p.data.size == 1
        out.append(np.asarray(g).reshape(()) / uses[id(p)] if ok else None)
    return tuple(out)
