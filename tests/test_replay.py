"""Record once, replay many: the replayed descent is the graph-built one, to the last bit."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from gdcli.engine import autograd as ag
from gdcli.engine.functions import LIBRARY, ResolvedFunction, resolve
from gdcli.engine.replay import Program
from gdcli.experiments.config import DescendConfig, load_config
from gdcli.experiments.descend import Descent
from gdcli.experiments.plan import descend_plan
from gdcli.optim import make_optimizer

CONFIGS = Path(__file__).parent.parent / "configs"
OPTIMIZERS = [
    ("gd", {"lr": 0.01}),
    ("momentum", {"lr": 0.01, "momentum": 0.9}),
    ("adam", {"lr": 0.05}),
    ("rmsprop", {"lr": 0.01}),
]


class GraphBuilt(Descent):
    """The descent with the graph built afresh at every evaluation and the optimizer's
    pure update making new arrays (replay and the in-place loop off)."""

    def value_and_grad(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return ag.value_and_grad(self.fn.objective, X)

    def _start(self) -> Any:
        it = super()._start()
        self._program = self._fast = None
        return it


def _trajectory(d: Descent) -> Iterator[tuple[bytes, ...]]:
    for s in d.steps():
        yield (s.X.tobytes(), s.f.tobytes(), s.grad.tobytes(), s.grad_norm.tobytes())


def _same_descent(fn: ResolvedFunction, X0: np.ndarray, name: str, hyper: dict, n: int) -> None:
    kwargs = {"iterations": n, "tolerance": 1e-300}
    replayed = Descent(fn, make_optimizer(name, **hyper), X0, **kwargs)
    built = GraphBuilt(fn, make_optimizer(name, **hyper), X0, **kwargs)
    a, b = list(_trajectory(replayed)), list(_trajectory(built))
    assert replayed._program is not None, f"{fn.name}: replay did not apply"
    assert replayed._program.compiled, f"{fn.name}: the backward pass is not compiled"
    if name != "rmsprop":
        assert replayed._fast is not None, f"{name}: the in-place loop did not apply"
    assert len(a) == len(b) and a == b
    assert replayed.run.status.tolist() == built.run.status.tolist()


def _starts(fn: ResolvedFunction, n: int = 7) -> np.ndarray:
    box = np.array(fn.window())
    return np.random.default_rng(1).uniform(box[:, 0], box[:, 1], size=(n, fn.dimension))


@pytest.mark.parametrize("name", sorted(LIBRARY))
@pytest.mark.parametrize(("optimizer", "hyper"), OPTIMIZERS)
def test_replayed_descent_equals_graph_built_to_the_last_bit(
    name: str, optimizer: str, hyper: dict
) -> None:
    entry = LIBRARY[name]
    fn = resolve(name, dimension=entry.resolve_dimension(None if entry.dimension else 3))
    _same_descent(fn, _starts(fn), optimizer, hyper, 60)


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("*.yaml")), ids=lambda p: p.stem)
def test_shipped_descend_configs_replay_to_the_last_bit(path: Path) -> None:
    try:
        config, doc = load_config(path, DescendConfig)
    except Exception:
        pytest.skip("not a descend config")
    plan = descend_plan(config, doc)
    starts = plan.starts[:50]
    for r in plan.optimizer_recipes:
        opt = r.build()
        kwargs = {"iterations": min(plan.iterations, 300), "tolerance": plan.tolerance}
        replayed = Descent(plan.function, opt, starts, **kwargs)
        built = GraphBuilt(plan.function, r.build(), starts, **kwargs)
        assert replayed._program is None or replayed._program.compiled
        assert list(_trajectory(replayed)) == list(_trajectory(built))
        assert replayed.run.status.tolist() == built.run.status.tolist()


def test_replay_of_a_formula_with_every_operation() -> None:
    f = "sqrt(x**2 + 1) * exp(-y**2/3) + log(2 + sin(x)) - tanh(y)*cos(x) + abs(x - y)"
    f += " + sigmoid(x) + relu(y) + max(x, y) + arctan(x*y) + sinh(y/5) + cosh(x/5) + tan(y/9)"
    fn = resolve(f)
    for optimizer, hyper in OPTIMIZERS:
        _same_descent(fn, _starts(fn, 9), optimizer, hyper, 40)


def test_replay_does_not_apply_to_gelu_and_falls_back() -> None:
    def objective(X: ag.Tensor) -> ag.Tensor:
        return ag.gelu(X).sum(axis=-1)

    assert Program.record(objective, np.ones((3, 2))) is None


EDGES = [0.0, -0.0, 1.0, -1.0, 1e-300, -1e300, np.inf, -np.inf, np.nan]


@pytest.mark.parametrize("name", sorted(LIBRARY))
@pytest.mark.parametrize("d", [2, 3, 5])
def test_compiled_backward_equals_the_closures_bit_for_bit(name: str, d: int) -> None:
    """The kernels into buffers against the graph built afresh, at random points and
    at signed zeros, infinities and nans, replayed several times on one program."""
    entry = LIBRARY[name]
    if entry.dimension is not None and entry.dimension != d:
        pytest.skip("fixed dimension")
    fn = resolve(name, dimension=d)
    rng = np.random.default_rng(d)
    X = rng.uniform(-3.0, 3.0, size=(40, d))
    program = Program.record(fn.objective, X)
    assert program is not None and program.compiled
    for k in range(4):
        P = rng.uniform(-3.0, 3.0, size=X.shape)
        if k % 2:
            P[rng.random(P.shape) < 0.3] = rng.choice(EDGES)
        with np.errstate(all="ignore"):
            f, g = program.value_and_grad(P)
            f0, g0 = ag.value_and_grad(fn.objective, P)
        assert f.tobytes() == f0.tobytes() and g.tobytes() == g0.tobytes()


def test_overlapping_columns_keep_their_zeros() -> None:
    """x[:, :2] and x[:, 1:] overlap: the adjoint's zeros are needed, and kept."""

    def objective(X: ag.Tensor) -> ag.Tensor:
        return (X[:, :2] * 3.0).sum(axis=-1) + (X[:, 1:] * X[:, 1:]).sum(axis=-1)

    X = np.random.default_rng(2).normal(size=(9, 3))
    program = Program.record(objective, X)
    assert program is not None and program.compiled
    for _ in range(3):
        P = np.random.default_rng(3).normal(size=X.shape)
        f, g = program.value_and_grad(P)
        f0, g0 = ag.value_and_grad(objective, P)
        assert f.tobytes() == f0.tobytes() and g.tobytes() == g0.tobytes()
