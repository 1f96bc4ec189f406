"""The descent loop: worked examples, convergence, divergence, vectorization, traces, tables."""

from __future__ import annotations

import dataclasses
import io
import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from rich.console import Console

from gdcli.engine.functions import resolve
from gdcli.experiments.config import DescendConfig, load_config
from gdcli.experiments.descend import (
    DescendResult,
    Descent,
    DescentRun,
    Step,
    TraceRows,
    coordinate_names,
    join_blocks,
    trace_block,
    trace_columns,
    verdict,
)
from gdcli.experiments.plan import descend_plan as plan
from gdcli.experiments.session import Session, run_descend
from gdcli.experiments.starts import _joined_run
from gdcli.optim import make_optimizer
from gdcli.render import report

CONFIGS = Path(__file__).parent.parent / "configs"
CUBIC = "2*x**3 - 6*x*y + 3*y**2"
QUADRATIC = "x**2 + 10*y**2"

# Himmelblau's four minima, written out (not read from the library).
HIMMELBLAU_MINIMA = np.array(
    [
        [3.0, 2.0],
        [-2.805118086952745, 3.131312518250573],
        [-3.779310253377747, -3.2831859912861696],
        [3.5844283403304917, -1.8481265269644034],
    ]
)


def descend(
    function: str,
    starts: Any,
    optimizer: str = "gd",
    *,
    iterations: int = 5000,
    tolerance: float = 1e-8,
    dimension: int | None = None,
    keep_steps: bool = True,
    **hyper: Any,
) -> tuple[list[Step], DescentRun]:
    """Run one optimizer from ``starts`` (N, d); return the steps and the finished run."""
    X0 = np.asarray(starts, dtype=np.float64)
    fn = resolve(function, dimension=dimension or X0.shape[1])
    d = Descent(
        fn,
        make_optimizer(optimizer, clip_axis=-1, **hyper),
        X0,
        iterations=iterations,
        tolerance=tolerance,
    )
    steps = []
    for step in d.steps():
        if keep_steps:
            steps.append(step.copy())
    return steps, d.finish()


# -- the lecture's cubic ------------------------------------------------------------------


def test_cubic_gd_from_2_2_walks_into_the_minimum_1_1() -> None:
    steps, run = descend(CUBIC, [[2.0, 2.0]], lr=0.01)
    # f(2, 2) = 16 - 24 + 12 = 4, grad = (6x^2 - 6y, 6y - 6x) = (12, 0).
    assert steps[0].f[0] == 4.0
    assert steps[0].grad_norm[0] == 12.0
    # W1 = W0 - lr * grad f(W0)
    np.testing.assert_array_equal(steps[1].X[0], [2.0 - 0.01 * 12.0, 2.0])
    assert run.status[0] == "converged"
    assert 0 < run.iterations[0] < 5000
    assert np.max(np.abs(run.x[0] - [1.0, 1.0])) < 1e-6
    assert run.f[0] == pytest.approx(-1.0, abs=1e-12)
    assert run.grad_norm[0] < 1e-8
    assert run.classification[0] == "minimum"


def test_cubic_started_on_the_saddle_stops_at_once() -> None:
    steps, run = descend(CUBIC, [[0.0, 0.0]], lr=0.01)
    assert [s.iteration for s in steps] == [0]
    assert run.iterations[0] == 0
    assert run.status[0] == "converged"
    assert run.classification[0] == "saddle"
    np.testing.assert_array_equal(run.x[0], [0.0, 0.0])
    assert verdict(run, 0, ()) == "stalled at a saddle point"


# -- convergence ---------------------------------------------------------------------------


def test_adam_reaches_the_rosenbrock_minimum_from_minus_1_5_2() -> None:
    _, run = descend(
        "rosenbrock",
        [[-1.5, 2.0]],
        "adam",
        iterations=20_000,
        tolerance=1e-6,
        keep_steps=False,
        lr=0.01,
    )
    assert run.status[0] == "converged"
    assert run.iterations[0] <= 20_000
    assert np.linalg.norm(run.x[0] - [1.0, 1.0]) < 1e-4
    assert run.classification[0] == "minimum"
    assert run.nearest[0] == 0


def test_ten_thousand_himmelblau_starts_descend_together_into_the_four_minima() -> None:
    X0 = np.random.default_rng(12345).uniform(-5.0, 5.0, size=(10_000, 2))
    fn = resolve("himmelblau")
    d = Descent(fn, make_optimizer("gd", lr=0.005), X0, iterations=1000, tolerance=1e-8)
    count = 0
    for step in d.steps():
        assert step.X.shape == (10_000, 2)
        assert step.f.shape == step.grad_norm.shape == step.moved.shape == (10_000,)
        count += 1
    run = d.finish()
    assert count <= 1001
    assert (run.status == "converged").all()
    distance = np.linalg.norm(run.x[:, None, :] - HIMMELBLAU_MINIMA[None], axis=2)
    assert distance.min(axis=1).max() < 1e-5
    basin = distance.argmin(axis=1)
    # every basin is reached, none by a sliver: the box splits roughly evenly
    assert np.bincount(basin, minlength=4).min() > 1500
    np.testing.assert_array_equal(run.nearest, basin)
    assert (run.classification == "minimum").all()


# -- divergence ----------------------------------------------------------------------------


def test_gd_above_the_stable_step_diverges_and_names_the_bound() -> None:
    steps, run = descend(QUADRATIC, [[1.0, 1.0]], lr=0.2, iterations=2000)
    assert run.status[0] == "diverged"
    assert run.iterations[0] < 2000
    # the kept iterate is the last finite one, and it is the last step the row took
    assert np.isfinite(run.x[0]).all()
    assert np.isfinite(run.f[0])
    last = max(s.iteration for s in steps if s.moved[0])
    assert last == run.iterations[0]
    # lambda_max of the Hessian diag(2, 20) is 20, so the bound is 2/20 = 0.1
    assert "2/lambda_max = 0.1 " in run.reason[0]
    assert "lr 0.2" in run.reason[0]
    assert run.warning is not None
    assert "2/lambda_max = 0.1 " in run.warning
    assert verdict(run, 0, ()) == run.reason[0]


def test_a_diverged_run_keeps_an_iterate_whose_gradient_norm_is_finite() -> None:
    steps, run = descend(QUADRATIC, [[1.0, 1.0]], lr=0.2, iterations=2000)
    assert np.isfinite(run.grad_norm[0])
    assert all(np.isfinite(s.grad_norm[0]) for s in steps if s.moved[0])


def test_a_start_where_f_is_not_finite_diverges_at_iteration_0() -> None:
    # sqrt(x) is nan for x < 0; the other start descends to the minimum near x = 1.82
    f = "(x - 2)**2 + y**2 + sqrt(x)"
    steps, run = descend(f, [[-1.0, 1.0], [3.0, 1.0]], lr=0.1, iterations=500)
    assert list(run.status) == ["diverged", "converged"]
    assert run.iterations[0] == 0
    assert "not finite at the start" in run.reason[0]
    assert np.isnan(run.f[0])
    np.testing.assert_array_equal(run.x[0], [-1.0, 1.0])
    assert not any(s.moved[0] for s in steps[1:])
    assert run.classification[1] == "minimum"


# -- vectorization -----------------------------------------------------------------------

FIVE_STARTS = [[2.0, 2.0], [0.0, 0.0], [-0.5, 1.0], [1.5, -0.5], [0.3, 0.7]]


@pytest.mark.parametrize(
    ("optimizer", "hyper"),
    [
        ("gd", {"lr": 0.01}),
        ("momentum", {"lr": 0.01, "momentum": 0.9}),
        ("adam", {"lr": 0.05}),
        ("newton", {"lr": 1.0}),
        ("armijo", {"lr": 1.0}),
    ],
)
def test_five_starts_together_step_exactly_like_five_separate_runs(
    optimizer: str, hyper: dict[str, float]
) -> None:
    together, run = descend(CUBIC, FIVE_STARTS, optimizer, iterations=300, **hyper)
    for i, start in enumerate(FIVE_STARTS):
        alone, single = descend(CUBIC, [start], optimizer, iterations=300, **hyper)
        assert len(alone) <= len(together)
        for a, b in zip(alone, together, strict=False):
            assert a.iteration == b.iteration
            np.testing.assert_array_equal(a.X[0], b.X[i])
            np.testing.assert_array_equal(a.f[0], b.f[i])
            np.testing.assert_array_equal(a.grad_norm[0], b.grad_norm[i])
            assert a.moved[0] == b.moved[i]
            assert a.stopped[0] == b.stopped[i]
        np.testing.assert_array_equal(single.x[0], run.x[i])
        assert single.iterations[0] == run.iterations[i]
        assert single.status[0] == run.status[i]
        assert single.classification[0] == run.classification[i]


# -- traces ----------------------------------------------------------------------------------


def test_trace_columns() -> None:
    assert trace_columns(resolve(CUBIC)) == [
        "run",
        "optimizer",
        "start",
        "iteration",
        "f",
        "grad_norm",
        "lr",
        "x",
        "y",
        "g_x",
        "g_y",
    ]
    # built-in functions keep x1..xn, and g1..gn for the gradient
    assert trace_columns(resolve("rosenbrock", dimension=3))[-6:] == [
        "x1",
        "x2",
        "x3",
        "g1",
        "g2",
        "g3",
    ]
    # a variable whose name another column takes falls back to x1..xn
    assert trace_columns(resolve("f**2 + lr**2"))[-4:] == ["x1", "x2", "g1", "g2"]


def trace_of(d: Descent, every: int) -> tuple[list[dict[str, Any]], DescentRun]:
    """The trace rows as dicts, named x1.., g1.. whatever the function."""
    rows: list[dict[str, Any]] = []
    coords, grads = coordinate_names(d.fn)
    for step in d.steps():
        got = trace_block(d.run, step, every, (coords, grads))
        if got is None:
            continue
        block, n = got
        for j in range(n):
            row = {k: (v[j] if isinstance(v, np.ndarray) else v) for k, v in block.items()}
            for k, (c, g) in enumerate(zip(coords, grads, strict=True)):
                row[f"x{k + 1}"], row[f"g{k + 1}"] = row.pop(c), row.pop(g)
            rows.append(row)
    return rows, d.finish()


def rows_by_start(rows: list[dict[str, Any]], n: int) -> list[list[dict[str, Any]]]:
    return [[r for r in rows if r["start"] == i] for i in range(n)]


def test_trace_every_thins_rows_but_keeps_the_first_and_last_iteration() -> None:
    X0 = np.random.default_rng(3).uniform(-5.0, 5.0, size=(20, 2))
    fn = resolve("himmelblau")

    def make() -> Descent:
        return Descent(fn, make_optimizer("gd", lr=0.005), X0, iterations=1000, tolerance=1e-8)

    full, run = trace_of(make(), 1)
    thin, run10 = trace_of(make(), 10)
    np.testing.assert_array_equal(run.iterations, run10.iterations)
    assert len(thin) < len(full) / 5
    for i, (every_row, rows) in enumerate(
        zip(rows_by_start(full, 20), rows_by_start(thin, 20), strict=True)
    ):
        n = int(run.iterations[i])
        assert [r["iteration"] for r in every_row] == list(range(n + 1))
        its = [r["iteration"] for r in rows]
        assert its[0] == 0
        assert its[-1] == n
        assert all(t % 10 == 0 for t in its[:-1])
        assert its == sorted(set(its))
        assert [rows[-1]["x1"], rows[-1]["x2"]] == run.x[i].tolist()
        assert rows[-1]["f"] == run.f[i]
        # the thinned rows are the same records as the full trace's
        by_iteration = {r["iteration"]: r for r in every_row}
        assert all(r == by_iteration[r["iteration"]] for r in rows)


@pytest.mark.parametrize("every", [7, 10])
def test_trace_every_keeps_the_last_finite_iterate_of_a_diverged_start(every: int) -> None:
    fn = resolve(QUADRATIC)
    d = Descent(fn, make_optimizer("gd", lr=0.2), [[1.0, 1.0]], iterations=2000, tolerance=1e-8)
    rows, run = trace_of(d, every)
    assert run.status[0] == "diverged"
    last = rows[-1]
    assert last["iteration"] == run.iterations[0]
    assert [last["x1"], last["x2"]] == run.x[0].tolist()


def test_diverged_start_with_every_row_traced_ends_on_its_last_finite_iterate() -> None:
    fn = resolve(QUADRATIC)
    d = Descent(fn, make_optimizer("gd", lr=0.2), [[1.0, 1.0]], iterations=2000, tolerance=1e-8)
    rows, run = trace_of(d, 1)
    assert [r["iteration"] for r in rows] == list(range(int(run.iterations[0]) + 1))
    assert all(np.isfinite([r["f"], r["x1"], r["x2"], r["lr"]]).all() for r in rows)
    assert [rows[-1]["x1"], rows[-1]["x2"]] == run.x[0].tolist()


@pytest.mark.parametrize(
    ("starts", "every"), [([[1.0, 1.0]], 1), ([[1.0, 1.0]], 7), (FIVE_STARTS, 1), (FIVE_STARTS, 3)]
)
def test_trace_rows_collected_in_chunks_are_the_rows_of_every_step(starts: Any, every: int) -> None:
    """The chunked collector (what a run writes) against ``trace_block`` built from
    copies of every step: the same rows, column by column, bit for bit; some starts
    run away on the way (lr 0.2 on 10 y^2 triples y each step)."""
    fn = resolve(QUADRATIC)
    names = coordinate_names(fn)

    def descent() -> Descent:
        opt = make_optimizer("gd", lr=0.2)
        return Descent(fn, opt, np.array(starts) * 3.0, iterations=60, tolerance=1e-8)

    d = descent()
    collected = TraceRows(d.run, names)
    for step in d.steps():
        collected.add(step, every)
    e = descent()
    expected = [b for s in e.steps() if (b := trace_block(e.run, s.copy(), every, names))]
    (got, n), (want, m) = next(join_blocks(collected.done())), next(join_blocks(expected))
    assert n == m > 0
    for key in want:
        a, b = np.broadcast_to(got[key], (n,)), np.broadcast_to(want[key], (m,))
        assert a.tolist() == b.tolist(), key
        if a.dtype.kind == "f":
            assert a.tobytes() == np.ascontiguousarray(b).tobytes(), key


# -- plan and summary ---------------------------------------------------------------------


def test_random_starts_follow_the_seed_and_the_box(tmp_path: Path) -> None:
    def starts(seed: int) -> np.ndarray:
        config, doc = load_config(
            CONFIGS / "himmelblau-basins.yaml",
            DescendConfig,
            ["starts.random=200", "starts.low=[-1, 2]", "starts.high=[0, 4]", f"seed={seed}"],
        )
        return plan(config, doc).starts

    a, b, c = starts(0), starts(0), starts(1)
    assert a.shape == (200, 2)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert (a[:, 0] >= -1).all() and (a[:, 0] < 0).all()
    assert (a[:, 1] >= 2).all() and (a[:, 1] < 4).all()


@pytest.fixture(scope="module")
def cubic_saddle(tmp_path_factory: pytest.TempPathFactory) -> DescendResult:
    config, doc = load_config(CONFIGS / "cubic-saddle.yaml", DescendConfig)
    return run_descend(config, doc, Session(tmp_path_factory.mktemp("cubic") / "run")).result


def test_summary_holds_every_start_of_every_run(cubic_saddle: DescendResult) -> None:
    s = cubic_saddle.summary("somewhere")
    assert {"experiment", "function", "runs", "out_dir"} <= set(s)
    assert s["experiment"] == "cubic-saddle"
    assert s["out_dir"] == "somewhere"
    assert s["function"]["formula"] == CUBIC
    keys = {
        "optimizer",
        "hyperparameters",
        "start",
        "x",
        "f",
        "grad_norm",
        "iterations",
        "status",
        "classification",
        "seconds",
    }
    assert [r["start"] for r in s["runs"]] == [[2.0, 2.0], [0.0, 0.0], [-0.5, 1.0], [1.5, -0.5]]
    for r in s["runs"]:
        assert keys <= set(r)
        assert r["optimizer"] == "gd"
        assert r["hyperparameters"]["lr"] == 0.01
    saddle = s["runs"][1]
    assert (saddle["iterations"], saddle["status"], saddle["classification"]) == (
        0,
        "converged",
        "saddle",
    )
    assert saddle["verdict"] == "stalled at a saddle point"
    for r in (s["runs"][0], *s["runs"][2:]):
        assert r["classification"] == "minimum"
        assert np.max(np.abs(np.array(r["x"]) - 1.0)) < 1e-6


def test_descend_table_shows_each_start_with_its_verdict(cubic_saddle: DescendResult) -> None:
    buf = io.StringIO()
    outcome = SimpleNamespace(result=cubic_saddle, summary=cubic_saddle.summary(None))
    report.descend_report(Console(width=120, file=buf), outcome)
    text = buf.getvalue()
    assert "stalled at a saddle point" in text
    rows = [
        [c.strip() for c in line.split("│")[1:-1]]
        for line in text.splitlines()
        if line.startswith("│")
    ]
    assert len(rows) == 4
    assert rows[1] == ["2", "gd(lr=0.01)", "(0, 0)", "(0, 0)", "0", "0", "0", "converged"]
    assert rows[0][:5] == ["1", "gd(lr=0.01)", "(2, 2)", "(1, 1)", "-1"]
    verdicts = [line.strip() for line in text.splitlines() if re.match(r"\s+\d+\. ", line)]
    assert verdicts == [
        "1. gd(lr=0.01): reached the local minimum",
        "2. gd(lr=0.01): stalled at a saddle point",
        "3. gd(lr=0.01): reached the local minimum",
        "4. gd(lr=0.01): reached the local minimum",
    ]


def test_interrupting_a_descent_freezes_the_active_starts() -> None:
    calls = iter(range(1000))
    fn = resolve(CUBIC)
    d = Descent(
        fn,
        make_optimizer("gd", lr=0.01),
        FIVE_STARTS,
        iterations=5000,
        tolerance=1e-8,
        should_stop=lambda: next(calls) >= 3,
    )
    steps = [s.copy() for s in d.steps()]
    run = d.finish()
    assert [s.iteration for s in steps] == [0, 1, 2, 3]
    assert run.status[1] == "converged"
    assert [run.status[i] for i in (0, 2, 3, 4)] == ["interrupted"] * 4
    assert [run.iterations[i] for i in (0, 2, 3, 4)] == [3] * 4
    np.testing.assert_array_equal(run.x, steps[-1].X)


@pytest.mark.parametrize("bad", [np.inf, -np.inf, np.nan])
@pytest.mark.parametrize("where", ["f", "norms", "X"])
def test_screen_of_many_rows_stops_at_any_non_finite_entry(bad: float, where: str) -> None:
    """The min/max screen of many rows: one inf or nan anywhere fails it, even where
    the runaway limits are infinite."""
    from gdcli.experiments.descend import _RunawayLimits, _screen

    n = 200
    arrays = {"f": np.ones(n), "norms": np.ones(n), "X": np.ones((n, 2))}
    arrays[where].reshape(-1)[123] = bad
    limits = _RunawayLimits(np.full(n, np.inf), np.full(n, np.inf))
    clean, _ = _screen(arrays["f"], arrays["norms"], arrays["X"], 1e-8, limits)
    assert not clean
    assert _screen(np.ones(n), np.ones(n), np.ones((n, 2)), 1e-8, limits) == (True, False)


def test_a_run_joined_from_chunks_takes_the_time_from_the_first_start_to_the_last_end() -> None:
    """Chunks that ran side by side count once: two chunks of 2 s that overlap by 1 s
    took 3 s, not 4; chunks one after the other took their sum."""
    fn = resolve(QUADRATIC)
    run = Descent(fn, make_optimizer("gd", lr=0.1), FIVE_STARTS, iterations=3, tolerance=0.0)
    for _ in run.steps():
        pass
    a = dataclasses.replace(run.run, began=100.0, seconds=2.0)
    side_by_side = _joined_run([a, dataclasses.replace(a, began=101.0)])
    assert side_by_side.seconds == 3.0
    assert side_by_side.n == 2 * a.n
    after = _joined_run([a, dataclasses.replace(a, began=102.5)])
    assert after.seconds == 4.5


def test_basins_group_every_start_by_the_minimum_it_reached_or_its_outcome() -> None:
    """The summary's basins and starts.csv's basin column: one outcome per start (the
    known minimum it reached, else "status, kind"), groups by count, then first row."""
    from collections import Counter

    from gdcli.experiments.descend import basin_keys, basins

    fn = resolve("himmelblau", dimension=2)
    rng = np.random.default_rng(4)
    X0 = rng.uniform(-6, 6, (3000, 2))
    run = Descent(fn, make_optimizer("gd", lr=0.01), X0, iterations=60, tolerance=1e-3)
    for _ in run.steps():
        pass
    done = run.finish()
    minima = fn.known_minima()
    expected = []
    for i in range(done.n):
        j = int(done.nearest[i])
        if j >= 0 and done.status[i] != "diverged":
            expected.append("minimum " + ", ".join(f"{v:.6g}" for v in minima[j].x))
        else:
            expected.append(f"{done.status[i]}, {done.classification[i]}")
    names, codes = basin_keys(done, minima)
    assert [names[c] for c in codes] == expected
    counts = Counter(expected)
    assert len(counts) > 3  # minima and unfinished outcomes both present
    order = sorted(counts, key=lambda k: (-counts[k], expected.index(k)))
    groups = basins(done, minima)["groups"]
    assert [(g["outcome"], g["count"]) for g in groups] == [(k, counts[k]) for k in order]
