"""Many runs of one experiment and their aggregation: ``gdcli compare-activations``.

The same network is trained once per activation and seed. For a given seed every
activation sees the same data split and, when the initializer does not depend on
the activation, the same initial weights. Each (activation, seed) pair is an
independent job dispatched through a ``concurrent.futures.Executor``; results come
back in job order, so ``--workers 2`` gives the same numbers as ``--workers 1``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gdcli.train import TRACE_COLUMNS

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


def train_one(config_data: dict[str, Any], file: str, activation: str, seed: int) -> Outcome:
    """Train one (activation, seed) pair; errors are reported in the outcome, not raised.

    A top-level function of plain arguments, so a process pool can run it.
    """
    from gdcli import nn, train
    from gdcli.config import CompareConfig
    from gdcli.yamlio import Document

    t0 = time.perf_counter()
    try:
        cfg = CompareConfig.model_validate(config_data)
        one = cfg.model_copy(
            update={"seed": seed, "model": cfg.model.model_copy(update={"activation": activation})}
        )
        plan = train.plan(one, Document(config_data, file))
        start = [layer.W.copy() for layer in plan.layers[:-1]]
        trainer = train.make_trainer(plan, one)
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
    except Exception as exc:  # a failing run is reported in its row; the others go on
        return Outcome(
            activation,
            seed,
            "failed",
            error=f"{type(exc).__name__}: {exc}",
            seconds=time.perf_counter() - t0,
        )
    return Outcome(
        activation,
        seed,
        result.status,
        [{"activation": activation, "seed": seed, **r} for r in rows],
        tr.loss if tr else None,
        tr.accuracy if tr else None,
        te.accuracy if te else None,
        _target_epoch(rows, cfg.target_accuracy, cfg.target_loss),
        result.train_seconds,
        stats.get("dead_fraction"),
        stats.get("saturated_fraction"),
        change,
    )


class SerialExecutor(Executor):
    """Runs each job when it is submitted, in this process (``--workers 1``)."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        future: Future[Any] = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:
            future.set_exception(exc)
        return future


def make_executor(workers: int) -> Executor:
    """A process pool for ``workers > 1``; in-process execution otherwise."""
    if workers <= 1:
        return SerialExecutor()
    import multiprocessing
    import signal
    from concurrent.futures import ProcessPoolExecutor

    # Workers ignore Ctrl-C: the parent decides what to stop and saves what finished.
    return ProcessPoolExecutor(
        max_workers=workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=signal.signal,
        initargs=(signal.SIGINT, signal.SIG_IGN),
    )


def run_jobs(
    executor: Executor,
    config_data: dict[str, Any],
    file: str,
    pairs: list[tuple[str, int]],
    should_stop: Callable[[], bool],
) -> Iterator[Outcome]:
    """Outcomes in job order. With a serial executor each job starts only when the
    previous one was consumed, so an interruption stops between jobs."""
    serial = isinstance(executor, SerialExecutor)
    futures = [] if serial else [executor.submit(train_one, config_data, file, *p) for p in pairs]
    for k, (activation, seed) in enumerate(pairs):
        if should_stop():
            for f in futures:
                f.cancel()
            return
        fut = (
            executor.submit(train_one, config_data, file, activation, seed)
            if serial
            else futures[k]
        )
        try:
            yield fut.result()
        except Exception as exc:  # e.g. a worker process that died
            yield Outcome(activation, seed, "failed", error=f"{type(exc).__name__}: {exc}")


def _stat(values: list[float | None]) -> dict[str, float | None]:
    xs = [v for v in values if v is not None and math.isfinite(v)]
    if not xs:
        return {"mean": None, "std": None}
    arr = np.array(xs)
    return {"mean": float(arr.mean()), "std": float(arr.std(ddof=1)) if len(xs) > 1 else 0.0}


def aggregate(outcomes: list[Outcome], activations: list[str]) -> list[dict[str, Any]]:
    """Per activation, over its seeds: mean and std of the final figures, ranked best first."""
    results = []
    for name in activations:
        runs = [o for o in outcomes if o.activation == name]
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


def summary(
    name: str, config: Any, outcomes: list[Outcome], out_dir: str | None, interrupted: bool
) -> dict[str, Any]:
    results = aggregate(outcomes, list(config.activations))
    return {
        "experiment": name,
        "command": "compare-activations",
        "status": "interrupted" if interrupted else "finished",
        "seeds": config.seed_list(),
        "activations": list(config.activations),
        "target": (
            {"accuracy": config.target_accuracy}
            if config.target_accuracy is not None
            else {"loss": config.target_loss}
            if config.target_loss is not None
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
