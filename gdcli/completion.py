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
