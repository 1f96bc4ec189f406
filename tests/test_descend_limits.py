"""Divergence without overflow; nothing per iteration that is not needed; bounded
output at any number of starts."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import numpy as np
import pytest
from clitools import gdcli, parse_json

from gdcli.engine.functions import resolve
from gdcli.experiments.config import DescendConfig, load_config
from gdcli.experiments.descend import Descent, run
from gdcli.experiments.jobs import SerialExecutor
from gdcli.experiments.plan import descend_plan
from gdcli.experiments.session import Session
from gdcli.optim import make_optimizer

CONFIGS = Path(__file__).parent.parent / "configs"
QUADRATIC = "x**2 + 10*y**2"
CUBIC = "2*x**3 - 6*x*y + 3*y**2"


def _config(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "c.yaml"
    path.write_text(body, encoding="utf-8")
    return path


# -- divergence is not only overflow -------------------------------------------------------


@pytest.mark.parametrize("lr", [0.105, 0.2])
def test_quadratic_above_the_stable_step_is_diverged_with_the_bound(
    tmp_path: Path, lr: float
) -> None:
    config = _config(
        tmp_path,
        f'name: q\nfunction: "{QUADRATIC}"\nstart: [1.0, 1.0]\niterations: 10000\n'
        f"optimizer: {{name: gd, lr: {lr}}}\n",
    )
    result = gdcli("descend", config, "--out", tmp_path / "run", "--json")
    assert result.exit_code == 0
    (entry,) = parse_json(result.stdout)["runs"]
    assert entry["status"] == "diverged"
    assert re.search(rf"lr {lr:g} > 2/lambda_max = 0\.1 ", entry["verdict"]), entry["verdict"]
    # caught long before the floats overflow (f = 6.8e25 was "budget spent" before)
    assert entry["f"] < 1e12 and entry["iterations"] < 200
    strict = gdcli("descend", config, "--out", tmp_path / "strict", "--json", "--strict")
    assert strict.exit_code == 3


def test_the_runaway_rule_is_budget_independent_for_lr_0_105() -> None:
    fn = resolve(QUADRATIC)
    d = Descent(
        fn, make_optimizer("gd", lr=0.105), np.array([[1.0, 1.0]]), iterations=300, tolerance=1e-8
    )
    for _ in d.steps():
        pass
    # f(1, 1) = 11; the growth limit is 11 + 1e6 * 11
    assert d.run.status[0] == "diverged"
    assert 11 + 1e6 * 11 < d.run.f[0] < 1.3 * (11 + 1e6 * 11) * 1.21
    assert d.run.reason[0].startswith("f grew from 11 to ")


def test_a_cubic_running_to_minus_infinity_is_diverged() -> None:
    fn = resolve(CUBIC)
    d = Descent(
        fn,
        make_optimizer("gd", lr=0.2),
        np.array([[2.0, 2.0], [-1.0, 0.5]]),
        iterations=5000,
        tolerance=1e-8,
    )
    for _ in d.steps():
        pass
    run = d.finish()
    assert run.status.tolist() == ["diverged", "diverged"]
    assert all(np.isfinite(run.x).all(axis=1))
    assert all("ran away" in str(r) or "grew" in str(r) for r in run.reason)


def test_no_converging_shipped_config_is_called_diverged(tmp_path: Path) -> None:
    for path in sorted(CONFIGS.glob("*.yaml")):
        try:
            config, doc = load_config(path, DescendConfig)
        except Exception:
            continue
        plan = descend_plan(config, doc)
        for r in plan.optimizer_recipes:
            d = Descent(
                plan.function,
                r.build(),
                plan.starts[:40],
                iterations=min(plan.iterations, 3000),
                tolerance=plan.tolerance,
            )
            for _ in d.steps():
                pass
            away = [
                i
                for i, why in enumerate(d.run.reason)
                if why and "overflow" not in why and "not finite" not in why
            ]
            # only the configs that are about a too-large step run away
            assert not away or path.stem in {"quadratic-diverges", "cubic-gradient"}, (
                path.stem,
                r.label,
                [d.run.reason[i] for i in away],
            )


# -- bounded output --------------------------------------------------------------------------


def _many(tmp_path: Path, n: int, name: str) -> Path:
    config = _config(
        tmp_path,
        f"name: many\nfunction: rosenbrock\nstarts: {{random: {n}}}\niterations: 5\n"
        "tolerance: 1.0e-12\ntrace_every: 100\noptimizers:\n  - {name: adam, lr: 0.01}\n"
        "  - {name: gd, lr: 0.0001}\n",
    )
    out = tmp_path / name
    result = gdcli("descend", config, "--out", out, "--quiet", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == json.loads((out / "summary.json").read_text())
    return out


def test_summary_size_does_not_grow_with_the_starts_and_starts_csv_has_them_all(
    tmp_path: Path,
) -> None:
    small, large = _many(tmp_path, 2_000, "small"), _many(tmp_path, 20_000, "large")
    size_small = (small / "summary.json").stat().st_size
    size_large = (large / "summary.json").stat().st_size
    # the same sample and aggregates: only the numbers in them differ
    assert abs(size_large - size_small) < 0.01 * size_small < 1_000
    with open(large / "starts.csv", encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 2 * 20_000
    assert list(rows[0]) == [
        "run",
        "optimizer",
        "start",
        "start_x1",
        "start_x2",
        "x1",
        "x2",
        "f",
        "grad_norm",
        "iterations",
        "status",
        "classification",
        "minimum",
        "basin",
    ]
    summary = json.loads((large / "summary.json").read_text())
    assert summary["runs_sampled"] is True
    assert [a["starts"] for a in summary["aggregates"]] == [20_000, 20_000]
    assert sum(g["count"] for g in summary["basins"][0]["groups"]) == 20_000
    # the best start is in the summary, and is the lowest f of starts.csv
    best = min(float(r["f"]) for r in rows)
    assert summary["best"]["f"] == best
    assert best in [e["f"] for e in summary["runs"]]


# -- progress --------------------------------------------------------------------------------


class Counting:
    enabled = True

    def __init__(self) -> None:
        self.calls: list[int] = []
        self.total = 0

    def start(self, total: int, description: str) -> None:
        self.total = total

    def advance(self, n: int = 1, description: str | None = None) -> None:
        self.calls.append(n)


def _plan(tmp_path: Path, iterations: int):  # type: ignore[no-untyped-def]
    path = _config(
        tmp_path,
        f"name: p\nfunction: rosenbrock\nstart: [-1.5, 2.0]\niterations: {iterations}\n"
        "tolerance: 1.0e-12\noptimizers:\n  - {name: adam, lr: 0.001}\n  - {name: gd, lr: 1e-4}\n",
    )
    config, doc = load_config(path, DescendConfig)
    return descend_plan(config, doc)


def test_serial_progress_advances_per_iteration_but_throttled(tmp_path: Path) -> None:
    plan = _plan(tmp_path, 3000)
    progress = Counting()
    run(plan, Session(tmp_path / "run", progress=progress), SerialExecutor())
    assert sum(progress.calls) == progress.total == 6000
    # per iteration, yet a few times a second at most: far fewer calls than iterations
    assert 2 <= len(progress.calls) < 100


def test_disabled_progress_is_never_called(tmp_path: Path) -> None:
    plan = _plan(tmp_path, 200)
    progress = Counting()
    progress.enabled = False
    run(plan, Session(tmp_path / "run", progress=progress), SerialExecutor())
    assert progress.calls == [] and progress.total == 0


def test_the_ticker_passes_iterations_on_at_most_once_per_interval() -> None:
    from gdcli.experiments.descend import _Ticker

    progress = Counting()
    slow = _Ticker(progress, interval=3600.0)
    for _ in range(10_000):
        slow()
    assert progress.calls == []  # nothing per iteration within the interval
    slow.flush()
    assert progress.calls == [10_000]
    every = _Ticker(progress, interval=0.0)
    for _ in range(3):
        every()
    assert progress.calls == [10_000, 1, 1, 1]  # each iteration, when the interval allows
