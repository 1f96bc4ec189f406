"""The contract: what parameters, transforms, states and optimizers are.

Parameters are a list of float arrays (``Params``): the descent passes one
``(N, d)`` array holding N independent starts, MLP training passes its weight
matrices and bias vectors. A transform is a pair of pure functions,
``init(params) -> state`` and ``update(grads, state, params, count, oracle) ->
(updates, state)``; an optimizer is a chain of transforms whose state keeps the
step counter (``OptState.count``) once, for every transform of the chain.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

import numpy as np

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


S = TypeVar("S")


@dataclass(frozen=True)
class Transform(Generic[S]):
    """One link of a chain: ``update(g, state, params, count, oracle) -> (g', state')``.

    ``count`` is the number of updates done before this one; the chain keeps it in
    its state and passes it to every transform.
    """

    init: Callable[[Params], S]
    update: Callable[[Params, S, Params, int, Oracle | None], tuple[Params, S]]
    # ``inplace(g, state, params, count, out)``: ``update``'s very floating-point
    # operations, in the same order, with the state's arrays updated in place and g'
    # written into ``out`` (g may be ``out``; g and params are only read). None where
    # a transform has no such path.
    inplace: Callable[[Params, S, Params, int, Params], None] | None = None


@dataclass(frozen=True, slots=True)
class OptState:
    """An optimizer's state; its structure and array shapes never change.

    ``count`` is the number of updates done so far; ``parts`` holds one state per
    transform of the optimizer's chain, in chain order (``()`` for stateless ones).
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
    # ``update_into(grads, state, params, out) -> state'``: ``update`` with its state
    # updated in place and the updates written into ``out`` (bit-identical numbers);
    # None when a transform of the chain has no in-place path.
    update_into: Callable[[Params, OptState, Params, Params], OptState] | None = None


def apply_updates(params: Params, updates: Params) -> Params:
    """New parameters ``p + u`` leaf by leaf; the inputs are left untouched."""
    return [p + u for p, u in zip(params, updates, strict=True)]


def learning_rate(opt: Optimizer, state: OptState) -> float:
    """The learning rate the next update will use (for traces)."""
    return float(opt.schedule(state.count))
