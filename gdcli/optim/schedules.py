"""Learning-rate schedules: plain functions of the step, checked when built, and the
registry of schedules with their parameters, ranges and meanings.

Every schedule starts from the optimizer's ``lr`` and gives the learning rate of the
update after ``t`` updates. The registry (``SCHEDULES``) is the one place a
schedule's parameters are declared: ``make_schedule``, the config models, the JSON
Schema and the README reference read it.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from gdcli.errors import ConfigError
from gdcli.optim.base import Schedule
from gdcli.optim.hyperparams import Hyperparameter, checked, declared, unknown

_LR = Hyperparameter(low=0.0, closed="neither", meaning="the learning rate to start from")
WARMUP = Hyperparameter(0, kind="integer", low=0, meaning="linear warm-up over this many updates")


def _check(name: str, **values: Any) -> dict[str, Any]:
    """``values`` normalized against the registry's declaration of schedule ``name``."""
    specs = {"lr": _LR, **SCHEDULES[name].parameters}
    return checked(f"{name} schedule", {k: (v, specs[k]) for k, v in values.items()})


def constant_schedule(lr: float) -> Schedule:
    """``lr`` at every step."""
    lr = _check("constant", lr=lr)["lr"]
    return lambda t: lr


def step_schedule(lr: float, step_size: int, gamma: float = 0.1) -> Schedule:
    """``lr * gamma**(t // step_size)``, like ``torch.optim.lr_scheduler.StepLR``."""
    a = _check("step", lr=lr, step_size=step_size, gamma=gamma)
    lr, step_size, gamma = a["lr"], a["step_size"], a["gamma"]
    return lambda t: lr * gamma ** (t // step_size)


def exponential_schedule(lr: float, gamma: float) -> Schedule:
    """``lr * gamma**t``, like ``torch.optim.lr_scheduler.ExponentialLR``."""
    a = _check("exponential", lr=lr, gamma=gamma)
    lr, gamma = a["lr"], a["gamma"]
    return lambda t: lr * gamma**t


def inverse_time_schedule(lr: float, decay_rate: float, decay_steps: float = 1.0) -> Schedule:
    """``lr / (1 + decay_rate * t / decay_steps)``, like Keras' ``InverseTimeDecay``."""
    a = _check("inverse_time", lr=lr, decay_rate=decay_rate, decay_steps=decay_steps)
    lr, rate = a["lr"], a["decay_rate"] / a["decay_steps"]
    return lambda t: lr / (1.0 + rate * t)


def cosine_schedule(lr: float, total_steps: int, min_lr: float = 0.0) -> Schedule:
    """``min_lr + (lr - min_lr) * (1 + cos(pi * min(t, T) / T)) / 2`` with T = total_steps.

    Like ``torch.optim.lr_scheduler.CosineAnnealingLR`` but held at ``min_lr`` after T.
    """
    a = _check("cosine", lr=lr, total_steps=total_steps, min_lr=min_lr)
    lr, total, low = a["lr"], a["total_steps"], a["min_lr"]
    if low > lr:
        raise ConfigError(f"cosine schedule: min_lr must be <= lr ({lr:g}), got {low!r}")
    return lambda t: low + (lr - low) * (1.0 + math.cos(math.pi * min(t, total) / total)) / 2.0


def warmup_schedule(schedule: Schedule, warmup_steps: int) -> Schedule:
    """``schedule(t) * (t + 1) / K`` for ``t < K = warmup_steps``, then ``schedule(t)``.

    The first update uses 1/K of the schedule's value and update K uses all of it.
    """
    steps = Hyperparameter(kind="integer", low=1)
    k = checked("warm-up", {"warmup_steps": (warmup_steps, steps)})["warmup_steps"]
    return lambda t: schedule(t) * (t + 1) / k if t < k else schedule(t)


@dataclass(frozen=True)
class ScheduleInfo:
    """A registry entry: the builder ``(lr, **parameters) -> Schedule`` and its declared
    parameters (defaults from the builder's signature), ``lr`` and ``warmup_steps`` aside."""

    build: Callable[..., Schedule]
    parameters: Mapping[str, Hyperparameter]

    @property
    def description(self) -> str:
        """The first line of the builder's docstring."""
        return (inspect.getdoc(self.build) or "").split("\n")[0]


def _entry(build: Callable[..., Schedule], **ranges: Hyperparameter) -> ScheduleInfo:
    return ScheduleInfo(build, declared(build, ranges, skip=("lr",)))


SCHEDULES: dict[str, ScheduleInfo] = {
    "constant": _entry(constant_schedule),
    # gamma in (0, 1]: a decay (torch checks nothing; above 1 the rate would grow
    # without bound, 0 would stop learning after the first steps).
    "step": _entry(
        step_schedule,
        step_size=Hyperparameter(kind="integer", low=1, meaning="updates between decays"),
        gamma=Hyperparameter(
            low=0.0, high=1.0, closed="right", meaning="factor applied every step_size updates"
        ),
    ),
    "exponential": _entry(
        exponential_schedule,
        gamma=Hyperparameter(
            low=0.0, high=1.0, closed="right", meaning="factor applied every update"
        ),
    ),
    "inverse_time": _entry(
        inverse_time_schedule,
        # 0 keeps lr constant, as torch's Adagrad accepts lr_decay = 0 for the same formula.
        decay_rate=Hyperparameter(low=0.0, meaning="lr / (1 + decay_rate * t / decay_steps)"),
        decay_steps=Hyperparameter(
            low=0.0,
            closed="neither",
            meaning="updates over which the denominator grows by decay_rate",
        ),
    ),
    "cosine": _entry(
        cosine_schedule,
        total_steps=Hyperparameter(kind="integer", low=1, meaning="updates from lr down to min_lr"),
        min_lr=Hyperparameter(low=0.0, meaning="the learning rate from total_steps on"),
    ),
}
"""Schedule name -> builder and declared parameters."""


def make_schedule(name: str, lr: float, *, warmup_steps: int = 0, **kwargs: Any) -> Schedule:
    """The schedule ``name`` starting from ``lr``, with a linear warm-up over
    ``warmup_steps`` updates when that is positive.

    Raises ConfigError for an unknown name, unknown or missing arguments and
    values out of range.
    """
    info = SCHEDULES.get(name)
    if info is None:
        raise ConfigError(f"unknown schedule {name!r}; valid: {', '.join(SCHEDULES)}")
    where = f"{name} schedule"
    valid = list(info.parameters)
    problems = [unknown(where, key, [*valid, "warmup_steps"]) for key in kwargs if key not in valid]
    problems += [
        f"{where}: missing {key}"
        for key, spec in info.parameters.items()
        if spec.required and key not in kwargs
    ]
    if problems:
        raise ConfigError(*problems)
    schedule = info.build(lr, **kwargs)
    k = checked(where, {"warmup_steps": (warmup_steps, WARMUP)})["warmup_steps"]
    return warmup_schedule(schedule, k) if k else schedule
