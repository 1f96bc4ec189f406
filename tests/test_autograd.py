"""Tests for gdcli.engine.autograd: every operation against float64 central differences."""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest

from gdcli.engine import autograd as ag
from gdcli.engine.autograd import Tensor
from gdcli.engine.functions import LIBRARY

GRAD_RTOL = 1e-7

Arrays = list[np.ndarray]


def uniform(
    shape: tuple[int, ...], lo: float, hi: float
) -> Callable[[np.random.Generator], Arrays]:
    return lambda rng: [rng.uniform(lo, hi, shape)]


def away_from_zero(shape: tuple[int, ...]) -> Callable[[np.random.Generator], Arrays]:
    """Entries in [-2, -0.2] or [0.2, 2]: clear of the kink of abs, relu and friends."""
    return lambda rng: [rng.uniform(0.2, 2.0, shape) * rng.choice([-1.0, 1.0], shape)]


def pair(
    a: tuple[tuple[int, ...], float, float], b: tuple[tuple[int, ...], float, float]
) -> Callable[[np.random.Generator], Arrays]:
    return lambda rng: [rng.uniform(lo, hi, shape) for shape, lo, hi in (a, b)]


def separated(shape: tuple[int, ...], b_shape: tuple[int, ...]) -> Callable[..., Arrays]:
    """Two operands that differ by at least 0.2 everywhere after broadcasting (no ties)."""

    def make(rng: np.random.Generator) -> Arrays:
        b = rng.uniform(-1.0, 1.0, b_shape)
        gap = rng.uniform(0.2, 1.0, shape) * rng.choice([-1.0, 1.0], shape)
        return [np.broadcast_to(b, shape) + gap, b]

    return make


@dataclass(frozen=True)
class Case:
    name: str
    fn: Callable[..., Tensor]
    make: Callable[[np.random.Generator], Arrays]


M34 = np.arange(12.0).reshape(3, 4) / 7.0 - 0.5

CASES = [
    # arithmetic, with broadcast operands of every kind
    Case("add", lambda a, b: a + b, pair(((3, 4), -2, 2), ((3, 4), -2, 2))),
    Case("add (3,1)+(1,4)", lambda a, b: a + b, pair(((3, 1), -2, 2), ((1, 4), -2, 2))),
    Case("sub (3,4)-(4,)", lambda a, b: a - b, pair(((3, 4), -2, 2), ((4,), -2, 2))),
    Case("rsub", lambda a: 1.5 - a, uniform((3, 4), -2, 2)),
    Case("mul (4,)*(3,4)", lambda a, b: a * b, pair(((4,), -2, 2), ((3, 4), -2, 2))),
    Case("mul scalar*matrix", lambda a, b: a * b, pair(((), -2, 2), ((3, 4), -2, 2))),
    Case("mul self", lambda a: a * a, uniform((3, 4), -2, 2)),
    Case("div (3,4)/(3,1)", lambda a, b: a / b, pair(((3, 4), -2, 2), ((3, 1), 0.5, 2))),
    Case("rdiv", lambda a: 2.0 / a, uniform((3, 4), 0.5, 2)),
    Case("pow tensor**tensor", lambda a, b: a**b, pair(((3, 4), 0.5, 2), ((3, 4), -2, 2))),
    Case("pow (3,4)**scalar", lambda a, b: a**b, pair(((3, 4), 0.5, 2), ((), -2, 2))),
    Case("pow const exponent", lambda a: a**3.0, uniform((3, 4), -2, 2)),
    Case("rpow", lambda a: 2.0**a, uniform((3, 4), -2, 2)),
    Case("neg", lambda a: -a, uniform((3, 4), -2, 2)),
    Case("ndarray + tensor", lambda a: M34 + a * M34, uniform((3, 4), -2, 2)),
    # matrix products in every supported rank combination
    Case("matmul (3,4)@(4,2)", lambda a, b: a @ b, pair(((3, 4), -1, 1), ((4, 2), -1, 1))),
    Case("matmul (3,4)@(4,)", lambda a, b: a @ b, pair(((3, 4), -1, 1), ((4,), -1, 1))),
    Case("matmul (4,)@(4,2)", lambda a, b: a @ b, pair(((4,), -1, 1), ((4, 2), -1, 1))),
    Case("matmul (4,)@(4,)", lambda a, b: a @ b, pair(((4,), -1, 1), ((4,), -1, 1))),
    Case("rmatmul ndarray@tensor", lambda a: M34 @ a, uniform((4, 2), -1, 1)),
    # elementwise functions, on inputs clear of poles and kinks
    Case("exp", ag.exp, uniform((3, 4), -2, 2)),
    Case("log", ag.log, uniform((3, 4), 0.5, 3)),
    Case("sqrt", ag.sqrt, uniform((3, 4), 0.5, 3)),
    Case("abs", ag.absolute, away_from_zero((3, 4))),
    Case("sin", ag.sin, uniform((3, 4), -3, 3)),
    Case("cos", ag.cos, uniform((3, 4), -3, 3)),
    Case("tan", ag.tan, uniform((3, 4), -1.2, 1.2)),
    Case("tanh", ag.tanh, uniform((3, 4), -3, 3)),
    Case("sinh", ag.sinh, uniform((3, 4), -3, 3)),
    Case("cosh", ag.cosh, uniform((3, 4), -3, 3)),
    Case("arctan", ag.arctan, uniform((3, 4), -3, 3)),
    Case("sigmoid", ag.sigmoid, uniform((3, 4), -6, 6)),
    Case("relu", ag.relu, away_from_zero((3, 4))),
    Case("leaky_relu", lambda a: ag.leaky_relu(a, 0.1), away_from_zero((3, 4))),
    Case("elu", lambda a: ag.elu(a, 1.5), away_from_zero((3, 4))),
    Case("softplus", ag.softplus, uniform((3, 4), -6, 6)),
    Case("gelu", ag.gelu, uniform((3, 4), -3, 3)),
    Case("maximum", ag.maximum, separated((3, 4), (3, 4))),
    Case("maximum broadcast", ag.maximum, separated((3, 4), (4,))),
    Case("minimum", ag.minimum, separated((3, 4), (3, 4))),
    Case("minimum broadcast", ag.minimum, separated((3, 4), (3, 1))),
    # reductions and shape operations
    Case("sum all", lambda a: a.sum(), uniform((3, 4), -2, 2)),
    Case("sum axis 0", lambda a: (a * a).sum(axis=0), uniform((3, 4), -2, 2)),
    Case(
        "sum axis -1 keepdims",
        lambda a: (a * a).sum(axis=-1, keepdims=True),
        uniform((3, 4), -2, 2),
    ),
    Case("sum axes (0, 2)", lambda a: ag.sin(a).sum(axis=(0, 2)), uniform((2, 3, 4), -2, 2)),
    Case("mean all", lambda a: (a * a).mean(), uniform((3, 4), -2, 2)),
    Case("mean axis 1", lambda a: ag.exp(a).mean(axis=1), uniform((3, 4), -2, 2)),
    Case("reshape", lambda a: ag.sin(a).reshape(2, 6) * M34.reshape(2, 6), uniform((3, 4), -2, 2)),
    Case("reshape tuple", lambda a: (a * a).reshape((4, 3)), uniform((3, 4), -2, 2)),
    Case("transpose .T", lambda a: a.T @ ag.sin(a), uniform((3, 4), -2, 2)),
    Case("transpose axes", lambda a: a.transpose((2, 0, 1)) ** 2.0, uniform((2, 3, 4), -2, 2)),
    Case("index row", lambda a: a[1] * a[2], uniform((3, 4), -2, 2)),
    Case("index slice", lambda a: a[:, 1:3] ** 3.0, uniform((3, 4), -2, 2)),
    Case("index repeated rows", lambda a: a[np.array([0, 2, 0, 0])] ** 2.0, uniform((3, 4), -2, 2)),
    Case("index ellipsis", lambda a: ag.exp(a[..., -1]), uniform((2, 3, 4), -2, 2)),
    Case("logsumexp axis -1", ag.logsumexp, uniform((3, 4), -3, 3)),
    Case("logsumexp axis 0", lambda a: ag.logsumexp(a, axis=0), uniform((3, 4), -3, 3)),
    Case("logsumexp large", ag.logsumexp, uniform((3, 4), 700, 705)),
    Case("norm axis -1", ag.norm, away_from_zero((3, 4))),
    Case("norm axis 0", lambda a: ag.norm(a, axis=0), away_from_zero((3, 4))),
    Case(
        "stack_columns",
        lambda a, b: ag.stack_columns([a, b * b, a * b]),
        pair(((5,), -2, 2), ((5,), -2, 2)),
    ),
    # a small network: everything composed
    Case(
        "mlp layer",
        lambda x, w, b: ag.logsumexp(ag.tanh(x @ w + b), axis=-1).mean(),
        lambda rng: [rng.normal(size=(5, 3)), rng.normal(size=(3, 4)), rng.normal(size=(4,))],
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_operation_gradient_matches_central_differences(case: Case, fd_gradient, rel_err) -> None:
    rng = np.random.default_rng(zlib.crc32(case.name.encode()))
    inputs = case.make(rng)
    tensors = [Tensor(a.copy(), requires_grad=True) for a in inputs]
    out = case.fn(*tensors)
    # a random seed adjoint W makes the scalar sum(W * out) sensitive to every output
    W = rng.normal(size=out.shape)
    out.backward(W)

    for i, (a, t) in enumerate(zip(inputs, tensors, strict=True)):

        def loss(v: np.ndarray, i: int = i) -> float:
            args = [Tensor(v if j == i else b) for j, b in enumerate(inputs)]
            return float(np.sum(W * case.fn(*args).data))

        assert t.grad is not None
        assert t.grad.shape == a.shape, f"operand {i}: grad shape {t.grad.shape} != {a.shape}"
        assert rel_err(t.grad, fd_gradient(loss, a)) < GRAD_RTOL, f"operand {i}"


def test_broadcast_adjoints_are_summed_to_each_operand_shape() -> None:
    a = Tensor(np.ones((3, 1)), requires_grad=True)
    b = Tensor(np.ones((1, 4)), requires_grad=True)
    s = Tensor(2.0, requires_grad=True)
    v = Tensor(np.arange(4.0), requires_grad=True)
    W = np.arange(12.0).reshape(3, 4)
    (s * (a + b) * v).backward(W)
    # d/da sum(W * s * (a + b) * v) = s * sum_j W_ij v_j, and so on
    np.testing.assert_allclose(a.grad, 2.0 * (W * np.arange(4.0)).sum(axis=1, keepdims=True))
    np.testing.assert_allclose(b.grad, 2.0 * (W * np.arange(4.0)).sum(axis=0, keepdims=True))
    np.testing.assert_allclose(v.grad, 2.0 * 2.0 * W.sum(axis=0))
    assert s.grad.shape == ()
    assert float(s.grad) == pytest.approx(float((W * 2.0 * np.arange(4.0)).sum()))


def test_reused_node_collects_every_contribution() -> None:
    x = Tensor(3.0, requires_grad=True)
    (x * x + x).backward()
    assert float(x.grad) == 7.0  # 2x + 1; an overwriting engine would give 6 or 1

    x = Tensor(np.array([0.5, -2.0]), requires_grad=True)
    y = x * x
    z = y * y + y * x + ag.sin(y)  # y used three times, x directly and through y
    z.backward()
    xv = x.data
    expected = 4 * xv**3 + 3 * xv**2 + np.cos(xv**2) * 2 * xv
    np.testing.assert_allclose(x.grad, expected, rtol=1e-15)


def test_backward_twice_gives_the_same_gradient_not_double() -> None:
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    y = (x * x).sum()
    y.backward()
    first = x.grad.copy()
    y.backward()
    np.testing.assert_array_equal(x.grad, first)
    np.testing.assert_array_equal(first, [2.0, 4.0])


def test_constants_and_non_grad_inputs_get_no_adjoint() -> None:
    x = Tensor(2.0, requires_grad=True)
    c = Tensor(5.0)
    out = x * c
    out.backward()
    assert c.grad is None
    assert float(x.grad) == 5.0
    assert out.requires_grad
    assert not (c * c).requires_grad


def test_chain_of_100000_additions_backward_without_recursion_error() -> None:
    x = Tensor(1.0, requires_grad=True)
    z = x
    for _ in range(100_000):
        z = z + 1.0
    z.backward()
    assert float(z.data) == 100_001.0
    assert float(x.grad) == 1.0


def test_topological_order_puts_every_node_after_its_parents() -> None:
    x = Tensor(1.0, requires_grad=True)
    a = ag.exp(x)
    b = a * x
    out = a + b * a
    order = out.topological_order()
    position = {id(t): i for i, t in enumerate(order)}
    assert len(order) == len(position) == 5  # x, a, b, b*a, out: each once
    for t in order:
        for p in t.parents:
            assert position[id(p)] < position[id(t)]
    assert order[-1] is out and order[0] is x


def test_sigmoid_and_softplus_of_huge_inputs_stay_finite() -> None:
    x = Tensor(np.array([1000.0, -1000.0]), requires_grad=True)
    s = ag.sigmoid(x)
    s.backward()
    np.testing.assert_array_equal(s.data, [1.0, 0.0])
    np.testing.assert_array_equal(x.grad, [0.0, 0.0])

    x = Tensor(np.array([1000.0, -1000.0]), requires_grad=True)
    sp = ag.softplus(x)
    sp.backward()
    np.testing.assert_array_equal(sp.data, [1000.0, 0.0])
    np.testing.assert_array_equal(x.grad, [1.0, 0.0])
    # and the small tail is accurate, not 1 - 1 rounding: sigmoid(-40) = e^-40 / (1 + e^-40)
    assert ag.sigmoid_array(np.array(-40.0)) == pytest.approx(math.exp(-40) / (1 + math.exp(-40)))


def test_logsumexp_of_huge_inputs_is_finite() -> None:
    x = Tensor(np.array([[1000.0, 1000.0], [-1000.0, -1000.0]]), requires_grad=True)
    out = ag.logsumexp(x)
    out.backward()
    np.testing.assert_allclose(out.data, [1000.0 + math.log(2), -1000.0 + math.log(2)])
    np.testing.assert_allclose(x.grad, np.full((2, 2), 0.5))


def test_heaviside_has_zero_gradient() -> None:
    x = Tensor(np.array([-1.0, 0.5, 2.0]), requires_grad=True)
    h = ag.heaviside(x)
    np.testing.assert_array_equal(h.data, [0.0, 1.0, 1.0])
    h.backward(np.array([3.0, -2.0, 7.0]))
    np.testing.assert_array_equal(x.grad, [0.0, 0.0, 0.0])

    x = Tensor(np.array([-1.0, 0.5, 2.0]), requires_grad=True)
    (ag.heaviside(x) * x).sum().backward()  # d/dx (H(x) x) = H(x) away from 0
    np.testing.assert_array_equal(x.grad, [0.0, 1.0, 1.0])


def test_kinks_use_the_documented_subgradients() -> None:
    x = Tensor(np.zeros(3), requires_grad=True)
    n = ag.norm(x)
    n.backward()
    assert float(n.data) == 0.0
    np.testing.assert_array_equal(x.grad, np.zeros(3))

    a = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    b = Tensor(np.array([1.0, 0.0]), requires_grad=True)
    ag.maximum(a, b).backward()
    np.testing.assert_array_equal(a.grad, [0.5, 1.0])  # a tie splits the adjoint evenly
    np.testing.assert_array_equal(b.grad, [0.5, 0.0])


def test_value_and_grad_treats_rows_independently() -> None:
    rng = np.random.default_rng(1)
    X = rng.normal(size=(6, 3))

    def f(T: Tensor) -> Tensor:
        return (T * T * T).sum(axis=-1) + T[:, 0] * T[:, 1]

    values, grads = ag.value_and_grad(f, X)
    assert values.shape == (6,) and grads.shape == (6, 3)
    np.testing.assert_allclose(values, (X**3).sum(axis=1) + X[:, 0] * X[:, 1], rtol=1e-14)
    expected = 3 * X**2
    expected[:, 0] += X[:, 1]
    expected[:, 1] += X[:, 0]
    np.testing.assert_allclose(grads, expected, rtol=1e-14)


def test_integer_input_becomes_float64() -> None:
    t = Tensor([1, 2, 3])
    assert t.data.dtype == np.float64
    assert Tensor(np.ones(2, dtype=np.float32)).data.dtype == np.float32


def test_item_of_a_size_one_tensor() -> None:
    assert Tensor(np.array([3.5])).item() == 3.5


# -- Hessians ------------------------------------------------------------------------


def _hessian_cases() -> list[tuple[str, Callable[[np.ndarray], np.ndarray], np.ndarray]]:
    def cubic_saddle(p: np.ndarray) -> np.ndarray:
        x, _ = p
        return np.array([[12 * x, -6.0], [-6.0, 6.0]])

    def rosenbrock(p: np.ndarray) -> np.ndarray:
        x, y = p
        return np.array([[1200 * x**2 - 400 * y + 2, -400 * x], [-400 * x, 200.0]])

    def himmelblau(p: np.ndarray) -> np.ndarray:
        x, y = p
        return np.array(
            [[12 * x**2 + 4 * y - 42, 4 * x + 4 * y], [4 * x + 4 * y, 12 * y**2 + 4 * x - 26]]
        )

    def exp_square(p: np.ndarray) -> np.ndarray:
        (x,) = p
        return np.array([[3 * math.exp(x**2 + 1) * (2 + 4 * x**2)]])

    def gaussian_bumps(p: np.ndarray) -> np.ndarray:
        x, y = p
        g = math.exp(-(x**2 + y**2) / 2)
        return g * np.array(
            [
                [x * y * (x**2 - 3), (1 - x**2) * (1 - y**2)],
                [(1 - x**2) * (1 - y**2), x * y * (y**2 - 3)],
            ]
        )

    rng = np.random.default_rng(7)
    pts2 = rng.uniform(-2.0, 2.0, size=(4, 2))
    return [
        ("cubic_saddle", cubic_saddle, pts2),
        ("rosenbrock", rosenbrock, pts2),
        ("himmelblau", himmelblau, rng.uniform(-5.0, 5.0, size=(4, 2))),
        ("exp_square", exp_square, rng.uniform(-1.5, 1.5, size=(4, 1))),
        ("gaussian_bumps", gaussian_bumps, pts2),
    ]


@pytest.mark.parametrize(
    ("name", "analytic", "points"), _hessian_cases(), ids=[c[0] for c in _hessian_cases()]
)
def test_hessian_matches_the_hand_written_one(name, analytic, points, rel_err) -> None:
    H = ag.hessian(LIBRARY[name].objective, points)
    assert H.shape == (len(points), points.shape[1], points.shape[1])
    for p, Hp in zip(points, H, strict=True):
        assert rel_err(Hp, analytic(p)) < 1e-6, f"{name} at {p}"
