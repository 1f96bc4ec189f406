"""What rebuilds the parts of a plan that are closures, from plain data.

A resolved function and an optimizer hold closures, which a process pool cannot
pickle. A plan carries these recipes instead (the checked arguments of
``functions.resolve`` and ``optim.make_optimizer``) and builds the objects where it
runs; building again cannot fail, the parent already did it once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gdcli.engine.functions import ResolvedFunction, resolve
from gdcli.optim import Optimizer, make_optimizer, make_schedule


@dataclass(frozen=True)
class FunctionRecipe:
    """The arguments of ``functions.resolve``: a library name or a formula."""

    spec: str
    dimension: int | None
    variables: tuple[str, ...] | None

    def build(self) -> ResolvedFunction:
        return resolve(self.spec, dimension=self.dimension, variables=self.variables)


@dataclass(frozen=True)
class OptimizerRecipe:
    """The keyword arguments of ``optim.make_optimizer``, the schedule as its name and
    parameters (``lr`` is its initial value), and the label tables show."""

    label: str
    kwargs: dict[str, Any]
    schedule: dict[str, Any] | None = field(default=None)

    def build(self) -> Optimizer:
        kwargs = dict(self.kwargs)
        if self.schedule is not None:
            sched = dict(self.schedule)
            kwargs["lr"] = make_schedule(sched.pop("name"), kwargs["lr"], **sched)
        return make_optimizer(**kwargs)
