"""Sweeps: one experiment run once per value of one or more keys (a grid).

``--sweep optimizer.lr=0.001,0.01,0.1`` (repeatable) or ``sweep:`` in the file.
Each point is an ordinary run in its own sub-directory of the sweep's directory,
and a job of ``jobs.run_jobs`` carrying its plan; the sweep's own ``summary.json``
lists every point with its headline figure. A sweep that was interrupted and is
started again with ``--resume`` skips the points whose runs finished. Reading the
sweep from the file and the options is ``plan.sweep_spec``'s work.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from gdcli.experiments import compare, descend, train
from gdcli.experiments.context import Session
from gdcli.experiments.jobs import SerialExecutor, error_text, run_jobs
from gdcli.runs import prepare_run_dir, write_json, write_yaml

DONE = ("finished", "early_stopped", "diverged")

RunPlan = descend.DescendPlan | train.TrainPlan | compare.ComparePlan


@dataclass(frozen=True)
class Point:
    """One point of a sweep: the value of every swept key, and its directory name."""

    values: dict[str, Any]
    name: str


def slug(value: Any) -> str:
    """A value as part of a directory name: readable, and distinct for distinct values
    (characters that are awkward in file names are percent-encoded, not dropped)."""
    text = json.dumps(value, separators=(",", ":")) if not isinstance(value, str) else value
    return quote(text, safe="-._,+=[]()") or "''"


def points(spec: dict[str, list[Any]]) -> list[Point]:
    """Every combination of the swept values, the first key varying slowest."""
    keys = list(spec)
    out = []
    for combo in itertools.product(*(spec[k] for k in keys)):
        values = dict(zip(keys, combo, strict=True))
        name = "_".join(f"{k}={slug(v)}" for k, v in values.items())
        out.append(Point(values, name))
    assert len({p.name for p in out}) == len(out), "two points of a sweep share a directory"
    return out


def headline(command: str, summary: dict[str, Any]) -> dict[str, Any]:
    """The figure a sweep table shows for one point."""
    if command == "descend":
        fs = [r["f"] for r in summary["runs"] if r["f"] is not None]
        return {"name": "best f", "value": min(fs) if fs else None}
    if command == "train-mlp":
        final = summary["final"]
        for key in ("test_accuracy", "val_accuracy", "train_accuracy", "train_loss"):
            if final.get(key) is not None:
                return {"name": key, "value": final[key]}
        return {"name": "train_loss", "value": None}
    best = summary["results"][0] if summary.get("results") else None
    if best is None:
        return {"name": "accuracy", "value": None}
    acc = best["test_accuracy"]["mean"]
    name = "test_accuracy"
    if acc is None:
        acc, name = best["train_accuracy"]["mean"], "train_accuracy"
    return {"name": f"best mean {name}", "value": acc, "by": best["activation"]}


def existing_summary(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((path / "summary.json").read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


@dataclass(frozen=True)
class PointJob:
    """One point to run: its plan and its directory (a job for ``jobs.run_jobs``)."""

    point: Point
    plan: RunPlan
    out_dir: str


def run_point(job: PointJob, should_stop: Callable[[], bool]) -> dict[str, Any]:
    """Run one point in any process, one job at a time inside it; returns its summary.

    The run polls ``should_stop`` and, when it turns true, ends after its current
    step with the status ``interrupted``.
    """
    session = Session(Path(job.out_dir), force=True, should_stop=should_stop)
    executor = SerialExecutor(should_stop)
    if isinstance(job.plan, descend.DescendPlan):
        return descend.run(job.plan, session, executor).summary
    if isinstance(job.plan, train.TrainPlan):
        return train.run(job.plan, session).summary
    return compare.run(job.plan, session, executor).summary


def _failed_point(job: PointJob, error: Exception) -> dict[str, Any]:
    return {"status": "failed", "error": error_text(error)}


@dataclass(frozen=True)
class SweepPlan:
    """A sweep resolved into one plan per point (points in grid order)."""

    command: str  # the command each point runs
    name: str | None
    keys: tuple[str, ...]
    points: tuple[Point, ...]
    plans: tuple[RunPlan, ...]
    resolved: dict[str, Any]  # the base experiment with its sweep, for config.yaml


@dataclass(frozen=True)
class SweepOutcome:
    """A finished (or stopped) sweep: its summary.json object, its status, the files
    it wrote."""

    summary: dict[str, Any]
    status: str
    files: tuple[str, ...] = ()


def run(plan: SweepPlan, session: Session, executor: Executor, *, resume: bool) -> SweepOutcome:
    """Run every point (skipping finished ones with ``resume``); write the sweep summary.

    When ``session.should_stop`` turns true no point starts, and the running points
    are asked to stop too; each is listed with the status its run ended with
    (``interrupted`` ones run again on ``--resume``).
    """
    out = session.out_dir
    if not (resume and out.exists()):
        out = prepare_run_dir(out, force=session.force)
    out.mkdir(parents=True, exist_ok=True)
    write_yaml(out / "config.yaml", plan.resolved)
    session.progress.start(len(plan.points), "sweep")
    rows: list[dict[str, Any]] = []
    todo: list[PointJob] = []
    for p, point_plan in zip(plan.points, plan.plans, strict=True):
        done = existing_summary(out / p.name) if resume else None
        if done is not None and done.get("status") in DONE:
            rows.append(_row(plan.command, p, done, skipped=True))
            session.progress.advance(1, p.name)
        else:
            todo.append(PointJob(p, point_plan, str(out / p.name)))
    for job, summary in run_jobs(executor, run_point, todo, session.should_stop, _failed_point):
        rows.append(_row(plan.command, job.point, summary, skipped=False))
        session.progress.advance(1, job.point.name)
    summary = _summary(plan, rows, str(out))
    write_json(out / "summary.json", summary)
    return SweepOutcome(summary, summary["status"])


def _summary(plan: SweepPlan, rows: list[dict[str, Any]], out: str) -> dict[str, Any]:
    order = {p.name: i for i, p in enumerate(plan.points)}
    rows.sort(key=lambda r: order[r["dir"]])
    missing = [p.name for p in plan.points if p.name not in {r["dir"] for r in rows}]
    interrupted = bool(missing) or any(r["status"] == "interrupted" for r in rows)
    return {
        "experiment": plan.name,
        "command": "sweep",
        "base_command": plan.command,
        "status": "interrupted" if interrupted else "finished",
        "keys": list(plan.keys),
        "points": rows,
        "missing": missing,
        "out_dir": out,
    }


def _row(command: str, p: Point, summary: dict[str, Any], *, skipped: bool) -> dict[str, Any]:
    status = summary.get("status", "failed")
    metric = headline(command, summary) if status != "failed" else {"name": None, "value": None}
    return {
        "values": p.values,
        "dir": p.name,
        "status": status,
        "metric": metric,
        "resumed": skipped,
        "error": summary.get("error"),
    }
