"""The descent: optimizers on an analytic function from one or many starts.

All N starts of one optimizer step together as one (N, d) array. Each start stops
on its own: ``converged`` when its gradient norm falls below the tolerance,
``diverged`` when its value, gradient or point stops being finite (the last finite
iterate is kept), ``max_iterations`` when the budget runs out, ``interrupted`` when
the user stops the run. Stopped rows are frozen while the others go on.

``Descent.steps()`` yields one ``Step`` per iteration, so the same loop feeds a
progress bar, a trace file and a test without knowing about any of them.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Executor
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

from gdcli.engine import autograd as ag
from gdcli.engine.analysis import analyze_points, stable_step_bound
from gdcli.engine.functions import CriticalPoint, ResolvedFunction
from gdcli.experiments.context import Session
from gdcli.experiments.jobs import run_jobs
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
    seconds: float = 0.0
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
    where = ""
    j = int(run.nearest[i]) if run.nearest.size else -1
    if j >= 0:
        where = f" (1 of {len(minima)} known)" if len(minima) > 1 else ""
    if status == "converged":
        if kind == "minimum":
            if j >= 0:
                return f"reached the {minima[j].kind}{where}"
            return "reached a minimum"
        if kind == "saddle":
            return "stalled at a saddle point"
        if kind == "maximum":
            return "stuck at a maximum"
        if kind == "non-smooth" and j >= 0:
            return f"reached the {minima[j].kind}{where}, at a kink of f"
        if kind == "non-smooth":
            return "stopped at a kink of f, where the gradient is not defined"
        return "stopped where the Hessian is singular (degenerate point)"
    if kind == "minimum" and j >= 0:
        return f"near the {minima[j].kind}, budget spent"
    return "budget spent before the gradient vanished"


class Descent:
    """One optimizer from the rows of ``X0`` (N, d) on ``fn``."""

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

    # -- the loop -------------------------------------------------------------

    def steps(self) -> Iterator[Step]:
        """Run the descent, yielding the start and then every iteration."""
        run, opt, objective = self.run, self.opt, self.fn.objective
        t0 = time.perf_counter()
        oracle = _FunctionOracle(self.fn) if opt.needs_oracle else None
        with np.errstate(all="ignore"):
            X = self.X0.copy()
            f, g = ag.value_and_grad(objective, X)
            gn = _row_norms(g)
            finite = np.isfinite(f) & _rows_all(np.isfinite(g))
            self._check_first_step(X)
            active = finite.copy()
            for i in np.flatnonzero(~finite):
                self._diverge(int(i), 0, "f or its gradient is not finite at the start")
            converged = active & (gn < self.tolerance)
            run.status[converged] = "converged"
            active &= ~converged
            run.f, run.grad_norm, run.x = f.copy(), gn.copy(), X.copy()
            state = opt.init([X])
            run.history.append(_median(f[finite]) if finite.any() else float("nan"))
            # a start where f is not finite never enters the trace (it keeps only numbers)
            yield Step(0, X, f, gn, learning_rate(opt, state), finite, ~active)

            all_active = active.size > 0 and bool(active.all())
            all_rows = np.ones_like(active)
            for t in range(1, self.iterations + 1):
                if not (all_active or active.any()):
                    break
                if self.should_stop():
                    run.status[active] = "interrupted"
                    active[:] = False
                    break
                lr = learning_rate(opt, state)
                updates, state = opt.update([g], state, [X], oracle)
                Xn = X + updates[0]
                fn_, gn_ = ag.value_and_grad(objective, Xn)
                norms = _row_norms(gn_)
                fast, some_converged = (
                    _screen(fn_, norms, Xn, self.tolerance) if all_active else (False, False)
                )
                if fast:
                    # Every row takes the step: the new arrays are the iterate as they are.
                    X, f, g, gn = Xn, fn_, gn_, norms
                    take = all_rows.copy()
                    run.iterations.fill(t)
                    conv = gn < self.tolerance
                    stopped = take.copy() if t == self.iterations else conv
                    if some_converged:
                        run.status[conv] = "converged"
                        active &= ~conv
                        all_active = False
                else:
                    ok = (
                        np.isfinite(fn_)
                        & _rows_all(np.isfinite(gn_))
                        & _rows_all(np.isfinite(Xn))
                        & np.isfinite(norms)  # a finite gradient whose norm overflows
                    )
                    take = active & ok
                    broke = active & ~ok
                    for i in np.flatnonzero(broke):
                        self._diverge(int(i), t, None)
                    X = np.where(take[:, None], Xn, X)
                    f = np.where(take, fn_, f)
                    g = np.where(take[:, None], gn_, g)
                    gn = np.where(take, norms, gn)
                    run.iterations[take] = t
                    conv = take & (gn < self.tolerance)
                    run.status[conv] = "converged"
                    active &= ~(conv | broke)
                    all_active = bool(active.all())
                    stopped = conv | broke | (take & (t == self.iterations))
                run.history.append(_median(f, finite=fast))
                yield Step(t, X, f, gn, lr, take, stopped)
        run.x, run.f, run.grad_norm = X, f, gn
        run.seconds = time.perf_counter() - t0

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

    def _diverge(self, i: int, t: int, why: str | None) -> None:
        run = self.run
        run.status[i] = "diverged"
        run.iterations[i] = max(t - 1, 0)
        if why is None:
            why = f"f, its gradient or the point became infinite or NaN at iteration {t}"
            if self._bound is not None:
                lr = self._lr()
                bound, lam = self._bound
                if lr > bound:
                    why = (
                        f"overflow at iteration {t}: lr {lr:g} > 2/lambda_max = {bound:.4g} "
                        f"(lambda_max = {lam:.4g} of the Hessian at the start)"
                    )
        run.reason[i] = why

    # -- after the loop ---------------------------------------------------------

    def finish(self) -> DescentRun:
        """Classify the final points and match them to the known minima."""
        run = self.run
        with np.errstate(all="ignore"):
            analyses = analyze_points(self.fn, run.x, grad_tol=max(self.tolerance, 1e-12))
        run.classification = np.array([a.classification for a in analyses], dtype=object)
        minima = self.fn.known_minima()
        run.nearest, run.distance = match_minima(run.x, minima)
        return run


_FEW = 64
"""Below this many entries an array is cheaper to scan in Python than with numpy,
whose every call costs about a microsecond before it touches the data."""


def _row_norms(g: np.ndarray) -> np.ndarray:
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
        return np.array([math.sqrt(sum(v * v for v in row)) for row in g.tolist()])
    col = g[:, 0]
    s = col * col
    for k in range(1, d):
        col = g[:, k]
        s += col * col
    return np.sqrt(s)


def _rows_all(mask: np.ndarray) -> np.ndarray:
    """``mask.all(axis=1)`` for a boolean (N, d) mask, column by column when d is small."""
    d = mask.shape[1]
    if d == 0 or d >= 8:
        return np.asarray(mask.all(axis=1))
    out = mask[:, 0].copy()
    for k in range(1, d):
        out &= mask[:, k]
    return out


def _screen(f: np.ndarray, norms: np.ndarray, X: np.ndarray, tol: float) -> tuple[bool, bool]:
    """Whether no entry of f, norms and X is inf or nan, and (when so) whether some
    norm is below ``tol``.

    A sum is finite only if every term is (inf and nan propagate, inf - inf is
    nan), so sums decide the first; one that overflows says False, and the caller
    then checks entry by entry.
    """
    if norms.size < _FEW:
        rows = norms.tolist()
        total = sum(f.tolist()) + sum(rows) + sum(X.ravel().tolist())
        return math.isfinite(total), bool(rows) and min(rows) < tol
    total = float(f.sum()) + float(norms.sum()) + float(X.sum())
    return math.isfinite(total), bool((norms < tol).any())


def _median(f: np.ndarray, finite: bool = False) -> float:
    """``float(np.median(f))`` for f (N,), cheaper when f is known to be finite.

    np.median partitions around both middle elements and the last (to find a nan);
    without nans one partition around the upper middle element is enough, and the
    lower middle one is the largest element before it.
    """
    n = f.shape[0]
    if n == 1:
        return float(f[0])
    if not finite:
        return float(np.median(f))
    k = n // 2
    part = np.partition(f, k)
    if n % 2:
        return float(part[k])
    # np.median averages the two middle elements as np.mean does: (a + b) / 2
    return float((part[:k].max() + part[k]) / 2)


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


def trace_columns(fn: ResolvedFunction) -> list[str]:
    names = [f"x{i + 1}" for i in range(fn.dimension)]
    return ["run", "optimizer", "start", "iteration", "f", "grad_norm", "lr", *names]


def trace_rows(run: DescentRun, step: Step, every: int) -> list[dict[str, Any]]:
    """The trace rows of one step: rows that moved, thinned to every k-th iteration
    (a row's first and last iterations are always kept)."""
    if step.iteration % every == 0:
        rows = np.flatnonzero(step.moved)
    else:
        rows = np.flatnonzero(step.stopped & step.moved)
    # A row that stopped without moving diverged: its last finite iterate (from the
    # previous iteration) is what it keeps, so the trace must end on it.
    kept = [
        int(i)
        for i in np.flatnonzero(step.stopped & ~step.moved)
        if step.iteration > 1 and (step.iteration - 1) % every != 0
    ]
    out = []
    d = step.X.shape[1]
    for i, iteration in [(int(i), step.iteration) for i in rows] + [
        (i, step.iteration - 1) for i in kept
    ]:
        row: dict[str, Any] = {
            "run": run.index,
            "optimizer": run.label,
            "start": int(i),
            "iteration": iteration,
            "f": float(step.f[i]),
            "grad_norm": float(step.grad_norm[i]),
            "lr": step.lr,
        }
        for k in range(d):
            row[f"x{k + 1}"] = float(step.X[i, k])
        out.append(row)
    return out


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
        fn = self.plan.function
        minima = fn.known_minima()
        runs = []
        for r in self.runs:
            for i in range(r.n):
                runs.append(
                    {
                        "run": r.index,
                        "optimizer": r.optimizer,
                        "label": r.label,
                        "hyperparameters": r.hyperparameters,
                        "start": r.starts[i].tolist(),
                        "x": r.x[i].tolist(),
                        "f": float(r.f[i]),
                        "grad_norm": float(r.grad_norm[i]),
                        "iterations": int(r.iterations[i]),
                        "status": str(r.status[i]),
                        "classification": str(r.classification[i])
                        if r.classification.size
                        else None,
                        "verdict": verdict(r, i, minima) if r.classification.size else None,
                        "nearest_minimum": (
                            list(minima[int(r.nearest[i])].x)
                            if r.nearest.size and r.nearest[i] >= 0
                            else None
                        ),
                        "seconds": r.seconds,
                    }
                )
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
            "starts": int(self.plan.starts.shape[0]),
            "trace_every": self.plan.trace_every,
            "warnings": [r.warning for r in self.runs if r.warning],
            "runs": runs,
            "basins": [basins(r, minima) for r in self.runs],
            "out_dir": out_dir,
        }


def basins(run: DescentRun, minima: tuple[CriticalPoint, ...]) -> dict[str, Any]:
    """Where the starts of one run ended: one group per known minimum or outcome."""
    groups: dict[str, list[int]] = {}
    for i in range(run.n):
        j = int(run.nearest[i]) if run.nearest.size else -1
        if j >= 0 and run.status[i] != "diverged":
            key = "minimum " + ", ".join(f"{v:.6g}" for v in minima[j].x)
        else:
            kind = str(run.classification[i]) if run.classification.size else "?"
            key = f"{run.status[i]}, {kind}"
        groups.setdefault(key, []).append(i)
    return {
        "run": run.index,
        "optimizer": run.label,
        "groups": [
            {
                "outcome": key,
                "count": len(rows),
                "median_iterations": float(np.median(run.iterations[rows])),
                "median_f": float(np.median(run.f[rows])),
            }
            for key, rows in sorted(groups.items(), key=lambda kv: -len(kv[1]))
        ],
    }


# -- running an experiment -------------------------------------------------------------


@dataclass(frozen=True)
class DescendJob:
    """One optimizer of a planned experiment: a job for ``jobs.run_jobs``."""

    plan: DescendPlan
    index: int


@dataclass
class DescendJobResult:
    """One optimizer's run and its trace rows (None: the job raised ``error``)."""

    index: int
    run: DescentRun | None
    rows: list[dict[str, Any]]
    error: Exception | None = None


def descend_job(job: DescendJob, should_stop: Callable[[], bool]) -> DescendJobResult:
    """Run one optimizer from all starts, in any process. ``should_stop`` is asked
    before every iteration; when it turns true the run ends there, its unfinished
    starts marked ``interrupted``."""
    run = descent(job.plan, job.index, should_stop)
    rows: list[dict[str, Any]] = []
    for step in run.steps():
        rows += trace_rows(run.run, step, job.plan.trace_every)
    return DescendJobResult(job.index, run.finish(), rows)


def _failed_job(job: DescendJob, error: Exception) -> DescendJobResult:
    return DescendJobResult(job.index, None, [], error)


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
    row to report a failure in.
    """
    out = prepare_run_dir(session.out_dir, force=session.force)
    write_yaml(out / "config.yaml", plan.resolved)
    runs: list[DescentRun] = []
    n = len(plan.optimizer_recipes)
    items = [DescendJob(plan, i) for i in range(n)]
    session.progress.start(plan.iterations * n, "descending")
    with TraceWriter(out / "trace.csv", trace_columns(plan.function)) as trace:
        for _, done in run_jobs(executor, descend_job, items, session.should_stop, _failed_job):
            if done.error is not None:
                raise done.error
            assert done.run is not None
            trace.write_many(done.rows)
            runs.append(done.run)
            session.progress.advance(plan.iterations, done.run.label)
    interrupted = len(runs) < n or any((r.status == "interrupted").any() for r in runs)
    result = DescendResult(plan, runs, interrupted)
    summary = result.summary(str(out))
    write_json(out / "summary.json", summary)
    return DescendOutcome(summary, summary["status"], (), result)
