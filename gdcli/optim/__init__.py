"""Optimizers as pure ``(init, update)`` pairs, and learning-rate schedules.

One family of optimizers serves both ``descend`` and ``train-mlp``. Laid out as in
optax: ``base`` is the contract (parameters, transforms, states, optimizers),
``transforms`` the small parts (gradient clipping, weight decay, a momentum trace,
Adam or RMSprop scaling, learning-rate scaling), ``combine`` the chaining,
``schedules`` the learning-rate schedules and their registry, ``alias`` the named
optimizers and ``registry`` the table of optimizers with their hyperparameters::

    opt = make_optimizer("adam", lr=0.01)
    state = opt.init(params)
    updates, state = opt.update(grads, state, params)
    params = apply_updates(params, updates)          # params + updates

Updates are added to the parameters by the caller; nothing here changes an array it
was given. The number of updates done so far lives in the state (``state.count``)
and drives learning-rate schedules and Adam's bias correction.
"""

from gdcli.optim.base import (
    Leaves,
    Optimizer,
    OptState,
    Oracle,
    Params,
    Schedule,
    Transform,
    apply_updates,
    learning_rate,
)
from gdcli.optim.hyperparams import Hyperparameter
from gdcli.optim.registry import OPTIMIZERS, OptimizerInfo, make_optimizer, optimizer_defaults
from gdcli.optim.schedules import SCHEDULES, ScheduleInfo, make_schedule

__all__ = [
    "OPTIMIZERS",
    "SCHEDULES",
    "Hyperparameter",
    "Leaves",
    "OptState",
    "Optimizer",
    "OptimizerInfo",
    "Oracle",
    "Params",
    "Schedule",
    "ScheduleInfo",
    "Transform",
    "apply_updates",
    "learning_rate",
    "make_optimizer",
    "make_schedule",
    "optimizer_defaults",
]
