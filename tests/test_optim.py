"""Optimizers and schedules against hand-written formulas, convergence and invariants."""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gdcli.errors import ConfigError
from gdcli.optim import (
    OPTIMIZERS,
    SCHEDULES,
    Optimizer,
    OptState,
    apply_updates,
    learning_rate,
    make_optimizer,
    make_schedule,
    optimizer_defaults,
)

P0 = np.array([1.0, -2.0])
G1 = np.array([0.5, -1.0])
G2 = np.array([1.0, 2.0])


def steps(opt: Optimizer, p0: np.ndarray, grads: list[np.ndarray]) -> list[np.ndarray]:
    """The parameters after each update, for the given sequence of gradients."""
    params = [p0]
    state = opt.init(params)
    out = []
    for g in grads:
        updates, state = opt.update([g], state, params)
        params = apply_updates(params, updates)
        out.append(params[0])
    return out


# --- test functions: 0.5 x^T diag(1, 10) x and Rosenbrock, rows are points --------

A = np.array([1.0, 10.0])


class Parabola:
    """f = 0.5 * (x^2 + 10 y^2) on each row of an (N, 2) array."""

    def value(self, params: list[np.ndarray]) -> np.ndarray:
        return 0.5 * (params[0] ** 2 @ A)

    def grad(self, params: list[np.ndarray]) -> np.ndarray:
        return A * params[0]

    def hessian(self, params: list[np.ndarray]) -> np.ndarray:
        return np.broadcast_to(np.diag(A), (len(params[0]), 2, 2))


class Rosenbrock:
    """f = (1 - x)^2 + 100 (y - x^2)^2 on each row of an (N, 2) array; minimum (1, 1)."""

    def value(self, params: list[np.ndarray]) -> np.ndarray:
        x, y = params[0].T
        return (1 - x) ** 2 + 100 * (y - x * x) ** 2

    def grad(self, params: list[np.ndarray]) -> np.ndarray:
        x, y = params[0].T
        return np.stack([-2 * (1 - x) - 400 * x * (y - x * x), 200 * (y - x * x)], axis=1)

    def hessian(self, params: list[np.ndarray]) -> np.ndarray:
        x, y = params[0].T
        h = np.empty((len(x), 2, 2))
        h[:, 0, 0] = 2 - 400 * y + 1200 * x * x
        h[:, 0, 1] = h[:, 1, 0] = -400 * x
        h[:, 1, 1] = 200
        return h


def descend(opt: Optimizer, f: Any, x0: np.ndarray, n: int) -> np.ndarray:
    """X after n updates from the (N, 2) starts x0."""
    params = [np.array(x0, dtype=float)]
    state = opt.init(params)
    for _ in range(n):
        updates, state = opt.update([f.grad(params)], state, params, f)
        params = apply_updates(params, updates)
    return params[0]


def test_rosenbrock_derivatives_match_central_differences() -> None:
    f, x, h = Rosenbrock(), np.array([[-1.5, 2.0], [0.3, -0.7]]), 1e-6
    e = np.eye(2) * h
    fd_grad = np.stack([(f.value([x + d]) - f.value([x - d])) / (2 * h) for d in e], axis=1)
    fd_hess = np.stack([(f.grad([x + d]) - f.grad([x - d])) / (2 * h) for d in e], axis=2)
    np.testing.assert_allclose(f.grad([x]), fd_grad, rtol=1e-7)
    np.testing.assert_allclose(f.hessian([x]), fd_hess, rtol=1e-7)


# --- one and two steps against the formulas ---------------------------------------


def test_gd_step_with_weight_decay() -> None:
    (p1,) = steps(make_optimizer("gd", lr=0.1, weight_decay=0.1), P0, [G1])
    # g + wd*p = (0.5 + 0.1, -1 - 0.2) = (0.6, -1.2); p - 0.1 * that
    np.testing.assert_allclose(p1, [0.94, -1.88], rtol=1e-15)


def test_momentum_two_steps_with_dampening_and_weight_decay() -> None:
    opt = make_optimizer("momentum", lr=0.1, momentum=0.9, dampening=0.5, weight_decay=0.1)
    p1, p2 = steps(opt, P0, [G1, G2])
    # step 1: d1 = g1 + 0.1 p0 = (0.6, -1.2); b1 = d1 (no dampening at the first step)
    np.testing.assert_allclose(p1, [1 - 0.06, -2 + 0.12], rtol=1e-15)
    # step 2: d2 = g2 + 0.1 p1 = (1.094, 1.812); b2 = 0.9 b1 + 0.5 d2 = (1.087, -0.174)
    np.testing.assert_allclose(p2, [0.94 - 0.1087, -1.88 + 0.0174], rtol=1e-14)


def test_nesterov_two_steps_with_weight_decay() -> None:
    opt = make_optimizer("nesterov", lr=0.1, momentum=0.9, weight_decay=0.1)
    p1, p2 = steps(opt, P0, [G1, G2])
    # step 1: d1 = (0.6, -1.2) = b1; update d1 + 0.9 b1 = (1.14, -2.28)
    np.testing.assert_allclose(p1, [0.886, -1.772], rtol=1e-15)
    # step 2: d2 = g2 + 0.1 p1 = (1.0886, 1.8228); b2 = 0.9 b1 + d2 = (1.6286, 0.7428);
    # update d2 + 0.9 b2 = (2.55434, 2.49132)
    np.testing.assert_allclose(p2, [0.886 - 0.255434, -1.772 - 0.249132], rtol=1e-14)


def test_adagrad_two_steps_with_lr_decay() -> None:
    opt = make_optimizer("adagrad", lr=0.1, lr_decay=0.5)
    p1, p2 = steps(opt, P0, [np.array([3.0, -4.0]), np.array([4.0, 3.0])])
    # s1 = (9, 16): g/sqrt(s) = (1, -1)
    np.testing.assert_allclose(p1, [0.9, -1.9], rtol=1e-10)
    # s2 = (25, 25): clr = 0.1 / (1 + 0.5) = 1/15; g/sqrt(s) = (0.8, 0.6)
    np.testing.assert_allclose(p2, [0.9 - 0.8 / 15, -1.9 - 0.6 / 15], rtol=1e-10)


def test_adagrad_step_with_accumulator_and_weight_decay() -> None:
    opt = make_optimizer(
        "adagrad", lr=0.1, initial_accumulator_value=0.2, weight_decay=0.1, eps=1e-3
    )
    (p1,) = steps(opt, P0, [G1])
    g = G1 + 0.1 * P0
    np.testing.assert_allclose(p1, P0 - 0.1 * g / (np.sqrt(0.2 + g * g) + 1e-3), rtol=1e-15)


def test_rmsprop_two_steps() -> None:
    opt = make_optimizer("rmsprop", lr=0.1, alpha=0.75)
    p1, p2 = steps(opt, P0, [np.array([2.0, -4.0]), np.array([1.0, 2.0])])
    # sq1 = 0.25 g1^2 = (1, 4), avg = (1, 2): g/avg = (2, -2)
    np.testing.assert_allclose(p1, [0.8, -1.8], rtol=1e-7)
    # sq2 = 0.75 (1, 4) + 0.25 (1, 4) = (1, 4): g/avg = (1, 1)
    np.testing.assert_allclose(p2, [0.7, -1.9], rtol=1e-7)


def test_rmsprop_momentum_two_steps() -> None:
    opt = make_optimizer("rmsprop", lr=0.1, alpha=0.75, momentum=0.5)
    p1, p2 = steps(opt, P0, [np.array([2.0, -4.0]), np.array([1.0, 2.0])])
    # b1 = g1/avg1 = (2, -2); b2 = 0.5 b1 + g2/avg2 = (1, -1) + (1, 1) = (2, 0)
    np.testing.assert_allclose(p1, [0.8, -1.8], rtol=1e-7)
    np.testing.assert_allclose(p2, [0.6, -1.8], rtol=1e-7)


def test_rmsprop_centered_momentum_weight_decay_two_steps() -> None:
    a, mu, wd, lr, eps = 0.75, 0.5, 0.1, 0.1, 1e-8
    opt = make_optimizer(
        "rmsprop", lr=lr, alpha=a, momentum=mu, centered=True, weight_decay=wd, eps=eps
    )
    p1, p2 = steps(opt, P0, [G1, G2])
    d1 = G1 + wd * P0
    sq1, mean1 = (1 - a) * d1**2, (1 - a) * d1
    b1 = d1 / (np.sqrt(sq1 - mean1**2) + eps)
    np.testing.assert_allclose(p1, P0 - lr * b1, rtol=1e-14)
    d2 = G2 + wd * p1
    sq2, mean2 = a * sq1 + (1 - a) * d2**2, a * mean1 + (1 - a) * d2
    b2 = mu * b1 + d2 / (np.sqrt(sq2 - mean2**2) + eps)
    np.testing.assert_allclose(p2, p1 - lr * b2, rtol=1e-14)


def test_adam_first_step_moves_each_coordinate_by_lr() -> None:
    g = np.array([0.5, -1.0, 1e-3, -20.0])
    (p1,) = steps(make_optimizer("adam", lr=0.1), np.zeros(4), [g])
    # bias correction makes m_hat = g and v_hat = g^2 at step 1
    np.testing.assert_allclose(p1, -0.1 * g / (np.abs(g) + 1e-8), rtol=1e-15)
    np.testing.assert_allclose(p1, -0.1 * np.sign(g), atol=1e-6)


def test_adam_l2_weight_decay_goes_into_the_gradient() -> None:
    (p1,) = steps(make_optimizer("adam", lr=0.1, weight_decay=0.1), P0, [G1])
    # sign(g + 0.1 p0) = sign(0.6, -1.2)
    np.testing.assert_allclose(p1, [0.9, -1.9], atol=1e-8)


def test_adam_second_step() -> None:
    p1, p2 = steps(make_optimizer("adam", lr=0.1), P0, [G1, G2])
    # m2 = 0.9*0.1 g1 + 0.1 g2 = (0.145, 0.11); v2 = 0.999*0.001 g1^2 + 0.001 g2^2
    m2 = np.array([0.145, 0.11])
    v2 = np.array([0.00124975, 0.004999])
    bc1, bc2 = 1 - 0.9**2, 1 - 0.999**2
    expected = p1 - 0.1 / bc1 * m2 / (np.sqrt(v2) / math.sqrt(bc2) + 1e-8)
    np.testing.assert_allclose(p2, expected, rtol=1e-14)
    np.testing.assert_allclose(p2, [0.8034818006385094, -1.9366103534720749], rtol=1e-14)


def test_amsgrad_second_step_uses_the_larger_first_v() -> None:
    small = np.array([0.01, 0.02])
    p1, p2 = steps(make_optimizer("adam", lr=0.1, amsgrad=True), P0, [G1, small])
    m2 = 0.09 * G1 + 0.1 * small
    v1 = 0.001 * G1**2  # v2 = 0.999 v1 + 0.001 small^2 < v1, so v_max = v1
    expected = p1 - 0.1 / (1 - 0.81) * m2 / (np.sqrt(v1) / math.sqrt(1 - 0.999**2) + 1e-8)
    np.testing.assert_allclose(p2, expected, rtol=1e-14)
    (_, plain) = steps(make_optimizer("adam", lr=0.1), P0, [G1, small])
    assert not np.allclose(plain, p2)


def test_adamw_decay_is_decoupled() -> None:
    (p1,) = steps(make_optimizer("adamw", lr=0.1, weight_decay=0.1), P0, [G1])
    # p * (1 - 0.1*0.1) - 0.1 * sign(g)
    np.testing.assert_allclose(p1, [0.99 - 0.1, -1.98 + 0.1], atol=1e-8)
    assert make_optimizer("adamw").hyperparameters["weight_decay"] == 0.01


class Quadratic:
    """f = 0.5 x^T A x - b^T x with A = [[3, 1], [1, 2]], b = (1, 1): minimum (0.2, 0.4)."""

    a = np.array([[3.0, 1.0], [1.0, 2.0]])
    b = np.array([1.0, 1.0])

    def grad(self, params: list[np.ndarray]) -> np.ndarray:
        return params[0] @ self.a - self.b

    def hessian(self, params: list[np.ndarray]) -> np.ndarray:
        return np.broadcast_to(self.a, (len(params[0]), 2, 2))


def test_newton_solves_a_quadratic_in_one_step() -> None:
    x0 = np.array([[0.0, 0.0], [5.0, -3.0], [-100.0, 7.0]])
    x1 = descend(make_optimizer("newton"), Quadratic(), x0, 1)
    np.testing.assert_allclose(x1, np.tile([0.2, 0.4], (3, 1)), rtol=0, atol=1e-13)


def test_damped_newton_step() -> None:
    x1 = descend(make_optimizer("newton", lr=0.5, damping=1.0), Quadratic(), np.zeros((1, 2)), 1)
    # g = -b; (A + I)^-1 = [[3, -1], [-1, 4]] / 11; x1 = 0.5 * (A + I)^-1 b
    np.testing.assert_allclose(x1, [[1 / 11, 1.5 / 11]], rtol=1e-14)


class FixedHessian:
    def __init__(self, h: np.ndarray) -> None:
        self.h = h

    def value(self, params: list[np.ndarray]) -> np.ndarray:
        raise AssertionError("newton does not evaluate f")

    def hessian(self, params: list[np.ndarray]) -> np.ndarray:
        return self.h


def test_newton_singular_and_nonfinite_rows_do_not_raise() -> None:
    h = np.array([[[2.0, 0.0], [0.0, 4.0]], [[1.0, 0.0], [0.0, 0.0]], [[np.nan, 0.0], [0.0, 1.0]]])
    opt = make_optimizer("newton")
    x = np.zeros((3, 2))
    g = np.array([[2.0, 3.0], [2.0, 3.0], [2.0, 3.0]])
    updates, _ = opt.update([g], opt.init([x]), [x], FixedHessian(h))
    np.testing.assert_allclose(updates[0][:2], [[-1.0, -0.75], [-2.0, 0.0]], rtol=1e-14)
    assert np.isnan(updates[0][2]).all()


def test_newton_and_armijo_need_one_leaf_and_an_oracle() -> None:
    for name in ("newton", "armijo"):
        opt = make_optimizer(name)
        assert opt.needs_oracle
        two = [np.zeros((1, 2)), np.zeros((1, 2))]
        with pytest.raises(ValueError, match="shape"):
            opt.update(two, opt.init(two), two, Parabola())
        one = [np.zeros((1, 2))]
        with pytest.raises(ValueError, match="oracle"):
            opt.update(one, opt.init(one), one)
    assert not make_optimizer("adam").needs_oracle


def test_armijo_steps_per_row() -> None:
    # Row 1 from (1, 1): g = (1, 10), f = 5.5; t = 1, 1/2, 1/4 fail, t = 1/8 gives
    # f(0.875, -0.25) = 0.6953 <= 5.5 - 1e-4 * 0.125 * 101. Row 2 from (1, 0): t = 1.
    x1 = descend(make_optimizer("armijo"), Parabola(), np.array([[1.0, 1.0], [1.0, 0.0]]), 1)
    np.testing.assert_allclose(x1, [[0.875, -0.25], [0.0, 0.0]], rtol=1e-15)
    # With two backtracks at most, row 1 takes the last trial t = 1/4.
    x1 = descend(make_optimizer("armijo", max_backtracks=2), Parabola(), np.array([[1.0, 1.0]]), 1)
    np.testing.assert_allclose(x1, [[0.75, -1.5]], rtol=1e-15)


class UndefinedBelow(Parabola):
    """The parabola, undefined (nan) where y < -0.2."""

    def value(self, params: list[np.ndarray]) -> np.ndarray:
        return np.where(params[0][:, 1] < -0.2, np.nan, super().value(params))


def test_armijo_treats_undefined_values_as_failures() -> None:
    # t = 1/8 lands on y = -0.25 (nan); t = 1/16 gives (0.9375, 0.375), f = 1.1426.
    x1 = descend(make_optimizer("armijo"), UndefinedBelow(), np.array([[1.0, 1.0]]), 1)
    np.testing.assert_allclose(x1, [[0.9375, 0.375]], rtol=1e-15)


def test_armijo_decreases_f_on_every_row() -> None:
    f = Rosenbrock()
    x = np.random.default_rng(0).uniform(-2, 2, size=(8, 2))
    opt = make_optimizer("armijo", lr=0.5)
    params = [x]
    state = opt.init(params)
    values = f.value(params)
    for _ in range(50):
        updates, state = opt.update([f.grad(params)], state, params, f)
        params = apply_updates(params, updates)
        new = f.value(params)
        assert (new < values).all()
        values = new


# --- convergence -------------------------------------------------------------------

CONVERGENCE_PARABOLA = [
    ("gd", {"lr": 0.1}, 200),
    ("momentum", {"lr": 0.05, "momentum": 0.5}, 200),
    ("nesterov", {"lr": 0.05, "momentum": 0.5}, 200),
    ("adagrad", {"lr": 0.5}, 200),
    ("rmsprop", {"lr": make_schedule("exponential", 0.1, gamma=0.95)}, 300),
    ("rmsprop", {"lr": make_schedule("exponential", 0.1, gamma=0.95), "centered": True}, 300),
    ("adam", {"lr": 0.05}, 500),
    ("adam", {"lr": make_schedule("cosine", 0.1, total_steps=1000), "amsgrad": True}, 1000),
    ("adamw", {"lr": 0.05}, 500),
    ("newton", {}, 1),
    ("armijo", {}, 200),
]


@pytest.mark.parametrize(("name", "hyper", "n"), CONVERGENCE_PARABOLA)
def test_converges_on_parabola(name: str, hyper: dict[str, Any], n: int) -> None:
    x = descend(make_optimizer(name, **hyper), Parabola(), np.array([[1.0, 1.0]]), n)
    assert np.abs(x).max() < 1e-6


CONVERGENCE_ROSENBROCK = [
    ("gd", {"lr": 1e-3}, 20000, 1e-3),
    ("momentum", {"lr": 1e-3, "momentum": 0.9}, 10000, 1e-6),
    ("nesterov", {"lr": 1e-3, "momentum": 0.9}, 10000, 1e-6),
    ("adagrad", {"lr": 0.5}, 20000, 1e-4),
    ("rmsprop", {"lr": make_schedule("exponential", 0.01, gamma=0.999)}, 10000, 1e-4),
    (
        "rmsprop",
        {"lr": make_schedule("exponential", 0.01, gamma=0.999), "centered": True, "momentum": 0.5},
        10000,
        1e-6,
    ),
    ("adam", {"lr": 0.02}, 5000, 1e-6),
    ("adam", {"lr": 0.01, "amsgrad": True}, 10000, 1e-3),
    # Decoupled decay moves the fixed point away from (1, 1), so none here.
    ("adamw", {"lr": 0.02, "weight_decay": 0.0}, 5000, 1e-6),
    ("newton", {}, 10, 1e-12),
    ("armijo", {"lr": 0.01}, 14000, 1e-6),
]


@pytest.mark.parametrize(("name", "hyper", "n", "tol"), CONVERGENCE_ROSENBROCK)
def test_converges_on_rosenbrock(name: str, hyper: dict[str, Any], n: int, tol: float) -> None:
    x = descend(make_optimizer(name, **hyper), Rosenbrock(), np.array([[-1.5, 2.0]]), n)
    assert np.abs(x - 1.0).max() < tol


# --- rows are independent ------------------------------------------------------------

ALL_VARIANTS: list[tuple[str, dict[str, Any]]] = [
    ("gd", {"lr": 1e-3, "weight_decay": 0.1}),
    ("momentum", {"lr": 1e-3, "dampening": 0.2, "weight_decay": 0.1}),
    ("nesterov", {"lr": 1e-3}),
    ("adagrad", {"lr": 0.1, "lr_decay": 0.1, "initial_accumulator_value": 0.1}),
    ("rmsprop", {"lr": 1e-3}),
    ("rmsprop", {"lr": 1e-3, "centered": True, "momentum": 0.5, "weight_decay": 0.1}),
    ("adam", {"lr": 0.01, "weight_decay": 0.1}),
    ("adam", {"lr": 0.01, "amsgrad": True}),
    ("adamw", {"lr": 0.01}),
    ("newton", {"damping": 0.1}),
    ("armijo", {}),
]


@pytest.mark.parametrize(("name", "hyper"), ALL_VARIANTS)
def test_rows_step_independently(name: str, hyper: dict[str, Any]) -> None:
    f = Rosenbrock()
    x0 = np.random.default_rng(1).uniform(-2, 2, size=(5, 2))
    opt = make_optimizer(name, clip_norm=50.0, clip_axis=-1, **hyper)
    together = descend(opt, f, x0, 25)
    alone = np.concatenate([descend(opt, f, x0[i : i + 1], 25) for i in range(5)])
    np.testing.assert_allclose(together, alone, rtol=1e-13, atol=1e-300)
    assert not np.allclose(together, x0)


# --- state and purity ------------------------------------------------------------------


def structure(tree: Any) -> Any:
    """Types, shapes and dtypes of a state, without the values."""
    if isinstance(tree, np.ndarray):
        return ("array", tree.shape, tree.dtype)
    if isinstance(tree, OptState):
        return ("OptState", type(tree.count), structure(tree.parts))
    if isinstance(tree, tuple):
        return (type(tree).__name__, tuple(structure(t) for t in tree))
    return type(tree).__name__


def arrays(tree: Any) -> list[np.ndarray]:
    if isinstance(tree, np.ndarray):
        return [tree]
    if isinstance(tree, OptState):
        return arrays(tree.parts)
    if isinstance(tree, (tuple, list)):
        return [a for t in tree for a in arrays(t)]
    return []


def mlp_like(rng: np.random.Generator) -> list[np.ndarray]:
    return [rng.normal(size=(3, 4)), rng.normal(size=4), rng.normal(size=(4, 1)), np.zeros(1)]


@pytest.mark.parametrize(("name", "hyper"), ALL_VARIANTS[:-2])
def test_state_keeps_its_structure_and_inputs_stay_untouched(
    name: str, hyper: dict[str, Any]
) -> None:
    rng = np.random.default_rng(2)
    opt = make_optimizer(name, clip_norm=1.0, **hyper)
    params = mlp_like(rng)
    state = opt.init(params)
    before = structure(state)
    assert state.count == 0
    for k in range(3):
        grads = mlp_like(rng)
        saved = copy.deepcopy((params, grads, state))
        updates, new_state = opt.update(grads, state, params)
        for a, b in zip(arrays((params, grads, state)), arrays(saved), strict=True):
            np.testing.assert_array_equal(a, b)
        for out in arrays((updates, new_state)):
            assert not any(np.shares_memory(out, a) for a in arrays((params, grads, state)))
        assert [u.shape for u in updates] == [p.shape for p in params]
        assert structure(new_state) == before
        assert new_state.count == k + 1
        params, state = apply_updates(params, updates), new_state


@pytest.mark.parametrize("name", ["newton", "armijo"])
def test_oracle_optimizers_keep_state_and_inputs(name: str) -> None:
    f = Rosenbrock()
    params = [np.array([[-1.5, 2.0], [0.5, 0.5]])]
    opt = make_optimizer(name)
    state = opt.init(params)
    saved = copy.deepcopy(params)
    grads = [f.grad(params)]
    updates, new_state = opt.update(grads, state, params, f)
    np.testing.assert_array_equal(params[0], saved[0])
    assert structure(new_state) == structure(state)
    assert new_state.count == 1
    assert not np.shares_memory(updates[0], grads[0])


# --- clipping ------------------------------------------------------------------------------


def test_global_clipping_over_all_leaves() -> None:
    opt = make_optimizer("gd", lr=1.0, clip_norm=1.0)
    params = [np.zeros(2), np.zeros(2)]
    # global norm |(3, 0, 0, 4)| = 5
    updates, _ = opt.update([np.array([3.0, 0.0]), np.array([0.0, 4.0])], opt.init(params), params)
    np.testing.assert_allclose(updates[0], [-0.6, 0.0], rtol=1e-15)
    np.testing.assert_allclose(updates[1], [0.0, -0.8], rtol=1e-15)


def test_clipping_per_row_vs_global() -> None:
    x = np.zeros((2, 2))
    g = np.array([[3.0, 4.0], [0.3, 0.4]])
    per_row = make_optimizer("gd", lr=1.0, clip_norm=1.0, clip_axis=-1)
    updates, _ = per_row.update([g], per_row.init([x]), [x])
    np.testing.assert_allclose(updates[0], [[-0.6, -0.8], [-0.3, -0.4]], rtol=1e-15)
    whole = make_optimizer("gd", lr=1.0, clip_norm=1.0)
    updates, _ = whole.update([g], whole.init([x]), [x])
    np.testing.assert_allclose(updates[0], -g / math.sqrt(25.25), rtol=1e-15)


def test_clipping_comes_before_weight_decay() -> None:
    opt = make_optimizer("gd", lr=1.0, weight_decay=0.5, clip_norm=1.0)
    p = np.array([2.0, 0.0])
    updates, _ = opt.update([np.array([0.0, 10.0])], opt.init([p]), [p])
    np.testing.assert_allclose(updates[0], [-1.0, -1.0], rtol=1e-15)
    assert opt.hyperparameters["clip_norm"] == 1.0


@settings(max_examples=50, deadline=None)
@given(
    st.lists(
        st.tuples(st.floats(-1e3, 1e3), st.floats(-1e3, 1e3), st.floats(-1e3, 1e3)),
        min_size=1,
        max_size=6,
    ),
    st.floats(1e-3, 1e3),
)
def test_per_row_clipping_bounds_each_row(rows: list[tuple[float, ...]], max_norm: float) -> None:
    g = np.array(rows)
    x = np.zeros_like(g)
    opt = make_optimizer("gd", lr=1.0, clip_norm=max_norm, clip_axis=-1)
    clipped = -opt.update([g], opt.init([x]), [x])[0][0]
    norms = np.linalg.norm(g, axis=1)
    np.testing.assert_allclose(
        np.linalg.norm(clipped, axis=1), np.minimum(norms, max_norm), rtol=1e-12
    )
    short = norms <= max_norm
    np.testing.assert_array_equal(clipped[short], g[short])
    # same direction: the clipped row is a nonnegative multiple of the row
    np.testing.assert_allclose(
        clipped * norms[:, None], g * np.linalg.norm(clipped, axis=1)[:, None], rtol=1e-9, atol=1e-9
    )


# --- schedules --------------------------------------------------------------------------------


def values(schedule: Callable[[int], float], ts: list[int]) -> list[float]:
    return [schedule(t) for t in ts]


def test_schedule_values() -> None:
    assert values(make_schedule("constant", 0.1), [0, 100]) == [0.1, 0.1]
    step = make_schedule("step", 1.0, step_size=3, gamma=0.5)
    assert values(step, [0, 2, 3, 5, 6]) == [1.0, 1.0, 0.5, 0.5, 0.25]
    assert values(make_schedule("exponential", 2.0, gamma=0.5), [0, 3]) == [2.0, 0.25]
    inv = make_schedule("inverse_time", 1.0, decay_rate=0.5, decay_steps=2)
    assert values(inv, [0, 4, 8]) == [1.0, 0.5, 1 / 3]
    cos = make_schedule("cosine", 1.0, total_steps=10, min_lr=0.1)
    assert values(cos, [0, 5, 10, 20]) == pytest.approx([1.0, 0.55, 0.1, 0.1], rel=1e-15)
    assert set(SCHEDULES) == {"constant", "step", "exponential", "inverse_time", "cosine"}


def test_warmup_ramps_to_the_schedule() -> None:
    warm = make_schedule("constant", 1.0, warmup_steps=4)
    assert values(warm, [0, 1, 2, 3, 4, 10]) == [0.25, 0.5, 0.75, 1.0, 1.0, 1.0]
    warm_step = make_schedule("step", 1.0, step_size=2, gamma=0.5, warmup_steps=4)
    # factor (t + 1)/4 on 1, 1, 0.5, 0.5, then 0.25 from t = 4
    assert values(warm_step, [0, 1, 2, 3, 4]) == [0.25, 0.5, 0.375, 0.5, 0.25]


@pytest.mark.parametrize(
    ("name", "kwargs", "message"),
    [
        ("step", {"step_size": 2, "gamma": 0.0}, r"gamma must be a number in \(0, 1\]"),
        ("exponential", {"gamma": -1.0}, r"gamma must be a number in \(0, 1\]"),
        ("exponential", {"gamma": 1.5}, r"gamma must be a number in \(0, 1\]"),
        ("inverse_time", {"decay_rate": -0.1}, "decay_rate must be a number >= 0"),
        ("cosine", {"total_steps": 0}, "total_steps must be an integer >= 1"),
        ("cosine", {"total_steps": 10, "min_lr": 2.0}, "min_lr must be <= lr"),
        ("step", {"step_size": 2.5}, "step_size must be an integer"),
        ("inverse_time", {"decay_rate": 1.0, "decay_steps": 0}, "decay_steps must be"),
        ("cosine", {"total_step": 10}, "unknown parameter 'total_step'.*total_steps"),
        ("exponential", {}, "missing gamma"),
        ("linear", {}, "unknown schedule 'linear'; valid: constant, step"),
        ("constant", {"warmup_steps": -1}, "warmup_steps must be an integer >= 0"),
        ("constant", {"warmup_steps": 1.5}, "warmup_steps must be an integer >= 0"),
    ],
)
def test_bad_schedule_arguments(name: str, kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        make_schedule(name, 1.0, **kwargs)
    with pytest.raises(ConfigError, match="lr must be a number > 0"):
        make_schedule("constant", 0.0)


def test_schedule_drives_the_optimizer_through_the_count() -> None:
    opt = make_optimizer("gd", lr=make_schedule("step", 1.0, step_size=1, gamma=0.5))
    params = [np.zeros(1)]
    state = opt.init(params)
    seen = []
    for _ in range(3):
        assert learning_rate(opt, state) == 0.5**state.count
        updates, state = opt.update([np.ones(1)], state, params)
        seen.append(updates[0][0])
    assert seen == [-1.0, -0.5, -0.25]
    assert opt.hyperparameters["lr"] == 1.0


def test_learning_rate_includes_adagrad_decay() -> None:
    opt = make_optimizer("adagrad", lr=0.1, lr_decay=0.5)
    params = [np.zeros(1)]
    state = opt.init(params)
    for _ in range(2):
        _, state = opt.update([np.ones(1)], state, params)
    assert learning_rate(opt, state) == pytest.approx(0.1 / (1 + 2 * 0.5), rel=1e-15)


# --- registry and checks ------------------------------------------------------------------------


def test_registry_and_defaults() -> None:
    assert list(OPTIMIZERS) == [
        "gd",
        "momentum",
        "nesterov",
        "adagrad",
        "rmsprop",
        "adam",
        "adamw",
        "newton",
        "armijo",
    ]
    assert optimizer_defaults("adam") == {
        "lr": 0.001,
        "betas": (0.9, 0.999),
        "eps": 1e-8,
        "weight_decay": 0.0,
        "amsgrad": False,
    }
    assert optimizer_defaults("rmsprop")["alpha"] == 0.99
    assert optimizer_defaults("adagrad")["eps"] == 1e-10
    assert optimizer_defaults("armijo")["max_backtracks"] == 50
    assert OPTIMIZERS["nesterov"].description == (
        "Nesterov momentum (torch.optim.SGD with nesterov=True)."
    )
    assert all("\n" not in info.description for info in OPTIMIZERS.values())
    assert make_optimizer("momentum", lr=0.5).hyperparameters == {
        "lr": 0.5,
        "momentum": 0.9,
        "dampening": 0.0,
        "weight_decay": 0.0,
    }
    assert make_optimizer("adam", betas=[0.5, 0.6]).hyperparameters["betas"] == (0.5, 0.6)


@pytest.mark.parametrize(
    ("name", "kwargs", "message"),
    [
        ("adamm", {}, r"unknown optimizer 'adamm'; valid: gd, momentum, .*armijo"),
        ("adam", {"momentum": 0.9}, r"unknown parameter 'momentum'; valid: lr, betas"),
        ("momentum", {"momentun": 0.9}, r"did you mean 'momentum'"),
        ("gd", {"lr": 0.0}, r"lr must be a number > 0, got 0.0"),
        ("gd", {"lr": -1.0}, r"lr must be a number > 0"),
        ("gd", {"lr": math.nan}, r"lr must be a number > 0"),
        ("gd", {"lr": True}, r"lr must be a number > 0"),
        ("gd", {"lr": lambda t: 0.0}, r"lr must be a number > 0"),
        ("momentum", {"momentum": 1.0}, r"momentum must be a number in \[0, 1\)"),
        ("nesterov", {"momentum": 0.0}, r"momentum must be a number in \(0, 1\)"),
        ("adam", {"betas": (0.9, 1.0)}, r"betas must be two numbers each in \[0, 1\)"),
        ("adam", {"betas": 0.9}, r"betas must be two numbers"),
        ("adam", {"eps": 0.0}, r"eps must be a number > 0"),
        ("adam", {"amsgrad": 1}, r"amsgrad must be true or false"),
        ("adamw", {"weight_decay": -0.1}, r"weight_decay must be a number >= 0"),
        ("rmsprop", {"alpha": 1.0}, r"alpha must be a number in \[0, 1\)"),
        ("armijo", {"max_backtracks": 1.5}, r"max_backtracks must be an integer >= 0"),
        ("armijo", {"c1": 1.0}, r"c1 must be a number in \(0, 1\)"),
        ("newton", {"damping": -1.0}, r"damping must be a number >= 0"),
        ("gd", {"clip_norm": 0.0}, r"clip_norm must be a number > 0"),
        ("gd", {"clip_norm": 1.0, "clip_axis": 1.5}, r"clip_axis must be an integer"),
    ],
)
def test_bad_hyperparameters(name: str, kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        make_optimizer(name, **kwargs)


def test_all_problems_are_reported_at_once() -> None:
    with pytest.raises(ConfigError) as error:
        make_optimizer("adam", lr=-1.0, eps=0.0, momentum=0.9)
    assert len(error.value.problems) == 3
    with pytest.raises(ConfigError, match="unknown optimizer"):
        optimizer_defaults("sgd")


# --- against torch, where it is installed ----------------------------------------------------

TORCH_CASES: list[tuple[str, dict[str, Any], str]] = [
    ("gd", {"lr": 0.05, "weight_decay": 0.1}, "SGD"),
    ("momentum", {"lr": 0.05, "momentum": 0.8, "dampening": 0.3, "weight_decay": 0.1}, "SGD"),
    ("nesterov", {"lr": 0.05, "momentum": 0.8, "weight_decay": 0.1}, "SGD"),
    (
        "adagrad",
        {"lr": 0.1, "lr_decay": 0.05, "initial_accumulator_value": 0.2, "weight_decay": 0.1},
        "Adagrad",
    ),
    ("rmsprop", {"lr": 0.01, "weight_decay": 0.1}, "RMSprop"),
    (
        "rmsprop",
        {"lr": 0.01, "alpha": 0.9, "momentum": 0.5, "centered": True, "weight_decay": 0.1},
        "RMSprop",
    ),
    ("adam", {"lr": 0.05, "betas": (0.8, 0.99), "weight_decay": 0.1}, "Adam"),
    ("adam", {"lr": 0.05, "amsgrad": True}, "Adam"),
    ("adamw", {"lr": 0.05, "weight_decay": 0.1, "amsgrad": True}, "AdamW"),
]


@pytest.mark.parametrize(("name", "hyper", "torch_name"), TORCH_CASES)
def test_matches_torch(name: str, hyper: dict[str, Any], torch_name: str) -> None:
    torch = pytest.importorskip("torch")

    def grad(p: np.ndarray) -> np.ndarray:
        return p**3 - p + 0.5

    x0 = np.random.default_rng(3).normal(size=(4, 3))
    torch_param = torch.tensor(x0.copy(), dtype=torch.float64, requires_grad=True)
    torch_kwargs = dict(hyper, nesterov=True) if name == "nesterov" else dict(hyper)
    torch_opt = getattr(torch.optim, torch_name)([torch_param], **torch_kwargs)
    opt = make_optimizer(name, **hyper)
    params = [x0.copy()]
    state = opt.init(params)
    for _ in range(20):
        torch_param.grad = torch.from_numpy(grad(torch_param.detach().numpy().copy()))
        torch_opt.step()
        updates, state = opt.update([grad(params[0])], state, params)
        params = apply_updates(params, updates)
    np.testing.assert_allclose(params[0], torch_param.detach().numpy(), rtol=1e-10, atol=1e-12)
