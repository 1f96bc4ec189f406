"""How an experiment is run: where it goes, how it is stopped, where progress goes.

The runners (descend, train, compare, sweep) take a ``Session`` beside their plan;
they never print, and report progress to the callback the CLI supplies.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol


class Progress(Protocol):
    """Where long work reports how far it got (a progress bar, or nothing)."""

    def start(self, total: int, description: str) -> None: ...

    def advance(self, n: int = 1, description: str | None = None) -> None: ...


class NoProgress:
    def start(self, total: int, description: str) -> None:
        pass

    def advance(self, n: int = 1, description: str | None = None) -> None:
        pass


@dataclass(frozen=True)
class Session:
    """How an experiment is run: where it goes and how it can be stopped."""

    out_dir: Path
    force: bool = False
    should_stop: Callable[[], bool] = lambda: False
    progress: Progress = field(default_factory=NoProgress)
