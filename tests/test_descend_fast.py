"""The in-place loop's shortcuts: the same statuses, iterations and numbers as the
descent with the graph built every iteration and no in-place loop."""

from __future__ import annotations

from typing import Any

import numpy as np
from test_replay import GraphBuilt

from gdcli.engine import autograd as ag
from gdcli.engine.functions import resolve
from gdcli.experiments.descend import Descent
from gdcli.optim import make_optimizer

ROSENBROCK = resolve("rosenbrock", dimension=2)


def _starts(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.column_stack([rng.uniform(-2, 2, n), rng.uniform(-1, 3, n)])


def _steps(d: Descent) -> list[tuple[Any, ...]]:
    arrays = ("X", "f", "grad_norm", "grad", "moved", "stopped")
    return [
        (s.iteration, s.all_moved, *(getattr(s, a).tobytes() for a in arrays)) for s in d.steps()
    ]


def _same(X0: np.ndarray, iterations: int, tolerance: float, **hyper: float) -> Descent:
    kwargs: dict[str, Any] = {"iterations": iterations, "tolerance": tolerance}
    fast = Descent(ROSENBROCK, make_optimizer("adam", **hyper), X0, **kwargs)
    built = GraphBuilt(ROSENBROCK, make_optimizer("adam", **hyper), X0, **kwargs)
    assert _steps(fast) == _steps(built)
    assert fast._fast is not None
    a, b = fast.run, built.run
    assert a.iterations.tolist() == b.iterations.tolist()
    assert a.status.tolist() == b.status.tolist() and a.reason == b.reason
    assert a.x.tobytes() == b.x.tobytes() and a.f.tobytes() == b.f.tobytes()
    return fast


def test_a_row_converging_mid_run_stops_there_and_the_others_go_on() -> None:
    X0 = _starts(200)
    X0[7] = [1.001, 1.0]  # next to the minimum: converges at iteration 28
    d = _same(X0, 60, 1e-2, lr=1e-3)
    assert d.run.status[7] == "converged" and 0 < d.run.iterations[7] < 60
    assert (d.run.iterations[:7] == 60).all()


def test_iterations_of_a_run_stopped_early_are_where_it_stopped() -> None:
    d = Descent(
        ROSENBROCK, make_optimizer("adam", lr=1e-3), _starts(100), iterations=50, tolerance=1e-300
    )
    steps = d.steps()
    for s in steps:
        if s.iteration == 9:
            break
    steps.close()
    assert d.run.iterations.tolist() == [9] * 100


def test_a_row_whose_gradient_norm_overflows_while_finite_diverges_as_before() -> None:
    """At x = 1e67 the gradient (about 4e203) is finite but its norm overflows."""
    X0 = _starts(100)
    X0[3] = [1e67, 1.0]
    d = _same(X0, 20, 1e-300, lr=1e-3)
    assert np.isfinite(ROSENBROCK.objective(ag.Tensor(X0[3:4])).data).all()
    assert d.run.status[3] == "diverged" and d.run.iterations[3] == 0
    assert (d.run.iterations[4:] == 20).all()


def test_a_nan_appearing_mid_run_diverges_at_the_same_iteration() -> None:
    """log(x) sends x down through 0, where f turns nan, after a few steps."""
    fn = resolve("log(x) + y^2")
    X0 = np.column_stack([np.linspace(5.0, 9.0, 80), np.linspace(-1.0, 1.0, 80)])
    X0[11, 0] = 0.0105
    kwargs: dict[str, Any] = {"iterations": 40, "tolerance": 1e-300}
    fast = Descent(fn, make_optimizer("adam", lr=1e-3), X0, **kwargs)
    built = GraphBuilt(fn, make_optimizer("adam", lr=1e-3), X0, **kwargs)
    assert _steps(fast) == _steps(built) and fast._fast is not None
    assert fast.run.status.tolist() == built.run.status.tolist()
    assert fast.run.iterations.tolist() == built.run.iterations.tolist()
    assert fast.run.reason == built.run.reason
    assert fast.run.status[11] == "diverged" and 0 < fast.run.iterations[11] < 40
    assert (np.delete(fast.run.iterations, 11) == 40).all()
