"""Experiments from the command line: validated config -> plan -> runner -> outcome.

The CLI calls one function per command; each plans the experiment (``plan``),
chooses the executor its jobs run on (``executor_for``: a process pool, or a Dask
cluster with ``--cluster``) and hands both to the
runner, which writes the run directory and returns its outcome. Nothing here prints:
progress goes to the callback in the ``Session``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from concurrent.futures import Executor
from pathlib import Path
from typing import Any, TypeVar

from gdcli.errors import UserError
from gdcli.experiments import compare, descend, plan, sweep, train
from gdcli.experiments.context import NoProgress, Progress, Session
from gdcli.experiments.jobs import cores, make_executor
from gdcli.runs import lock_run_dir
from gdcli.yamlio import Document, parse_yaml

__all__ = [
    "NoProgress",
    "Progress",
    "Session",
    "not_ended_well",
    "run_compare",
    "run_descend",
    "run_sweep",
    "run_train",
]

Planned = TypeVar("Planned")
Outcome = TypeVar("Outcome")

# How a training (alone, or one of a comparison) ends well.
TRAINED = ("finished", "early_stopped")


def run_descend(
    config: Any,
    doc: Document,
    session: Session,
    workers: int | None = 1,
    cluster: str | None = None,
) -> descend.DescendOutcome:
    """``gdcli descend``: every optimizer from every start (many starts in chunks);
    ``workers`` processes (None: ``auto_workers`` for its starts), or the Dask
    ``cluster``."""
    from gdcli.experiments.starts import auto_workers

    p = plan.descend_plan(config, doc)
    auto = auto_workers(int(p.starts.shape[0]), p.iterations, cores()) if workers is None else 1
    return _on_executor(descend.run, p, session, workers, cluster, auto)


def run_train(
    config: Any, doc: Document, session: Session, check_grad: bool = False
) -> train.TrainOutcome:
    """``gdcli train-mlp``: train, evaluate, save the model."""
    return train.run(plan.train_plan(config, doc, check_grad), session)


def run_compare(
    config: Any,
    doc: Document,
    session: Session,
    workers: int | None = 1,
    cluster: str | None = None,
) -> compare.CompareOutcome:
    """``gdcli compare-activations``: one training per (activation, seed), aggregated;
    ``workers`` processes (None: one, or the cores for a ``cluster``)."""
    p = plan.compare_plan(config, doc)
    return _on_executor(compare.run, p, session, workers, cluster)


def _on_executor(
    run: Callable[[Planned, Session, Executor], Outcome],
    p: Planned,
    session: Session,
    workers: int | None,
    cluster: str | None,
    auto: int = 1,
) -> Outcome:
    """``run(p)`` with its jobs on ``workers`` processes (this one for 1), or on the
    Dask ``cluster``; ``executor_for`` says what None and ``auto`` mean."""
    with executor_for(workers, cluster, session.should_stop, auto) as executor:
        return run(p, session, executor)


def executor_for(
    workers: int | None, cluster: str | None, should_stop: Callable[[], bool], auto: int = 1
) -> Executor:
    """Where jobs run: the Dask cluster at ``cluster`` (``local``: one of ``workers``
    processes, started for the run), else ``workers`` processes of this machine.
    ``workers`` None is ``--workers auto``: a local cluster of one worker per core, or
    ``auto`` processes here (this one alone where the system refuses new ones).
    Dask is imported only here, and only for a cluster."""
    if cluster is not None:
        from gdcli.experiments.cluster import open_cluster

        return open_cluster(cluster, cores() if workers is None else workers)
    if workers is None:
        return make_executor(auto, should_stop, fallback=True)
    return make_executor(workers, should_stop)


def run_sweep(
    command: str,
    doc: Document,
    model: Any,
    spec: dict[str, list[Any]],
    out_dir: Path,
    *,
    force: bool,
    resume: bool,
    workers: int | None,
    should_stop: Callable[[], bool],
    progress: Progress,
    cluster: str | None = None,
) -> sweep.SweepOutcome:
    """Every point of the sweep ``spec`` of ``command``, each in its own directory.

    Every point is validated and planned before any runs; ``--resume`` goes on only
    in the directory of the same sweep of the same experiment.
    """
    p = plan.sweep_plan(command, doc, model, spec)
    if resume and out_dir.exists():
        lock_run_dir(out_dir)  # a new sweep claims its directory as it creates it
        _check_same_sweep(out_dir, p.resolved)
    session = Session(out_dir, force, should_stop, progress)
    with executor_for(workers, cluster, should_stop) as executor:
        return sweep.run(p, session, executor, resume=resume)


def _check_same_sweep(out: Path, base: dict[str, Any]) -> None:
    """``--resume`` into ``out`` only with the sweep and the experiment that started it:
    other values would mix old and new points under one summary. An empty ``out`` is
    a new sweep."""
    if not any(out.iterdir()):
        return
    try:
        before, _ = parse_yaml((out / "config.yaml").read_text(encoding="utf-8"), "config.yaml")
    except (OSError, UserError):
        before = None
    if not isinstance(before, dict) or not isinstance(before.get("sweep"), dict):
        raise UserError(f"--resume: {out} holds no sweep to resume; give a new --out")
    old_spec, new_spec = before["sweep"], base["sweep"]
    if _canonical(list(old_spec.items())) != _canonical(list(new_spec.items())):
        what = f"the sweep {_spec_text(old_spec)}, not {_spec_text(new_spec)}"
    else:
        keys = sorted(
            k
            for k in before.keys() | base.keys()
            if _canonical(before.get(k)) != _canonical(base.get(k))
        )
        if not keys:
            return
        what = f"a sweep of another experiment (it differs in {', '.join(keys)})"
    raise UserError(
        f"--resume: {out} holds {what}; resume with the same config, --set and --sweep, "
        "or give a new --out"
    )


def _canonical(value: Any) -> str:
    # key order aside, as config.yaml reads back (NaN equal to NaN)
    return json.dumps(value, sort_keys=True, default=str)


def _spec_text(spec: dict[str, Any]) -> str:
    """``key=v1,v2 key2=...``, as ``--sweep`` options would give it."""
    if not spec:
        return "(none)"
    return " ".join(
        f"{k}={','.join(json.dumps(v, separators=(',', ':')) for v in vs)}"
        for k, vs in spec.items()
    )


def not_ended_well(summary: dict[str, Any]) -> list[str]:
    """What in a run (its ``summary.json`` object) did not end well, one entry per run:
    ``--strict``'s one rule for every command. A descent ends well when it converged,
    a training when it finished or stopped early, a sweep when all its points did.
    """
    command = summary.get("command")
    if command == "descend":
        return [
            f"{r['label']} from {r['start']}: {r['status']}"
            for r in summary["runs"]
            if r["status"] != "converged"
        ]
    if command == "train-mlp":
        return [] if summary["status"] in TRAINED else [f"training {summary['status']}"]
    if command == "compare-activations":
        return [
            f"{r['activation']} seed {r['seed']}: {r['status']}"
            for r in summary["runs"]
            if r["status"] not in TRAINED
        ]
    return _points_not_ended_well(summary)


def _points_not_ended_well(summary: dict[str, Any]) -> list[str]:
    """A sweep's points that did not end well, read from their own summaries."""
    out = []
    for row in summary["points"]:
        try:
            point = json.loads(
                (Path(summary["out_dir"]) / row["dir"] / "summary.json").read_text("utf-8")
            )
            problems = not_ended_well(point)
        except (OSError, ValueError, KeyError, TypeError):
            problems = [row.get("error") or row["status"]]
        out += [f"{row['dir']}: {p}" for p in problems]
    return out
