"""Declared hyperparameters: a default, the values allowed, a meaning; checked before
any work starts. The optimizer and schedule registries, the config models, the JSON
Schema and the error messages all read these declarations."""

from __future__ import annotations

import inspect
import math
import numbers
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from gdcli.errors import ConfigError, nearest

REQUIRED: Any = inspect.Parameter.empty
"""The default of a hyperparameter that has none: it must be given."""


@dataclass(frozen=True)
class Hyperparameter:
    """A declared hyperparameter: its default, the values it allows and its meaning.

    ``kind`` is ``"real"``, ``"integer"``, ``"flag"`` or ``"pair"`` (two reals, each
    in the range). ``low``/``high`` bound the range (None: unbounded); ``closed``
    says which ends belong to it: ``"both"``, ``"left"``, ``"right"`` or ``"neither"``.
    """

    default: Any = REQUIRED
    kind: str = "real"
    low: float | None = None
    high: float | None = None
    closed: str = "both"
    meaning: str | None = None

    @property
    def required(self) -> bool:
        """True when the hyperparameter has no default."""
        return self.default is REQUIRED

    @property
    def low_in(self) -> bool:
        return self.closed in ("both", "left")

    @property
    def high_in(self) -> bool:
        return self.closed in ("both", "right")

    @property
    def allowed(self) -> str:
        """What the value may be, in words: ``a number in [0, 1)``."""
        if self.kind == "flag":
            return "true or false"
        noun = {"real": "a number", "integer": "an integer", "pair": "two numbers each"}[self.kind]
        if self.low is not None and self.high is not None:
            left, right = "[" if self.low_in else "(", "]" if self.high_in else ")"
            return f"{noun} in {left}{self.low:g}, {self.high:g}{right}"
        if self.low is not None:
            return f"{noun} {'>=' if self.low_in else '>'} {self.low:g}"
        if self.high is not None:
            return f"{noun} {'<=' if self.high_in else '<'} {self.high:g}"
        return f"{noun} (finite)"

    def _fits(self, value: object) -> bool:
        # bool is an int subclass; true/false must not pass for a number.
        if not isinstance(value, numbers.Real) or isinstance(value, bool):
            return False
        x = float(value)
        if not math.isfinite(x) or (self.kind == "integer" and not x.is_integer()):
            return False
        if self.low is not None and (x < self.low or (x == self.low and not self.low_in)):
            return False
        return not (
            self.high is not None and (x > self.high or (x == self.high and not self.high_in))
        )

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


def declared(
    build: Callable[..., Any], ranges: Mapping[str, Hyperparameter], skip: tuple[str, ...] = ()
) -> dict[str, Hyperparameter]:
    """The hyperparameters of ``build`` in signature order: each one's range and meaning
    from ``ranges``, its default from the signature (the one place defaults live).
    Parameters named in ``skip`` are not hyperparameters."""
    params = [p for p in inspect.signature(build).parameters.values() if p.name not in skip]
    if {p.name for p in params} != set(ranges):
        raise TypeError(f"{build.__name__}: ranges for {sorted(ranges)}, parameters {params}")
    return {p.name: replace(ranges[p.name], default=p.default) for p in params}


def unknown(where: str, key: str, valid: list[str]) -> str:
    """The message for a parameter ``key`` that ``where`` does not take."""
    near = nearest(key, valid)
    hint = f" (did you mean {near!r}?)" if near else ""
    return f"{where}: unknown parameter {key!r}{hint}; valid: {', '.join(valid)}"


def checked(where: str, values: Mapping[str, tuple[object, Hyperparameter]]) -> dict[str, Any]:
    """Normalized values, or a ConfigError naming every value out of its range."""
    out: dict[str, Any] = {}
    problems = []
    for key, (value, spec) in values.items():
        out[key], ok = spec.check(value)
        if not ok:
            problems.append(f"{where}: {key} must be {spec.allowed}, got {value!r}")
    if problems:
        raise ConfigError(*problems)
    return out
