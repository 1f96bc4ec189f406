"""The named optimizers, each a chain of transforms whose signature declares its
hyperparameters and their defaults (``torch.optim``'s names, defaults and update
rules). The first line of each docstring is the optimizer's description; the rest
is its update rule."""

from __future__ import annotations

from collections.abc import Callable

from gdcli.optim.base import Schedule
from gdcli.optim.combine import Chain, chain
from gdcli.optim.schedules import constant_schedule
from gdcli.optim.transforms import (
    add_decayed_weights,
    armijo_step,
    newton_direction,
    scale_by_adagrad,
    scale_by_adam,
    scale_by_lr,
    scale_by_rms,
    trace,
)

LearningRate = float | Schedule
"""A learning rate: a number, or a schedule of the number of updates done."""


def as_schedule(lr: LearningRate) -> Schedule:
    """``lr`` as a schedule: itself if it is one, else the constant schedule."""
    return lr if callable(lr) else constant_schedule(lr)


def gd(*, lr: LearningRate = 0.01, weight_decay: float = 0.0) -> Chain:
    """Steepest descent (torch.optim.SGD).

    g += weight_decay*p; p -= lr*g
    """
    s = as_schedule(lr)
    return chain(s, add_decayed_weights(weight_decay), scale_by_lr(s))


def momentum(
    *,
    lr: LearningRate = 0.01,
    momentum: float = 0.9,
    dampening: float = 0.0,
    weight_decay: float = 0.0,
) -> Chain:
    """Heavy-ball momentum (torch.optim.SGD with momentum).

    g += weight_decay*p; b = momentum*b + (1 - dampening)*g (b = g at the first
    update); p -= lr*b
    """
    s = as_schedule(lr)
    decay, trace_ = add_decayed_weights(weight_decay), trace(momentum, dampening, nesterov=False)
    return chain(s, decay, trace_, scale_by_lr(s))


def nesterov(*, lr: LearningRate = 0.01, momentum: float = 0.9, weight_decay: float = 0.0) -> Chain:
    """Nesterov momentum (torch.optim.SGD with nesterov=True).

    g += weight_decay*p; b = momentum*b + g (b = g at the first update);
    p -= lr*(g + momentum*b)
    """
    s = as_schedule(lr)
    decay, trace_ = add_decayed_weights(weight_decay), trace(momentum, 0.0, nesterov=True)
    return chain(s, decay, trace_, scale_by_lr(s))


def adagrad(
    *,
    lr: LearningRate = 0.01,
    lr_decay: float = 0.0,
    eps: float = 1e-10,
    initial_accumulator_value: float = 0.0,
    weight_decay: float = 0.0,
) -> Chain:
    """Adagrad (torch.optim.Adagrad).

    At update t = 1, 2, ...: g += weight_decay*p; clr = lr/(1 + (t - 1)*lr_decay);
    s += g^2 (s starts at initial_accumulator_value); p -= clr*g/(sqrt(s) + eps)
    """
    s = as_schedule(lr)
    # lr_decay is a schedule on top of lr (count = t - 1), so traces report clr.
    decayed = (lambda c: s(c) / (1.0 + c * lr_decay)) if lr_decay else s
    scale = scale_by_adagrad(eps, initial_accumulator_value)
    return chain(decayed, add_decayed_weights(weight_decay), scale, scale_by_lr(decayed))


def rmsprop(
    *,
    lr: LearningRate = 0.01,
    alpha: float = 0.99,
    eps: float = 1e-8,
    momentum: float = 0.0,
    centered: bool = False,
    weight_decay: float = 0.0,
) -> Chain:
    """RMSprop (torch.optim.RMSprop).

    g += weight_decay*p; sq = alpha*sq + (1 - alpha)*g^2;
    centered: mean = alpha*mean + (1 - alpha)*g, avg = sqrt(sq - mean^2) + eps,
    else avg = sqrt(sq) + eps;
    momentum > 0: b = momentum*b + g/avg, p -= lr*b; else p -= lr*g/avg
    """
    s = as_schedule(lr)
    trace_ = trace(momentum, 0.0, nesterov=False) if momentum else None
    decay, scale = add_decayed_weights(weight_decay), scale_by_rms(alpha, eps, centered)
    return chain(s, decay, scale, trace_, scale_by_lr(s))


def _adam(decoupled: bool, weight_decay_default: float) -> Callable[..., Chain]:
    """Adam, its weight decay added to the gradient before the scaling (L2, torch's
    Adam) or applied after it (decoupled, torch's AdamW): that is all that differs."""

    def build(
        *,
        lr: LearningRate = 0.001,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = weight_decay_default,
        amsgrad: bool = False,
    ) -> Chain:
        s = as_schedule(lr)
        decay, scale = add_decayed_weights(weight_decay), scale_by_adam(*betas, eps, amsgrad)
        return chain(s, *((scale, decay) if decoupled else (decay, scale)), scale_by_lr(s))

    return build


adam = _adam(decoupled=False, weight_decay_default=0.0)
adam.__name__ = adam.__qualname__ = "adam"
adam.__doc__ = """Adam (torch.optim.Adam, L2 weight decay; AMSGrad with amsgrad=true).

    At update t = 1, 2, ...: g += weight_decay*p; m = b1*m + (1 - b1)*g;
    v = b2*v + (1 - b2)*g^2 (amsgrad: v_max = max(v_max, v) replaces v below);
    denom = sqrt(v)/sqrt(1 - b2^t) + eps; p -= lr/(1 - b1^t) * m/denom
    """

adamw = _adam(decoupled=True, weight_decay_default=0.01)
adamw.__name__ = adamw.__qualname__ = "adamw"
adamw.__doc__ = """AdamW (torch.optim.AdamW, decoupled weight decay).

    p *= 1 - lr*weight_decay, then Adam's step without L2 decay; as one update:
    p -= lr*(m/((1 - b1^t)*denom) + weight_decay*p)
    """


def newton(*, lr: LearningRate = 1.0, damping: float = 0.0) -> Chain:
    """Damped Newton's method (analytic functions only).

    Per row of the one (N, d) leaf, with H from the oracle:
    p -= lr * solve(H + damping*I, g), the pseudo-inverse where that matrix is singular
    """
    s = as_schedule(lr)
    return chain(s, newton_direction(damping), scale_by_lr(s))


def armijo(
    *, lr: LearningRate = 1.0, c1: float = 1e-4, shrink: float = 0.5, max_backtracks: int = 50
) -> Chain:
    """Steepest descent with Armijo backtracking (analytic functions only).

    Per row of the one (N, d) leaf: p -= t*g with the largest t = lr*shrink^k,
    k = 0..max_backtracks, such that f(p - t*g) <= f(p) - c1*t*|g|^2 (the last t
    when none does)
    """
    s = as_schedule(lr)
    return chain(s, armijo_step(s, c1, shrink, max_backtracks))
