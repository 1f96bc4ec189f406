"""Small gradient transformations, chained into the named optimizers (``alias``).

Each is a ``Transform``: ``init(params) -> state`` and ``update(g, state, params,
count, oracle) -> (g', state')``, where ``count`` is the number of updates done
before this one. Every transform except ``newton_direction`` and ``armijo_step``
works elementwise, so the N starts of a descent step together without mixing.
Nothing here changes an array it was given, except the ``inplace`` paths, which
update their own state's arrays and write into the ``out`` they are given (see
``Transform``): the same operations in the same order, into buffers.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from gdcli.engine import native
from gdcli.optim.base import Leaves, Oracle, Params, Schedule, Transform


def _no_state(params: Params) -> tuple[()]:
    return ()


def _zeros(params: Params) -> Leaves:
    return tuple(np.zeros_like(p) for p in params)


_FEW = 16
"""Leaves of at most this many float64 numbers are updated in Python floats where a
path has that option (numpy's cost is per call there, not per number; Python floats
round as float64 does, not as float32)."""


class _Scratch:
    """Temporary arrays of the in-place paths, one per shape and slot, kept between
    updates (a descent's arrays keep their shapes)."""

    def __init__(self) -> None:
        self._arrays: dict[tuple[tuple[int, ...], int], np.ndarray] = {}

    def __call__(self, like: np.ndarray, slot: int = 0) -> np.ndarray:
        key = (like.shape, slot)
        a = self._arrays.get(key)
        if a is None or a.dtype != like.dtype:
            a = self._arrays[key] = np.empty(like.shape, dtype=like.dtype)
        return a


def clip(max_norm: float, axis: int | None) -> Transform[tuple[()]]:
    """Scale g down to norm ``max_norm`` where its norm is larger.

    ``axis=None``: one norm over all leaves together; an int: norms along that axis
    of each leaf, so each row of an (N, d) leaf is clipped on its own.
    """

    def update(
        g: Params, state: tuple[()], params: Params, count: int, oracle: Oracle | None
    ) -> tuple[Params, tuple[()]]:
        if axis is None:
            norm = math.sqrt(sum(float(np.vdot(x, x)) for x in g))
            # A nan norm passes g on as it is: its non-finite entries show downstream.
            if not norm > max_norm:
                return g, state
            return [x * (max_norm / norm) for x in g], state
        # max(norm, max_norm) keeps short rows as they are and never divides by zero.
        return [
            x * (max_norm / np.maximum(np.linalg.norm(x, axis=axis, keepdims=True), max_norm))
            for x in g
        ], state

    return Transform(_no_state, update)


def add_decayed_weights(weight_decay: float) -> Transform[tuple[()]] | None:
    """``g + weight_decay * p``: L2 decay before scaling, decoupled decay after it.

    None when the decay is zero, so that the chain skips it.
    """
    if weight_decay == 0:
        return None

    def update(
        g: Params, state: tuple[()], params: Params, count: int, oracle: Oracle | None
    ) -> tuple[Params, tuple[()]]:
        return [x + weight_decay * p for x, p in zip(g, params, strict=True)], state

    scratch = _Scratch()

    def inplace(g: Params, state: tuple[()], params: Params, count: int, out: Params) -> None:
        for x, p, o in zip(g, params, out, strict=True):
            t = scratch(p)
            np.multiply(p, weight_decay, out=t)
            np.add(x, t, out=o)

    return Transform(_no_state, update, inplace)


def _axpy(a: float, x: np.ndarray, c: float, y: np.ndarray) -> np.ndarray:
    """``a*x + c*y`` as one new array (in place on it: one allocation fewer per leaf,
    the same numbers; ``c*y`` is skipped when c is 1, where it is exact anyway)."""
    out = a * x
    out += y if c == 1.0 else c * y
    return out


class TraceState(NamedTuple):
    """Momentum buffers b, one per leaf."""

    b: Leaves


def trace(momentum: float, dampening: float, nesterov: bool) -> Transform[TraceState]:
    """torch's momentum buffer: ``b = mu*b + (1 - dampening)*g``, ``b = g`` at the
    first update; passes on ``b``, or ``g + mu*b`` for Nesterov."""

    def update(
        g: Params, state: TraceState, params: Params, count: int, oracle: Oracle | None
    ) -> tuple[Params, TraceState]:
        # b starts at zero, so undamped at the first update b = g exactly, as in torch.
        keep = 1.0 if count == 0 else 1.0 - dampening
        b = tuple(_axpy(momentum, bi, keep, x) for bi, x in zip(state.b, g, strict=True))
        out = [x + momentum * bi for x, bi in zip(g, b, strict=True)] if nesterov else list(b)
        return out, TraceState(b)

    scratch = _Scratch()

    def inplace(g: Params, state: TraceState, params: Params, count: int, out: Params) -> None:
        keep = 1.0 if count == 0 else 1.0 - dampening
        for x, b, o in zip(g, state.b, out, strict=True):
            np.multiply(b, momentum, out=b)
            if keep == 1.0:
                np.add(b, x, out=b)
            else:
                t = scratch(b)
                np.multiply(x, keep, out=t)
                np.add(b, t, out=b)
            if nesterov:
                t = scratch(b)
                np.multiply(b, momentum, out=t)
                np.add(x, t, out=o)
            else:
                np.copyto(o, b)

    return Transform(lambda params: TraceState(_zeros(params)), update, inplace)


class AdagradState(NamedTuple):
    """Sums of squared gradients s, one per leaf."""

    s: Leaves


def scale_by_adagrad(eps: float, initial_accumulator_value: float) -> Transform[AdagradState]:
    """``s += g^2``; passes on ``g / (sqrt(s) + eps)``."""

    def init(params: Params) -> AdagradState:
        return AdagradState(tuple(np.full_like(p, initial_accumulator_value) for p in params))

    def update(
        g: Params, state: AdagradState, params: Params, count: int, oracle: Oracle | None
    ) -> tuple[Params, AdagradState]:
        s = tuple(si + x * x for si, x in zip(state.s, g, strict=True))
        return [x / (np.sqrt(si) + eps) for x, si in zip(g, s, strict=True)], AdagradState(s)

    scratch = _Scratch()

    def inplace(g: Params, state: AdagradState, params: Params, count: int, out: Params) -> None:
        for x, si, o in zip(g, state.s, out, strict=True):
            k = native.loops_for(x, si, o)
            if k is not None:
                k.adagrad(x, si, o, eps)
                continue
            t = scratch(x)
            np.multiply(x, x, t)
            np.add(si, t, si)
            np.sqrt(si, t)
            np.add(t, eps, t)
            np.true_divide(x, t, o)

    return Transform(init, update, inplace)


class RmsState(NamedTuple):
    """Running means of g^2 (sq) and, when centered, of g (mean; else empty)."""

    sq: Leaves
    mean: Leaves


def scale_by_rms(alpha: float, eps: float, centered: bool) -> Transform[RmsState]:
    """torch RMSprop's scaling: ``sq = alpha*sq + (1-alpha)*g^2``; centered:
    ``mean = alpha*mean + (1-alpha)*g``, ``avg = sqrt(sq - mean^2) + eps``, else
    ``avg = sqrt(sq) + eps``; passes on ``g / avg``."""

    def init(params: Params) -> RmsState:
        return RmsState(_zeros(params), _zeros(params) if centered else ())

    def update(
        g: Params, state: RmsState, params: Params, count: int, oracle: Oracle | None
    ) -> tuple[Params, RmsState]:
        sq = tuple(alpha * s + (1.0 - alpha) * (x * x) for s, x in zip(state.sq, g, strict=True))
        if not centered:
            return [x / (np.sqrt(s) + eps) for x, s in zip(g, sq, strict=True)], RmsState(sq, ())
        mean = tuple(alpha * m + (1.0 - alpha) * x for m, x in zip(state.mean, g, strict=True))
        # sq >= mean^2 in exact arithmetic; rounding can push the difference below
        # zero once the gradient has been constant for long, where torch gives nan.
        out = [
            x / (np.sqrt(np.maximum(s - m * m, 0.0)) + eps)
            for x, s, m in zip(g, sq, mean, strict=True)
        ]
        return out, RmsState(sq, mean)

    scratch = _Scratch()

    def inplace(g: Params, state: RmsState, params: Params, count: int, out: Params) -> None:
        for i, (x, s, o) in enumerate(zip(g, state.sq, out, strict=True)):
            m = state.mean[i] if centered else None
            k = native.loops_for(x, s, o, m)
            if k is not None:
                k.rms(x, s, m, o, alpha, 1.0 - alpha, eps)
                continue
            t = scratch(x)
            np.multiply(x, x, t)
            np.multiply(t, 1.0 - alpha, t)
            np.multiply(s, alpha, s)
            np.add(s, t, s)
            if m is None:
                np.sqrt(s, t)
            else:
                np.multiply(x, 1.0 - alpha, t)
                np.multiply(m, alpha, m)
                np.add(m, t, m)
                np.multiply(m, m, t)
                np.subtract(s, t, t)
                np.sqrt(np.maximum(t, 0.0, out=t), t)
            np.add(t, eps, t)
            np.true_divide(x, t, o)

    return Transform(init, update, inplace)


class AdamState(NamedTuple):
    """Adam's moments m and v, and the running max of v for AMSGrad (else empty)."""

    m: Leaves
    v: Leaves
    v_max: Leaves


def scale_by_adam(b1: float, b2: float, eps: float, amsgrad: bool) -> Transform[AdamState]:
    """torch Adam's scaling at update t = count + 1: ``m = b1*m + (1-b1)*g``,
    ``v = b2*v + (1-b2)*g^2`` (AMSGrad: v_max = max(v_max, v), used for v below),
    ``denom = sqrt(v)/sqrt(1 - b2^t) + eps``; passes on ``m / ((1 - b1^t) * denom)``."""

    def init(params: Params) -> AdamState:
        return AdamState(_zeros(params), _zeros(params), _zeros(params) if amsgrad else ())

    def update(
        g: Params, state: AdamState, params: Params, count: int, oracle: Oracle | None
    ) -> tuple[Params, AdamState]:
        t = count + 1
        bc1 = 1.0 - b1**t
        root_bc2 = math.sqrt(1.0 - b2**t)
        m, v, v_max, out = [], [], [], []
        for i, (x, mi, vi) in enumerate(zip(g, state.m, state.v, strict=True)):
            mi = b1 * mi + (1.0 - b1) * x
            vi = b2 * vi + (1.0 - b2) * (x * x)
            m.append(mi)
            v.append(vi)
            if amsgrad:
                vi = np.maximum(state.v_max[i], vi)
                v_max.append(vi)
            # the steps of the formula, in place on the one new array
            denom = np.sqrt(vi)
            denom /= root_bc2
            denom += eps
            denom *= bc1
            out.append(mi / denom)
        return out, AdamState(tuple(m), tuple(v), tuple(v_max))

    scratch = _Scratch()

    def inplace(g: Params, state: AdamState, params: Params, count: int, out: Params) -> None:
        t = count + 1
        for i, (x, mi, vi, o) in enumerate(zip(g, state.m, state.v, out, strict=True)):
            moments = (b1, b2, eps, t)
            v_max = state.v_max[i] if amsgrad else None
            if _adam_native(x, mi, vi, o, moments, v_max):
                continue
            few = x.size <= _FEW and x.dtype == np.float64 and not amsgrad
            if few and _adam_floats(x, mi, vi, o, moments):
                continue
            _adam_arrays(x, mi, vi, o, scratch(x), moments, v_max)

    return Transform(init, update, inplace)


def _adam_native(
    x: np.ndarray,
    mi: np.ndarray,
    vi: np.ndarray,
    o: np.ndarray,
    moments: tuple[float, float, float, int],
    v_max: np.ndarray | None,
) -> bool:
    """``_adam_arrays`` in one compiled pass over the leaf (``engine.native``), the
    same operations in the same order; False (nothing written) where the loops were
    not built or a leaf is not a contiguous float64 array."""
    k = native.loops_for(x, mi, vi, o, v_max)
    if k is None:
        return False
    b1, b2, eps, t = moments
    bc1, root_bc2 = 1.0 - b1**t, math.sqrt(1.0 - b2**t)
    k.adam(x, mi, vi, v_max, o, b1, b2, 1.0 - b1, 1.0 - b2, eps, bc1, root_bc2)
    return True


def _adam_arrays(
    x: np.ndarray,
    mi: np.ndarray,
    vi: np.ndarray,
    o: np.ndarray,
    tmp: np.ndarray,
    moments: tuple[float, float, float, int],
    v_max: np.ndarray | None,
) -> None:
    """``scale_by_adam``'s update of one leaf with numpy calls into its buffers (out
    passed by position: a keyword costs about a tenth of a microsecond per call)."""
    b1, b2, eps, t = moments
    bc1 = 1.0 - b1**t
    root_bc2 = math.sqrt(1.0 - b2**t)
    np.multiply(mi, b1, mi)
    np.multiply(x, 1.0 - b1, tmp)
    np.add(mi, tmp, mi)
    np.multiply(x, x, tmp)
    np.multiply(tmp, 1.0 - b2, tmp)
    np.multiply(vi, b2, vi)
    np.add(vi, tmp, vi)
    if v_max is not None:
        vi = np.maximum(v_max, vi, out=v_max)
    np.sqrt(vi, tmp)
    tmp /= root_bc2
    tmp += eps
    tmp *= bc1
    np.true_divide(mi, tmp, o)


def _adam_floats(
    x: np.ndarray,
    mi: np.ndarray,
    vi: np.ndarray,
    o: np.ndarray,
    moments: tuple[float, float, float, int],
) -> bool:
    """``scale_by_adam``'s update of a leaf of a few numbers in Python floats, which
    make numpy's operations exactly and cost far less per call; False (nothing
    written) where a division by zero or a negative square root needs numpy's answer."""
    b1, b2, eps, t = moments
    bc1, root_bc2 = 1.0 - b1**t, math.sqrt(1.0 - b2**t)
    c1, c2 = 1.0 - b1, 1.0 - b2
    gs = x.ravel().tolist()
    m = [b1 * a + c1 * b for a, b in zip(mi.ravel().tolist(), gs, strict=True)]
    v = [b2 * a + c2 * (b * b) for a, b in zip(vi.ravel().tolist(), gs, strict=True)]
    try:
        step = [a / (((math.sqrt(b) / root_bc2) + eps) * bc1) for a, b in zip(m, v, strict=True)]
    except (ZeroDivisionError, ValueError):
        return False
    mi.flat[:], vi.flat[:], o.flat[:] = m, v, step
    return True


def scale_by_lr(schedule: Schedule) -> Transform[tuple[()]]:
    """``-lr * g`` with ``lr = schedule(count)``: the step against the direction."""

    def update(
        g: Params, state: tuple[()], params: Params, count: int, oracle: Oracle | None
    ) -> tuple[Params, tuple[()]]:
        lr = schedule(count)
        return [-lr * x for x in g], state

    def inplace(g: Params, state: tuple[()], params: Params, count: int, out: Params) -> None:
        lr = schedule(count)
        for x, o in zip(g, out, strict=True):
            np.multiply(x, -lr, o)

    return Transform(_no_state, update, inplace)


def _one_leaf(name: str, params: Params, oracle: Oracle | None) -> tuple[np.ndarray, Oracle]:
    if len(params) != 1 or params[0].ndim != 2:
        shapes = [p.shape for p in params]
        raise ValueError(f"{name} needs params = [X] with X of shape (N, d), got shapes {shapes}")
    if oracle is None:
        raise ValueError(f"{name} needs an oracle")
    return params[0], oracle


def _solve_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """x with ``a[i] @ x[i] = b[i]`` for a (N, d, d), b (N, d); the least-squares
    minimum-norm x (pinv) for singular rows, nan for rows with non-finite entries."""
    try:
        return np.linalg.solve(a, b[..., None])[..., 0]
    except np.linalg.LinAlgError:
        pass
    # LAPACK stops at the first exactly singular matrix; split the rows and redo.
    x = np.full_like(b, np.nan)
    finite = np.isfinite(a).all(axis=(1, 2))
    sign = np.zeros(len(a))
    sign[finite] = np.linalg.slogdet(a[finite])[0]
    regular, singular = finite & (sign != 0), finite & (sign == 0)
    x[regular] = np.linalg.solve(a[regular], b[regular, :, None])[..., 0]
    x[singular] = (np.linalg.pinv(a[singular]) @ b[singular, :, None])[..., 0]
    return x


def newton_direction(damping: float) -> Transform[tuple[()]]:
    """``solve(H + damping*I, g)`` per row of the single (N, d) leaf, with H from
    ``oracle.hessian`` (N, d, d)."""

    def update(
        g: Params, state: tuple[()], params: Params, count: int, oracle: Oracle | None
    ) -> tuple[Params, tuple[()]]:
        x, oracle = _one_leaf("newton", params, oracle)
        h = np.asarray(oracle.hessian(params))
        if damping:
            h = h + damping * np.eye(x.shape[1])
        return [_solve_rows(h, g[0])], state

    return Transform(_no_state, update)


def armijo_step(
    schedule: Schedule, c1: float, shrink: float, max_backtracks: int
) -> Transform[tuple[()]]:
    """``-t * g`` per row with the largest ``t = lr * shrink^k`` (k <= max_backtracks)
    such that ``f(x - t*g) <= f(x) - c1 * t * |g|^2``; the last t when none does.

    All rows backtrack together; a row leaves the loop when its condition holds.
    """

    def update(
        g: Params, state: tuple[()], params: Params, count: int, oracle: Oracle | None
    ) -> tuple[Params, tuple[()]]:
        x, oracle = _one_leaf("armijo", params, oracle)
        d = g[0]
        f0 = np.asarray(oracle.value(params))
        decrease = c1 * np.einsum("ij,ij->i", d, d)
        t = np.full(len(x), schedule(count), dtype=x.dtype)
        rows = np.arange(len(x))
        for k in range(max_backtracks + 1):
            tr = t[rows]
            f = np.asarray(oracle.value([x[rows] - tr[:, None] * d[rows]]))
            # nan compares False, so an undefined trial value fails the test.
            rows = rows[~(f <= f0[rows] - tr * decrease[rows])]
            if rows.size == 0 or k == max_backtracks:
                break
            t[rows] *= shrink
        return [-t[:, None] * d], state

    return Transform(_no_state, update)
