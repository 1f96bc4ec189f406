"""Sweeps: one experiment run once per value of one or more keys (a grid).

``--sweep optimizer.lr=0.001,0.01,0.1`` (repeatable) or ``sweep:`` in the file.
Each point is an ordinary run in its own sub-directory of the sweep's directory,
and a job of ``jobs.run_jobs`` carrying its plan; the sweep's own ``summary.json``
lists every point with its headline figure. A sweep that was interrupted and is
started again with ``--resume`` skips the points whose runs finished. Reading the
sweep from the file and the options is ``plan.sweep_spec``'s work.

Each entry of the summary's ``points`` holds the point's ``values`` and ``dir``,
its own ``status`` (descend: ``converged`` / ``diverged`` / ``max_iterations`` /
``interrupted``, see ``descend_status``; train-mlp: its training status;
compare-activations: ``finished`` / ``interrupted``; ``failed`` when the point's
job raised, with its ``error``), its ``iterations`` (descend: the iterations to
converge or stop of the point's best run; train-mlp: the epochs run; else None),
its ``metric`` (``headline``) and whether it is the ``best``. Only points that
ended well are ranked (``rank``); the summary's ``best``, ``ranked`` and
``reading`` say which and how many.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from gdcli.errors import UserError
from gdcli.experiments import compare, descend, train
from gdcli.experiments.context import Session
from gdcli.experiments.jobs import SerialExecutor, error_text, run_jobs
from gdcli.runs import prepare_run_dir, read_trace, write_json, write_yaml

DONE = ("finished", "early_stopped", "diverged")

RunPlan = descend.DescendPlan | train.TrainPlan | compare.PlanRecipe | compare.ComparePlan
"""A point's plan; a training point's may be made where it runs (``plan.TrainRecipe``)."""


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


def _f_key(run: dict[str, Any]) -> float:
    f = run.get("f")
    return f if isinstance(f, (int, float)) and not math.isnan(f) else math.inf


def best_run(runs: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The run a descend point is judged by: the lowest f among its converged runs,
    else among those that did not diverge, else among all."""
    for keep in (
        lambda r: r["status"] == "converged",
        lambda r: r["status"] != "diverged",
        lambda r: True,
    ):
        chosen = [r for r in runs if keep(r)]
        if chosen:
            return min(chosen, key=_f_key)
    return None


def descend_status(summary: dict[str, Any]) -> str:
    """One status for a descend point from its runs (every optimizer and start):
    ``converged`` only when all converged, ``diverged`` when any diverged, else
    ``max_iterations`` (``interrupted`` when the run was stopped)."""
    statuses = {r["status"] for r in summary.get("runs", [])}
    if summary.get("status") == "interrupted" or "interrupted" in statuses:
        return "interrupted"
    if statuses == {"converged"}:
        return "converged"
    return "diverged" if "diverged" in statuses else "max_iterations"


def point_status(command: str, summary: dict[str, Any]) -> str:
    """The status of one point's own run (``failed`` when its job raised)."""
    status = str(summary.get("status", "failed"))
    if command == "descend" and status != "failed":
        return descend_status(summary)
    return status


def point_iterations(command: str, summary: dict[str, Any]) -> int | None:
    """Iterations of the best descend run, epochs of a training run, else None."""
    if command == "descend":
        best = best_run(summary.get("runs", []))
        return None if best is None else int(best["iterations"])
    if command == "train-mlp":
        return int(summary["epochs_run"])
    return None


def headline(command: str, summary: dict[str, Any]) -> dict[str, Any]:
    """The figure a sweep table shows for one point (descend: f of ``best_run``)."""
    if command == "descend":
        best = best_run(summary["runs"])
        return {"name": "best f", "value": None if best is None else best["f"]}
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
    return {"name": f"best mean {name}", "value": acc, "by": _by(summary, best["activation"])}


def _by(summary: dict[str, Any], first: str) -> str:
    """Who a comparison point's figure belongs to, as its verdict says."""
    verdict = summary.get("verdict") or {}
    if verdict.get("outcome") == "tie":
        return "tie: " + ", ".join(verdict["tied"])
    if verdict.get("outcome") == "undecided":
        return f"{first}, no winner from {verdict.get('seeds', 0)} seed"
    return first


# What a point must have ended with to be ranked, per command, and its word.
ENDED_WELL: dict[str, tuple[frozenset[str], str]] = {
    "descend": (frozenset({"converged"}), "converged"),
    "train-mlp": (frozenset({"finished", "early_stopped"}), "finished"),
    "compare-activations": (frozenset({"finished"}), "finished"),
}


def rank(command: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The best point among those that ended well, and the reading line that says so.

    Descend points rank by lowest best f; training and comparison points by highest
    metric (lowest when the metric is a loss). Points that diverged, spent their
    budget, failed or were interrupted are counted, never ranked.
    """
    statuses, word = ENDED_WELL[command]
    good = [r for r in rows if r["status"] in statuses and r["metric"]["value"] is not None]
    ranked = {r["dir"] for r in good}
    others: dict[str, int] = {}
    for r in rows:
        if r["dir"] not in ranked:
            why = "without a figure" if r["status"] in statuses else r["status"]
            others[why] = others.get(why, 0) + 1
    rest = ", ".join(f"{n} {STATUS_WORDS.get(s, s)}" for s, n in others.items())
    if not good:
        text = f"no point {word}, so none is ranked" + (f": {rest}" if rest else "")
        return {"best": None, "ranked": 0, "reading": text + "."}
    lower = command == "descend" or good[0]["metric"]["name"].endswith("loss")
    best = (min if lower else max)(good, key=lambda r: float(r["metric"]["value"]))
    figure = f"{best['metric']['name']} {best['metric']['value']:.6g}"
    if best["metric"].get("by"):
        figure += f" ({best['metric']['by']})"
    n = len(good)
    among = f"best among the {n} {word} points" if n > 1 else f"the only {word} point"
    text = f"{among}: {best['dir']}, {figure}"
    equal = [
        r["dir"] for r in good if r is not best and r["metric"]["value"] == best["metric"]["value"]
    ]
    if equal:
        text += f" (equalled by {', '.join(equal)})"
    return {"best": best["dir"], "ranked": n, "reading": text + (f"; {rest}" if rest else "") + "."}


STATUS_WORDS = {"max_iterations": "max_iterations (budget spent)"}


def existing_summary(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((path / "summary.json").read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _trace_is_whole(point: Path, summary: dict[str, Any]) -> bool:
    """Whether a point's trace.csv reads back and holds every row its summary counts:
    an epoch per row of a training (per activation and seed in a comparison), and a
    descent's longest run up to its last iteration. ``--resume`` keeps no point whose
    trace was damaged."""
    try:
        header, rows = read_trace(point / "trace.csv")
    except UserError:
        return False
    runs = [r for r in summary.get("runs") or [] if isinstance(r, dict)]
    if "epochs_run" in summary:
        return len(rows) == summary["epochs_run"]
    if "activation" in header:
        counts: dict[tuple[str, str], int] = {}
        for row in rows:
            key = (row["activation"], row["seed"])
            counts[key] = counts.get(key, 0) + 1
        return all(
            counts.get((r["activation"], str(r["seed"])), 0) == r["epochs_run"] for r in runs
        )
    if "iteration" in header and rows and runs:
        return max(int(r["iteration"]) for r in rows) == max(int(r["iterations"]) for r in runs)
    return bool(rows)


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
    if isinstance(job.plan, compare.ComparePlan):
        return compare.run(job.plan, session, executor).summary
    plan = job.plan if isinstance(job.plan, train.TrainPlan) else job.plan.build()
    return train.run(plan, session).summary


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
        if done is not None and done.get("status") in DONE and _trace_is_whole(out / p.name, done):
            rows.append(_row(plan.command, p, done, skipped=True))
            session.progress.advance(1, p.name)
        else:
            todo.append(PointJob(p, point_plan, str(out / p.name)))
    ran = run_jobs(
        executor,
        run_point,
        todo,
        session.should_stop,
        _failed_point,
        lambda job: session.progress.advance(1, job.point.name),  # as points end
    )
    for job, summary in ran:
        rows.append(_row(plan.command, job.point, summary, skipped=False))
    summary = _summary(plan, rows, str(out))
    write_json(out / "summary.json", summary)
    return SweepOutcome(summary, summary["status"])


def _summary(plan: SweepPlan, rows: list[dict[str, Any]], out: str) -> dict[str, Any]:
    order = {p.name: i for i, p in enumerate(plan.points)}
    rows.sort(key=lambda r: order[r["dir"]])
    missing = [p.name for p in plan.points if p.name not in {r["dir"] for r in rows}]
    interrupted = bool(missing) or any(r["status"] == "interrupted" for r in rows)
    ranking = rank(plan.command, rows)
    for r in rows:
        r["best"] = r["dir"] == ranking["best"]
    return {
        "experiment": plan.name,
        "command": "sweep",
        "base_command": plan.command,
        "status": "interrupted" if interrupted else "finished",
        "keys": list(plan.keys),
        "points": rows,
        "best": ranking["best"],
        "ranked": ranking["ranked"],
        "reading": ranking["reading"],
        "missing": missing,
        "out_dir": out,
    }


def _row(command: str, p: Point, summary: dict[str, Any], *, skipped: bool) -> dict[str, Any]:
    status = point_status(command, summary)
    failed = status == "failed"
    return {
        "values": p.values,
        "dir": p.name,
        "status": status,
        "iterations": None if failed else point_iterations(command, summary),
        "metric": {"name": None, "value": None} if failed else headline(command, summary),
        "resumed": skipped,
        "error": summary.get("error"),
    }
