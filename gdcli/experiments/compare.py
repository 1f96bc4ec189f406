"""Many runs of one experiment and their aggregation: ``gdcli compare-activations``.

The same network is trained once per activation and seed. For a given seed every
activation sees the same data split and, when the initializer does not depend on
the activation, the same initial weights. Each (activation, seed) pair is a job
carrying its own training plan, run through ``jobs.run_jobs``; results come back in
job order, so ``--workers 2`` gives the same numbers as ``--workers 1``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from gdcli import nn
from gdcli.experiments.context import Session
from gdcli.experiments.jobs import error_text, run_jobs
from gdcli.experiments.train import TRACE_COLUMNS, TrainPlan, make_trainer
from gdcli.runs import TraceWriter, prepare_run_dir, write_json, write_yaml

COMPARE_TRACE_COLUMNS = ("activation", "seed", *TRACE_COLUMNS)


@dataclass
class Outcome:
    """One (activation, seed) training run, reduced to what the comparison needs."""

    activation: str
    seed: int
    status: str
    rows: list[dict[str, Any]] = field(default_factory=list)
    train_loss: float | None = None
    train_accuracy: float | None = None
    test_accuracy: float | None = None
    epochs_to_target: int | None = None
    seconds: float = 0.0
    dead_fraction: float | None = None
    saturated_fraction: float | None = None
    hidden_weight_change: float | None = None  # largest |W_end - W_start| of hidden layers
    error: str | None = None


def _target_epoch(rows: list[dict[str, Any]], acc: float | None, loss: float | None) -> int | None:
    for r in rows:
        if acc is not None and r["train_accuracy"] is not None and r["train_accuracy"] >= acc:
            return int(r["epoch"])
        if loss is not None and r["train_loss"] <= loss:
            return int(r["epoch"])
    return None


# -- one training run -------------------------------------------------------------------


class PlanRecipe(Protocol):
    """What makes a training plan where its job runs (``plan.TrainRecipe``)."""

    def build(self) -> TrainPlan: ...


@dataclass(frozen=True)
class PairJob:
    """One (activation, seed) run of a comparison: a job for ``jobs.run_jobs``.

    ``plan`` is the pair's training plan, or a recipe that makes it where the job
    runs (``build``: the data made there, not carried); None when planning this
    pair failed (``error`` says how). A pair whose plan fails is a failed row,
    like a run that raised.
    """

    activation: str
    seed: int
    plan: TrainPlan | PlanRecipe | None
    error: str | None = None
    target_accuracy: float | None = None
    target_loss: float | None = None


def train_pair(job: PairJob, should_stop: Callable[[], bool]) -> Outcome:
    """Train one (activation, seed) pair; errors are reported in the outcome, not raised.

    ``should_stop`` is asked before every epoch; when it turns true the outcome has
    the epochs done so far and the status ``interrupted``.
    """
    if job.plan is None:
        return failed_pair(job, job.error or "no plan")
    t0 = time.perf_counter()
    try:
        plan = job.plan if isinstance(job.plan, TrainPlan) else job.plan.build()
        return _train(job, plan, should_stop)
    except Exception as exc:  # a failing run is reported in its row; the others go on
        return failed_pair(job, exc, time.perf_counter() - t0)


def failed_pair(job: PairJob, error: str | Exception, seconds: float = 0.0) -> Outcome:
    """The row of a pair that did not run to the end of its plan."""
    text = error if isinstance(error, str) else error_text(error)
    return Outcome(job.activation, job.seed, "failed", error=text, seconds=seconds)


def _train(job: PairJob, plan: TrainPlan, should_stop: Callable[[], bool]) -> Outcome:
    start = [layer.W.copy() for layer in plan.layers[:-1]]
    trainer = make_trainer(plan, should_stop)
    rows = [e.row() for e in trainer.epochs()]
    result = trainer.finish()
    tr = result.final.get("train")
    te = result.final.get("test")
    X = plan.splits.train.X.astype(plan.arch.dtype)
    stats = nn.saturation_stats(plan.arch, result.layers, X) if plan.arch.activations else {}
    change = None
    if start:
        change = max(
            float(np.max(np.abs(layer.W - w0)))
            for layer, w0 in zip(result.layers, start, strict=False)
        )
    return Outcome(
        job.activation,
        job.seed,
        result.status,
        [{"activation": job.activation, "seed": job.seed, **r} for r in rows],
        tr.loss if tr else None,
        tr.accuracy if tr else None,
        te.accuracy if te else None,
        _target_epoch(rows, job.target_accuracy, job.target_loss),
        result.train_seconds,
        stats.get("dead_fraction"),
        stats.get("saturated_fraction"),
        change,
    )


def _stat(values: list[float | None]) -> dict[str, float | None]:
    xs = [v for v in values if v is not None and math.isfinite(v)]
    if not xs:
        return {"mean": None, "std": None}
    arr = np.array(xs)
    return {"mean": float(arr.mean()), "std": float(arr.std(ddof=1)) if len(xs) > 1 else 0.0}


def aggregate(outcomes: list[Outcome], activations: list[str]) -> list[dict[str, Any]]:
    """Per activation, over its seeds: mean and std of the final figures, ranked best first.

    A run that was interrupted part-way is left out: its figures are not final.
    """
    results = []
    for name in activations:
        runs = [o for o in outcomes if o.activation == name and o.status != "interrupted"]
        ok = [o for o in runs if o.error is None]
        reached = [o.epochs_to_target for o in ok if o.epochs_to_target is not None]
        moved = [o.hidden_weight_change for o in ok if o.hidden_weight_change is not None]
        results.append(
            {
                "activation": name,
                "runs": len(runs),
                "loss_history": _mean_history(ok),
                "failed": [o.error for o in runs if o.error],
                "train_loss": _stat([o.train_loss for o in ok]),
                "train_accuracy": _stat([o.train_accuracy for o in ok]),
                "test_accuracy": _stat([o.test_accuracy for o in ok]),
                "epochs_to_target": {
                    **_stat([float(e) for e in reached]),
                    "reached": len(reached),
                },
                "seconds": _stat([o.seconds for o in ok]),
                "dead_fraction": _stat([o.dead_fraction for o in ok]),
                "saturated_fraction": _stat([o.saturated_fraction for o in ok]),
                "hidden_weights_moved": None if not moved else bool(max(moved) > 0.0),
                "hidden_weight_change": max(moved) if moved else None,
            }
        )
    results.sort(key=_rank_key)
    for i, r in enumerate(results):
        r["rank"] = i + 1
    return results


def _mean_history(runs: list[Outcome]) -> list[float]:
    """The mean train loss per epoch over the runs that have that epoch."""
    by_epoch: dict[int, list[float]] = {}
    for o in runs:
        for r in o.rows:
            by_epoch.setdefault(int(r["epoch"]), []).append(float(r["train_loss"]))
    return [float(np.mean(by_epoch[e])) for e in sorted(by_epoch)]


def _rank_key(r: dict[str, Any]) -> tuple[float, float]:
    acc = r["test_accuracy"]["mean"]
    if acc is None:
        acc = r["train_accuracy"]["mean"]
    loss = r["train_loss"]["mean"]
    return (-(acc if acc is not None else -1.0), loss if loss is not None else math.inf)


LEVEL = 0.95  # one-sided confidence of the paired test that names a winner


def t_inside(t: float, dof: int) -> float:
    """P(|T| < t) for Student's t with ``dof`` degrees of freedom (exact finite sums,
    Abramowitz & Stegun 26.7.3-4)."""
    theta = math.atan(t / math.sqrt(dof))
    c2, total, term = math.cos(theta) ** 2, 0.0, 1.0
    if dof % 2 == 0:
        for k in range(1, dof // 2):
            total += term
            term *= c2 * (2 * k - 1) / (2 * k)
        return math.sin(theta) * (total + term) if dof > 1 else 0.0
    term = math.cos(theta)
    for k in range(1, (dof - 1) // 2):
        total += term
        term *= c2 * (2 * k) / (2 * k + 1)
    series = total + term if dof > 1 else 0.0
    return 2.0 / math.pi * (theta + math.sin(theta) * series)


def t_quantile(p: float, dof: int) -> float:
    """The t with P(T < t) = p >= 0.5, by bisection (t_0.975 is 12.706 for 1 dof)."""
    level = 2.0 * p - 1.0
    lo, hi = 0.0, 1.0
    while t_inside(hi, dof) < level:
        lo, hi = hi, 2.0 * hi
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if t_inside(mid, dof) < level else (lo, mid)
    return 0.5 * (lo + hi)


def beats(a: dict[int, float], b: dict[int, float]) -> bool:
    """Whether ``a`` (seed -> figure) beats ``b`` on a paired t-test over their
    common seeds: the mean per-seed difference is above 0 and above its standard
    error times the one-sided ``LEVEL`` t quantile for n - 1 degrees of freedom
    (2.92 for 3 seeds, 2.13 for 5)."""
    seeds = sorted(set(a) & set(b))
    if len(seeds) < 2:
        return False
    d = np.array([a[s] - b[s] for s in seeds])
    se = float(d.std(ddof=1)) / math.sqrt(len(d))
    return bool(d.mean() > 0.0 and d.mean() > t_quantile(LEVEL, len(d) - 1) * se)


def verdict(outcomes: list[Outcome], results: list[dict[str, Any]]) -> dict[str, Any]:
    """Winner, tie or undecided, on the ranking's accuracy (test, else train).

    The first-ranked activation wins only when it beats every other one on the
    paired test of ``beats``; otherwise it ties with each one it does not beat.
    With one seed no test is possible and nothing is decided.
    """
    if not results:
        return {"outcome": "undecided", "winner": None, "tied": [], "metric": None, "test": None}
    metric = (
        "test_accuracy" if results[0]["test_accuracy"]["mean"] is not None else "train_accuracy"
    )
    figures: dict[str, dict[int, float]] = {}
    for o in outcomes:
        value = getattr(o, metric)
        if o.error is None and o.status != "interrupted" and value is not None:
            figures.setdefault(o.activation, {})[o.seed] = value
    top = results[0]["activation"]
    n = len(figures.get(top, {}))
    test = (
        f"paired t-test of per-seed {metric} differences ({n} seeds, one-sided "
        f"{LEVEL:.0%}): the winner must beat every other activation"
    )
    base = {"metric": metric, "seeds": n, "level": LEVEL, "test": test}
    if n < 2:
        return {"outcome": "undecided", "winner": None, "tied": [], **base}
    tied = [top] + [
        r["activation"]
        for r in results[1:]
        if not beats(figures.get(top, {}), figures.get(r["activation"], {}))
    ]
    if len(tied) == 1:
        return {"outcome": "winner", "winner": top, "tied": [], **base}
    return {"outcome": "tie", "winner": None, "tied": tied, **base}


def _and(names: list[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def _verdict_text(v: dict[str, Any], results: list[dict[str, Any]]) -> str:
    best = results[0]
    key = v["metric"] or "train_accuracy"
    metric = key.replace("_", " ")
    test = f"paired t-test, {v['seeds']} seeds, one-sided {LEVEL:.0%}"
    if v["outcome"] == "winner":
        return (
            f"{best['activation']} wins with mean {metric} {_fig(best[key]['mean'])}: "
            f"it beats every other activation on its per-seed differences ({test})"
        )
    if v["outcome"] == "tie":
        means = [r[key]["mean"] for r in results if r["activation"] in v["tied"]]
        low, high = _fig(min(means, default=None)), _fig(max(means, default=None))
        span = high if low == high else f"{low} to {high}"
        return (
            f"no winner: {_and(v['tied'])} tie on mean {metric} ({span}); "
            f"their per-seed differences are within noise ({test})"
        )
    return (
        f"no winner can be established from {v.get('seeds', 0)} seed: a paired test needs "
        f"two or more; {best['activation']} ranks first with mean {metric} "
        f"{_fig(best[key]['mean'])}"
    )


def _fig(x: float | None) -> str:
    return "-" if x is None else f"{x:.3f}"


def reading(results: list[dict[str, Any]], v: dict[str, Any]) -> str:
    """One line that says what the table shows, the verdict ``v`` first."""
    if not results:
        return "no run finished"
    best = results[0]
    parts = [_verdict_text(v, results)]
    for r in results:
        if r["hidden_weights_moved"] is False:
            parts.append(
                f"{r['activation']}'s hidden weights never moved: its derivative is 0 almost "
                "everywhere, so backpropagation passes nothing back through it and only the "
                "output layer learns, on the hidden layer's random features"
            )
    linear = next((r for r in results if r["activation"] == "linear"), None)
    if linear is not None and linear is not best:
        parts.append("linear layers compose to one linear map, so no hidden layer helps it")
    return "; ".join(parts) + "."


@dataclass(frozen=True)
class ComparePlan:
    """A comparison resolved into one job per (activation, seed), seeds varying slowest."""

    name: str
    activations: tuple[str, ...]
    seeds: tuple[int, ...]
    target_accuracy: float | None
    target_loss: float | None
    jobs: tuple[PairJob, ...]
    resolved: dict[str, Any]  # the experiment as it ran, for config.yaml


def summary(
    plan: ComparePlan, outcomes: list[Outcome], out_dir: str | None, interrupted: bool
) -> dict[str, Any]:
    results = aggregate(outcomes, list(plan.activations))
    decided = verdict(outcomes, results)
    return {
        "experiment": plan.name,
        "command": "compare-activations",
        "status": "interrupted" if interrupted else "finished",
        "seeds": list(plan.seeds),
        "activations": list(plan.activations),
        "target": (
            {"accuracy": plan.target_accuracy}
            if plan.target_accuracy is not None
            else {"loss": plan.target_loss}
            if plan.target_loss is not None
            else None
        ),
        "results": results,
        "verdict": decided,
        "reading": reading(results, decided),
        "runs": [
            {
                "activation": o.activation,
                "seed": o.seed,
                "status": o.status,
                "epochs_run": len(o.rows),
                "train_loss": o.train_loss,
                "train_accuracy": o.train_accuracy,
                "test_accuracy": o.test_accuracy,
                "epochs_to_target": o.epochs_to_target,
                "dead_fraction": o.dead_fraction,
                "saturated_fraction": o.saturated_fraction,
                "hidden_weight_change": o.hidden_weight_change,
                "seconds": o.seconds,
                "error": o.error,
            }
            for o in outcomes
        ],
        "out_dir": out_dir,
    }


@dataclass(frozen=True)
class CompareOutcome:
    """A finished (or stopped) comparison: its summary.json object, its status, the
    files it wrote."""

    summary: dict[str, Any]
    status: str
    files: tuple[str, ...] = ()


def run(plan: ComparePlan, session: Session, executor: Executor) -> CompareOutcome:
    """``gdcli compare-activations``: every pair as a job on ``executor``, aggregated."""
    out = prepare_run_dir(session.out_dir, force=session.force)
    write_yaml(out / "config.yaml", plan.resolved)
    session.progress.start(len(plan.jobs), "training")

    def _arrived(job: PairJob) -> None:  # as results arrive, whatever their order
        session.progress.advance(1, f"{job.activation} seed {job.seed}")

    outcomes: list[Outcome] = []
    with TraceWriter(out / "trace.csv", COMPARE_TRACE_COLUMNS) as trace:
        for _, outcome in run_jobs(
            executor, train_pair, list(plan.jobs), session.should_stop, failed_pair, _arrived
        ):
            trace.write_many(outcome.rows)
            outcomes.append(outcome)
    interrupted = len(outcomes) < len(plan.jobs) or any(o.status == "interrupted" for o in outcomes)
    s = summary(plan, outcomes, str(out), interrupted)
    write_json(out / "summary.json", s)
    return CompareOutcome(s, s["status"])
