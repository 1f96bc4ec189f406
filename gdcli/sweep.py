"""Sweeps: one experiment run once per value of one or more keys (a grid).

``--sweep optimizer.lr=0.001,0.01,0.1`` (repeatable) or ``sweep:`` in the file.
Each point is an ordinary run in its own sub-directory of the sweep's directory;
the sweep's own ``summary.json`` lists every point with its headline figure. A
sweep that was interrupted and is started again with ``--resume`` skips the points
whose runs finished.
"""

from __future__ import annotations

import copy
import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from gdcli.errors import ConfigError, Problem
from gdcli.yamlio import Document, apply_override, parse_yaml

DONE = ("finished", "early_stopped", "diverged")


@dataclass(frozen=True)
class Point:
    """One point of a sweep: the value of every swept key, and its directory name."""

    values: dict[str, Any]
    name: str


def parse_sweep_option(text: str) -> tuple[str, list[Any]]:
    """``key.path=v1,v2,v3`` -> (key, values); values are read as YAML (``[8],[16]`` too)."""
    if "=" not in text:
        raise ConfigError(
            Problem(f"--sweep {text}: expected KEY.PATH=V1,V2,..., e.g. optimizer.lr=0.1,0.01")
        )
    key, raw = text.split("=", 1)
    values, _ = parse_yaml(f"[{raw}]", f"--sweep {text}")
    if not isinstance(values, list) or not values:
        raise ConfigError(Problem(f"--sweep {text}: give at least one value"))
    return key.strip(), values


def sweep_spec(doc: Document, options: list[str]) -> dict[str, list[Any]]:
    """The file's ``sweep:`` with the ``--sweep`` options added (an option wins)."""
    spec: dict[str, list[Any]] = {}
    in_file = doc.data.get("sweep")
    if isinstance(in_file, dict):
        spec.update({str(k): list(v) for k, v in in_file.items() if isinstance(v, list)})
    for text in options:
        key, values = parse_sweep_option(text)
        spec[key] = values
    return spec


def _slug(value: Any) -> str:
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
        name = "_".join(f"{k}={_slug(v)}" for k, v in values.items())
        out.append(Point(values, name))
    return out


def point_document(doc: Document, point: Point) -> Document:
    """The base experiment with the point's values set and the sweep removed."""
    data = copy.deepcopy(doc.data)
    data.pop("sweep", None)
    sub = Document(data, doc.file, dict(doc.positions), dict(doc.overridden))
    for key, value in point.values.items():
        where = doc.positions.get(("sweep", key))
        label = f"{doc.file}:{where[0]}:{where[1]}: sweep" if where else f"--sweep {key}"
        apply_override(sub, f"{key}={json.dumps(value)}", label=label)
    return sub


def check_points(doc: Document, model: Any, pts: list[Point]) -> list[Any]:
    """Validate every point before any runs: a key that does not exist is named."""
    from gdcli.config import validate

    problems: list[Problem] = []
    configs = []
    for p in pts:
        try:
            configs.append(validate(point_document(doc, p), model))
        except ConfigError as exc:
            problems += [q for q in exc.problems if str(q) not in map(str, problems)]
    if problems:
        raise ConfigError(*problems)
    return configs


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


def run_point(command: str, data: dict[str, Any], file: str, out_dir: str) -> dict[str, Any]:
    """Run one point in a fresh process or this one; returns its summary.

    A top-level function of plain arguments, so a process pool can run it.
    """
    from gdcli import experiment
    from gdcli.config import CompareConfig, DescendConfig, TrainConfig, validate

    doc = Document(data, file)
    session = experiment.Session(Path(out_dir), force=True)
    if command == "descend":
        cfg = validate(doc, DescendConfig)
        result = experiment.run_descend(cfg, doc, session)
        return dict(result.summary(out_dir))
    if command == "train-mlp":
        cfg = validate(doc, TrainConfig)
        return dict(experiment.run_train(cfg, doc, session)[2])
    cfg = validate(doc, CompareConfig)
    return dict(experiment.run_compare(cfg, doc, session))


def run_sweep(
    command: str,
    doc: Document,
    model: Any,
    spec: dict[str, list[Any]],
    out_dir: Path,
    *,
    force: bool,
    resume: bool,
    workers: int,
    should_stop: Callable[[], bool],
    progress: Any,
) -> dict[str, Any]:
    """Run every point (skipping finished ones with ``resume``); write the sweep summary."""
    from gdcli.compare import SerialExecutor, make_executor
    from gdcli.runs import prepare_run_dir, write_json, write_yaml

    pts = points(spec)
    check_points(doc, model, pts)
    out = out_dir if resume and out_dir.exists() else prepare_run_dir(out_dir, force=force)
    out.mkdir(parents=True, exist_ok=True)
    base = copy.deepcopy(doc.data)
    base["sweep"] = spec
    write_yaml(out / "config.yaml", base)
    rows: list[dict[str, Any]] = []
    progress.start(len(pts), "sweep")
    todo = []
    for p in pts:
        done = existing_summary(out / p.name) if resume else None
        if done is not None and done.get("status") in DONE:
            rows.append(_row(command, p, done, skipped=True))
            progress.advance(1, p.name)
        else:
            todo.append(p)
    interrupted = False
    with make_executor(workers) as executor:
        if isinstance(executor, SerialExecutor):
            for p in todo:
                if should_stop():
                    interrupted = True
                    break
                summary = _serial_point(command, doc, p, out, should_stop)
                rows.append(_row(command, p, summary, skipped=False))
                progress.advance(1, p.name)
                if summary.get("status") == "interrupted":
                    interrupted = True
                    break
        else:
            futures = [
                (
                    p,
                    executor.submit(
                        run_point, command, point_document(doc, p).data, doc.file, str(out / p.name)
                    ),
                )
                for p in todo
            ]
            for p, fut in futures:
                if should_stop():
                    interrupted = True
                    for _, f in futures:
                        f.cancel()
                    break
                try:
                    summary = fut.result()
                except Exception as exc:  # one failing point does not stop the others
                    summary = {"status": "failed", "error": f"{type(exc).__name__}: {exc}"}
                rows.append(_row(command, p, summary, skipped=False))
                progress.advance(1, p.name)
    order = {p.name: i for i, p in enumerate(pts)}
    rows.sort(key=lambda r: order[r["dir"]])
    result = {
        "experiment": doc.data.get("name"),
        "command": "sweep",
        "base_command": command,
        "status": "interrupted" if interrupted else "finished",
        "keys": list(spec),
        "points": rows,
        "missing": [p.name for p in pts if p.name not in {r["dir"] for r in rows}],
        "out_dir": str(out),
    }
    write_json(out / "summary.json", result)
    return result


def _serial_point(
    command: str, doc: Document, p: Point, out: Path, should_stop: Callable[[], bool]
) -> dict[str, Any]:
    from gdcli import experiment
    from gdcli.config import CompareConfig, DescendConfig, TrainConfig, validate

    sub = point_document(doc, p)
    session = experiment.Session(out / p.name, force=True, should_stop=should_stop)
    if command == "descend":
        result = experiment.run_descend(validate(sub, DescendConfig), sub, session)
        return dict(result.summary(str(out / p.name)))
    if command == "train-mlp":
        return dict(experiment.run_train(validate(sub, TrainConfig), sub, session)[2])
    return dict(experiment.run_compare(validate(sub, CompareConfig), sub, session))


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
