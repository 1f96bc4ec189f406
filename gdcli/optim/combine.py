"""Chaining transforms into one optimizer update."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from gdcli.optim.base import OptState, Oracle, Params, Schedule, Transform


class Chain(NamedTuple):
    """What a named optimizer (``alias``) is: its transforms in order, and the learning
    rate each update uses (for ``learning_rate`` and traces)."""

    schedule: Schedule
    parts: tuple[Transform[Any], ...]


def chain(schedule: Schedule, *parts: Transform[Any] | None) -> Chain:
    """The transforms in order; a None part (a zero weight decay, say) is skipped."""
    return Chain(schedule, tuple(p for p in parts if p is not None))


def assemble(
    parts: tuple[Transform[Any], ...],
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


def assemble_into(
    parts: tuple[Transform[Any], ...],
) -> Callable[[Params, OptState, Params, Params], OptState] | None:
    """The chain's in-place update (``Optimizer.update_into``): each transform reads
    the previous one's output from ``out`` and writes its own there; None when a
    transform has no in-place path."""
    steps = [part.inplace for part in parts]
    if any(s is None for s in steps):
        return None

    def update_into(grads: Params, state: OptState, params: Params, out: Params) -> OptState:
        g, count = grads, state.count
        for step, s in zip(steps, state.parts, strict=True):
            assert step is not None
            step(g, s, params, count, out)
            g = out
        return OptState(count + 1, state.parts)

    return update_into
