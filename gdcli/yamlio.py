"""Reading experiment files: safe YAML with positions, and ``--set`` overrides.

The loader is PyYAML's SafeLoader with these changes an experiment file needs:

- every key's line and column is recorded, so a validation error can point at it;
- a key given twice is an error, not a silent overwrite, and a key must be a name
  (``{a: 1}: 2`` is refused);
- numbers are read as YAML 1.2 reads them: ``1e-3`` is a number (YAML 1.1 wants
  ``1.0e-3``), ``010`` is ten (not octal eight) and ``1:30`` is text (not the
  sexagesimal 90);
- aliases (``*name``) are refused, which rules out documents that expand to
  billions of nodes from a few lines;
- tags (``!!str``, ``!!python/object``) are refused: an experiment file holds plain
  values only.

Only a regular file, or a pipe the process already holds (``<(...)``,
``/dev/stdin``), is read, and never more than ``MAX_FILE_BYTES`` + 1 bytes of it.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node

from gdcli.errors import ConfigError, Problem

KeyPath = tuple[str | int, ...]

MAX_FILE_BYTES = 1_000_000

_FLOAT = re.compile(
    r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
    |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
    |\.[0-9_]+(?:[eE][-+][0-9]+)?
    |[-+]?\.(?:inf|Inf|INF)
    |\.(?:nan|NaN|NAN))$""",
    re.X,
)
# YAML 1.2's integers (decimal with any leading zeros, 0o octal, 0x hex) and 0b
# binary; no YAML 1.1 octal (010 = 8) or sexagesimal (1:30 = 90).
_INT = re.compile(r"^(?:[-+]?[0-9][0-9_]*|[-+]?0o[0-7_]+|[-+]?0x[0-9a-fA-F_]+|[-+]?0b[01_]+)$")
_NUMBER_TAGS = ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float")
_BASES = {"0o": 8, "0x": 16, "0b": 2}
# A pipe or terminal the process already holds: process substitution <(...), stdin.
_HELD = re.compile(r"^/(?:dev/fd/[0-9]+|proc/self/fd/[0-9]+|dev/stdin)$")


class _Loader(yaml.SafeLoader):
    """SafeLoader that records positions, refuses duplicate keys and aliases."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.positions: dict[KeyPath, tuple[int, int]] = {}
        self._path: list[str | int] = []

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        event = self.peek_event()
        mark: Any = event.start_mark
        if isinstance(event, yaml.AliasEvent):
            raise yaml.MarkedYAMLError(
                None, None, "aliases (*name) are not allowed in experiment files", mark
            )
        tag = getattr(event, "tag", None)
        if tag is not None:
            shown = tag.replace("tag:yaml.org,2002:", "!!")
            raise yaml.MarkedYAMLError(
                None,
                None,
                f"tag '{shown}' is not allowed; experiment files hold plain values only",
                mark,
            )
        return super().compose_node(parent, index)


def _construct_int(loader: _Loader, node: yaml.ScalarNode) -> int:
    text = str(loader.construct_scalar(node)).replace("_", "")
    sign = -1 if text.startswith("-") else 1
    digits = text.lstrip("+-")
    base = _BASES.get(digits[:2].lower(), 10)
    return sign * int(digits[2:] if base != 10 else digits, base)


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag not in _NUMBER_TAGS]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver("tag:yaml.org,2002:int", _INT, list("-+0123456789"))
_Loader.add_implicit_resolver("tag:yaml.org,2002:float", _FLOAT, list("-+0123456789."))
_Loader.add_constructor("tag:yaml.org,2002:int", _construct_int)


def _construct_mapping(loader: _Loader, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
    out: dict[Any, Any] = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, str):
            raise yaml.MarkedYAMLError(
                None,
                None,
                f"a key must be a name such as 'lr', got {key!r}",
                key_node.start_mark,
            )
        if key in out:
            raise yaml.MarkedYAMLError(None, None, f"duplicate key '{key}'", key_node.start_mark)
        out[key] = loader.construct_object(value_node, deep=True)
    return out


_Loader.add_constructor("tag:yaml.org,2002:map", _construct_mapping)


def _record_positions(node: Node, path: KeyPath, positions: dict[KeyPath, tuple[int, int]]) -> None:
    """Line and column (1-based) of every key and list item, walked without recursion."""
    stack: list[tuple[Node, KeyPath]] = [(node, path)]
    while stack:
        current, where = stack.pop()
        if isinstance(current, MappingNode):
            for key_node, value_node in current.value:
                if not isinstance(key_node, yaml.ScalarNode):
                    raise yaml.MarkedYAMLError(
                        None,
                        None,
                        "a key must be a name such as 'lr', not a list or a mapping",
                        key_node.start_mark,
                    )
                key = key_node.value
                sub = (*where, key)
                positions[sub] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
                stack.append((value_node, sub))
        elif isinstance(current, yaml.SequenceNode):
            for i, item in enumerate(current.value):
                sub = (*where, i)
                positions[sub] = (item.start_mark.line + 1, item.start_mark.column + 1)
                stack.append((item, sub))


@dataclass
class Document:
    """A parsed experiment file: the raw mapping and where each key was written."""

    data: dict[str, Any]
    file: str
    positions: dict[KeyPath, tuple[int, int]] = field(default_factory=dict)
    overridden: dict[KeyPath, str] = field(default_factory=dict)

    def locate(self, path: Iterable[str | int], message: str) -> Problem:
        """A problem at the deepest written prefix of ``path``, or at its ``--set``."""
        path = tuple(path)
        key = ".".join(str(p) for p in path) or None
        # a value set on the command line replaces what the file said under it, and a
        # key the command line introduced is the command line's
        for n in range(len(path), -1, -1):
            if path[:n] in self.overridden:
                return Problem(message, file=self.overridden[path[:n]], key=key)
        if path not in self.positions:
            for set_path, label in self.overridden.items():
                if set_path[: len(path)] == path:
                    return Problem(message, file=label, key=key)
        for n in range(len(path), -1, -1):
            if path[:n] in self.positions:
                line, col = self.positions[path[:n]]
                return Problem(message, file=self.file, line=line, column=col, key=key)
        return Problem(message, file=self.file, key=key)


def _mark_problem(file: str, exc: yaml.YAMLError) -> Problem:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    what = getattr(exc, "problem", None) or str(exc)
    context = getattr(exc, "context", None)
    message = f"{context}: {what}" if context and "could not determine" not in what else what
    if "could not determine a constructor" in str(what):
        tag = str(what).split("'")[1] if "'" in str(what) else "?"
        tag = tag.replace("tag:yaml.org,2002:", "!!")
        message = f"tag '{tag}' is not allowed; experiment files hold plain values only"
    message = " ".join(message.split())
    if mark is None:
        return Problem(f"not valid YAML: {message}", file=file)
    return Problem(
        f"not valid YAML: {message}", file=file, line=mark.line + 1, column=mark.column + 1
    )


def parse_yaml(text: str, file: str) -> tuple[Any, dict[KeyPath, tuple[int, int]]]:
    """Safe-load one YAML document; return it with the positions of its keys."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, {}
        positions: dict[KeyPath, tuple[int, int]] = {}
        _record_positions(node, (), positions)
        return loader.construct_document(node), positions
    except yaml.YAMLError as exc:
        raise ConfigError(_mark_problem(file, exc)) from None
    except RecursionError:
        raise ConfigError(Problem("not valid YAML: nested too deeply", file=file)) from None
    finally:
        loader.dispose()


def read_limited(path: str | Path, limit: int = MAX_FILE_BYTES) -> bytes:
    """The bytes of a regular file, or of a pipe the process holds (``<(...)``), read
    without blocking on a named pipe and never past ``limit`` + 1 bytes.

    Raises ConfigError naming the path for anything else (a directory, a named
    pipe, a device such as /dev/zero), for an OS error and for a file over ``limit``.
    """
    name = str(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError:
        raise ConfigError(Problem("no such file", file=name)) from None
    except IsADirectoryError:
        raise ConfigError(Problem("is a directory, not an experiment file", file=name)) from None
    except OSError as exc:
        raise ConfigError(Problem(f"cannot read: {exc.strerror}", file=name)) from None
    try:
        _check_kind(os.fstat(fd).st_mode, name)
    except ConfigError:
        os.close(fd)
        raise
    os.set_blocking(fd, True)
    with os.fdopen(fd, "rb") as fh:
        try:
            raw = fh.read(limit + 1)
        except OSError as exc:
            raise ConfigError(Problem(f"cannot read: {exc.strerror}", file=name)) from None
    if len(raw) > limit:
        raise ConfigError(
            Problem(f"file is over {limit:,} bytes; experiment files are at most 1 MB", file=name)
        )
    return raw


def _check_kind(mode: int, name: str) -> None:
    """Refuse what is neither a regular file nor a pipe the process already holds."""
    if stat.S_ISREG(mode):
        return
    if stat.S_ISDIR(mode):
        raise ConfigError(Problem("is a directory, not an experiment file", file=name))
    if stat.S_ISFIFO(mode) and _HELD.match(os.path.abspath(name)):
        return
    kind = "a named pipe (FIFO)" if stat.S_ISFIFO(mode) else "a device or special file"
    raise ConfigError(
        Problem(f"is {kind}, not a regular file; give a file, or a pipe as <(command)", file=name)
    )


def load_document(path: str | Path) -> Document:
    """Read an experiment file into a ``Document``; every failure is a located ConfigError."""
    name = str(path)
    raw = read_limited(path)
    if b"\x00" in raw:
        raise ConfigError(Problem("binary file, not YAML text", file=name))
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            Problem(f"not UTF-8 text (byte {exc.start + 1}); save it as UTF-8", file=name)
        ) from None
    data, positions = parse_yaml(text, name)
    if data is None:
        raise ConfigError(
            Problem(
                "file is empty; an experiment file is a YAML mapping", file=name, line=1, column=1
            )
        )
    if not isinstance(data, dict):
        raise ConfigError(
            Problem(
                f"the top level is a {type(data).__name__}; an experiment file is a mapping "
                "of keys such as 'name:' and 'function:'",
                file=name,
                line=1,
                column=1,
            )
        )
    return Document(data=data, file=name, positions=positions)


def _parse_path(path: str) -> KeyPath:
    parts: list[str | int] = []
    for segment in path.split("."):
        if not segment:
            raise ConfigError(Problem(f"--set {path}: empty key in the path"))
        parts.append(int(segment) if segment.isdigit() else segment)
    return tuple(parts)


def apply_override(doc: Document, assignment: str, label: str | None = None) -> None:
    """Apply ``key.path=value`` (the value read as YAML) to the document in place.

    ``label`` is how problems with the new value name its origin (default
    ``--set key.path=value``).
    """
    if "=" not in assignment:
        raise ConfigError(
            Problem(f"--set {assignment}: expected KEY.PATH=VALUE, e.g. --set optimizer.lr=0.1")
        )
    path_text, value_text = assignment.split("=", 1)
    path = _parse_path(path_text.strip())
    value, _ = parse_yaml(value_text, f"--set {assignment}")
    target: Any = doc.data
    for i, key in enumerate(path[:-1]):
        nxt = path[i + 1]
        if isinstance(target, dict):
            if key not in target or target[key] is None:
                target[key] = [] if isinstance(nxt, int) else {}
            target = target[key]
        elif isinstance(target, list) and isinstance(key, int):
            if key >= len(target):
                raise ConfigError(
                    Problem(
                        f"--set {assignment}: index {key} is past the end of a list of "
                        f"{len(target)}"
                    )
                )
            target = target[key]
        else:
            raise ConfigError(
                Problem(
                    f"--set {assignment}: '{'.'.join(map(str, path[: i + 1]))}' is not a mapping"
                )
            )
    last = path[-1]
    fits_list = isinstance(target, list) and isinstance(last, int) and last < len(target)
    if isinstance(target, dict) or fits_list:
        target[last] = value
    else:
        raise ConfigError(Problem(f"--set {assignment}: cannot set '{path_text}' here"))
    doc.overridden[path] = label or f"--set {assignment}"
