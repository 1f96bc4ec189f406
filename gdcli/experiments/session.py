"""Experiments on disk: runner records -> run directory (config, trace, summary).

This layer connects a pure runner to the files of DESIGN.md: it validates before
creating anything, writes ``config.yaml`` (the resolved experiment, seed
included), streams the trace row by row, and writes ``summary.json`` atomically
at the end, also when the run was interrupted. It never prints: progress goes to
a callback the CLI supplies.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from gdcli.runs import TraceWriter, prepare_run_dir, write_json, write_yaml


class Progress(Protocol):
    """Where long work reports how far it got (a progress bar, or nothing)."""

    def start(self, total: int, description: str) -> None: ...

    def advance(self, n: int = 1, description: str | None = None) -> None: ...


class NoProgress:
    def start(self, total: int, description: str) -> None:
        pass

    def advance(self, n: int = 1, description: str | None = None) -> None:
        pass


@dataclass(frozen=True)
class Session:
    """How an experiment is run: where it goes and how it can be stopped."""

    out_dir: Path
    force: bool = False
    should_stop: Callable[[], bool] = lambda: False
    progress: Progress = field(default_factory=NoProgress)


def job_data(config: Any) -> dict[str, Any]:
    """A validated experiment as plain data a worker process can validate again
    (the sweep left out: a job is one run)."""
    data: dict[str, Any] = config.model_dump(mode="json", exclude_none=True, warnings=False)
    data.pop("sweep", None)
    return data


def resolved_config(config: Any, doc: Any = None) -> dict[str, Any]:
    """The experiment as it ran: every key, defaults filled in, and data files as
    absolute paths, so the run directory can be redrawn or rerun from anywhere."""
    data: dict[str, Any] = config.model_dump(mode="json", exclude_none=True, warnings=False)
    spec = data.get("data")
    if isinstance(spec, dict) and doc is not None:
        from gdcli.experiments.train import data_path

        base = Path(doc.file).parent if doc.file else None
        for key in ("csv", "npz"):
            if isinstance(spec.get(key), str):
                spec[key] = str(data_path(spec[key], base).resolve())
    return data


def _resolved_descend(config: Any, doc: Any, plan: Any) -> dict[str, Any]:
    """A descend experiment with its implicit choices written out: the default
    optimizer when none was given, the box of random starts when it was the domain."""
    data = resolved_config(config, doc)
    if "optimizer" not in data and "optimizers" not in data:
        data["optimizer"] = config.optimizer_list()[0].model_dump(mode="json", exclude_none=True)
    starts = data.get("starts")
    if isinstance(starts, dict) and "low" not in starts:
        domain = plan.function.window()
        starts["low"] = [lo for lo, _ in domain]
        starts["high"] = [hi for _, hi in domain]
    return data


def descend_one(
    config_data: dict[str, Any], file: str, index: int, should_stop: Callable[[], bool]
) -> tuple[Any, list[Any]]:
    """One optimizer of a descend experiment, with its trace rows, in any process.

    A top-level function of plain arguments, so a process pool can run it; the plan
    (random starts included) is rebuilt from the same seed, so it is the same.
    ``should_stop`` is asked before every iteration; when it turns true the run
    ends there, its unfinished starts marked ``interrupted``.
    """
    from gdcli.experiments import descend
    from gdcli.experiments.config import DescendConfig, validate
    from gdcli.yamlio import Document

    doc = Document(config_data, file)
    plan = descend.plan(validate(doc, DescendConfig), doc)
    run = descend.descent(plan, index, should_stop)
    rows: list[Any] = []
    for step in run.steps():
        rows += descend.trace_rows(run.run, step, plan.trace_every)
    return run.finish(), rows


def run_descend(config: Any, doc: Any, session: Session, workers: int = 1) -> Any:
    """``gdcli descend``: plan, run every optimizer, write the run directory.

    With ``workers > 1`` the optimizers run in a process pool and their traces are
    written in optimizer order when each finishes; the numbers are the same. A stop
    request reaches the running optimizers, which end after their current iteration.
    """
    from gdcli.experiments import descend

    plan = descend.plan(config, doc)
    out = prepare_run_dir(session.out_dir, force=session.force)
    write_yaml(out / "config.yaml", _resolved_descend(config, doc, plan))
    runs = []
    n = len(plan.optimizers)
    session.progress.start(plan.iterations * n, "descending")
    with TraceWriter(out / "trace.csv", descend.trace_columns(plan.function)) as trace:
        if workers > 1 and n > 1:
            from gdcli.experiments.compare import in_order, make_executor, worker_should_stop

            data = job_data(config)
            with make_executor(workers) as pool:
                futures = [
                    pool.submit(descend_one, data, doc.file, i, worker_should_stop)
                    for i in range(n)
                ]
                for _, fut in in_order(pool, futures, session.should_stop):
                    run, rows = fut.result()
                    trace.write_many(rows)
                    runs.append(run)
                    session.progress.advance(plan.iterations, run.label)
        else:
            for index, (label, _) in enumerate(plan.optimizers):
                if session.should_stop():
                    break
                descent = descend.descent(plan, index, session.should_stop)
                last = 0
                for step in descent.steps():
                    trace.write_many(descend.trace_rows(descent.run, step, plan.trace_every))
                    if step.iteration:
                        session.progress.advance(1, label)
                    last = step.iteration
                session.progress.advance(plan.iterations - last, label)
                runs.append(descent.finish())
    interrupted = len(runs) < n or any((r.status == "interrupted").any() for r in runs)
    result = descend.DescendResult(plan, runs, interrupted)
    write_json(out / "summary.json", result.summary(str(out)))
    return result


def run_train(config: Any, doc: Any, session: Session, check_grad: bool = False) -> Any:
    """``gdcli train-mlp``: plan, train, evaluate, write the run directory and the model."""
    import numpy as np

    from gdcli import nn
    from gdcli.experiments import train
    from gdcli.runs import atomic_save_npz

    plan = train.plan(config, doc)
    out = prepare_run_dir(session.out_dir, force=session.force)
    write_yaml(out / "config.yaml", resolved_config(config, doc))
    extra: dict[str, Any] = {}
    if check_grad:
        s = plan.splits.train
        rows = np.random.default_rng(plan.seed).permutation(s.X.shape[0])[: min(64, s.X.shape[0])]
        extra["gradient_check"] = {
            "max_relative_error": nn.check_gradients(
                plan.arch, plan.layers, s.X[rows], s.y[rows], config.l2
            ),
            "batch": int(rows.size),
        }
    trainer = train.make_trainer(plan, config, session.should_stop)
    session.progress.start(config.epochs, "training")
    with TraceWriter(out / "trace.csv", train.TRACE_COLUMNS) as trace:
        for epoch in trainer.epochs():
            trace.write(epoch.row())
            session.progress.advance(1, f"epoch {epoch.epoch} loss {epoch.train_loss:.4g}")
    result = trainer.finish()
    if result.status != "diverged" or result.history:
        atomic_save_npz(out / "model.npz", train.model_arrays(plan, result, config.data.target))
        extra["files"] = ["model.npz"]
    summary = train.summary(plan, result, str(out), **extra)
    write_json(out / "summary.json", summary)
    return plan, result, summary


def run_compare(config: Any, doc: Any, session: Session, workers: int = 1) -> Any:
    """``gdcli compare-activations``: one training per (activation, seed), aggregated."""
    from gdcli.experiments import compare, train

    # Resolve one run up front, so bad data or keys are reported before any work,
    # at their place in the file.
    train.plan(config, doc)
    out = prepare_run_dir(session.out_dir, force=session.force)
    write_yaml(out / "config.yaml", resolved_config(config, doc))
    data = job_data(config)
    pairs = [(a, s) for s in config.seed_list() for a in config.activations]
    session.progress.start(len(pairs), "training")
    outcomes: list[compare.Outcome] = []
    with (
        compare.make_executor(workers) as executor,
        TraceWriter(out / "trace.csv", compare.COMPARE_TRACE_COLUMNS) as trace,
    ):
        for outcome in compare.run_jobs(executor, data, doc.file, pairs, session.should_stop):
            trace.write_many(outcome.rows)
            outcomes.append(outcome)
            session.progress.advance(1, f"{outcome.activation} seed {outcome.seed}")
    interrupted = len(outcomes) < len(pairs) or any(o.status == "interrupted" for o in outcomes)
    summary = compare.summary(config.name, config, outcomes, str(out), interrupted)
    write_json(out / "summary.json", summary)
    return summary
