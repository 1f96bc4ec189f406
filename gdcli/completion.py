"""Shell completion (bash, zsh and fish, through typer's ``--install-completion``):
what may come next on a command line.

- ``set_values``: after ``--set``, the keys whose values are names, then the names
  (built-in functions, optimizers, activations), read from their registries;
- ``paths``: directories and experiment files (``*.yaml``) for the experiment
  commands, directories for ``plot``.

Imported only when the shell asks for completions, so ``gdcli --help`` stays fast.
Never prints: typer formats the candidates for the shell.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path


def _functions() -> Iterable[str]:
    from gdcli.engine.functions import LIBRARY

    return LIBRARY


def _optimizers() -> Iterable[str]:
    from gdcli.optim.registry import OPTIMIZERS

    return OPTIMIZERS


def _activations() -> Iterable[str]:
    from gdcli.nn.activations import ACTIVATIONS

    return ACTIVATIONS


# The keys of an experiment file whose value is one of a registry's names.
NAMED_KEYS: dict[str, Callable[[], Iterable[str]]] = {
    "function": _functions,
    "optimizer.name": _optimizers,
    "model.activation": _activations,
}


def set_values(incomplete: str) -> list[str]:
    """Completions of ``--set`` given what was typed: ``optimizer.na`` gives
    ``optimizer.name=``, and ``optimizer.name=ad`` gives ``optimizer.name=adam`` and
    ``optimizer.name=adamw``."""
    key, eq, value = incomplete.partition("=")
    if not eq:
        return [f"{k}=" for k in NAMED_KEYS if k.startswith(incomplete)]
    names = NAMED_KEYS.get(key)
    if names is None:
        return []
    return [f"{key}={name}" for name in sorted(names()) if name.startswith(value)]


def paths(incomplete: str, suffixes: tuple[str, ...] = ()) -> list[str]:
    """The entries of the directory ``incomplete`` points into whose names start as
    its last part does: directories (with a trailing ``/``, to go on) and files
    ending in one of ``suffixes``. Hidden entries only when asked for with a dot."""
    head, slash, stem = incomplete.rpartition("/")
    base = Path(head or ("/" if slash else "."))
    prefix = head + slash
    try:
        entries = sorted(base.iterdir())
    except OSError:
        return []
    out = []
    for entry in entries:
        name = entry.name
        if not name.startswith(stem) or (name.startswith(".") and not stem.startswith(".")):
            continue
        if entry.is_dir():
            out.append(f"{prefix}{name}/")
        elif suffixes and name.endswith(suffixes):
            out.append(prefix + name)
    return out


def unsplit(words: list[str], cword: int) -> tuple[list[str], str, int]:
    """Undo bash's split of a word at ``=`` (``=`` is in ``COMP_WORDBREAKS``, so
    ``--set optimizer.name=ad`` reaches a completer as ``optimizer.name``, ``=``,
    ``ad``): the arguments before the word being completed, that word whole, and how
    many of its characters come before bash's current word (they must not be repeated
    in a candidate, as bash replaces only its current word)."""
    current = words[cword] if cword < len(words) else ""
    out: list[str] = []
    glue = False
    cut = 0
    for i, word in enumerate([*words[:cword], current]):
        if out and i > 1 and (word == "=" or glue):
            out[-1] += word
            glue = word == "="
        else:
            out.append(word)
            glue = False
        cut = len(out[-1]) - len(word)
    return out[1:-1], out[-1], cut


def use_for_bash() -> None:
    """Complete for bash with ``unsplit`` words (typer's own bash completion sees
    ``KEY=VALUE`` as three words)."""
    from typer._click.shell_completion import (  # typer's vendored click
        CompletionItem,
        add_completion_class,
        split_arg_string,
    )
    from typer._completion_classes import BashComplete

    class GdcliBash(BashComplete):
        cut = 0

        def get_completion_args(self) -> tuple[list[str], str]:
            words = split_arg_string(os.environ["COMP_WORDS"])
            args, incomplete, self.cut = unsplit(words, int(os.environ["COMP_CWORD"]))
            return args, incomplete

        def format_completion(self, item: CompletionItem) -> str:
            return str(item.value)[self.cut :]

    add_completion_class(GdcliBash, "bash")
