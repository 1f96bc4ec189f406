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

from gdcli.errors import ConfigError, Problem, UserError
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
    """The file's ``sweep:`` with the ``--sweep`` options added (an option replaces the
    file's values for its key). A key given in two options, or a value given twice for
    one key, is a ``ConfigError``: the two would be one point, run twice in one directory.
    """
    spec: dict[str, list[Any]] = {}
    in_file = doc.data.get("sweep")
    if isinstance(in_file, dict):
        for k, v in in_file.items():
            if isinstance(v, list):
                i = _repeated(v)
                if i is not None:
                    raise ConfigError(doc.locate(("sweep", k, i), _twice(v[i])))
                spec[str(k)] = list(v)
    given: set[str] = set()
    for text in options:
        key, values = parse_sweep_option(text)
        if key in given:
            raise ConfigError(
                Problem(
                    f"--sweep {key} is given twice; give all its values in one option, "
                    f"--sweep {key}=V1,V2,..."
                )
            )
        given.add(key)
        i = _repeated(values)
        if i is not None:
            raise ConfigError(Problem(_twice(values[i]), file=f"--sweep {key}", key=key))
        spec[key] = values
    return spec


def _repeated(values: list[Any]) -> int | None:
    """The index of the first value that repeats an earlier one: equal and of the same
    type (``0.01`` and ``1e-2``), or with the same directory name (``1`` and ``'1'``)."""
    for i, v in enumerate(values):
        if any(_slug(v) == _slug(w) or (type(v) is type(w) and v == w) for w in values[:i]):
            return i
    return None


def _twice(value: Any) -> str:
    return f"the value {json.dumps(value)} is given twice; each point runs once"


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
    assert len({p.name for p in out}) == len(out), "two points of a sweep share a directory"
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
    from gdcli.experiments.config import validate

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


def run_point(
    command: str, data: dict[str, Any], file: str, out_dir: str, should_stop: Callable[[], bool]
) -> dict[str, Any]:
    """Run one point in a fresh process or this one; returns its summary.

    A top-level function of plain arguments, so a process pool can run it. The run
    polls ``should_stop`` and, when it turns true, ends after its current step with
    the status ``interrupted``.
    """
    from gdcli.experiments import session as experiment
    from gdcli.experiments.config import CompareConfig, DescendConfig, TrainConfig, validate

    doc = Document(data, file)
    session = experiment.Session(Path(out_dir), force=True, should_stop=should_stop)
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
    """Run every point (skipping finished ones with ``resume``); write the sweep summary.

    When ``should_stop`` turns true no point starts; with ``workers > 1`` the running
    points are asked to stop too, and each is listed with the status its run ended
    with (``interrupted`` ones run again on ``--resume``).
    """
    from gdcli.experiments.compare import (
        SerialExecutor,
        in_order,
        make_executor,
        worker_should_stop,
    )
    from gdcli.runs import prepare_run_dir, write_json, write_yaml

    pts = points(spec)
    check_points(doc, model, pts)
    base = copy.deepcopy(doc.data)
    base["sweep"] = spec
    if resume and out_dir.exists():
        _check_same_sweep(out_dir, base)
        out = out_dir
    else:
        out = prepare_run_dir(out_dir, force=force)
    out.mkdir(parents=True, exist_ok=True)
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
    with make_executor(workers) as executor:
        if isinstance(executor, SerialExecutor):
            for p in todo:
                if should_stop():
                    break
                summary = _serial_point(command, doc, p, out, should_stop)
                rows.append(_row(command, p, summary, skipped=False))
                progress.advance(1, p.name)
                if summary.get("status") == "interrupted":
                    break
        else:
            futures = [
                executor.submit(
                    run_point,
                    command,
                    point_document(doc, p).data,
                    doc.file,
                    str(out / p.name),
                    worker_should_stop,
                )
                for p in todo
            ]
            for k, fut in in_order(executor, futures, should_stop):
                try:
                    summary = fut.result()
                except Exception as exc:  # one failing point does not stop the others
                    summary = {"status": "failed", "error": f"{type(exc).__name__}: {exc}"}
                rows.append(_row(command, todo[k], summary, skipped=False))
                progress.advance(1, todo[k].name)
    order = {p.name: i for i, p in enumerate(pts)}
    rows.sort(key=lambda r: order[r["dir"]])
    missing = [p.name for p in pts if p.name not in {r["dir"] for r in rows}]
    interrupted = bool(missing) or any(r["status"] == "interrupted" for r in rows)
    result = {
        "experiment": doc.data.get("name"),
        "command": "sweep",
        "base_command": command,
        "status": "interrupted" if interrupted else "finished",
        "keys": list(spec),
        "points": rows,
        "missing": missing,
        "out_dir": str(out),
    }
    write_json(out / "summary.json", result)
    return result


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


def _serial_point(
    command: str, doc: Document, p: Point, out: Path, should_stop: Callable[[], bool]
) -> dict[str, Any]:
    from gdcli.experiments import session as experiment
    from gdcli.experiments.config import CompareConfig, DescendConfig, TrainConfig, validate

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
