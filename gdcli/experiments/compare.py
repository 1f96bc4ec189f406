"""Many runs of one experiment and their aggregation: ``gdcli compare-activations``.

The same network is trained once per activation and seed. For a given seed every
activation sees the same data split and, when the initializer does not depend on
the activation, the same initial weights. Each (activation, seed) pair is an
independent job dispatched through a ``concurrent.futures.Executor``; results come
back in job order, so ``--workers 2`` gives the same numbers as ``--workers 1``.

This module also holds the executors every command dispatches its jobs through
(``make_executor``), and how a pool of them is stopped: a worker's first Ctrl-C
only sets a flag its job polls (``worker_should_stop``), so the job ends after its
current step and returns what it did; ``in_order`` forwards the parent's stop
request to the pool's workers and still collects the jobs that were running.
"""

from __future__ import annotations

import contextlib
import math
import multiprocessing
import os
import signal
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from multiprocessing.process import BaseProcess
from typing import Any

import numpy as np

from gdcli.experiments.train import TRACE_COLUMNS

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


# -- stopping the jobs of a pool ------------------------------------------------------

_stop_requested = False
"""Set in a pool worker by its SIGINT handler; read by ``worker_should_stop``."""


def worker_should_stop() -> bool:
    """Whether this pool worker was asked to stop (its first SIGINT): the
    ``should_stop`` of every job a pool runs."""
    return _stop_requested


def _request_stop(signum: int, frame: Any) -> None:
    global _stop_requested
    _stop_requested = True


def _start_worker() -> None:
    """The initializer of a pool worker: Ctrl-C asks its job to stop, it never kills it.

    The worker was started with SIGINT blocked (see ``WorkerPool.submit``), so a
    Ctrl-C while it was starting is held until this handler is in place.
    """
    signal.signal(signal.SIGINT, _request_stop)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


class NotStarted(Exception):
    """A pool job whose worker had been asked to stop before the job began."""


def _unless_stopped(fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
    if _stop_requested:
        raise NotStarted
    return fn(*args, **kwargs)


# -- one training run -------------------------------------------------------------------


def train_one(
    config_data: dict[str, Any],
    file: str,
    activation: str,
    seed: int,
    should_stop: Callable[[], bool] = worker_should_stop,
) -> Outcome:
    """Train one (activation, seed) pair; errors are reported in the outcome, not raised.

    ``should_stop`` is asked before every epoch; when it turns true the outcome has
    the epochs done so far and the status ``interrupted``. A top-level function of
    plain arguments, so a process pool can run it.
    """
    from gdcli import nn
    from gdcli.experiments import train
    from gdcli.experiments.config import CompareConfig
    from gdcli.yamlio import Document

    t0 = time.perf_counter()
    try:
        cfg = CompareConfig.model_validate(config_data)
        one = cfg.model_copy(
            update={"seed": seed, "model": cfg.model.model_copy(update={"activation": activation})}
        )
        plan = train.plan(one, Document(config_data, file))
        start = [layer.W.copy() for layer in plan.layers[:-1]]
        trainer = train.make_trainer(plan, one, should_stop)
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


class WorkerPool(ProcessPoolExecutor):
    """A pool of ``workers`` processes whose jobs can be asked to stop.

    Every worker turns SIGINT into its stop flag (``worker_should_stop``), and a job
    submitted to a worker already asked to stop raises ``NotStarted`` instead of
    running; ``interrupt`` sends SIGINT to the pool's own workers.
    """

    def __init__(self, workers: int) -> None:
        super().__init__(
            max_workers=workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_start_worker,
        )
        # The pool starts its workers as jobs are submitted; they are the children
        # of this process that were not there before it.
        self._others = {p.pid for p in multiprocessing.active_children()}

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        # A worker may be started here: it inherits the blocked SIGINT, so a Ctrl-C
        # before its handler is installed waits for it instead of killing it.
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            return super().submit(_unless_stopped, fn, *args, **kwargs)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)

    def interrupt(self) -> None:
        """Ask every running job to stop after its current step."""
        for p in self._workers():
            if p.pid is not None:
                with contextlib.suppress(ProcessLookupError):  # it ended since it was listed
                    os.kill(p.pid, signal.SIGINT)

    def __exit__(self, exc_type: Any, exc_val: Any, exc_tb: Any) -> bool | None:
        if exc_type is not None and issubclass(exc_type, KeyboardInterrupt):
            # A second Ctrl-C: the jobs did not stop soon enough, so do not wait for them.
            for p in self._workers():
                p.terminate()
            self.shutdown(wait=True, cancel_futures=True)
            return False
        return super().__exit__(exc_type, exc_val, exc_tb)

    def _workers(self) -> list[BaseProcess]:
        return [p for p in multiprocessing.active_children() if p.pid not in self._others]


def make_executor(workers: int) -> Executor:
    """A process pool for ``workers > 1``; in-process execution otherwise."""
    if workers <= 1:
        return SerialExecutor()
    return WorkerPool(workers)


def in_order(
    executor: Executor,
    futures: list[Future[Any]],
    should_stop: Callable[[], bool],
    poll: float = 0.05,
) -> Iterator[tuple[int, Future[Any]]]:
    """``(index, future)`` for each job, in submission order, once it is done.

    When ``should_stop`` turns true the jobs that have not started are cancelled and
    the running ones are asked to stop (a ``WorkerPool``'s workers get SIGINT); those
    still come back, with what they did. Jobs that never ran are left out.
    """
    stopping = False

    def stop() -> None:
        nonlocal stopping
        stopping = True
        for f in futures:
            f.cancel()
        if isinstance(executor, WorkerPool):
            executor.interrupt()

    for k, fut in enumerate(futures):
        while not stopping:
            if should_stop():
                stop()
            elif wait([fut], timeout=poll).done:
                break
        # a running job that was asked to stop ends after its current step
        if fut.cancelled() or isinstance(fut.exception(), NotStarted):
            continue
        yield k, fut


def run_jobs(
    executor: Executor,
    config_data: dict[str, Any],
    file: str,
    pairs: list[tuple[str, int]],
    should_stop: Callable[[], bool],
) -> Iterator[Outcome]:
    """Outcomes in job order, each job polling ``should_stop`` between its epochs.

    With a serial executor each job starts only when the previous one was consumed.
    Once ``should_stop`` is true no job starts, the running ones end after their
    current epoch (status ``interrupted``) and the outcomes end early.
    """
    if isinstance(executor, SerialExecutor):
        for activation, seed in pairs:
            if should_stop():
                return
            fut = executor.submit(train_one, config_data, file, activation, seed, should_stop)
            yield _outcome(fut, activation, seed)
        return
    # In a pool each job polls its worker's flag; in_order passes the request on.
    futures = [executor.submit(train_one, config_data, file, *p, worker_should_stop) for p in pairs]
    for k, fut in in_order(executor, futures, should_stop):
        yield _outcome(fut, *pairs[k])


def _outcome(fut: Future[Outcome], activation: str, seed: int) -> Outcome:
    try:
        return fut.result()
    except Exception as exc:  # e.g. a worker process that died
        return Outcome(activation, seed, "failed", error=f"{type(exc).__name__}: {exc}")


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
