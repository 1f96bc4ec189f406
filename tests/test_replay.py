"""Record once, replay many: the replayed descent is the graph-built one, to the last bit."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from pathlib import Path

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
