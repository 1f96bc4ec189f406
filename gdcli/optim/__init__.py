"""Optimizers as pure ``(init, update)`` pairs, and learning-rate schedules.

One family of optimizers serves both ``descend`` and ``train-mlp``. Parameters are a
list of float arrays (``Params``): the descent passes one ``(N, d)`` array holding N
independent starts, MLP training passes its weight matrices and bias vectors. Every
optimizer except ``newton`` and ``armijo`` works elementwise, so the N starts of a
descent step together without mixing.

An optimizer is built in the optax way from small parts (gradient clipping, weight
decay, a momentum trace, Adam or RMSprop scaling, learning-rate scaling), chained
so that each part transforms what the previous one produced::

    opt = make_optimizer("adam", lr=0.01)
    state = opt.init(params)
    updates, state = opt.update(grads, state, params)
    params = apply_updates(params, updates)          # params + updates

Updates are added to the parameters by the caller; nothing here changes an array it
was given. Hyperparameters follow ``torch.optim``'s names, defaults and update rules.
The number of updates done so far lives in the state (``state.count``) and drives
learning-rate schedules and Adam's bias correction.
"""

from __future__ import annotations

import inspect
import math
import numbers
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, NamedTuple, Protocol, TypeVar

import numpy as np

from gdcli.errors import ConfigError, nearest

Params = list[np.ndarray]
"""A list of float arrays (leaves): one (N, d) array of starts, or an MLP's weights."""

Leaves = tuple[np.ndarray, ...]
"""Per-leaf arrays kept in an optimizer state, one per parameter leaf, same shapes."""

Schedule = Callable[[int], float]
"""Learning rate as a function of the number of updates done so far (0 for the first)."""


class Oracle(Protocol):
    """What ``newton`` and ``armijo`` need beyond the gradient.

    Both take ``params = [X]`` with ``X`` of shape (N, d): N independent points.
    They must accept any number of rows, because ``armijo`` evaluates only the
    rows that are still backtracking.
    """

    def value(self, params: Params) -> np.ndarray:
        """f at each row, shape (N,); inf or nan where f is undefined."""
        ...

    def hessian(self, params: Params) -> np.ndarray:
        """The Hessian of f at each row, shape (N, d, d)."""
        ...


@dataclass(frozen=True, slots=True)
class OptState:
    """An optimizer's state; its structure and array shapes never change.

    ``count`` is the number of updates done so far; ``parts`` holds one state per
    part of the optimizer's chain, in chain order (``()`` for stateless parts).
    """

    count: int
    parts: tuple[Any, ...]


@dataclass(frozen=True)
class Optimizer:
    """A named optimizer: ``update(grads, state, params, oracle=None) -> (updates, state)``.

    ``hyperparameters`` holds the resolved values, defaults included, for reports
    (``lr`` is the first update's learning rate when a schedule was given).
    ``schedule`` gives the learning rate of the update after ``count`` updates;
    for ``armijo`` that is the initial trial step of the line search.
    """

    name: str
    hyperparameters: dict[str, float | bool | tuple]
    init: Callable[[Params], OptState]
    update: Callable[..., tuple[Params, OptState]]
    needs_oracle: bool
    schedule: Schedule


def apply_updates(params: Params, updates: Params) -> Params:
    """New parameters ``p + u`` leaf by leaf; the inputs are left untouched."""
    return [p + u for p, u in zip(params, updates, strict=True)]


def learning_rate(opt: Optimizer, state: OptState) -> float:
    """The learning rate the next update will use (for traces)."""
    return float(opt.schedule(state.count))


# ---------------------------------------------------------------------------
# Declared hyperparameters, checked before any work starts


@dataclass(frozen=True)
class Hyperparameter:
    """A declared hyperparameter: its default and the values it allows.

    ``kind`` is ``"real"``, ``"integer"``, ``"flag"`` or ``"pair"`` (two reals, each
    in the range). ``low``/``high`` bound the range (None: unbounded); ``closed``
    says which ends belong to it: ``"both"``, ``"left"``, ``"right"`` or ``"neither"``.
    """

    default: Any
    kind: str = "real"
    low: float | None = None
    high: float | None = None
    closed: str = "both"

    @property
    def allowed(self) -> str:
        """What the value may be, in words: ``a number in [0, 1)``."""
        if self.kind == "flag":
            return "true or false"
        noun = {"real": "a number", "integer": "an integer", "pair": "two numbers each"}[self.kind]
        low_in = self.closed in ("both", "left")
        high_in = self.closed in ("both", "right")
        if self.low is not None and self.high is not None:
            left, right = "[" if low_in else "(", "]" if high_in else ")"
            return f"{noun} in {left}{self.low:g}, {self.high:g}{right}"
        if self.low is not None:
            return f"{noun} {'>=' if low_in else '>'} {self.low:g}"
        if self.high is not None:
            return f"{noun} {'<=' if high_in else '<'} {self.high:g}"
        return f"{noun} (finite)"

    def _fits(self, value: object) -> bool:
        # bool is an int subclass; true/false must not pass for a number.
        if not isinstance(value, numbers.Real) or isinstance(value, bool):
            return False
        x = float(value)
        if not math.isfinite(x) or (self.kind == "integer" and not x.is_integer()):
            return False
        low_in = self.closed in ("both", "left")
        high_in = self.closed in ("both", "right")
        if self.low is not None and (x < self.low or (x == self.low and not low_in)):
            return False
        return not (self.high is not None and (x > self.high or (x == self.high and not high_in)))

    def check(self, value: object) -> tuple[Any, bool]:
        """``(normalized value, ok)``: floats, ints, bools, pairs as tuples of floats."""
        if self.kind == "flag":
            return value, isinstance(value, bool)
        if self.kind == "pair":
            if isinstance(value, (tuple, list)) and len(value) == 2 and all(map(self._fits, value)):
                return tuple(float(v) for v in value), True
            return value, False
        if not (isinstance(value, numbers.Real) and self._fits(value)):
            return value, False
        return (int(float(value)) if self.kind == "integer" else float(value)), True


def _problem(where: str, key: str, spec: Hyperparameter, value: object) -> str:
    return f"{where}: {key} must be {spec.allowed}, got {value!r}"


def _unknown(where: str, key: str, valid: list[str]) -> str:
    near = nearest(key, valid)
    hint = f" (did you mean {near!r}?)" if near else ""
    return f"{where}: unknown parameter {key!r}{hint}; valid: {', '.join(valid)}"


def _checked(where: str, values: Mapping[str, tuple[object, Hyperparameter]]) -> dict[str, Any]:
    """Normalized values, or a ConfigError naming every value out of its range."""
    out: dict[str, Any] = {}
    problems = []
    for key, (value, spec) in values.items():
        out[key], ok = spec.check(value)
        if not ok:
            problems.append(_problem(where, key, spec, value))
    if problems:
        raise ConfigError(*problems)
    return out


# ---------------------------------------------------------------------------
# Learning-rate schedules: plain functions of the step, checked when built

_POSITIVE = Hyperparameter(None, low=0.0, closed="neither")
_NON_NEGATIVE = Hyperparameter(None, low=0.0)
_STEPS = Hyperparameter(None, kind="integer", low=1)
_COUNT = Hyperparameter(None, kind="integer", low=0)


def constant_schedule(lr: float) -> Schedule:
    """``lr`` at every step."""
    lr = _checked("constant schedule", {"lr": (lr, _POSITIVE)})["lr"]
    return lambda t: lr


def step_schedule(lr: float, step_size: int, gamma: float = 0.1) -> Schedule:
    """``lr * gamma**(t // step_size)``, like ``torch.optim.lr_scheduler.StepLR``."""
    a = _checked(
        "step schedule",
        {"lr": (lr, _POSITIVE), "step_size": (step_size, _STEPS), "gamma": (gamma, _POSITIVE)},
    )
    lr, step_size, gamma = a["lr"], a["step_size"], a["gamma"]
    return lambda t: lr * gamma ** (t // step_size)


def exponential_schedule(lr: float, gamma: float) -> Schedule:
    """``lr * gamma**t``, like ``torch.optim.lr_scheduler.ExponentialLR``."""
    a = _checked("exponential schedule", {"lr": (lr, _POSITIVE), "gamma": (gamma, _POSITIVE)})
    lr, gamma = a["lr"], a["gamma"]
    return lambda t: lr * gamma**t


def inverse_time_schedule(lr: float, decay_rate: float, decay_steps: float = 1) -> Schedule:
    """``lr / (1 + decay_rate * t / decay_steps)``."""
    a = _checked(
        "inverse_time schedule",
        {
            "lr": (lr, _POSITIVE),
            "decay_rate": (decay_rate, _NON_NEGATIVE),
            "decay_steps": (decay_steps, _POSITIVE),
        },
    )
    lr, rate = a["lr"], a["decay_rate"] / a["decay_steps"]
    return lambda t: lr / (1.0 + rate * t)


def cosine_schedule(lr: float, total_steps: int, min_lr: float = 0.0) -> Schedule:
    """``min_lr + (lr - min_lr) * (1 + cos(pi * min(t, T) / T)) / 2`` with T = total_steps.

    Like ``torch.optim.lr_scheduler.CosineAnnealingLR`` but held at ``min_lr`` after T.
    """
    a = _checked(
        "cosine schedule",
        {
            "lr": (lr, _POSITIVE),
            "total_steps": (total_steps, _STEPS),
            "min_lr": (min_lr, _NON_NEGATIVE),
        },
    )
    lr, total, low = a["lr"], a["total_steps"], a["min_lr"]
    if low > lr:
        raise ConfigError(f"cosine schedule: min_lr must be <= lr ({lr:g}), got {low!r}")
    return lambda t: low + (lr - low) * (1.0 + math.cos(math.pi * min(t, total) / total)) / 2.0


def warmup_schedule(schedule: Schedule, warmup_steps: int) -> Schedule:
    """``schedule(t) * (t + 1) / K`` for ``t < K = warmup_steps``, then ``schedule(t)``.

    The first update uses 1/K of the schedule's value and update K uses all of it.
    """
    k = _checked("warm-up", {"warmup_steps": (warmup_steps, _STEPS)})["warmup_steps"]
    return lambda t: schedule(t) * (t + 1) / k if t < k else schedule(t)


SCHEDULES: dict[str, Callable[..., Schedule]] = {
    "constant": constant_schedule,
    "step": step_schedule,
    "exponential": exponential_schedule,
    "inverse_time": inverse_time_schedule,
    "cosine": cosine_schedule,
}
"""Schedule name -> builder ``(lr, **kwargs) -> Schedule``."""


def make_schedule(name: str, lr: float, *, warmup_steps: int = 0, **kwargs: Any) -> Schedule:
    """The schedule ``name`` starting from ``lr``, with a linear warm-up over
    ``warmup_steps`` updates when that is positive.

    Raises ConfigError for an unknown name, unknown or missing arguments and
    values out of range.
    """
    build = SCHEDULES.get(name)
    if build is None:
        raise ConfigError(f"unknown schedule {name!r}; valid: {', '.join(SCHEDULES)}")
    where = f"{name} schedule"
    signature = inspect.signature(build).parameters
    valid = [p for p in signature if p != "lr"]
    problems = [
        _unknown(where, key, [*valid, "warmup_steps"]) for key in kwargs if key not in valid
    ]
    problems += [
        f"{where}: missing {p.name}"
        for p in signature.values()
        if p.name != "lr" and p.default is inspect.Parameter.empty and p.name not in kwargs
    ]
    if problems:
        raise ConfigError(*problems)
    schedule = build(lr, **kwargs)
    k = _checked(where, {"warmup_steps": (warmup_steps, _COUNT)})["warmup_steps"]
    return warmup_schedule(schedule, k) if k else schedule


# ---------------------------------------------------------------------------
# Parts: small gradient transformations chained into optimizers

S = TypeVar("S")


@dataclass(frozen=True)
class _Part(Generic[S]):
    """One link of a chain: ``update(g, state, params, count, oracle) -> (g', state')``.

    ``count`` is the number of updates done before this one, shared by all parts.
    """

    init: Callable[[Params], S]
    update: Callable[[Params, S, Params, int, Oracle | None], tuple[Params, S]]


def _no_state(params: Params) -> tuple[()]:
    return ()


def _zeros(params: Params) -> Leaves:
    return tuple(np.zeros_like(p) for p in params)


def _clip(max_norm: float, axis: int | None) -> _Part[tuple[()]]:
    """Scale g down to norm ``max_norm`` where its norm is larger.

    ``axis=None``: one norm over all leaves together; an int: norms along that axis
    of each leaf, so each row of an (N, d) leaf is clipped on its own.
    """

    def update(
        g: Params, state: tuple[()], params: Params, count: int, oracle: Oracle | None
    ) -> tuple[Params, tuple[()]]:
        if axis is None:
            norm = math.sqrt(sum(float(np.vdot(x, x)) for x in g))
            # A nan norm passes g on as it is: its non-finite entries show downstream.
            if not norm > max_norm:
                return g, state
            return [x * (max_norm / norm) for x in g], state
        # max(norm, max_norm) keeps short rows as they are and never divides by zero.
        return [
            x * (max_norm / np.maximum(np.linalg.norm(x, axis=axis, keepdims=True), max_norm))
            for x in g
        ], state

    return _Part(_no_state, update)


def _add_decayed_weights(weight_decay: float) -> _Part[tuple[()]] | None:
    """``g + weight_decay * p``: L2 decay before scaling, decoupled decay after it.

    None when the decay is zero, so that the chain skips it.
    """
    if weight_decay == 0:
        return None

    def update(
        g: Params, state: tuple[()], params: Params, count: int, oracle: Oracle | None
    ) -> tuple[Params, tuple[()]]:
        return [x + weight_decay * p for x, p in zip(g, params, strict=True)], state

    return _Part(_no_state, update)


def _axpy(a: float, x: np.ndarray, c: float, y: np.ndarray) -> np.ndarray:
    """``a*x + c*y`` as one new array (in place on it: one allocation fewer per leaf,
    the same numbers; ``c*y`` is skipped when c is 1, where it is exact anyway)."""
    out = a * x
    out += y if c == 1.0 else c * y
    return out


class TraceState(NamedTuple):
    """Momentum buffers b, one per leaf."""

    b: Leaves


def _trace(momentum: float, dampening: float, nesterov: bool) -> _Part[TraceState]:
    """torch's momentum buffer: ``b = mu*b + (1 - dampening)*g``, ``b = g`` at the
    first update; passes on ``b``, or ``g + mu*b`` for Nesterov."""

    def update(
        g: Params, state: TraceState, params: Params, count: int, oracle: Oracle | None
    ) -> tuple[Params, TraceState]:
        # b starts at zero, so undamped at the first update b = g exactly, as in torch.
        keep = 1.0 if count == 0 else 1.0 - dampening
        b = tuple(_axpy(momentum, bi, keep, x) for bi, x in zip(state.b, g, strict=True))
        out = [x + momentum * bi for x, bi in zip(g, b, strict=True)] if nesterov else list(b)
        return out, TraceState(b)

    return _Part(lambda params: TraceState(_zeros(params)), update)


class AdagradState(NamedTuple):
    """Sums of squared gradients s, one per leaf."""

    s: Leaves


def _scale_by_adagrad(eps: float, initial_accumulator_value: float) -> _Part[AdagradState]:
    """``s += g^2``; passes on ``g / (sqrt(s) + eps)``."""

    def init(params: Params) -> AdagradState:
        return AdagradState(tuple(np.full_like(p, initial_accumulator_value) for p in params))

    def update(
        g: Params, state: AdagradState, params: Params, count: int, oracle: Oracle | None
    ) -> tuple[Params, AdagradState]:
        s = tuple(si + x * x for si, x in zip(state.s, g, strict=True))
        return [x / (np.sqrt(si) + eps) for x, si in zip(g, s, strict=True)], AdagradState(s)

    return _Part(init, update)


class RmsState(NamedTuple):
    """Running means of g^2 (sq) and, when centered, of g (mean; else empty)."""

    sq: Leaves
    mean: Leaves


def _scale_by_rms(alpha: float, eps: float, centered: bool) -> _Part[RmsState]:
    """torch RMSprop's scaling: ``sq = alpha*sq + (1-alpha)*g^2``; centered:
    ``mean = alpha*mean + (1-alpha)*g``, ``avg = sqrt(sq - mean^2) + eps``, else
    ``avg = sqrt(sq) + eps``; passes on ``g / avg``."""

    def init(params: Params) -> RmsState:
        return RmsState(_zeros(params), _zeros(params) if centered else ())

    def update(
        g: Params, state: RmsState, params: Params, count: int, oracle: Oracle | None
    ) -> tuple[Params, RmsState]:
        sq = tuple(alpha * s + (1.0 - alpha) * (x * x) for s, x in zip(state.sq, g, strict=True))
        if not centered:
            return [x / (np.sqrt(s) + eps) for x, s in zip(g, sq, strict=True)], RmsState(sq, ())
        mean = tuple(alpha * m + (1.0 - alpha) * x for m, x in zip(state.mean, g, strict=True))
        # sq >= mean^2 in exact arithmetic; rounding can push the difference below
        # zero once the gradient has been constant for long, where torch gives nan.
        out = [
            x / (np.sqrt(np.maximum(s - m * m, 0.0)) + eps)
            for x, s, m in zip(g, sq, mean, strict=True)
        ]
        return out, RmsState(sq, mean)

    return _Part(init, update)


class AdamState(NamedTuple):
    """Adam's moments m and v, and the running max of v for AMSGrad (else empty)."""

    m: Leaves
    v: Leaves
    v_max: Leaves


def _scale_by_adam(b1: float, b2: float, eps: float, amsgrad: bool) -> _Part[AdamState]:
    """torch Adam's scaling at update t = count + 1: ``m = b1*m + (1-b1)*g``,
    ``v = b2*v + (1-b2)*g^2`` (AMSGrad: v_max = max(v_max, v), used for v below),
    ``denom = sqrt(v)/sqrt(1 - b2^t) + eps``; passes on ``m / ((1 - b1^t) * denom)``."""

    def init(params: Params) -> AdamState:
        return AdamState(_zeros(params), _zeros(params), _zeros(params) if amsgrad else ())

    def update(
        g: Params, state: AdamState, params: Params, count: int, oracle: Oracle | None
    ) -> tuple[Params, AdamState]:
        t = count + 1
        bc1 = 1.0 - b1**t
        root_bc2 = math.sqrt(1.0 - b2**t)
        m, v, v_max, out = [], [], [], []
        for i, (x, mi, vi) in enumerate(zip(g, state.m, state.v, strict=True)):
            mi = b1 * mi + (1.0 - b1) * x
            vi = b2 * vi + (1.0 - b2) * (x * x)
            m.append(mi)
            v.append(vi)
            if amsgrad:
                vi = np.maximum(state.v_max[i], vi)
                v_max.append(vi)
            # the steps of the formula, in place on the one new array
            denom = np.sqrt(vi)
            denom /= root_bc2
            denom += eps
            denom *= bc1
            out.append(mi / denom)
        return out, AdamState(tuple(m), tuple(v), tuple(v_max))

    return _Part(init, update)


def _scale_by_lr(schedule: Schedule) -> _Part[tuple[()]]:
    """``-lr * g`` with ``lr = schedule(count)``: the step against the direction."""

    def update(
        g: Params, state: tuple[()], params: Params, count: int, oracle: Oracle | None
    ) -> tuple[Params, tuple[()]]:
        lr = schedule(count)
        return [-lr * x for x in g], state

    return _Part(_no_state, update)


def _one_leaf(name: str, params: Params, oracle: Oracle | None) -> tuple[np.ndarray, Oracle]:
    if len(params) != 1 or params[0].ndim != 2:
        shapes = [p.shape for p in params]
        raise ValueError(f"{name} needs params = [X] with X of shape (N, d), got shapes {shapes}")
    if oracle is None:
        raise ValueError(f"{name} needs an oracle")
    return params[0], oracle


def _solve_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """x with ``a[i] @ x[i] = b[i]`` for a (N, d, d), b (N, d); the least-squares
    minimum-norm x (pinv) for singular rows, nan for rows with non-finite entries."""
    try:
        return np.linalg.solve(a, b[..., None])[..., 0]
    except np.linalg.LinAlgError:
        pass
    # LAPACK stops at the first exactly singular matrix; split the rows and redo.
    x = np.full_like(b, np.nan)
    finite = np.isfinite(a).all(axis=(1, 2))
    sign = np.zeros(len(a))
    sign[finite] = np.linalg.slogdet(a[finite])[0]
    regular, singular = finite & (sign != 0), finite & (sign == 0)
    x[regular] = np.linalg.solve(a[regular], b[regular, :, None])[..., 0]
    x[singular] = (np.linalg.pinv(a[singular]) @ b[singular, :, None])[..., 0]
    return x


def _newton_direction(damping: float) -> _Part[tuple[()]]:
    """``solve(H + damping*I, g)`` per row of the single (N, d) leaf, with H from
    ``oracle.hessian`` (N, d, d)."""

    def update(
        g: Params, state: tuple[()], params: Params, count: int, oracle: Oracle | None
    ) -> tuple[Params, tuple[()]]:
        x, oracle = _one_leaf("newton", params, oracle)
        h = np.asarray(oracle.hessian(params))
        if damping:
            h = h + damping * np.eye(x.shape[1])
        return [_solve_rows(h, g[0])], state

    return _Part(_no_state, update)


def _armijo_step(
    schedule: Schedule, c1: float, shrink: float, max_backtracks: int
) -> _Part[tuple[()]]:
    """``-t * g`` per row with the largest ``t = lr * shrink^k`` (k <= max_backtracks)
    such that ``f(x - t*g) <= f(x) - c1 * t * |g|^2``; the last t when none does.

    All rows backtrack together; a row leaves the loop when its condition holds.
    """

    def update(
        g: Params, state: tuple[()], params: Params, count: int, oracle: Oracle | None
    ) -> tuple[Params, tuple[()]]:
        x, oracle = _one_leaf("armijo", params, oracle)
        d = g[0]
        f0 = np.asarray(oracle.value(params))
        decrease = c1 * np.einsum("ij,ij->i", d, d)
        t = np.full(len(x), schedule(count), dtype=x.dtype)
        rows = np.arange(len(x))
        for k in range(max_backtracks + 1):
            tr = t[rows]
            f = np.asarray(oracle.value([x[rows] - tr[:, None] * d[rows]]))
            # nan compares False, so an undefined trial value fails the test.
            rows = rows[~(f <= f0[rows] - tr * decrease[rows])]
            if rows.size == 0 or k == max_backtracks:
                break
            t[rows] *= shrink
        return [-t[:, None] * d], state

    return _Part(_no_state, update)


# ---------------------------------------------------------------------------
# Named optimizers: each a chain of parts


class Recipe(NamedTuple):
    """What a builder returns: the chain of parts after clipping, and the learning
    rate each update uses (for ``learning_rate``)."""

    schedule: Schedule
    parts: tuple[_Part[Any], ...]


def _chain(schedule: Schedule, *parts: _Part[Any] | None) -> Recipe:
    return Recipe(schedule, tuple(p for p in parts if p is not None))


def _gd(*, lr: Schedule, weight_decay: float) -> Recipe:
    """Steepest descent (torch.optim.SGD).

    g += weight_decay*p; p -= lr*g
    """
    return _chain(lr, _add_decayed_weights(weight_decay), _scale_by_lr(lr))


def _momentum(*, lr: Schedule, momentum: float, dampening: float, weight_decay: float) -> Recipe:
    """Heavy-ball momentum (torch.optim.SGD with momentum).

    g += weight_decay*p; b = momentum*b + (1 - dampening)*g (b = g at the first
    update); p -= lr*b
    """
    return _chain(
        lr,
        _add_decayed_weights(weight_decay),
        _trace(momentum, dampening, nesterov=False),
        _scale_by_lr(lr),
    )


def _nesterov(*, lr: Schedule, momentum: float, weight_decay: float) -> Recipe:
    """Nesterov momentum (torch.optim.SGD with nesterov=True).

    g += weight_decay*p; b = momentum*b + g (b = g at the first update);
    p -= lr*(g + momentum*b)
    """
    return _chain(
        lr,
        _add_decayed_weights(weight_decay),
        _trace(momentum, 0.0, nesterov=True),
        _scale_by_lr(lr),
    )


def _adagrad(
    *,
    lr: Schedule,
    lr_decay: float,
    eps: float,
    initial_accumulator_value: float,
    weight_decay: float,
) -> Recipe:
    """Adagrad (torch.optim.Adagrad).

    At update t = 1, 2, ...: g += weight_decay*p; clr = lr/(1 + (t - 1)*lr_decay);
    s += g^2 (s starts at initial_accumulator_value); p -= clr*g/(sqrt(s) + eps)
    """
    # lr_decay is a schedule on top of lr (count = t - 1), so traces report clr.
    decayed = (lambda c: lr(c) / (1.0 + c * lr_decay)) if lr_decay else lr
    return _chain(
        decayed,
        _add_decayed_weights(weight_decay),
        _scale_by_adagrad(eps, initial_accumulator_value),
        _scale_by_lr(decayed),
    )


def _rmsprop(
    *,
    lr: Schedule,
    alpha: float,
    eps: float,
    momentum: float,
    centered: bool,
    weight_decay: float,
) -> Recipe:
    """RMSprop (torch.optim.RMSprop).

    g += weight_decay*p; sq = alpha*sq + (1 - alpha)*g^2;
    centered: mean = alpha*mean + (1 - alpha)*g, avg = sqrt(sq - mean^2) + eps,
    else avg = sqrt(sq) + eps;
    momentum > 0: b = momentum*b + g/avg, p -= lr*b; else p -= lr*g/avg
    """
    return _chain(
        lr,
        _add_decayed_weights(weight_decay),
        _scale_by_rms(alpha, eps, centered),
        _trace(momentum, 0.0, nesterov=False) if momentum else None,
        _scale_by_lr(lr),
    )


def _adam(
    *,
    lr: Schedule,
    betas: tuple[float, float],
    eps: float,
    weight_decay: float,
    amsgrad: bool,
) -> Recipe:
    """Adam (torch.optim.Adam, L2 weight decay; AMSGrad with amsgrad=true).

    At update t = 1, 2, ...: g += weight_decay*p; m = b1*m + (1 - b1)*g;
    v = b2*v + (1 - b2)*g^2 (amsgrad: v_max = max(v_max, v) replaces v below);
    denom = sqrt(v)/sqrt(1 - b2^t) + eps; p -= lr/(1 - b1^t) * m/denom
    """
    return _chain(
        lr,
        _add_decayed_weights(weight_decay),
        _scale_by_adam(*betas, eps, amsgrad),
        _scale_by_lr(lr),
    )


def _adamw(
    *,
    lr: Schedule,
    betas: tuple[float, float],
    eps: float,
    weight_decay: float,
    amsgrad: bool,
) -> Recipe:
    """AdamW (torch.optim.AdamW, decoupled weight decay).

    p *= 1 - lr*weight_decay, then Adam's step without L2 decay; as one update:
    p -= lr*(m/((1 - b1^t)*denom) + weight_decay*p)
    """
    return _chain(
        lr,
        _scale_by_adam(*betas, eps, amsgrad),
        _add_decayed_weights(weight_decay),
        _scale_by_lr(lr),
    )


def _newton(*, lr: Schedule, damping: float) -> Recipe:
    """Damped Newton's method (analytic functions only).

    Per row of the one (N, d) leaf, with H from the oracle:
    p -= lr * solve(H + damping*I, g), the pseudo-inverse where that matrix is singular
    """
    return _chain(lr, _newton_direction(damping), _scale_by_lr(lr))


def _armijo(*, lr: Schedule, c1: float, shrink: float, max_backtracks: int) -> Recipe:
    """Steepest descent with Armijo backtracking (analytic functions only).

    Per row of the one (N, d) leaf: p -= t*g with the largest t = lr*shrink^k,
    k = 0..max_backtracks, such that f(p - t*g) <= f(p) - c1*t*|g|^2 (the last t
    when none does)
    """
    return _chain(lr, _armijo_step(lr, c1, shrink, max_backtracks))


@dataclass(frozen=True)
class OptimizerInfo:
    """A registry entry: the builder (keyword arguments ``lr`` as a schedule and every
    declared hyperparameter, resolved), a one-line description and the declared
    hyperparameters with their defaults and ranges."""

    build: Callable[..., Recipe]
    hyperparameters: Mapping[str, Hyperparameter]
    needs_oracle: bool = False

    @property
    def description(self) -> str:
        """The first line of the builder's docstring."""
        return (inspect.getdoc(self.build) or "").split("\n")[0]


def _lr(default: float) -> Hyperparameter:
    return Hyperparameter(default, low=0.0, closed="neither")


def _unit(default: Any, kind: str = "real") -> Hyperparameter:
    return Hyperparameter(default, kind=kind, low=0.0, high=1.0, closed="left")


_DECAY = Hyperparameter(0.0, low=0.0)
_EPS_ADAM = Hyperparameter(1e-8, low=0.0, closed="neither")
_BETAS = _unit((0.9, 0.999), kind="pair")

OPTIMIZERS: dict[str, OptimizerInfo] = {
    "gd": OptimizerInfo(_gd, {"lr": _lr(0.01), "weight_decay": _DECAY}),
    "momentum": OptimizerInfo(
        _momentum,
        {
            "lr": _lr(0.01),
            "momentum": _unit(0.9),
            "dampening": Hyperparameter(0.0, low=0.0, high=1.0),
            "weight_decay": _DECAY,
        },
    ),
    "nesterov": OptimizerInfo(
        _nesterov,
        {
            "lr": _lr(0.01),
            # torch rejects Nesterov without momentum.
            "momentum": Hyperparameter(0.9, low=0.0, high=1.0, closed="neither"),
            "weight_decay": _DECAY,
        },
    ),
    "adagrad": OptimizerInfo(
        _adagrad,
        {
            "lr": _lr(0.01),
            "lr_decay": Hyperparameter(0.0, low=0.0),
            "eps": Hyperparameter(1e-10, low=0.0, closed="neither"),
            "initial_accumulator_value": Hyperparameter(0.0, low=0.0),
            "weight_decay": _DECAY,
        },
    ),
    "rmsprop": OptimizerInfo(
        _rmsprop,
        {
            "lr": _lr(0.01),
            "alpha": _unit(0.99),
            "eps": _EPS_ADAM,
            "momentum": _unit(0.0),
            "centered": Hyperparameter(False, kind="flag"),
            "weight_decay": _DECAY,
        },
    ),
    "adam": OptimizerInfo(
        _adam,
        {
            "lr": _lr(0.001),
            "betas": _BETAS,
            "eps": _EPS_ADAM,
            "weight_decay": _DECAY,
            "amsgrad": Hyperparameter(False, kind="flag"),
        },
    ),
    "adamw": OptimizerInfo(
        _adamw,
        {
            "lr": _lr(0.001),
            "betas": _BETAS,
            "eps": _EPS_ADAM,
            "weight_decay": Hyperparameter(0.01, low=0.0),
            "amsgrad": Hyperparameter(False, kind="flag"),
        },
    ),
    "newton": OptimizerInfo(
        _newton,
        {"lr": _lr(1.0), "damping": Hyperparameter(0.0, low=0.0)},
        needs_oracle=True,
    ),
    "armijo": OptimizerInfo(
        _armijo,
        {
            "lr": _lr(1.0),
            "c1": Hyperparameter(1e-4, low=0.0, high=1.0, closed="neither"),
            "shrink": Hyperparameter(0.5, low=0.0, high=1.0, closed="neither"),
            "max_backtracks": Hyperparameter(50, kind="integer", low=0),
        },
        needs_oracle=True,
    ),
}
"""Optimizer name -> builder, description and declared hyperparameters."""


def _info(name: str) -> OptimizerInfo:
    info = OPTIMIZERS.get(name)
    if info is None:
        raise ConfigError(f"unknown optimizer {name!r}; valid: {', '.join(OPTIMIZERS)}")
    return info


def optimizer_defaults(name: str) -> dict[str, Any]:
    """Every hyperparameter of optimizer ``name`` with its default, lr included."""
    return {key: spec.default for key, spec in _info(name).hyperparameters.items()}


_CLIP_NORM = Hyperparameter(None, low=0.0, closed="neither")


def make_optimizer(
    name: str,
    *,
    lr: float | Schedule | None = None,
    clip_norm: float | None = None,
    clip_axis: int | None = None,
    **hyper: Any,
) -> Optimizer:
    """The optimizer ``name`` with checked hyperparameters (defaults for the rest).

    ``lr`` is a number or a schedule (default: the optimizer's). ``clip_norm`` clips
    the raw gradient before everything else: over all leaves together when
    ``clip_axis`` is None, else along ``clip_axis`` of each leaf (``-1``: each row of
    an (N, d) leaf on its own); ``clip_axis`` alone does nothing.

    Raises ConfigError naming every unknown name and every value out of its range.
    """
    info = _info(name)
    where = f"optimizer {name}"
    specs = info.hyperparameters
    problems = [_unknown(where, key, list(specs)) for key in hyper if key not in specs]
    if lr is None:
        lr = specs["lr"].default
    # A schedule is checked when built; here only its first value is.
    checks = {"lr": (lr(0) if callable(lr) else lr, specs["lr"])}
    checks |= {k: (hyper.get(k, s.default), s) for k, s in specs.items() if k != "lr"}
    if clip_norm is not None:
        checks["clip_norm"] = (clip_norm, _CLIP_NORM)
    if clip_axis is not None and (not isinstance(clip_axis, int) or isinstance(clip_axis, bool)):
        problems.append(f"{where}: clip_axis must be an integer axis or null, got {clip_axis!r}")
    try:
        resolved = _checked(where, checks)
    except ConfigError as error:
        problems += [str(p) for p in error.problems]
    if problems:
        raise ConfigError(*problems)

    schedule = lr if callable(lr) else constant_schedule(resolved["lr"])
    recipe = info.build(lr=schedule, **{key: resolved[key] for key in specs if key != "lr"})
    parts = recipe.parts
    if clip_norm is not None:
        parts = (_clip(resolved["clip_norm"], clip_axis), *parts)
        if clip_axis is not None:
            resolved["clip_axis"] = clip_axis
    init, update = _assemble(parts)
    return Optimizer(name, resolved, init, update, info.needs_oracle, recipe.schedule)


def _assemble(
    parts: tuple[_Part[Any], ...],
) -> tuple[Callable[[Params], OptState], Callable[..., tuple[Params, OptState]]]:
    """``init`` and ``update`` of a chain; ``count`` is kept once, at the top."""

    def init(params: Params) -> OptState:
        """The state before the first update."""
        return OptState(0, tuple(part.init(params) for part in parts))

    def update(
        grads: Params, state: OptState, params: Params, oracle: Oracle | None = None
    ) -> tuple[Params, OptState]:
        """``(updates, new_state)``; add the updates to ``params`` to take the step."""
        g, count = grads, state.count
        states = []
        for part, s in zip(parts, state.parts, strict=True):
            g, s = part.update(g, s, params, count, oracle)
            states.append(s)
        return g, OptState(count + 1, tuple(states))

    return init, update
