"""The error types that map to exit codes.

Library code raises these and never exits; ``cli.py`` catches them once, prints one
line per problem to stderr and exits with the code the class names:

- ``UserError`` and its subclasses: bad input of any kind, exit 2;
- ``StrictFailure``: ``--strict`` and a run that did not converge, exit 3;
- ``Interrupted``: Ctrl-C after the partial results were saved, exit 130;
- anything else is a bug, exit 1.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass

EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_USAGE = 2
EXIT_NOT_CONVERGED = 3
EXIT_INTERRUPTED = 130


@dataclass(frozen=True)
class Problem:
    """One located problem: ``FILE:LINE:COL: key.path: message``.

    ``line`` and ``column`` are 1-based; every location part is optional.
    """

    message: str
    file: str | None = None
    line: int | None = None
    column: int | None = None
    key: str | None = None

    def __str__(self) -> str:
        where = ""
        if self.file is not None:
            where = self.file
            if self.line is not None:
                where += f":{self.line}"
                if self.column is not None:
                    where += f":{self.column}"
        parts = [p for p in (where, self.key) if p]
        return ": ".join([*parts, self.message])


class GdcliError(Exception):
    """Base of every error gdcli raises on purpose."""

    exit_code = EXIT_INTERNAL


class UserError(GdcliError):
    """Bad input: a file, a key, an expression, a data set, an argument.

    Holds one or more located problems, all reported at once.
    """

    exit_code = EXIT_USAGE

    def __init__(self, *problems: Problem | str) -> None:
        if not problems:
            raise ValueError("a UserError needs at least one problem")
        self.problems: tuple[Problem, ...] = tuple(
            p if isinstance(p, Problem) else Problem(p) for p in problems
        )
        super().__init__("\n".join(str(p) for p in self.problems))


class ConfigError(UserError):
    """An experiment file or an override that does not validate."""


class ExpressionError(UserError):
    """A formula that is not an allowed expression."""


class DataError(UserError):
    """A data set that cannot be read or does not fit the model."""


class StrictFailure(GdcliError):
    """``--strict`` was given and at least one run did not converge."""

    exit_code = EXIT_NOT_CONVERGED


class Interrupted(GdcliError):
    """The user interrupted a run; what it did was saved before this was raised."""

    exit_code = EXIT_INTERRUPTED


def nearest(word: str, choices: Iterable[str]) -> str | None:
    """The choice most like ``word`` (a likely typo of it), if any is close enough."""
    near = difflib.get_close_matches(str(word), list(choices), n=1, cutoff=0.6)
    return near[0] if near else None


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """``; did you mean 'x'?`` for the choice nearest to ``word``, or an empty string."""
    near = nearest(word, choices)
    return f"; did you mean '{near}'?" if near else ""
