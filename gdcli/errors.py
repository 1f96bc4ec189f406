"""The error types that map to exit codes.

Library code raises these and never exits; ``cli.py`` catches them once, prints one
line per problem to stderr and exits with the code the class names:

- ``UserError`` and its subclasses: bad input of any kind, exit 2;
- ``StrictFailure``: ``--strict`` and a run that did not end well, exit 3;
- ``Interrupted``: a stop signal after the partial results were saved, exit
  ``128 + signal``: 130 for SIGINT (Ctrl-C), 143 for SIGTERM, 129 for SIGHUP;
- ``Terminated`` (not an ``Exception``, so no ``except Exception`` swallows it): a
  signal that ends gdcli at once, outside a run or as the second signal of one;
- anything else is a bug, exit 1.

An ``OSError`` is the user's environment (a full disk, a read-only directory, a
name too long): ``os_error`` turns it into a ``UserError`` naming the path.
"""

from __future__ import annotations

import difflib
import signal
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_USAGE = 2
EXIT_NOT_CONVERGED = 3
EXIT_INTERRUPTED = 128 + signal.SIGINT  # 130
EXIT_HANGUP = 128 + signal.SIGHUP  # 129
EXIT_TERMINATED = 128 + signal.SIGTERM  # 143
EXIT_BROKEN_PIPE = 128 + signal.SIGPIPE  # 141, as a process killed by SIGPIPE

# How a stop signal is named in messages (and the exit code is 128 + its number).
SIGNAL_WORDS: dict[int, str] = {
    signal.SIGINT: "interrupted",
    signal.SIGTERM: "terminated (SIGTERM)",
    signal.SIGHUP: "hung up (SIGHUP)",
}


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

    def to_dict(self) -> dict[str, Any]:
        """The problem as one entry of ``--json``'s error document."""
        return {
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "key": self.key,
            "message": self.message,
        }


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


def os_error(exc: OSError, path: object | None = None, doing: str = "") -> UserError:
    """An ``OSError`` as the ``UserError`` it is: ``PATH: [doing: ]reason`` in one line.

    ``path`` defaults to the error's own file name; the reason is the system's text
    (``No space left on device``, ``Read-only file system``, ...).
    """
    where = path if path is not None else exc.filename
    reason = exc.strerror or str(exc) or type(exc).__name__
    message = f"{doing}: {reason}" if doing else reason
    return UserError(Problem(message, file=None if where is None else str(where)))


class StrictFailure(GdcliError):
    """``--strict`` was given and at least one run did not end well."""

    exit_code = EXIT_NOT_CONVERGED


class Interrupted(GdcliError):
    """A stop signal ended a run; what it did was saved before this was raised.

    The exit code is ``128 + signum`` (130 for Ctrl-C, 143 for SIGTERM).
    """

    def __init__(self, message: str, signum: int = signal.SIGINT) -> None:
        super().__init__(message)
        self.signum = int(signum)
        self.exit_code = 128 + self.signum


class Terminated(BaseException):
    """A stop signal that ends gdcli at once: outside a run (nothing to save), or a
    second signal during one (the run stops without its summary).

    A ``BaseException``: job code that turns an ``Exception`` into a failed result
    must not swallow it. ``detail`` says what was left behind, when anything was.
    """

    def __init__(self, signum: int, detail: str = "") -> None:
        super().__init__(signum, detail)
        self.signum = int(signum)
        self.detail = detail
        self.exit_code = 128 + self.signum

    def __str__(self) -> str:
        word = SIGNAL_WORDS.get(self.signum, f"stopped by signal {self.signum}")
        return f"{word}; {self.detail}" if self.detail else word


def nearest(word: str, choices: Iterable[str]) -> str | None:
    """The choice most like ``word`` (a likely typo of it), if any is close enough."""
    near = difflib.get_close_matches(str(word), list(choices), n=1, cutoff=0.6)
    return near[0] if near else None


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """``; did you mean 'x'?`` for the choice nearest to ``word``, or an empty string."""
    near = nearest(word, choices)
    return f"; did you mean '{near}'?" if near else ""
