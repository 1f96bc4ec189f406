"""The descent: optimizers on an analytic function from one or many starts.

All N starts of one optimizer step together as one (N, d) array. Each start stops
on its own: ``converged`` when its gradient norm falls below the tolerance,
``diverged`` when its value, gradient or point stops being finite (the last finite
iterate is kept), ``max_iterations`` when the budget runs out, ``interrupted`` when
the user stops the run. Stopped rows are frozen while the others go on.

``Descent.steps()`` yields one ``Step`` per iteration, so the same loop feeds a
progress bar, a trace file and a test without knowing about any of them. A step's
arrays are valid until the next iteration (the loop steps in place, into buffers):
what keeps one copies it (``Step.copy``).
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Executor
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from gdcli.engine import autograd as ag
from gdcli.engine import native
from gdcli.engine.analysis import analyze_points, stable_step_bound
from gdcli.engine.functions import LIBRARY, CriticalPoint, ResolvedFunction
from gdcli.engine.replay import OnePoint, Program
from gdcli.experiments.context import Progress, Session
from gdcli.experiments.jobs import SerialExecutor
from gdcli.experiments.recipes import FunctionRecipe, OptimizerRecipe
from gdcli.optim import Optimizer, learning_rate
from gdcli.runs import TraceWriter, prepare_run_dir, write_json, write_yaml

# Optimizers whose step is lr times the gradient (plus momentum), for which the
# stability bound of steepest descent on the local quadratic applies.
_GRADIENT_STEP = frozenset({"gd", "momentum", "nesterov"})


@dataclass(frozen=True)
class Step:
    """One iteration of a descent. Arrays cover all N starts; ``moved`` marks the rows
    that took this step (iteration 0 is the start, where every row is reported)."""

    iteration: int
    X: np.ndarray  # (N, d)
    f: np.ndarray  # (N,)
    grad_norm: np.ndarray  # (N,)
    lr: float
    moved: np.ndarray  # (N,) bool
    stopped: np.ndarray  # (N,) bool: rows that stopped at this iteration
    grad: np.ndarray  # (N, d)
    all_moved: bool = False  # every row took this step (``moved`` is all true)

    def copy(self) -> Step:
        """The step with arrays of its own: the loop overwrites a step's arrays at the
        next iteration (it steps in place), so a step kept for later is copied."""
        return Step(
            self.iteration,
            self.X.copy(),
            self.f.copy(),
            self.grad_norm.copy(),
            self.lr,
            self.moved.copy(),
            self.stopped.copy(),
            self.grad.copy(),
            self.all_moved,
        )


class _FunctionOracle:
    """Value and Hessian of the function, for Newton steps and line searches."""

    def __init__(self, fn: ResolvedFunction) -> None:
        self.fn = fn

    def value(self, params: list[np.ndarray]) -> np.ndarray:
        return self.fn.values(params[0])

    def hessian(self, params: list[np.ndarray]) -> np.ndarray:
        return ag.hessian(self.fn.objective, params[0])


@dataclass
class DescentRun:
    """The outcome of one optimizer from N starts (arrays over the starts)."""

    index: int
    optimizer: str
    label: str
    hyperparameters: dict[str, Any]
    starts: np.ndarray  # (N, d)
    x: np.ndarray  # (N, d) final (last finite) iterate
    f: np.ndarray  # (N,)
    grad_norm: np.ndarray  # (N,)
    iterations: np.ndarray  # (N,) int
    status: np.ndarray  # (N,) str
    reason: list[str | None]  # (N,) why a row diverged
    seconds: float = 0.0  # how long the descent took
    began: float = 0.0  # when it began (time.time(), comparable between processes)
    classification: np.ndarray = field(default_factory=lambda: np.array([], dtype=object))
    nearest: np.ndarray = field(default_factory=lambda: np.array([], dtype=int))
    distance: np.ndarray = field(default_factory=lambda: np.array([]))
    warning: str | None = None
    history: list[float] = field(default_factory=list)  # median f per iteration, for sparklines

    @property
    def n(self) -> int:
        return int(self.starts.shape[0])


def verdict(run: DescentRun, i: int, minima: tuple[CriticalPoint, ...]) -> str:
    """One line on what start i of the run did, in the course's words."""
    status, kind = str(run.status[i]), str(run.classification[i])
    if status == "diverged":
        return run.reason[i] or "diverged"
    if status == "interrupted":
        return "interrupted"
    j = int(run.nearest[i]) if run.nearest.size else -1
    where = f" (1 of {len(minima)} known)" if j >= 0 and len(minima) > 1 else ""
    reached = f"the {minima[j].kind}{where}" if j >= 0 else None
    if status == "converged":
        return _converged_verdict(kind, reached)
    if kind == "minimum" and reached:
        return f"near {reached}, budget spent"
    return "budget spent before the gradient vanished"


_STOPPED_AT = {
    "saddle": "stalled at a saddle point",
    "maximum": "stuck at a maximum",
    "non-smooth": "stopped at a kink of f, where the gradient is not defined",
}


def _converged_verdict(kind: str, reached: str | None) -> str:
    """What a converged start found, by the kind of its final point; ``reached`` names
    the known minimum it is at."""
    if kind == "minimum":
        return f"reached {reached}" if reached else "reached a minimum"
    if kind == "non-smooth" and reached:
        return f"reached {reached}, at a kink of f"
    return _STOPPED_AT.get(kind, "stopped where the Hessian is singular (degenerate point)")


class Descent:
    """One optimizer from the rows of ``X0`` (N, d) on ``fn``.

    f and its gradient come from a program recorded once and replayed every
    iteration (``engine.replay``); the graph is built every iteration only where
    replay cannot apply (an operation such as gelu that keeps more than its value).
    """

    def __init__(
        self,
        fn: ResolvedFunction,
        optimizer: Optimizer,
        X0: np.ndarray,
        *,
        iterations: int,
        tolerance: float,
        index: int = 0,
        label: str | None = None,
        should_stop: Callable[[], bool] = lambda: False,
    ) -> None:
        self.fn = fn
        self.opt = optimizer
        self.X0 = np.array(X0, dtype=np.float64, copy=True)
        self.iterations = iterations
        self.tolerance = tolerance
        self.should_stop = should_stop
        n = self.X0.shape[0]
        self.run = DescentRun(
            index=index,
            optimizer=optimizer.name,
            label=label or optimizer.name,
            hyperparameters=dict(optimizer.hyperparameters),
            starts=self.X0.copy(),
            x=self.X0.copy(),
            f=np.full(n, np.nan),
            grad_norm=np.full(n, np.nan),
            iterations=np.zeros(n, dtype=np.int64),
            status=np.full(n, "max_iterations", dtype=object),
            reason=[None] * n,
        )
        self._bound: tuple[float, float] | None = None
        self._program: Program | None = None
        self._fast: _Buffers | None = None
        self._history_every = max(1, -(-iterations // HISTORY_POINTS))
        # the latest iteration of the in-place loop's stretch of all rows active, not
        # yet written into ``run.iterations`` (``_settle_iterations``)
        self._ran = 0
        self.limits = _RunawayLimits(np.zeros(0), np.zeros(0))

    def value_and_grad(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """f (N,) and its gradient (N, d) at the rows of X (shaped as the starts)."""
        if self._program is not None:
            return self._program.value_and_grad(X)
        return ag.value_and_grad(self.fn.objective, X)

    # -- the loop -------------------------------------------------------------

    def steps(self) -> Iterator[Step]:
        """Run the descent, yielding the start and then every iteration."""
        t0 = time.perf_counter()
        self.run.began = time.time()
        with np.errstate(all="ignore"):
            it = self._start()
            yield it.step(0, self.opt)
            try:
                for t in range(1, self.iterations + 1):
                    if not (it.all_active or it.active.any()):
                        break
                    if self.should_stop():
                        self.run.status[it.active] = "interrupted"
                        it.active[:] = False
                        break
                    yield self._advance(it, t)
            finally:
                self._settle_iterations()
        run = self.run
        run.x, run.f, run.grad_norm = it.X, it.f, it.gn
        run.seconds = time.perf_counter() - t0

    def _start(self) -> _Iterate:
        """The state at the starts: values, gradients, the rows that start at all."""
        run, X = self.run, self.X0.copy()
        self._program = Program.record(self.fn.objective, X)
        if self._program is not None and self.opt.update_into is not None:
            self._fast = _Buffers(X, self._program.one_point())
        f, g = self.value_and_grad(X)
        gn = _row_norms(g)
        finite = np.isfinite(f) & _rows_all(np.isfinite(g))
        self._check_first_step(X)
        self.limits = _RunawayLimits.at(X, f, self.fn.window(X))
        active = finite.copy()
        for i in np.flatnonzero(~finite):
            self._diverge(int(i), 0, "f or its gradient is not finite at the start")
        converged = active & (gn < self.tolerance)
        run.status[converged] = "converged"
        active &= ~converged
        run.f, run.grad_norm, run.x = f.copy(), gn.copy(), X.copy()
        run.history.append(_median(f[finite]) if finite.any() else float("nan"))
        it = _Iterate(X, f, g, gn, active, self.opt.init([X]))
        # a start where f is not finite never enters the trace (it keeps only numbers)
        it.moved, it.stopped = finite, ~active
        it.all_active = active.size > 0 and bool(active.all())
        return it

    def _advance(self, it: _Iterate, t: int) -> Step:
        """One update of every active row, then the checks of the new iterate."""
        lr = learning_rate(self.opt, it.state)
        if it.all_active and self._fast is not None:
            return self._advance_in_place(it, t, lr, self._fast)
        oracle = _FunctionOracle(self.fn) if self.opt.needs_oracle else None
        updates, it.state = self.opt.update([it.g], it.state, [it.X], oracle)
        Xn = it.X + updates[0]
        fn_, gn_ = self.value_and_grad(Xn)
        norms = _row_norms(gn_)
        clean, some_converged = (
            _screen(fn_, norms, Xn, self.tolerance, self.limits)
            if it.all_active
            else (False, False)
        )
        if clean:
            self._take_all(it, t, Xn, fn_, gn_, norms, some_converged)
        else:
            self._take_some(it, t, Xn, fn_, gn_, norms)
        self._record_history(it.f, t, clean)
        return it.step(t, lr)

    def _advance_in_place(self, it: _Iterate, t: int, lr: float, fast: _Buffers) -> Step:
        """``_advance`` while every row is active, into buffers: the optimizer's
        in-place update, the replayed program, the iterate's arrays overwritten (the
        same numbers; a ``Step`` holds them only until the next iteration)."""
        assert self.opt.update_into is not None and self._program is not None
        it.state = self.opt.update_into([it.g], it.state, [it.X], [fast.U])
        Xn = fast.X
        np.add(it.X, fast.U, Xn)
        f, g, norms, clean, some_converged = self._evaluate(Xn, fast)
        if not clean:
            self._take_some(it, t, Xn.copy(), f.copy(), g.copy(), norms.copy())
            self._record_history(it.f, t, False)
            return it.step(t, lr)
        fast.X, it.X = it.X, Xn
        if norms is fast.gn:
            fast.gn, it.gn = it.gn, norms
        else:
            it.gn = norms
        if f is fast.f:  # the one-point program's: the buffers change places
            fast.f, fast.g, it.f, it.g = it.f, it.g, f, g
        else:
            np.copyto(it.f, f)
            np.copyto(it.g, g)
        self._ran = t  # every row ran to t: written once the stretch ends
        it.moved, it.all_moved = fast.everyone, True
        it.stopped = fast.everyone if t == self.iterations else fast.no_one
        if some_converged:
            conv = it.gn < self.tolerance
            it.stopped = conv if t < self.iterations else it.stopped
            self.run.status[conv] = "converged"
            it.active &= ~conv
            it.all_active = False
        self._record_history(it.f, t, True)
        return it.step(t, lr)

    def _evaluate(
        self, X: np.ndarray, fast: _Buffers
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool, bool]:
        """f, gradients and their norms at X, whether the screen passes them and
        whether some norm is below the tolerance (``_screen``): in floats for one
        start where the one-point program applies, else by the replayed program."""
        got = None if fast.one is None else fast.one.run(X, fast.f, fast.g)
        if got is None:
            assert self._program is not None
            f, g = self._program.run(X)
            screened = _native_screen(f, g, X, fast.gn, self.tolerance, self.limits)
            if screened is not None:
                return f, g, fast.gn, *screened
            norms = _row_norms(g, fast.gn, fast.tmp)
            clean, some = _screen(f, norms, X, self.tolerance, self.limits)
            return f, g, norms, clean, some
        value, grad, xs = got
        gn = math.sqrt(_sum_of_squares(grad))  # as _row_norms sums a short row
        fast.gn[0] = gn
        f_cap, x_cap = self.limits.caps
        clean = math.isfinite(value) and math.isfinite(gn) and all(map(math.isfinite, xs))
        clean = clean and value <= f_cap and max(map(abs, xs)) <= x_cap
        return fast.f, fast.g, fast.gn, clean, gn < self.tolerance

    def _settle_iterations(self) -> None:
        """``run.iterations`` of every row set to the latest iteration of the in-place
        loop: once, when its stretch of all rows active ends (a row's own iteration
        is written next) or the loop does, instead of at every iteration."""
        if self._ran:
            self.run.iterations.fill(self._ran)
            self._ran = 0

    def _record_history(self, f: np.ndarray, t: int, finite: bool) -> None:
        """The median of f at iteration t, kept for the sparkline at a bounded number
        of iterations (every one for few starts, where it costs nothing)."""
        if f.shape[0] < _FEW or t % self._history_every == 0 or t == self.iterations:
            self.run.history.append(_median(f, finite=finite))

    def _take_all(
        self,
        it: _Iterate,
        t: int,
        X: np.ndarray,
        f: np.ndarray,
        g: np.ndarray,
        gn: np.ndarray,
        some_converged: bool,
    ) -> None:
        """Every row takes the step: the new arrays are the iterate as they are."""
        run = self.run
        it.X, it.f, it.g, it.gn = X, f, g, gn
        it.moved, it.all_moved = np.ones_like(it.active), True
        run.iterations.fill(t)
        conv = gn < self.tolerance
        it.stopped = it.moved if t == self.iterations else conv
        if some_converged:
            run.status[conv] = "converged"
            it.active &= ~conv
            it.all_active = False

    def _take_some(
        self, it: _Iterate, t: int, X: np.ndarray, f: np.ndarray, g: np.ndarray, gn: np.ndarray
    ) -> None:
        """Row by row: finite new iterates are taken, the others diverge and keep
        their last finite iterate; taken rows that ran away diverge there."""
        self._settle_iterations()
        run, active = self.run, it.active
        ok = (
            np.isfinite(f)
            & _rows_all(np.isfinite(g))
            & _rows_all(np.isfinite(X))
            & np.isfinite(gn)  # a finite gradient whose norm overflows
        )
        take, broke = active & ok, active & ~ok
        for i in np.flatnonzero(broke):
            self._diverge(int(i), t, None)
        it.X = np.where(take[:, None], X, it.X)
        it.f = np.where(take, f, it.f)
        it.g = np.where(take[:, None], g, it.g)
        it.gn = np.where(take, gn, it.gn)
        run.iterations[take] = t
        away = take & self.limits.beyond(it.f, it.X)
        for i in np.flatnonzero(away):
            self._run_away(int(i), t, it)
        conv = take & ~away & (it.gn < self.tolerance)
        run.status[conv] = "converged"
        active &= ~(conv | broke | away)
        it.all_active = bool(active.all())
        it.moved, it.all_moved = take, False
        it.stopped = conv | broke | away | (take & (t == self.iterations))

    def _check_first_step(self, X: np.ndarray) -> None:
        """For gradient steps, compare lr with the stability bound 2/lambda_max at the start."""
        if self.opt.name not in _GRADIENT_STEP:
            return
        lr = self._lr()
        H = ag.hessian(self.fn.objective, X[:1])[0]
        if not np.isfinite(H).all():
            return
        bound = stable_step_bound(H)
        mu = self._hyper("momentum", 0.0)
        # heavy ball on a quadratic is stable for lr < 2 (1 + mu) / lambda_max
        bound *= 1.0 + mu
        self._bound = (bound, 2.0 * (1.0 + mu) / bound if np.isfinite(bound) else 0.0)
        if lr > bound:
            self.run.warning = (
                f"lr {lr:g} is above the stable step 2/lambda_max = {bound:.4g} of the Hessian "
                f"at the start (lambda_max = {2.0 * (1.0 + mu) / bound:.4g}): steps overshoot"
            )

    def _hyper(self, key: str, default: float) -> float:
        value = self.opt.hyperparameters.get(key, default)
        return float(value) if isinstance(value, (int, float)) else default

    def _lr(self) -> float:
        return self._hyper("lr", float("nan"))

    def _too_large(self) -> str | None:
        """``lr 0.2 > 2/lambda_max = 0.1 (...)`` when lr is above the stable step."""
        if self._bound is None:
            return None
        lr = self._lr()
        bound, lam = self._bound
        if not lr > bound:
            return None
        return (
            f"lr {lr:g} > 2/lambda_max = {bound:.4g} "
            f"(lambda_max = {lam:.4g} of the Hessian at the start)"
        )

    def _diverge(self, i: int, t: int, why: str | None) -> None:
        run = self.run
        run.status[i] = "diverged"
        run.iterations[i] = max(t - 1, 0)
        if why is None:
            why = f"f, its gradient or the point became infinite or NaN at iteration {t}"
            cause = self._too_large()
            if cause is not None:
                why = f"overflow at iteration {t}: {cause}"
        run.reason[i] = why

    def _run_away(self, i: int, t: int, it: _Iterate) -> None:
        """Row i passed a runaway limit at iteration t (see ``_RunawayLimits``)."""
        run = self.run
        run.status[i] = "diverged"
        f0, f = float(run.f[i]), float(it.f[i])
        if f > self.limits.f[i]:
            what = f"f grew from {f0:.3g} to {f:.3g} by iteration {t}"
        else:
            far = float(np.abs(it.X[i]).max())
            what = f"the point ran away to |x| = {far:.3g} by iteration {t}"
        cause = self._too_large()
        run.reason[i] = f"{what}: {cause}" if cause else what

    # -- after the loop ---------------------------------------------------------

    def finish(self) -> DescentRun:
        """Classify the final points and match them to the known minima."""
        run = self.run
        kinds = np.empty(run.n, dtype=object)
        # in chunks: the Hessians of a million points at once would not fit in memory
        for lo in range(0, run.n, _ANALYSIS_CHUNK):
            rows = slice(lo, lo + _ANALYSIS_CHUNK)
            with np.errstate(all="ignore"):
                analyses = analyze_points(self.fn, run.x[rows], grad_tol=max(self.tolerance, 1e-12))
            kinds[rows] = [a.classification for a in analyses]
        run.classification = kinds
        minima = self.fn.known_minima()
        run.nearest, run.distance = match_minima(run.x, minima)
        return run


_ANALYSIS_CHUNK = 65_536

RUNAWAY_FACTOR = 1e6


@dataclass(frozen=True)
class _RunawayLimits:
    """Where a minimisation has run away: the limits of f (N,) and of |x| (N,).

    Row i diverged at iteration t, whatever the budget, when

    - f grew by many orders of magnitude above its start:
      ``f_t - f_0 > 1e6 * max(1, |f_0|)`` (f increasing), or
    - its iterate ran away: ``max_k |x_t,k| > 1e6 * max(1, max_k |x_0,k|, w)``, with w
      the largest |bound| of the function's window (f decreasing without bound, as
      the cubic ``2x^3 - 6xy + 3y^2`` does towards -inf, ends here).

    A converging run stays within a few window sizes of its start and below its
    starting value (up to the bumps of momentum), far inside both limits.
    """

    f: np.ndarray  # (N,)
    x: np.ndarray  # (N,)

    @classmethod
    def at(
        cls, X0: np.ndarray, f0: np.ndarray, window: tuple[tuple[float, float], ...]
    ) -> _RunawayLimits:
        w = max((max(abs(lo), abs(hi)) for lo, hi in window), default=1.0)
        f_lim = f0 + RUNAWAY_FACTOR * np.maximum(1.0, np.abs(f0))
        f_lim = np.where(np.isfinite(f_lim), f_lim, np.inf)
        scale = np.maximum(np.abs(X0).max(axis=1, initial=0.0), max(1.0, w))
        return cls(f_lim, RUNAWAY_FACTOR * scale)

    @cached_property
    def caps(self) -> tuple[float, float]:
        """The smallest limits of f and |x|: a screen for all rows at once."""
        if self.f.size == 0:
            return math.inf, math.inf
        return float(self.f.min()), float(self.x.min())

    def beyond(self, f: np.ndarray, X: np.ndarray) -> np.ndarray:
        """Rows (N,) past either limit."""
        return (f > self.f) | (np.abs(X).max(axis=1) > self.x)


HISTORY_POINTS = 128
"""The median of f is kept at about this many iterations of a run of many starts
(its sparkline shows a few dozen)."""


class _Buffers:
    """The in-place loop's own arrays: the next iterate, the update and (for
    ``one``) the next f and gradient (N, d), the
    next gradient norms (N,) and a scratch row, and the masks of every row and of none."""

    def __init__(self, X: np.ndarray, one: OnePoint | None) -> None:
        self.one = one  # f and the gradient in Python floats, for one start
        self.f, self.g = np.empty(X.shape[0]), np.empty_like(X)
        self.X, self.U = np.empty_like(X), np.empty_like(X)
        self.gn, self.tmp = np.empty(X.shape[0]), np.empty(X.shape[0])
        self.everyone = np.ones(X.shape[0], dtype=bool)
        self.no_one = np.zeros(X.shape[0], dtype=bool)


@dataclass
class _Iterate:
    """The loop's state: the current rows (last finite iterate per row) and what
    happened at the latest iteration."""

    X: np.ndarray  # (N, d)
    f: np.ndarray  # (N,)
    g: np.ndarray  # (N, d)
    gn: np.ndarray  # (N,)
    active: np.ndarray  # (N,) bool
    state: Any
    all_active: bool = False
    moved: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    stopped: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    all_moved: bool = False

    def step(self, t: int, lr: float | Optimizer) -> Step:
        if isinstance(lr, Optimizer):
            lr = learning_rate(lr, self.state)
        return Step(
            t, self.X, self.f, self.gn, lr, self.moved, self.stopped, self.g, self.all_moved
        )


_FEW = 64
"""Below this many entries an array is cheaper to scan in Python than with numpy,
whose every call costs about a microsecond before it touches the data."""


def _row_norms(
    g: np.ndarray, out: np.ndarray | None = None, tmp: np.ndarray | None = None
) -> np.ndarray:
    """Euclidean norms (N,) of the rows of g (N, d): ``np.sqrt((g * g).sum(axis=1))``.

    numpy sums a row of fewer than 8 numbers from left to right (longer rows in
    pairs), and a reduction along a short axis is slow for many rows and costly
    per call for few. For rows that short, this sums squares from left to right
    too, column by column for many rows and in Python floats for a few: the same
    numbers, faster.
    """
    n, d = g.shape
    if d == 0 or d >= 8 or g.dtype != np.float64:
        return np.sqrt((g * g).sum(axis=1))
    if n < _FEW:
        return np.array([math.sqrt(_sum_of_squares(row)) for row in g.tolist()])
    col = g[:, 0]
    if out is None:
        s = col * col
        for k in range(1, d):
            col = g[:, k]
            s += col * col
        return np.sqrt(s)
    np.multiply(col, col, out)
    for k in range(1, d):
        col = g[:, k]
        out += np.multiply(col, col, tmp)
    return np.sqrt(out, out)


def _sum_of_squares(row: list[float]) -> float:
    """``row[0]**2 + row[1]**2 + ...`` added from left to right, as numpy adds a row of
    fewer than 8 numbers (Python's ``sum`` of floats compensates its rounding since
    3.12, which gives other numbers)."""
    total = row[0] * row[0]
    for v in row[1:]:
        total += v * v
    return total


def _rows_all(mask: np.ndarray) -> np.ndarray:
    """``mask.all(axis=1)`` for a boolean (N, d) mask, column by column when d is small."""
    d = mask.shape[1]
    if d == 0 or d >= 8:
        return np.asarray(mask.all(axis=1))
    out = mask[:, 0].copy()
    for k in range(1, d):
        out &= mask[:, k]
    return out


def _screen(
    f: np.ndarray, norms: np.ndarray, X: np.ndarray, tol: float, limits: _RunawayLimits
) -> tuple[bool, bool]:
    """Whether no entry of f, norms and X is inf or nan and no row is near a runaway
    limit, and (when so) whether some norm is below ``tol``.

    For few entries, each is checked in Python floats. For many, the smallest and
    largest entries of each array decide (numpy's min and max propagate nan; every
    comparison with nan is false): six reductions, no temporary. The limits are
    screened with their smallest values.
    """
    f_cap, x_cap = limits.caps
    if norms.size < _FEW:
        rows, fs, xs = norms.tolist(), f.tolist(), X.ravel().tolist()
        clean = bool(fs) and all(map(math.isfinite, fs + rows + xs))
        clean = clean and max(fs) <= f_cap and max(map(abs, xs)) <= x_cap
        return clean, bool(rows) and min(rows) < tol
    n_lo, n_hi = float(norms.min()), float(norms.max())
    f_lo, f_hi = float(f.min()), float(f.max())
    x_lo, x_hi = float(X.min()), float(X.max())
    inf = math.inf
    clean = -inf < f_lo and f_hi < inf and -inf < n_lo and n_hi < inf
    clean = clean and -inf < x_lo and x_hi < inf
    clean = clean and f_hi <= f_cap and x_hi <= x_cap and -x_lo <= x_cap
    return clean, n_lo < tol


def _native_screen(
    f: np.ndarray, g: np.ndarray, X: np.ndarray, out: np.ndarray, tol: float, limits: _RunawayLimits
) -> tuple[bool, bool] | None:
    """``_row_norms`` into out and ``_screen`` in one compiled pass (``engine.native``),
    the same numbers and verdicts; None where the loops were not built or the rows
    are 8 or more numbers long (numpy sums those in pairs)."""
    k = native.loops_for(f, g, X, out)
    d = g.shape[1]
    if k is None or not 0 < d < 8 or not f.size:
        return None
    f_cap, x_cap = limits.caps
    return k.norms_screen(g, f, X, out, d, f_cap, x_cap, tol)


def _median(f: np.ndarray, finite: bool = False) -> float:
    """``float(np.median(f))`` for f (N,), cheaper when f is known to be finite.

    np.median partitions around both middle elements and the last (to find a nan);
    without nans one partition around the upper middle element is enough, and the
    lower middle one is the largest element before it.
    """
    n = f.shape[0]
    if n == 1:
        return float(f[0]) + 0.0  # np.mean's sum starts from 0.0: -0.0 gives 0.0
    if not finite:
        return float(np.median(f))
    k = n // 2
    part = np.partition(f, k)
    if n % 2:
        return float(part[k]) + 0.0
    # np.median averages the two middle elements as np.mean does: (a + (0.0 + b)) / 2
    return float((part[:k].max() + (0.0 + part[k])) / 2)


def match_minima(
    X: np.ndarray, minima: tuple[CriticalPoint, ...], rel_tol: float = 1e-3
) -> tuple[np.ndarray, np.ndarray]:
    """Index of the known minimum each row of X (N, d) is at (-1: none) and the distance."""
    n = X.shape[0]
    if not minima:
        return np.full(n, -1), np.full(n, np.inf)
    M = np.array([m.x for m in minima])  # (k, d)
    D = np.linalg.norm(X[:, None, :] - M[None, :, :], axis=2)  # (N, k)
    j = np.argmin(D, axis=1)
    dist = D[np.arange(n), j]
    scale = rel_tol * np.maximum(1.0, np.linalg.norm(M[j], axis=1))
    return np.where(dist <= scale, j, -1), dist


# -- an experiment: every optimizer from every start -----------------------------------


@dataclass(frozen=True)
class DescendPlan:
    """A validated experiment resolved into what the loop needs (built by
    ``plan.descend_plan``). Picklable: the function and the optimizers, which are
    closures, travel as their recipes and are built again where the plan runs."""

    name: str
    function_recipe: FunctionRecipe
    starts: np.ndarray  # (N, d)
    optimizer_recipes: tuple[OptimizerRecipe, ...]
    iterations: int
    tolerance: float
    trace_every: int
    seed: int
    resolved: dict[str, Any]  # the experiment as it ran, for config.yaml

    @cached_property
    def function(self) -> ResolvedFunction:
        return self.function_recipe.build()

    @cached_property
    def optimizers(self) -> list[tuple[str, Optimizer]]:
        """(label, optimizer) per run."""
        return [(r.label, r.build()) for r in self.optimizer_recipes]

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k not in ("function", "optimizers")}


def descent(
    plan: DescendPlan, index: int, should_stop: Callable[[], bool] = lambda: False
) -> Descent:
    """The descent of the plan's ``index``-th optimizer from all of its starts."""
    label, opt = plan.optimizers[index]
    return Descent(
        plan.function,
        opt,
        plan.starts,
        iterations=plan.iterations,
        tolerance=plan.tolerance,
        index=index,
        label=label,
        should_stop=should_stop,
    )


def coordinate_names(fn: ResolvedFunction) -> tuple[list[str], list[str]]:
    """The trace's names of the point's coordinates and of the gradient's components:
    a formula's own variables (``x, y`` and ``g_x, g_y``); ``x1..xn`` and ``g1..gn``
    for a built-in function, or where a variable's name is taken by another column."""
    names = list(fn.variables)
    grads = [f"g_{v}" for v in names]
    if fn.name in LIBRARY or set(names + grads) & set(_TRACE_FIXED):
        names = [f"x{i + 1}" for i in range(fn.dimension)]
        grads = [f"g{i + 1}" for i in range(fn.dimension)]
    return names, grads


_TRACE_FIXED = ("run", "optimizer", "start", "iteration", "f", "grad_norm", "lr")


def trace_columns(fn: ResolvedFunction) -> list[str]:
    names, grads = coordinate_names(fn)
    return [*_TRACE_FIXED, *names, *grads]


TraceBlock = dict[str, Any]
"""Trace rows column by column: arrays of one length, or one value for every row."""


TRACE_CHUNK = 65_536
"""Rows per write of the trace: blocks of few rows are joined up to this many, and
blocks of many rows split into pieces of it (bounded memory for the text)."""


def join_blocks(blocks: list[tuple[TraceBlock, int]]) -> Iterator[tuple[TraceBlock, int]]:
    """The rows of ``blocks`` in order, as blocks of about ``TRACE_CHUNK`` rows."""
    pending: list[tuple[TraceBlock, int]] = []
    size = 0
    for block, n in blocks:
        if n >= TRACE_CHUNK:
            if pending:
                yield _joined(pending), size
                pending, size = [], 0
            for lo in range(0, n, TRACE_CHUNK):
                yield _rows_of(block, lo, min(lo + TRACE_CHUNK, n)), min(TRACE_CHUNK, n - lo)
            continue
        pending.append((block, n))
        size += n
        if size >= TRACE_CHUNK:
            yield _joined(pending), size
            pending, size = [], 0
    if pending:
        yield _joined(pending), size


def _rows_of(block: TraceBlock, lo: int, hi: int) -> TraceBlock:
    return {k: v[lo:hi] if isinstance(v, np.ndarray) else v for k, v in block.items()}


def _joined(blocks: list[tuple[TraceBlock, int]]) -> TraceBlock:
    """One block of the rows of several (a column's single values spread over its rows)."""
    if len(blocks) == 1:
        return blocks[0][0]
    counts = [n for _, n in blocks]
    out: TraceBlock = {}
    for key in blocks[0][0]:
        values = [b[key] for b, _ in blocks]
        if all(isinstance(v, np.ndarray) for v in values):
            out[key] = np.concatenate(values)
        elif not any(isinstance(v, np.ndarray) for v in values):
            same = all(v == values[0] for v in values)
            out[key] = values[0] if same else np.repeat(np.array(values), counts)
        else:
            out[key] = np.concatenate(
                [
                    v if isinstance(v, np.ndarray) else np.full(n, v)
                    for v, n in zip(values, counts, strict=True)
                ]
            )
    return out


def trace_selection(step: Step, every: int) -> tuple[np.ndarray | None, Any] | None:
    """Which rows of a step the trace keeps and their iterations: rows that moved,
    thinned to every k-th iteration (a row's first and last iterations are always
    kept); ``(None, t)`` for every row, None when the step writes no row."""
    if step.iteration % every == 0:
        if step.all_moved:
            return None, step.iteration
        rows = np.flatnonzero(step.moved)
    elif step.stopped.any():
        rows = np.flatnonzero(step.stopped & step.moved)
    else:
        return None
    iteration = np.full(rows.size, step.iteration)
    if step.iteration > 1 and (step.iteration - 1) % every != 0:
        # A row that stopped without moving diverged: its last finite iterate (from
        # the previous iteration) is what it keeps, so the trace must end on it.
        kept = np.flatnonzero(step.stopped & ~step.moved)
        rows = np.concatenate([rows, kept])
        iteration = np.concatenate([iteration, np.full(kept.size, step.iteration - 1)])
    if rows.size == 0:
        return None
    return rows, iteration


def trace_block(
    run: DescentRun, step: Step, every: int, names: tuple[list[str], list[str]]
) -> tuple[TraceBlock, int] | None:
    """The trace rows of one step (``trace_selection``) as columns of their own, and
    their number; None, and nothing built, when the step writes no row."""
    chosen = trace_selection(step, every)
    if chosen is None:
        return None
    rows, iteration = chosen
    if rows is None:
        rows = np.arange(step.f.shape[0])
    block: TraceBlock = {
        "run": run.index,
        "optimizer": run.label,
        "start": rows,
        "iteration": iteration,
        "f": step.f[rows],
        "grad_norm": step.grad_norm[rows],
        "lr": step.lr,
    }
    coords, grads = names
    for k, (c, g) in enumerate(zip(coords, grads, strict=True)):
        block[c] = step.X[rows, k]
        block[g] = step.grad[rows, k]
    return block, int(rows.size)


class TraceRows:
    """The trace rows of one run as the steps come, copied into preallocated columns
    of ``TRACE_CHUNK`` rows (a step's arrays are overwritten by the next): a few
    numpy calls per step, whatever its rows, and blocks ready to write."""

    def __init__(self, run: DescentRun, names: tuple[list[str], list[str]]) -> None:
        self.run, self.names = run, names
        self.d = len(names[0])
        self.blocks: list[tuple[TraceBlock, int]] = []
        self._chunk()

    def _chunk(self) -> None:
        self.k = 0
        self.start = np.empty(TRACE_CHUNK, dtype=np.int64)
        self.iteration = np.empty(TRACE_CHUNK, dtype=np.int64)
        self.lr = np.empty(TRACE_CHUNK)
        self.numbers = np.empty((TRACE_CHUNK, 2 + 2 * self.d))  # f, |g|, x, g

    def add(self, step: Step, every: int) -> None:
        chosen = trace_selection(step, every)
        if chosen is None:
            return
        rows, iteration = chosen
        n = step.f.shape[0] if rows is None else rows.size
        if self.k + n > TRACE_CHUNK:
            self._flush()
            if n > TRACE_CHUNK:
                block = trace_block(self.run, step, every, self.names)
                assert block is not None
                self.blocks.append(block)
                return
        k = self.k
        if n == 1 and rows is None:  # one start: one call for its numbers
            parts = (step.f, step.grad_norm, step.X.reshape(-1), step.grad.reshape(-1))
            np.concatenate(parts, out=self.numbers[k])
            self.start[k], self.iteration[k], self.lr[k] = 0, iteration, step.lr
        else:
            self._put(step, slice(k, k + n), rows, iteration)
        self.k = k + n

    def _put(self, step: Step, at: slice, rows: np.ndarray | None, iteration: Any) -> None:
        sel: Any = slice(None) if rows is None else rows
        d, out = self.d, self.numbers[at]
        out[:, 0] = step.f[sel]
        out[:, 1] = step.grad_norm[sel]
        out[:, 2 : 2 + d] = step.X[sel]
        out[:, 2 + d :] = step.grad[sel]
        self.start[at] = np.arange(out.shape[0]) if rows is None else rows
        self.iteration[at] = iteration
        self.lr[at] = step.lr

    def _flush(self) -> None:
        k = self.k
        if k == 0:
            return
        block: TraceBlock = {
            "run": self.run.index,
            "optimizer": self.run.label,
            "start": self.start[:k],
            "iteration": self.iteration[:k],
            "f": self.numbers[:k, 0],
            "grad_norm": self.numbers[:k, 1],
            "lr": self.lr[:k],
        }
        coords, grads = self.names
        for j, (c, g) in enumerate(zip(coords, grads, strict=True)):
            block[c] = self.numbers[:k, 2 + j]
            block[g] = self.numbers[:k, 2 + self.d + j]
        self.blocks.append((block, k))
        self._chunk()

    def done(self) -> list[tuple[TraceBlock, int]]:
        """Every row, as blocks in order."""
        self._flush()
        return self.blocks


SAMPLE_STARTS = 50
"""summary.json lists every start when an experiment has at most this many starts
per optimizer; beyond, the first this many and the best of each optimizer (every
start is in starts.csv)."""


@dataclass
class DescendResult:
    """Every run of an experiment, ready for tables and summary.json."""

    plan: DescendPlan
    runs: list[DescentRun]
    interrupted: bool = False

    @property
    def all_converged(self) -> bool:
        return all((r.status == "converged").all() for r in self.runs)

    def summary(self, out_dir: str | None) -> dict[str, Any]:
        """summary.json: bounded whatever the number of starts (aggregates, basins,
        the best start and a sample of the starts; all of them go to starts.csv)."""
        fn = self.plan.function
        minima = fn.known_minima()
        n = int(self.plan.starts.shape[0])
        sampled = n > SAMPLE_STARTS
        entries = [
            _start_entry(r, i, minima) for r in self.runs for i in _sample_rows(r, SAMPLE_STARTS)
        ]
        return {
            "experiment": self.plan.name,
            "command": "descend",
            "status": "interrupted" if self.interrupted else "finished",
            "function": {
                "name": fn.name,
                "formula": fn.formula,
                "variables": list(fn.variables),
                "known_minima": [{"x": list(m.x), "f": m.f, "kind": m.kind} for m in minima],
            },
            "seed": self.plan.seed,
            "starts": n,
            "trace_every": self.plan.trace_every,
            "warnings": [r.warning for r in self.runs if r.warning],
            "runs_sampled": sampled,
            "runs_note": (
                f"the first {SAMPLE_STARTS} starts and the best of each optimizer; "
                "every start is in starts.csv"
                if sampled
                else "every start"
            ),
            "runs": entries,
            "aggregates": [_aggregate(r) for r in self.runs],
            "best": _best(self.runs, minima),
            "basins": [basins(r, minima) for r in self.runs],
            "out_dir": out_dir,
        }


def _sample_rows(run: DescentRun, k: int) -> list[int]:
    """The first k starts of a run and, when not among them, its best (lowest finite f)."""
    rows = list(range(min(run.n, k)))
    best = _best_row(run)
    if best is not None and best >= k:
        rows.append(best)
    return rows


def _best_row(run: DescentRun) -> int | None:
    f = np.where(np.isfinite(run.f) & (run.status != "diverged"), run.f, np.inf)
    return int(np.argmin(f)) if f.size and np.isfinite(f).any() else None


def _best(runs: list[DescentRun], minima: tuple[CriticalPoint, ...]) -> dict[str, Any] | None:
    """The start that ended lowest over all runs (diverged ones aside)."""
    found = [(float(r.f[i]), r, i) for r in runs if (i := _best_row(r)) is not None]
    if not found:
        return None
    _, r, i = min(found, key=lambda c: c[0])
    return _start_entry(r, i, minima)


def _start_entry(r: DescentRun, i: int, minima: tuple[CriticalPoint, ...]) -> dict[str, Any]:
    analysed = r.classification.size > 0
    return {
        "run": r.index,
        "optimizer": r.optimizer,
        "label": r.label,
        "hyperparameters": r.hyperparameters,
        "index": i,
        "start": r.starts[i].tolist(),
        "x": r.x[i].tolist(),
        "f": float(r.f[i]),
        "grad_norm": float(r.grad_norm[i]),
        "iterations": int(r.iterations[i]),
        "status": str(r.status[i]),
        "classification": str(r.classification[i]) if analysed else None,
        "verdict": verdict(r, i, minima) if analysed else None,
        "nearest_minimum": (
            list(minima[int(r.nearest[i])].x) if r.nearest.size and r.nearest[i] >= 0 else None
        ),
        "seconds": r.seconds,
    }


def _aggregate(r: DescentRun) -> dict[str, Any]:
    """One run's starts by status, with medians."""
    statuses, counts = np.unique(r.status.astype(str), return_counts=True)
    finite = np.isfinite(r.f)
    return {
        "run": r.index,
        "optimizer": r.label,
        "starts": r.n,
        "status_counts": dict(zip(statuses.tolist(), counts.tolist(), strict=True)),
        "median_f": float(np.median(r.f[finite])) if finite.any() else None,
        "median_iterations": float(np.median(r.iterations)) if r.n else None,
        "seconds": r.seconds,
    }


def basin_keys(run: DescentRun, minima: tuple[CriticalPoint, ...]) -> tuple[list[str], np.ndarray]:
    """Each start's outcome: the known minimum it reached, or its status and kind, as
    the distinct outcomes' names and each start's index into them (N,). Codes, not a
    string per start: a million starts' strings took hundreds of megabytes."""
    status, status_codes = _factorize(run.status)
    kinds, kind_codes = (
        _factorize(run.classification)
        if run.classification.size
        else (["?"], np.zeros(run.n, np.int64))
    )
    codes = status_codes * len(kinds) + kind_codes
    names = [f"{s}, {k}" for s in status for k in kinds]
    if run.nearest.size:
        for j, m in enumerate(minima):
            at = (run.nearest == j) & (run.status != "diverged")
            name = "minimum " + ", ".join(f"{v:.6g}" for v in m.x)
            if name not in names:  # two minima that print alike are one outcome
                names.append(name)
            codes[at] = names.index(name)
    return names, codes


def _factorize(values: np.ndarray) -> tuple[list[str], np.ndarray]:
    """The distinct strings of an object array in the order they first appear, and
    each entry's index into them (N,)."""
    seen: dict[str, int] = {}
    codes = np.fromiter(
        (seen.setdefault(str(v), len(seen)) for v in values), dtype=np.int64, count=values.size
    )
    return list(seen), codes


def basins(run: DescentRun, minima: tuple[CriticalPoint, ...]) -> dict[str, Any]:
    """Where the starts of one run ended: one group per known minimum or outcome."""
    names, keys = basin_keys(run, minima)
    used, inverse, counts = np.unique(keys, return_inverse=True, return_counts=True)
    # most starts first; ties in the order the outcomes first appear
    first = np.full(used.size, run.n)
    np.minimum.at(first, inverse, np.arange(run.n))
    groups = []
    for k in sorted(range(used.size), key=lambda k: (-counts[k], first[k])):
        rows = inverse == k
        groups.append(
            {
                "outcome": names[int(used[k])],
                "count": int(counts[k]),
                "median_iterations": float(np.median(run.iterations[rows])),
                "median_f": float(np.median(run.f[rows])),
            }
        )
    return {"run": run.index, "optimizer": run.label, "groups": groups}


def starts_columns(fn: ResolvedFunction) -> list[str]:
    """starts.csv's columns: one row per (optimizer, start)."""
    names, _ = coordinate_names(fn)
    return [
        "run",
        "optimizer",
        "start",
        *[f"start_{c}" for c in names],
        *names,
        "f",
        "grad_norm",
        "iterations",
        "status",
        "classification",
        "minimum",
        "basin",
    ]


_STARTS_CHUNK = 100_000


def write_starts(path: Path, result: DescendResult) -> None:
    """starts.csv, column by column in chunks of rows (bounded memory at any N),
    written to a temporary file and renamed into place."""
    fn = result.plan.function
    names, _ = coordinate_names(fn)
    minima = fn.known_minima()
    tmp = path.with_name(path.name + ".tmp")
    with TraceWriter(tmp, starts_columns(fn)) as out:
        for r in result.runs:
            outcomes, keys = basin_keys(r, minima)
            minimum = np.where(r.nearest >= 0, r.nearest, -1) if r.nearest.size else None
            for lo in range(0, r.n, _STARTS_CHUNK):
                rows = slice(lo, lo + _STARTS_CHUNK)
                block: TraceBlock = {
                    "run": r.index,
                    "optimizer": r.label,
                    "start": np.arange(lo, min(lo + _STARTS_CHUNK, r.n)),
                    "f": r.f[rows],
                    "grad_norm": r.grad_norm[rows],
                    "iterations": r.iterations[rows],
                    "status": r.status[rows].tolist(),
                    "classification": r.classification[rows].tolist(),
                    "minimum": [None if m < 0 else m for m in minimum[rows].tolist()]
                    if minimum is not None
                    else None,
                    "basin": [outcomes[k] for k in keys[rows].tolist()],
                }
                for k, c in enumerate(names):
                    block[f"start_{c}"] = r.starts[rows, k]
                    block[c] = r.x[rows, k]
                out.write_columns(block, len(block["start"]))
    os.replace(tmp, path)


# -- running an experiment -------------------------------------------------------------


@dataclass(frozen=True)
class DescendJob:
    """One optimizer of a planned experiment: a job for ``jobs.run_jobs``.
    ``progress`` (serial runs only: it cannot travel to another process) is told of
    every iteration."""

    plan: DescendPlan
    index: int
    progress: Callable[[], None] | None = None

    @property
    def chunk(self) -> bool:
        """Whether the job runs a slice of the starts, to be joined with the others."""
        return False


@dataclass
class DescendJobResult:
    """One optimizer's run and its trace rows as column blocks (None: the job raised
    ``error``), and the iteration each block was written at."""

    index: int
    run: DescentRun | None
    blocks: list[tuple[TraceBlock, int]]
    error: Exception | None = None
    steps: list[int] = field(default_factory=list)


def descend_job(job: DescendJob, should_stop: Callable[[], bool]) -> DescendJobResult:
    """Run one optimizer from all starts, in any process. ``should_stop`` is asked
    before every iteration; when it turns true the run ends there, its unfinished
    starts marked ``interrupted``."""
    run = descent(job.plan, job.index, should_stop)
    names = coordinate_names(job.plan.function)
    every, tick = job.plan.trace_every, job.progress
    if job.chunk:
        # a chunk of the starts: blocks by iteration, so that chunks join in step order
        blocks, steps = [], []
        for step in run.steps():
            block = trace_block(run.run, step, every, names)
            if block is not None:
                blocks.append(block)
                steps.append(step.iteration)
            if tick is not None and step.iteration:
                tick()
        return DescendJobResult(job.index, run.finish(), blocks, steps=steps)
    rows = TraceRows(run.run, names)
    for step in run.steps():
        rows.add(step, every)
        if tick is not None and step.iteration:
            tick()
    return DescendJobResult(job.index, run.finish(), rows.done())


def _failed_job(job: DescendJob, error: Exception) -> DescendJobResult:
    return DescendJobResult(job.index, None, [], error)


class _Ticker:
    """Per-iteration progress passed on at most every ``interval`` seconds: a counter
    and a clock read per iteration."""

    def __init__(self, progress: Progress, interval: float = 0.25) -> None:
        self.progress, self.interval = progress, interval
        self.pending = 0
        self.due = time.monotonic() + interval

    def __call__(self) -> None:
        self.pending += 1
        now = time.monotonic()
        if now >= self.due:
            self.flush()
            self.due = now + self.interval

    def flush(self, label: str | None = None) -> None:
        self.progress.advance(self.pending, label)
        self.pending = 0


@dataclass(frozen=True)
class DescendOutcome:
    """A finished (or stopped) descend experiment: its summary.json object, its status,
    the files it wrote, and every run (arrays over the starts) for the tables."""

    summary: dict[str, Any]
    status: str
    files: tuple[str, ...]
    result: DescendResult


def run(plan: DescendPlan, session: Session, executor: Executor) -> DescendOutcome:
    """``gdcli descend``: every optimizer as one job on ``executor``; the run directory.

    Traces are written in optimizer order as each run comes back; the numbers do not
    depend on the executor. A stop request reaches the running optimizers, which end
    after their current iteration. A job that raised raises here: a descent has no
    row to report a failure in. Progress advances per iteration (at most a few times
    a second) when the jobs run in this process or in a pool, per optimizer on a
    cluster, and not at all when the session's progress is disabled.
    """
    from gdcli.experiments.starts import PoolProgress, run_descend_jobs  # they build on this

    out = prepare_run_dir(session.out_dir, force=session.force)
    write_yaml(out / "config.yaml", plan.resolved)
    runs: list[DescentRun] = []
    n = len(plan.optimizer_recipes)
    shown = getattr(session.progress, "enabled", True)
    serial = isinstance(executor, SerialExecutor)
    ticker = _Ticker(session.progress) if shown and serial else None
    bar = PoolProgress.of(executor, session.progress, plan.iterations) if shown else None
    items = [DescendJob(plan, i, ticker) for i in range(n)]
    if shown:
        session.progress.start(plan.iterations * n, "descending")
    jobs = run_descend_jobs(executor, items, session.should_stop, _failed_job, bar)
    with TraceWriter(out / "trace.csv", trace_columns(plan.function)) as trace:
        for _, done in jobs:
            if done.error is not None:
                raise done.error
            assert done.run is not None
            for block, rows in join_blocks(done.blocks):
                trace.write_columns(block, rows)
            runs.append(done.run)
            if bar is not None:
                bar.end(done.index, done.run.label)
            elif shown:
                _advance_to_end(session.progress, ticker, plan.iterations, done.run)
    interrupted = len(runs) < n or any((r.status == "interrupted").any() for r in runs)
    result = DescendResult(plan, runs, interrupted)
    write_starts(out / "starts.csv", result)
    summary = result.summary(str(out))
    write_json(out / "summary.json", summary)
    return DescendOutcome(summary, summary["status"], (), result)


def _advance_to_end(
    progress: Progress, ticker: _Ticker | None, iterations: int, done: DescentRun
) -> None:
    """A finished optimizer's share of the bar: its iterations not yet shown and the
    ones it did not need."""
    if ticker is None:
        progress.advance(iterations, done.label)
        return
    ran = int(done.iterations.max(initial=0))
    ticker.pending += iterations - ran
    ticker.flush(done.label)
