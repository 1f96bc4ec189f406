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
from typing import Any

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


@dataclass(frozen=True)
class PairJob:
    """One (activation, seed) run of a comparison: a job for ``jobs.run_jobs``.

    ``plan`` is None when planning this pair failed (``error`` says how): the pair is
    then a failed row, like a run that raised.
    """

    activation: str
    seed: int
    plan: TrainPlan | None
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
        return _train(job, job.plan, should_stop)
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


def reading(results: list[dict[str, Any]]) -> str:
    """One line that says what the table shows."""
    if not results:
        return "no run finished"
    best = results[0]
    metric = "test" if best["test_accuracy"]["mean"] is not None else "train"
    acc = best[f"{metric}_accuracy"]
    parts = [
        f"{best['activation']} wins with mean {metric} accuracy {acc['mean']:.3f}"
        if acc["mean"] is not None
        else f"{best['activation']} ranks first"
    ]
    for r in results:
        if r["hidden_weights_moved"] is False:
            parts.append(
                f"{r['activation']}'s hidden weights never moved: its derivative is 0 almost "
                "everywhere, so backpropagation passes nothing back through it"
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
        "reading": reading(results),
        "runs": [
            {
                "activation": o.activation,
                "seed": o.seed,
                "status": o.status,
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
    outcomes: list[Outcome] = []
    with TraceWriter(out / "trace.csv", COMPARE_TRACE_COLUMNS) as trace:
        for _, outcome in run_jobs(
            executor, train_pair, list(plan.jobs), session.should_stop, failed_pair
        ):
            trace.write_many(outcome.rows)
            outcomes.append(outcome)
            session.progress.advance(1, f"{outcome.activation} seed {outcome.seed}")
    interrupted = len(outcomes) < len(plan.jobs) or any(o.status == "interrupted" for o in outcomes)
    s = summary(plan, outcomes, str(out), interrupted)
    write_json(out / "summary.json", s)
    return CompareOutcome(s, s["status"])
