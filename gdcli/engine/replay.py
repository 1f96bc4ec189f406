"""Record once, replay many: f and its gradient at many points as a flat program.

A descent evaluates the same function at new points every iteration, so its
evaluation graph has the same shape every time. ``Program.record`` builds the graph
once (the same ``Tensor`` operations as ``autograd.value_and_grad``) and keeps its
nodes in evaluation order. It then writes two flat programs of numpy calls with
``out=``: the forward one recomputes every node's value into its own buffer, the
backward one every adjoint into preallocated buffers (``_Adjoints``). Replaying
is running the two lists of calls: no node is made, no closure is built, no graph
is sorted and (for the usual operations) no array is allocated.

The numbers are those of the graph built afresh, to the last bit: the forward
kernels are the numpy calls the operations make (``np.power(a, b, out=o)`` is what
``a ** b`` computes), and every backward kernel makes the floating-point operations
of the operation's backward closure, in the same order, adding a node's adjoint
contributions in the order the closures would (``Tensor._accumulate``). Kernels that
read only constants (the seed's ones, numbers of the formula) are run once, at
recording. An operation without a kernel of its own runs its closure, whose
contribution is copied into the buffer. A node whose value is a view of its
parent's (a column ``X[:, i]``) is refreshed with it and needs no kernel, and its
adjoint is added straight into the view of the input's adjoint.

Replay cannot apply, and ``record`` returns None, where an operation keeps more
than its node's value for its backward pass (``gelu``, ``logsumexp``), selects
with a fancy index, or gives a value that is not a writable array of its own: the
caller then builds the graph every time. Where the backward cannot be written as
kernels (an adjoint summed over broadcast axes), the closures are run as they are.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np

from gdcli.engine import autograd as ag
from gdcli.engine import native
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


# ufuncs whose every element is one correctly rounded IEEE operation on the
# elements at the same place: their numbers cannot depend on the arrays' shapes
_EXACT = frozenset({np.add, np.subtract, np.multiply, np.true_divide, np.negative, np.sqrt})


# numpy 2.4 deprecates an output passed by position to these
_OUT_BY_KEYWORD = frozenset({np.maximum, np.minimum})


def _flat(args: tuple[Any, ...], out: np.ndarray) -> tuple[tuple[Any, ...], np.ndarray]:
    """The operands and out as 1-D views when every array has out's shape and is
    viewed so without a copy (a column ``X[:, :1]`` too): numpy iterates a 1-D array
    for less than an (N, 1) one. Else as they are."""
    if out.ndim <= 1:
        return args, out
    flat = []
    for a in (*args, out):
        if isinstance(a, np.ndarray) and a.ndim > 0:
            view = a.reshape(-1)
            if a.shape != out.shape or not np.may_share_memory(view, a):
                return args, out
            a = view
        flat.append(a)
    return tuple(flat[:-1]), flat[-1]


def _call(fn: Any, args: tuple[Any, ...], out: np.ndarray) -> Kernel:
    """``fn(*args, out=out)`` as a kernel, with out passed by position (a keyword
    costs about a tenth of a microsecond per call) and, for the ``_EXACT`` ufuncs,
    on 1-D views (``_flat``)."""
    if fn in _EXACT:
        args, out = _flat(args, out)
    if fn in _OUT_BY_KEYWORD:
        return partial(fn, *args, out=out)
    return partial(fn, *args, out)


def _sum_kernel(a: np.ndarray, o: np.ndarray, axis: Any, keepdims: bool) -> Kernel:
    """``a.sum(axis, keepdims=keepdims)`` into o. Over axes of length 1 only (the
    one term of a 2-D Rosenbrock), numpy's reduction adds 0.0 to each element
    (-0.0 becomes 0.0; nan and inf stay as they are): ``a + 0.0`` elementwise,
    which costs a fraction of a reduction."""
    view = a.reshape(o.shape) if a.size == o.size else None
    if view is not None and np.may_share_memory(view, a):
        return _call(np.add, (view, 0.0), o)
    return partial(np.add.reduce, a, axis, None, o, keepdims)


def _kernel(node: Tensor) -> Kernel | None:
    """The numpy call that refreshes ``node.data`` in place from its parents' values;
    None when it cannot (see the module docstring)."""
    o, op, parents = node.data, node.op, node.parents
    if op in _BINARY:
        return _call(_BINARY[op], (parents[0].data, parents[1].data), o)
    if op in _UNARY:
        return _call(_UNARY[op], (parents[0].data,), o)
    if op == "sum":
        axis, keepdims = node.args
        return _sum_kernel(parents[0].data, o, axis, keepdims)
    if op in _COPIED:
        compute = _COPIED[op]
        return lambda: np.copyto(o, compute(node))
    return None


def _is_view(node: Tensor) -> bool:
    return node.op in _VIEWS and np.shares_memory(node.data, node.parents[0].data)


class _Unsupported(Exception):
    """The backward pass cannot be written as kernels into buffers."""


class _Value:
    """An array of the backward pass: ``static`` when it is the same at every replay
    (computed from constants only), ``owned`` when no other name refers to it, so
    that adding into it in place changes nothing else."""

    __slots__ = ("array", "owned", "static", "zero_clean")

    def __init__(self, array: np.ndarray, *, static: bool, owned: bool = False) -> None:
        self.array, self.static, self.owned = array, static, owned
        # built only from index contributions: no -0.0 in it (see ``_Adjoints.index``)
        self.zero_clean = False


# the local derivatives of the unary operations, as steps on a buffer T, given the
# node's input a and output o: each step is (ufunc, first operand, second operand)
# with "T", "a", "o" naming arrays; ``g * local`` follows.
_LOCAL: dict[str, tuple[tuple[Any, Any, Any], ...]] = {
    "exp": (),  # local is o itself
    "log": ((np.true_divide, 1.0, "a"),),
    "sqrt": ((np.true_divide, 0.5, "o"),),
    "abs": ((np.sign, "a", None),),
    "sin": ((np.cos, "a", None),),
    "cos": ((np.sin, "a", None), (np.negative, "T", None)),
    "tan": ((np.multiply, "o", "o"), (np.add, 1.0, "T")),
    "tanh": ((np.multiply, "o", "o"), (np.subtract, 1.0, "T")),
    "sinh": ((np.cosh, "a", None),),
    "cosh": ((np.sinh, "a", None),),
    "arctan": ((np.multiply, "a", "a"), (np.add, 1.0, "T"), (np.true_divide, 1.0, "T")),
    "sigmoid": ((np.subtract, 1.0, "o"), (np.multiply, "o", "T")),
}


class _Adjoints:
    """Writes the backward pass of a recorded graph as kernels into buffers.

    ``give`` is ``Tensor._accumulate``: a node's first contribution becomes its
    adjoint as it is (no copy, as there), a later one is added to it (into the
    adjoint's own buffer when it owns one, else into a new one).
    """

    def __init__(self) -> None:
        self.adj: dict[Tensor, _Value] = {}
        self.kernels: list[Kernel] = []
        self.first: dict[int, str] = {}  # whether a slot is first read or first written
        self.scratch: set[int] = set()
        # index-built adjoints: which elements an index wrote, and where their fill is
        self.covered: dict[Tensor, np.ndarray] = {}
        self.fills: dict[Tensor, int] = {}

    def emit(self, fn: Any, args: tuple[Any, ...], out: np.ndarray, static: bool) -> None:
        """``fn(*args, out=out)``: run now when its inputs are constants, else kept."""
        kernel = _call(fn, args, out)
        if static:
            kernel()
        else:
            self.kernels.append(kernel)

    def new(self, like: np.ndarray, static: bool) -> _Value:
        return _Value(np.empty(like.shape), static=static, owned=True)

    def give(self, p: Tensor, c: _Value) -> None:
        if not p.requires_grad:
            return
        if c.array.shape != p.data.shape:
            raise _Unsupported  # summed over broadcast axes: left to the closures
        old = self.adj.get(p)
        if old is None:
            self.adj[p] = c
            return
        self.fills.pop(p, None)  # read whole here: its zeros are needed
        static = old.static and c.static
        out = old if old.owned and not old.static else self.new(old.array, static)
        self.emit(np.add, (old.array, c.array), out.array, static)
        self.adj[p] = out

    def compute(self, steps: list[tuple[Any, tuple[Any, ...]]], like: np.ndarray) -> _Value:
        """A new buffer T computed by ``steps`` (ufunc, args; "T" names the buffer)."""
        values = [a for _, args in steps for a in args if isinstance(a, _Value)]
        shape = np.broadcast_shapes(like.shape, *(v.array.shape for v in values))
        if shape != like.shape:
            raise _Unsupported  # the contribution would be summed over broadcast axes
        t = self.new(like, all(v.static for v in values))
        for fn, args in steps:
            arrays = tuple(t.array if isinstance(a, str) else getattr(a, "array", a) for a in args)
            self.emit(fn, arrays, t.array, t.static)
        return t

    def index(self, node: Tensor, g: _Value) -> None:
        """``full = zeros; full[index] = g + 0.0; a._accumulate(full)`` for a basic
        index, added into the view of the input's adjoint. g + 0.0 is never -0.0, nor
        is a sum of such numbers, so adding the zeros outside the index changes
        nothing, a later index's g can be added without the + 0.0, and where it
        falls on elements no index has touched yet, 0.0 + (g + 0.0) is g + 0.0: the
        zeros are written (``fill``) only where no index writes first."""
        a = node.parents[0]
        old = self.adj.get(a)
        where = node.args[0]
        if old is not None and old.zero_clean and old.owned and not old.static and not g.static:
            covered = self.covered[a]
            fresh = not covered[where].any()
            if not (fresh or covered[where].all()):
                self.fills.pop(a, None)  # adds onto zeros no index wrote: keep them
            view = old.array[where]
            self.emit(np.add, (g.array, 0.0) if fresh else (view, g.array), view, False)
            covered[where] = True
            return
        full = self.new(a.data, g.static)
        if g.static:
            full.array.fill(0.0)
        else:
            full.zero_clean = True
            self.covered[a] = np.zeros(a.data.shape, dtype=bool)
            self.covered[a][where] = True
            self.fills[a] = len(self.kernels)
            self.kernels.append(partial(full.array.fill, 0.0))
        self.emit(np.add, (g.array, 0.0), full.array[where], g.static)
        if old is None:
            self.adj[a] = full
        else:
            self.give(a, full)

    def finish(self) -> list[Kernel]:
        """The kernels, without the fills of adjoints that the indices covered whole
        before anything else read them."""
        dropped = {i for a, i in self.fills.items() if self.covered[a].all()}
        return [k for i, k in enumerate(self.kernels) if i not in dropped]

    def closure(self, node: Tensor, g: _Value) -> None:
        """Any other operation: its own closure, the contributions copied out."""
        parents = [p for p in node.parents if p.requires_grad]
        if len(set(parents)) != len(parents):
            raise _Unsupported
        step = node._backward
        assert step is not None
        outs = [self.new(p.data, False) for p in parents]

        def kernel() -> None:
            for p in parents:
                p.grad = None
            step(g.array)
            for p, o in zip(parents, outs, strict=True):
                assert p.grad is not None  # a closure gives every parent that requires one
                np.copyto(o.array, p.grad)

        self.kernels.append(kernel)
        for p, o in zip(parents, outs, strict=True):
            self.give(p, o)

    def backward(self, node: Tensor, g: _Value) -> None:
        """The contributions of one node's backward closure to its parents."""
        op = node.op
        handler = _RULES.get(op)
        if op == "index" and not ag._is_basic_index(node.args[0] if node.args else None):
            raise _Unsupported
        if handler is None:
            self.closure(node, g)
        else:
            handler(self, node, g)


def _d_add(b: _Adjoints, n: Tensor, g: _Value) -> None:
    for p in n.parents:
        if p.requires_grad:
            b.give(p, _Value(g.array, static=g.static))


def _d_sub(b: _Adjoints, n: Tensor, g: _Value) -> None:
    a, c = n.parents
    if a.requires_grad:
        b.give(a, _Value(g.array, static=g.static))
    if c.requires_grad:
        b.give(c, b.compute([(np.negative, (g,))], g.array))


def _d_neg(b: _Adjoints, n: Tensor, g: _Value) -> None:
    b.give(n.parents[0], b.compute([(np.negative, (g,))], g.array))


def _data(t: Tensor) -> _Value:
    return _Value(t.data, static=not t.requires_grad)


def _d_mul(b: _Adjoints, n: Tensor, g: _Value) -> None:
    a, c = n.parents
    if a is c:  # x * x: g * x added twice
        ga = b.compute([(np.multiply, (g, _data(a)))], g.array)
        b.give(a, ga)
        b.give(a, _Value(ga.array, static=ga.static))
        return
    if a.requires_grad:
        b.give(a, b.compute([(np.multiply, (g, _data(c)))], a.data))
    if c.requires_grad:
        b.give(c, b.compute([(np.multiply, (g, _data(a)))], c.data))


def _d_div(b: _Adjoints, n: Tensor, g: _Value) -> None:
    a, c = n.parents
    if a is c:
        raise _Unsupported
    if a.requires_grad:
        b.give(a, b.compute([(np.true_divide, (g, _data(c)))], a.data))
    if c.requires_grad:
        steps = [
            (np.negative, (g,)),
            (np.multiply, ("T", _Value(n.data, static=False))),
            (np.true_divide, ("T", _data(c))),
        ]
        b.give(c, b.compute(steps, c.data))


def _d_pow(b: _Adjoints, n: Tensor, g: _Value) -> None:
    a, c = n.parents
    square = c.data.ndim == 0 and c.data.item() == 2.0
    if c.requires_grad or not square or a is c:
        b.closure(n, g)
        return
    b.give(a, b.compute([(np.multiply, (g, _data(c))), (np.multiply, ("T", _data(a)))], a.data))


def _d_sum(b: _Adjoints, n: Tensor, g: _Value) -> None:
    a = n.parents[0]
    axis, keepdims = n.args
    shape = a.data.shape
    gv = g.array
    if axis is not None and not keepdims:
        gv = gv.reshape(ag._kept_shape(shape, axis))
        if not np.shares_memory(gv, g.array):
            raise _Unsupported
    if gv.shape == shape and gv.flags.c_contiguous:
        b.give(a, _Value(gv, static=g.static))
        return
    full = b.new(a.data, g.static)
    copy = partial(np.copyto, full.array, gv)
    copy() if g.static else b.kernels.append(copy)
    b.give(a, full)


def _d_unary(b: _Adjoints, n: Tensor, g: _Value) -> None:
    a = n.parents[0]
    names = {"a": _Value(a.data, static=False), "o": _Value(n.data, static=False)}
    steps: list[tuple[Any, tuple[Any, ...]]] = []
    for fn, x, y in _LOCAL[n.op]:
        args = tuple(names.get(v, v) if isinstance(v, str) else v for v in (x, y) if v is not None)
        steps.append((fn, args))
    local: Any = "T" if steps else names["o"]
    steps.append((np.multiply, (g, local)))
    b.give(a, b.compute(steps, a.data))


def _d_index(b: _Adjoints, n: Tensor, g: _Value) -> None:
    b.index(n, g)


_RULES: dict[str, Callable[[_Adjoints, Tensor, _Value], None]] = {
    "add": _d_add,
    "sub": _d_sub,
    "neg": _d_neg,
    "mul": _d_mul,
    "div": _d_div,
    "pow": _d_pow,
    "sum": _d_sum,
    "index": _d_index,
    **dict.fromkeys(_LOCAL, _d_unary),
}


def _backward_kernels(x: Tensor, y: Tensor, order: list[Tensor]) -> tuple[list[Kernel], Any]:
    """The backward pass as kernels, and the input's adjoint (an array, or None when
    f does not depend on x); raises ``_Unsupported``."""
    b = _Adjoints()
    b.adj[y] = _Value(ag._ones_like(y.data), static=True)
    for node in reversed(order):
        g = b.adj.get(node)
        if node._backward is not None and g is not None:
            b.backward(node, g)
    gx = b.adj.get(x)
    return b.finish(), None if gx is None else gx.array


# numpy calls that a Python float operation makes exactly (IEEE double arithmetic,
# correctly rounded, no contraction): the kernels of a one-point program in floats
_SCALAR: dict[Any, Callable[..., float]] = {
    np.add: operator.add,
    np.subtract: operator.sub,
    np.multiply: operator.mul,
    np.true_divide: operator.truediv,
}
_UNARY_SCALAR: dict[Any, Callable[[float, float], float]] = {
    np.negative: lambda a, _: -a,
}


def _copy(a: float, _: float) -> float:
    return a


def _addresses(a: np.ndarray) -> list[int]:
    """The memory address of every element of a float64 array, in C order."""
    base = a.__array_interface__["data"][0]
    if a.ndim == 0:
        return [base]
    offsets = np.indices(a.shape).reshape(a.ndim, -1).T @ np.array(a.strides, dtype=np.int64)
    return [base + int(o) for o in offsets]


class _Registers:
    """Python floats standing for the elements of a program's arrays, one per memory
    address: views share their base's registers, as they share its memory."""

    def __init__(self) -> None:
        self.index: dict[int, int] = {}
        self.values: list[float] = []
        self.kept: list[np.ndarray] = []  # alive, so that no other array takes its address

    def of(self, a: np.ndarray) -> list[int]:
        self.kept.append(a)
        regs = []
        for address, value in zip(_addresses(a), a.reshape(-1).tolist(), strict=True):
            if address not in self.index:
                self.index[address] = len(self.values)
                self.values.append(value)  # a constant keeps the value it has now
            regs.append(self.index[address])
        return regs


ScalarOp = tuple[Callable[[float, float], float], int, int, int]
"""``r[o] = fn(r[a], r[b])`` (a one-operand call ignores its second)."""


def _scalar_op(kernel: Kernel, regs: _Registers) -> list[ScalarOp] | None:
    """One kernel as operations on registers; None when it is not one of the exact
    elementwise calls on single elements (or a fill)."""
    if not isinstance(kernel, partial):
        return None
    fn, args, kw = kernel.func, kernel.args, kernel.keywords
    owner = getattr(fn, "__self__", None)
    if getattr(fn, "__name__", "") == "fill" and isinstance(owner, np.ndarray):
        const = regs.of(np.array(float(args[0])))[0]
        return [(_copy, r, const, const) for r in regs.of(owner)]
    op = _SCALAR.get(fn) or _UNARY_SCALAR.get(fn)
    if op is None or kw or len(args) != getattr(fn, "nin", -1) + 1:
        return None
    *ins, out = args  # out by position (``_call``)
    if not isinstance(out, np.ndarray) or out.size != 1:
        return None
    operands = []
    for a in ins:
        arr = np.asarray(a, dtype=np.float64) if not isinstance(a, np.ndarray) else a
        if arr.size != 1 or arr.dtype != np.float64:
            return None
        operands.append(regs.of(arr)[0] if isinstance(a, np.ndarray) else regs.of(arr.copy())[0])
    if len(operands) != (1 if fn in _UNARY_SCALAR else 2):
        return None
    a, b = operands[0], operands[-1]
    return [(op, regs.of(out)[0], a, b)]


class OnePoint:
    """A program at one point (N = 1) run in Python floats: numpy spends about a
    microsecond per call before it touches one number, a float operation a few
    dozen nanoseconds. Only the operations a float makes exactly as numpy does
    (``+ - * /``, negation, copies) are taken, so the numbers are the same to the
    last bit; a division by zero, which Python refuses, is left to numpy."""

    def __init__(
        self, ops: list[ScalarOp], values: list[float], x: list[int], f: int, g: list[int]
    ) -> None:
        self.ops, self.values, self.x, self.f, self.g = ops, values, x, f, g

    def run(
        self, X: np.ndarray, f_out: np.ndarray, g_out: np.ndarray
    ) -> tuple[float, list[float], list[float]] | None:
        """f and the gradient at the one row of X into f_out (1,) and g_out (1, d),
        and as floats with the row's coordinates: ``(f, gradient, x)``; None (and
        nothing written) where numpy must do it."""
        r = self.values
        xs = X.reshape(-1).tolist()
        for k, v in zip(self.x, xs, strict=True):
            r[k] = v
        try:
            for fn, o, a, b in self.ops:
                r[o] = fn(r[a], r[b])
        except ZeroDivisionError:
            return None
        f, g = r[self.f], [r[i] for i in self.g]
        f_out[0] = f
        g_out.reshape(-1)[:] = g
        return f, g, xs


_COPY = 0  # a fill or np.copyto: the operation that copies its operand
_NATIVE_OPS: dict[Any, int] = {
    np.add: 1,
    np.subtract: 2,
    np.multiply: 3,
    np.true_divide: 4,
    np.negative: 5,
    np.sqrt: 6,
}
"""The operations of ``_native.run_program``, by their numpy function: each element
is one correctly rounded IEEE operation, so a compiled loop gives numpy's number."""

_BYTES = 8  # a float64


class _Stream:
    """n rows of ``width`` float64 elements from ``address``, ``stride`` bytes apart and
    row after row (stride 0: one constant for every element)."""

    def __init__(self, address: int, stride: int, width: int = 1) -> None:
        self.address, self.stride, self.width = address, stride, width

    def key(self) -> tuple[int, int, int]:
        return self.address, self.stride, self.width

    def meets(self, other: _Stream, n: int) -> bool:
        """Whether the elements of one row of one share memory with those of another
        row of the other: then running the operations a block of rows at a time would
        change what they read. Streams over the same rows of one array (its columns,
        or the array and a column) do not."""
        lo_a, hi_a = self.span(n)
        lo_b, hi_b = other.span(n)
        if hi_a <= lo_b or hi_b <= lo_a or self.key() == other.key():
            return False
        row = self.stride * self.width
        if self.stride <= 0 or other.stride <= 0 or row != other.stride * other.width:
            return True
        # row 0 of both within one row's bytes: then so is row i of both, for every i
        ends = [t.address + (t.width - 1) * t.stride + _BYTES for t in (self, other)]
        return max(ends) - min(self.address, other.address) > row

    def shares(self, other: _Stream, n: int) -> bool:
        """Whether some element of one is an element of the other (conservatively:
        True unless they are apart, or sit in one row each, side by side)."""
        lo_a, hi_a = self.span(n)
        lo_b, hi_b = other.span(n)
        if hi_a <= lo_b or hi_b <= lo_a:
            return False
        if self.key() == other.key() or self.meets(other, n):
            return True
        if any(t.width > 1 and t.stride != _BYTES for t in (self, other)):
            return True
        ends = [t.address + (t.width - 1) * t.stride + _BYTES for t in (self, other)]
        return self.address < ends[1] and other.address < ends[0]

    def span(self, n: int) -> tuple[int, int]:
        """The bytes from the first element to the end of the last."""
        if self.stride == 0:
            return self.address, self.address + _BYTES
        return self.address, self.address + (n * self.width - 1) * self.stride + _BYTES


def _bounds(a: np.ndarray) -> tuple[int, int]:
    """The bytes from a's lowest element to the end of its highest."""
    lo = hi = a.__array_interface__["data"][0]
    for size, step in zip(a.shape, a.strides, strict=True):
        lo += min(0, step * (size - 1))
        hi += max(0, step * (size - 1))
    return lo, hi + a.itemsize


def _arrays_of(kernel: Kernel) -> list[np.ndarray] | None:
    """The arrays a numpy kernel reads and writes; None when they cannot be told (a
    closure)."""
    if not isinstance(kernel, partial):
        return None
    owner = getattr(kernel.func, "__self__", None)
    args = [*kernel.args, *kernel.keywords.values(), owner]
    return [a for a in args if isinstance(a, np.ndarray)]


class NativeProgram:
    """Runs of a program's kernels as operations of ``_native.run_program``, over its n
    rows: every kernel of a run is one of ``_NATIVE_OPS`` (or a fill) on float64
    arrays whose leading axis is the rows, or on constants. A run is one compiled
    pass over the rows a block at a time; the kernels between runs (``np.power``,
    ``np.exp``, sums along an axis, ...) stay numpy's calls. Values that a run writes
    before it reads them and that nothing outside it reads live in scratch memory."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.slots: dict[tuple[int, int, int], int] = {}
        self.streams: list[_Stream] = []
        self.code: list[tuple[int, int, int, int]] = []
        self.first: dict[int, str] = {}  # whether a slot is first read or first written
        self.scratch: set[int] = set()
        self.constants: list[np.ndarray] = []  # alive while the program is
        self.kernels: list[Kernel] = []  # they hold the arrays whose addresses it keeps

    @classmethod
    def compile(cls, kernels: list[Kernel], n: int, kept: list[np.ndarray]) -> list[Kernel]:
        """``kernels`` with each run of two or more that compile replaced by one
        compiled pass; as they are where the loops were not built or there is one
        row. ``kept`` are the arrays the caller reads or writes (the point, f, the
        gradient)."""
        if native.kernels is None or n < 2 or kept[0].shape[-1] == n:
            return kernels  # one row, or as many rows as coordinates: which axis is which?
        runs: list[NativeProgram | Kernel] = []
        run = cls(n)
        for kernel in kernels:
            if run._add(kernel):
                run.kernels.append(kernel)
                continue
            runs += run._close()
            run = cls(n)
            runs.append(kernel)
        runs += run._close()
        progs = [r for r in runs if isinstance(r, NativeProgram)]
        if not progs:
            return kernels
        foreign = [_arrays_of(k) for k in runs if not isinstance(k, NativeProgram)]
        if all(f is not None for f in foreign):
            outside = [a for f in foreign if f is not None for a in f] + kept
            spans = [_bounds(a) for a in outside]
            for prog in progs:
                others = [s.span(n) for q in progs if q is not prog for s in q.streams]
                prog._find_scratch(spans + others)
        return [CompiledRun(r) if isinstance(r, NativeProgram) else r for r in runs]

    def _close(self) -> list[NativeProgram | Kernel]:
        """This run as a compiled pass: where it has two or more kernels whose rows do
        not mix; else its kernels as they are."""
        if len(self.kernels) >= 2 and self._local():
            return [self]
        return list(self.kernels)

    def _slot(self, stream: _Stream) -> int:
        key = stream.key()
        if key not in self.slots:
            self.slots[key] = len(self.streams)
            self.streams.append(stream)
        return self.slots[key]

    def _operand(self, a: Any, shape: tuple[int, ...]) -> list[_Stream] | None:
        """The streams of an operand of an operation writing an array of ``shape``:
        one for a constant; one per column for an (n, c) array of that shape, one for
        an (n, 1) column read by every column; one for an (n,) array, or for an array
        of n rows of w numbers viewed as (n w,) (``_flat``); None for anything else."""
        if not isinstance(a, np.ndarray):
            if not isinstance(a, (int, float)):
                return None
            a = np.array(float(a))
            self.constants.append(a)
        if a.dtype != np.float64 or not a.flags.aligned:
            return None
        if any(s % _BYTES or s < 0 for s in a.strides):
            return None  # rows in reverse (X[::-1]): numpy's, as are the spans of streams
        base = a.__array_interface__["data"][0]
        if a.size == 1:
            return [_Stream(base, 0)]
        if a.shape != shape and a.shape != (self.n, 1):
            return None
        if a.ndim == 2:
            return [_Stream(base + k * a.strides[1], a.strides[0]) for k in range(a.shape[1])]
        if a.ndim == 1 and a.shape[0] == self.n:
            return [_Stream(base, a.strides[0])]
        return self._flat_rows(a) if a.ndim == 1 else None

    def _flat_rows(self, a: np.ndarray) -> list[_Stream] | None:
        """One stream for a 1-D view of n contiguous rows of w numbers (its base)."""
        rows = a.base
        if not isinstance(rows, np.ndarray) or rows.shape[:1] != (self.n,):
            return None
        same = rows.__array_interface__["data"][0] == a.__array_interface__["data"][0]
        if rows.size != a.size or not rows.flags.c_contiguous or a.strides[0] != _BYTES:
            return None
        return (
            [_Stream(rows.__array_interface__["data"][0], _BYTES, a.size // self.n)]
            if same
            else None
        )

    @staticmethod
    def _operation(kernel: Kernel) -> tuple[int, tuple[Any, ...], Any] | None:
        """A kernel as (operation, operands, out): a compiled operation's numpy call, a
        fill, or a copy; None for any other."""
        if not isinstance(kernel, partial) or kernel.keywords:
            return None
        fn, args = kernel.func, kernel.args
        owner = getattr(fn, "__self__", None)
        if getattr(fn, "__name__", "") == "fill" and isinstance(owner, np.ndarray):
            return _COPY, (float(args[0]),), owner
        if fn is np.copyto:
            return (_COPY, (args[1],), args[0]) if len(args) == 2 else None
        if fn in _NATIVE_OPS and len(args) == getattr(fn, "nin", -1) + 1:
            return _NATIVE_OPS[fn], tuple(args[:-1]), args[-1]
        return None

    def _add(self, kernel: Kernel) -> bool:
        """The kernel's operations appended; False (nothing appended) where it has none."""
        code = self._columns(kernel)
        if code is None or self._overwrites(code):
            return False
        for op, o, a, b in code:
            slots = self._slot(o), self._slot(a), self._slot(b)
            for slot in slots[1:]:
                self.first.setdefault(slot, "read")
            self.first.setdefault(slots[0], "written")
            self.code.append((op, *slots))
        return True

    def _columns(self, kernel: Kernel) -> list[tuple[int, _Stream, _Stream, _Stream]] | None:
        """The kernel as one (operation, out, a, b) per column of its output; None where
        it is not one of the compiled operations on arrays of a row per point."""
        operation = self._operation(kernel)
        if operation is None:
            return None
        op, ins, out = operation
        if not isinstance(out, np.ndarray) or out.ndim not in (1, 2) or out.size < self.n:
            return None
        if out.ndim == 2 and out.shape[0] != self.n:
            return None  # not a row per point: (1, n), say
        outs = self._operand(out, out.shape)
        streams = [self._operand(a, out.shape) for a in ins]
        if not outs:
            return None
        code = []
        for k, o in enumerate(outs):
            operands: list[_Stream] = []
            for given in streams:
                s = None if given is None else given[k % len(given)]
                if s is None or (s.stride and s.width != o.width):
                    return None
                operands.append(s)
            code.append((op, o, operands[0], operands[-1]))
        return code

    def _overwrites(self, code: list[tuple[int, _Stream, _Stream, _Stream]]) -> bool:
        """Whether one operation's columns, run one after another, would read what an
        earlier one wrote: numpy reads every input before it writes (it copies an
        input that overlaps the output), so only a column's own place may be both."""
        for k, (_, _, a, b) in enumerate(code):
            for j, (_, o, _, _) in enumerate(code):
                if any(s.shares(o, self.n) and (j != k or s.key() != o.key()) for s in (a, b)):
                    return True
        return False

    def _local(self) -> bool:
        """Every row of every operation touches only the same row of the others."""
        written = [self.streams[i] for i in {c[1] for c in self.code}]
        return not any(w.meets(s, self.n) for w in written for s in self.streams)

    def _find_scratch(self, outside: list[tuple[int, int]]) -> None:
        """Slots this run writes before it reads them, whose memory nothing outside it
        touches (``outside``: byte spans): their values live in scratch memory one
        block at a time (address 0 for the compiled loop)."""
        spans = [s.span(self.n) for s in self.streams]
        for slot, stream in enumerate(self.streams):
            lo, hi = spans[slot]
            # its memory seen another way here (a column of a flat view) counts too
            seen = outside + spans[:slot] + spans[slot + 1 :]
            elsewhere = any(lo < b and a < hi for a, b in seen)
            if stream.stride and self.first.get(slot) == "written" and not elsewhere:
                self.scratch.add(slot)


class CompiledRun:
    """A ``NativeProgram`` as a kernel: one call of ``_native.run_program``. It holds
    addresses of this process's memory, so it is neither copied nor pickled (a copy
    would point at the original's arrays)."""

    __slots__ = ("_args", "_run", "program")

    def __init__(self, program: NativeProgram) -> None:
        assert native.kernels is not None
        self.program = program
        self._run = native.kernels.run_program
        code = np.array(program.code, dtype=np.int64).reshape(-1, 4)
        streams = program.streams
        addresses = [0 if k in program.scratch else s.address for k, s in enumerate(streams)]
        self._args = (
            code,
            np.array(addresses, dtype=np.int64),
            np.array([s.stride // _BYTES for s in streams], dtype=np.int64),
            np.array([s.width for s in streams], dtype=np.int64),
            program.n,
        )

    def __call__(self) -> None:
        self._run(*self._args)

    def __reduce__(self) -> tuple[Any, ...]:
        raise TypeError("a compiled run holds addresses of this process's memory")


class Program:
    """f and its gradient at the rows of (N, d) arrays of one shape, replayed."""

    def __init__(self, x: Tensor, y: Tensor, order: list[Tensor], kernels: list[Kernel]) -> None:
        self._x, self._y = x, y
        self._order = order  # inputs first, as ``Tensor.backward`` visits them
        self._kernels = kernels
        try:
            backward, gx = _backward_kernels(x, y, order)
        except _Unsupported:
            self.compiled = False
            self._kernels += [self._closures]
            return
        self.compiled = True
        self._kernels += backward
        self._gx = np.zeros(x.data.shape) if gx is None else gx
        # every kernel as one compiled pass over the rows, where they all have one
        kept = [x.data, y.data, self._gx]
        self._kernels = NativeProgram.compile(self._kernels, x.data.shape[0], kept)

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

    def _closures(self) -> None:
        """The backward pass by the nodes' own closures (allocating), into ``_gx``."""
        for node in self._order:
            node.grad = None
        y = self._y
        y.grad = ag._ones_like(y.data)
        for node in reversed(self._order):
            step = node._backward
            if step is not None and node.grad is not None:
                step(node.grad)
        g = self._x.grad
        self._gx = np.zeros(self._x.data.shape) if g is None else g

    def run(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Values (N,) and gradients (N, d) at the rows of X in the program's own
        buffers, valid until the next call: the same numbers as
        ``autograd.value_and_grad``."""
        np.copyto(self._x.data, X)
        for kernel in self._kernels:
            kernel()
        return self._y.data, self._gx

    def one_point(self) -> OnePoint | None:
        """The program in Python floats, for a program of one point whose kernels all
        have an exact float counterpart; else None."""
        x = self._x.data
        if not self.compiled or x.shape[0] != 1 or x.ndim != 2:
            return None
        regs = _Registers()
        xr = regs.of(x)
        ops: list[ScalarOp] = []
        for kernel in self._kernels:
            got = _scalar_op(kernel, regs)
            if got is None:
                return None
            ops += got
        fr, gr = regs.of(self._y.data), regs.of(self._gx)
        return OnePoint(ops, regs.values, xr, fr[0], gr)

    def value_and_grad(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``run`` as new arrays."""
        f, g = self.run(X)
        return f.copy(), g.copy()
