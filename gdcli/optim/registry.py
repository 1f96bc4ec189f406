"""The registry of optimizers: each named optimizer with its hyperparameters, their
defaults (from the alias's signature), ranges and meanings, and ``make_optimizer``,
which checks them all before any work starts. The config models, the JSON Schema,
the README reference and the error messages read this one table."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from gdcli.errors import ConfigError
from gdcli.optim import alias
from gdcli.optim.base import Optimizer, Schedule
from gdcli.optim.combine import Chain, assemble, assemble_into
from gdcli.optim.hyperparams import Hyperparameter, checked, declared, unknown
from gdcli.optim.schedules import constant_schedule
from gdcli.optim.transforms import clip


@dataclass(frozen=True)
class OptimizerInfo:
    """A registry entry: the alias (keyword arguments ``lr`` and every declared
    hyperparameter), its declared hyperparameters and whether it needs an oracle."""

    build: Callable[..., Chain]
    hyperparameters: Mapping[str, Hyperparameter]
    needs_oracle: bool = False
    keras: str = ""  # where Keras 3's optimizer of that name differs; "" when none exists

    @property
    def update_rule(self) -> str:
        """The update rule as gdcli computes it: the alias's docstring after its first line."""
        doc = (inspect.getdoc(self.build) or "").split("\n\n", 1)
        return " ".join(doc[1].split()) if len(doc) > 1 else ""

    @property
    def description(self) -> str:
        """The first line of the alias's docstring."""
        return (inspect.getdoc(self.build) or "").split("\n")[0]


def _entry(
    build: Callable[..., Chain],
    needs_oracle: bool = False,
    keras: str = "",
    **ranges: Hyperparameter,
) -> OptimizerInfo:
    """The entry of ``build``: a parameter that ``ranges`` does not declare takes the
    range and meaning that its name has across optimizers (``SHARED``)."""
    names = inspect.signature(build).parameters
    shared = {name: SHARED[name] for name in names if name in SHARED and name not in ranges}
    return OptimizerInfo(build, declared(build, shared | ranges), needs_oracle, keras)


def _real(low: float, high: float | None, closed: str, meaning: str) -> Hyperparameter:
    return Hyperparameter(low=low, high=high, closed=closed, meaning=meaning)


def _flag(meaning: str) -> Hyperparameter:
    return Hyperparameter(kind="flag", meaning=meaning)


LR = _real(0.0, None, "neither", "learning rate (step size)")
WEIGHT_DECAY = _real(0.0, None, "both", "L2 penalty added to the gradient (adamw: decoupled decay)")
MOMENTUM = _real(0.0, 1.0, "left", "momentum factor")
EPS = _real(0.0, None, "neither", "added to the denominator for numerical stability")
BETAS = Hyperparameter(
    kind="pair",
    low=0.0,
    high=1.0,
    closed="left",
    meaning="decay rates of the first and second moment estimates",
)
AMSGRAD = _flag("use the running maximum of the second moment (AMSGrad)")

SHARED: dict[str, Hyperparameter] = {
    "lr": LR,
    "weight_decay": WEIGHT_DECAY,
    "momentum": MOMENTUM,
    "eps": EPS,
    "betas": BETAS,
    "amsgrad": AMSGRAD,
}
"""Hyperparameters that mean the same in every optimizer that takes them."""

# Where Keras 3 (keras.optimizers) differs from torch.optim, which gdcli follows.
_KERAS_DECAY = "weight_decay is decoupled there (p -= lr*weight_decay*p), not added to g"
_KERAS_VELOCITY = (
    "v = momentum*v - lr*g, p += {step}: the same steps at a constant lr, but v keeps "
    "the lr of past steps when a schedule changes it; no dampening; " + _KERAS_DECAY
)

OPTIMIZERS: dict[str, OptimizerInfo] = {
    "gd": _entry(alias.gd, keras="SGD: the same step; " + _KERAS_DECAY),
    "momentum": _entry(
        alias.momentum,
        keras="SGD(momentum=0.9): " + _KERAS_VELOCITY.format(step="v"),
        dampening=_real(0.0, 1.0, "both", "dampening of the momentum"),
    ),
    # torch rejects Nesterov without momentum.
    "nesterov": _entry(
        alias.nesterov,
        keras="SGD(nesterov=True): " + _KERAS_VELOCITY.format(step="momentum*v - lr*g"),
        momentum=_real(0.0, 1.0, "neither", "momentum factor"),
    ),
    "adagrad": _entry(
        alias.adagrad,
        keras="Adagrad: initial_accumulator_value 0.1 (torch 0), epsilon 1e-7 (torch 1e-10) "
        "inside the root, p -= lr*g/sqrt(s + eps); lr 0.001; no lr_decay",
        lr_decay=_real(0.0, None, "both", "learning-rate decay per update"),
        initial_accumulator_value=_real(
            0.0, None, "both", "starting value of the sum of squared gradients"
        ),
    ),
    "rmsprop": _entry(
        alias.rmsprop,
        keras="RMSprop: rho 0.9 for torch's alpha 0.99, epsilon 1e-7 (torch 1e-8) inside "
        "the root, sqrt(sq + eps); lr 0.001 (torch 0.01); momentum scales lr*g/avg into v",
        alpha=_real(0.0, 1.0, "left", "smoothing constant of the squared-gradient average"),
        centered=_flag("normalize by the estimated gradient variance"),
    ),
    "adam": _entry(
        alias.adam,
        keras="Adam: epsilon 1e-7 (torch 1e-8), added before the bias correction: "
        "p -= lr*sqrt(1 - b2^t)/(1 - b1^t) * m/(sqrt(v) + eps); " + _KERAS_DECAY,
    ),
    "adamw": _entry(
        alias.adamw,
        keras="AdamW: weight_decay 0.004 (torch 0.01), epsilon 1e-7 before the bias "
        "correction, as Keras' Adam",
    ),
    "newton": _entry(
        alias.newton,
        needs_oracle=True,
        keras="not in Keras or torch.optim: it needs the Hessian of an analytic function",
        damping=_real(
            0.0, None, "both", "added to the Hessian's diagonal (Levenberg-style damping)"
        ),
    ),
    "armijo": _entry(
        alias.armijo,
        needs_oracle=True,
        keras="not in Keras or torch.optim: each step evaluates the function again",
        c1=_real(0.0, 1.0, "neither", "sufficient-decrease constant of the Armijo condition"),
        shrink=_real(0.0, 1.0, "neither", "factor applied to the step at each backtrack"),
        max_backtracks=Hyperparameter(
            kind="integer", low=0, meaning="largest number of backtracks per step"
        ),
    ),
}
"""Optimizer name -> alias, declared hyperparameters and whether it needs an oracle."""

CLIP_NORM = _real(0.0, None, "neither", "clip the gradient to this norm before the update")


def _info(name: str) -> OptimizerInfo:
    info = OPTIMIZERS.get(name)
    if info is None:
        raise ConfigError(f"unknown optimizer {name!r}; valid: {', '.join(OPTIMIZERS)}")
    return info


def optimizer_defaults(name: str) -> dict[str, Any]:
    """Every hyperparameter of optimizer ``name`` with its default, lr included."""
    return {key: spec.default for key, spec in _info(name).hyperparameters.items()}


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
    problems = [unknown(where, key, list(specs)) for key in hyper if key not in specs]
    if lr is None:
        lr = specs["lr"].default
    # A schedule is checked when built; here only its first value is.
    checks = {"lr": (lr(0) if callable(lr) else lr, specs["lr"])}
    checks |= {k: (hyper.get(k, s.default), s) for k, s in specs.items() if k != "lr"}
    if clip_norm is not None:
        checks["clip_norm"] = (clip_norm, CLIP_NORM)
    if clip_axis is not None and (not isinstance(clip_axis, int) or isinstance(clip_axis, bool)):
        problems.append(f"{where}: clip_axis must be an integer axis or null, got {clip_axis!r}")
    try:
        resolved = checked(where, checks)
    except ConfigError as error:
        problems += [str(p) for p in error.problems]
    if problems:
        raise ConfigError(*problems)

    schedule = lr if callable(lr) else constant_schedule(resolved["lr"])
    recipe = info.build(lr=schedule, **{key: resolved[key] for key in specs if key != "lr"})
    parts = recipe.parts
    if clip_norm is not None:
        parts = (clip(resolved["clip_norm"], clip_axis), *parts)
        if clip_axis is not None:
            resolved["clip_axis"] = clip_axis
    init, update = assemble(parts)
    into = assemble_into(parts)
    return Optimizer(name, resolved, init, update, info.needs_oracle, recipe.schedule, into)
