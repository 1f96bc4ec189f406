"""Record once, replay many: the replayed descent is the graph-built one, to the last bit."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from bitwise import bits

from gdcli.engine import autograd as ag
from gdcli.engine import native
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
    ("rmsprop", {"lr": 0.01, "centered": True, "momentum": 0.5}),
    ("adagrad", {"lr": 0.1}),
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
        yield (bits(s.X), bits(s.f), bits(s.grad), bits(s.grad_norm))


def _same_descent(fn: ResolvedFunction, X0: np.ndarray, name: str, hyper: dict, n: int) -> None:
    kwargs = {"iterations": n, "tolerance": 1e-300}
    replayed = Descent(fn, make_optimizer(name, **hyper), X0, **kwargs)
    built = GraphBuilt(fn, make_optimizer(name, **hyper), X0, **kwargs)
    a, b = list(_trajectory(replayed)), list(_trajectory(built))
    assert replayed._program is not None, f"{fn.name}: replay did not apply"
    assert replayed._program.compiled, f"{fn.name}: the backward pass is not compiled"
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
        assert bits(f) == bits(f0) and bits(g) == bits(g0)


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
        assert bits(f) == bits(f0) and bits(g) == bits(g0)


def _negated_product(X: ag.Tensor) -> ag.Tensor:
    """One term per row (a sum over an axis of length 1), -0.0 where a column is 0."""
    return (-(X[:, :1] * X[:, 1:])).sum(axis=-1)


def test_sum_over_a_length_one_axis_is_an_add_of_zero_with_the_same_bits() -> None:
    """numpy's reduction over one element gives x + 0.0 (-0.0 becomes 0.0, nan keeps
    its payload): the program adds 0.0 elementwise instead, with the same numbers."""
    payload = np.array([0x7FF8DEAD00000000, 0xFFF8000000000123], dtype=np.uint64).view(np.float64)
    values = np.array([*EDGES, *payload, 5e-324, -5e-324])
    rng = np.random.default_rng(4)
    X = np.column_stack([rng.choice(values, 200), rng.choice(values, 200)])
    X[:9] = [[0.0, 1.0], [-0.0, 1.0], [0.0, -1.0], [1.0, 0.0], [np.nan, 1.0]] + [[1.0, 2.0]] * 4
    program = Program.record(_negated_product, X)
    assert program is not None and program.compiled
    assert not any(getattr(k, "func", None) == np.add.reduce for k in program._kernels)
    with np.errstate(all="ignore"):
        f, g = program.value_and_grad(X)
        f0, g0 = ag.value_and_grad(_negated_product, X)
    assert f.tobytes() == f0.tobytes() and g.tobytes() == g0.tobytes()
    assert np.signbit(f0[:3]).tolist() == [False] * 3  # -0.0 summed is 0.0


def test_one_point_program_sums_minus_zero_to_plus_zero() -> None:
    """The program of one point in floats: f = -(0 * 1) = -0.0, whose sum is 0.0."""
    X = np.array([[0.0, 1.0]])
    program = Program.record(_negated_product, X)
    assert program is not None
    one = program.one_point()
    assert one is not None
    f_out, g_out = np.empty(1), np.empty((1, 2))
    got = one.run(X, f_out, g_out)
    f0, g0 = ag.value_and_grad(_negated_product, X)
    assert got is not None and f_out.tobytes() == f0.tobytes() and not np.signbit(got[0])
    assert g_out.tobytes() == g0.tobytes()


def test_exact_kernels_on_columns_run_on_one_dimensional_views(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The columns of a 2-D Rosenbrock are (N, 1) views: their kernels run on 1-D views
    of the same memory, with the same numbers as the graph (above, at every edge)."""
    monkeypatch.setattr(native, "kernels", None)  # numpy's kernels, not the compiled loop
    fn = resolve("rosenbrock", dimension=2)
    X = _starts(fn, 30)
    program = Program.record(fn.objective, X)
    assert program is not None
    outs = [k.args[-1] for k in program._kernels if getattr(k, "func", None) in (np.multiply,)]
    assert outs and all(o.ndim == 1 for o in outs)
    f, g = program.value_and_grad(X)
    f0, g0 = ag.value_and_grad(fn.objective, X)
    assert f.tobytes() == f0.tobytes() and g.tobytes() == g0.tobytes()
