"""Run directories, trace writers, atomic writes, JSON and interruption.

Everything a run leaves on disk goes through this module:

- ``default_run_dir`` / ``prepare_run_dir``: where a run writes, and the rule that a
  run directory is never overwritten without ``--force``;
- ``atomic_write_text`` / ``atomic_write_bytes`` / ``atomic_save_npz`` and the
  ``write_json`` / ``write_yaml`` helpers: finished files appear whole or not at all;
- ``TraceWriter`` / ``read_trace``: the CSV trace, the one file written as the run
  goes (so it is appended to, not written atomically) and read back by ``plot``;
- ``to_jsonable`` / ``dumps_json``: the JSON that ``summary.json`` and ``--json``
  share, always valid JSON (non-finite floats become ``null``);
- ``lock_run_dir`` / ``release_run_dirs``: the claim a run holds on its directory;
- ``InterruptGuard`` (from ``gdcli.signals``): the first stop signal asks the runner
  to stop cleanly.

This module never prints and never exits.
"""

from __future__ import annotations

import abc
import contextlib
import csv
import dataclasses
import enum
import fcntl
import io
import json
import math
import os
import re
import tempfile
import zipfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import date, datetime
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import numpy as np
import yaml

from gdcli.errors import UserError, os_error
from gdcli.signals import InterruptGuard

__all__ = [
    "GDCLI_FILE_NAMES",
    "RUN_MARKERS",
    "InterruptGuard",
    "TraceWriter",
    "atomic_save_npz",
    "atomic_write_bytes",
    "atomic_write_text",
    "claim_new_run_dir",
    "default_run_dir",
    "dumps_json",
    "format_number",
    "lock_run_dir",
    "prepare_run_dir",
    "read_trace",
    "release_run_dirs",
    "to_jsonable",
    "write_json",
    "write_yaml",
]

# The files gdcli itself writes into a run directory, pictures included (every name
# ``gdcli.render.plot`` draws). ``prepare_run_dir(force=True)`` removes these and
# nothing else, so pointing ``--out`` at a directory that holds other work can never
# destroy that work.
GDCLI_FILE_NAMES: tuple[str, ...] = (
    "config.yaml",
    "summary.json",
    "trace.csv",
    "model.npz",
    "snapshots.npz",
    "contour.png",
    "surface.png",
    "paths.gif",
    "boundary.gif",
    "graph.png",
    "gradient.png",
    "curve.png",
    "convergence.png",
    "basins.png",
    "loss.png",
    "decision_boundary.png",
    "confusion.png",
    "activations_loss.png",
    "activations_accuracy.png",
    "sweep.png",
    "hidden_units.png",  # gdcli inspect --plot, beside the model by default
    "activations.png",  # gdcli activations --plot
    "activation_derivatives.png",
)
# A directory holding one of these is a gdcli run, which --force may replace.
RUN_MARKERS: tuple[str, ...] = ("config.yaml", "summary.json")

# Temporary files are ``.<target name>.<random>.tmp``: hidden, next to their target,
# and recognisable, so a leftover from a killed process is removed by ``--force``.
_TEMP_SUFFIX = ".tmp"

# mkstemp creates files readable by the owner only; a finished file should get the
# permissions an ordinary ``open`` would give it. The umask can only be read by
# setting it, which is not thread-safe, so it is read once at import.
_UMASK = os.umask(0o022)
os.umask(_UMASK)

# The earliest time a zip entry can carry; any fixed value makes archives reproducible.
_NPZ_TIMESTAMP = (1980, 1, 1, 0, 0, 0)

_UNSAFE_NAME_CHARS = re.compile(r"[^A-Za-z0-9._-]+")


# --------------------------------------------------------------------------- run dirs


def default_run_dir(name: str, now: datetime | None = None, root: Path = Path("runs")) -> Path:
    """The default run directory ``<root>/<name>-<YYYYmmdd-HHMMSS>``.

    ``name`` is reduced to ``[A-Za-z0-9._-]``: each run of other characters becomes
    one ``-``, leading dots and dashes and trailing dashes are dropped, and an empty
    result becomes ``run``. So an experiment name can never escape ``root``, hide the
    directory or need shell quoting. ``now`` defaults to the local time.
    """
    stamp = (now if now is not None else datetime.now()).strftime("%Y%m%d-%H%M%S")
    safe = _UNSAFE_NAME_CHARS.sub("-", name).lstrip(".-").rstrip("-") or "run"
    return root / f"{safe}-{stamp}"


def claim_new_run_dir(name: str, root: Path = Path("runs")) -> Path:
    """Create and return a new, empty default run directory for ``name``.

    ``default_run_dir``'s name, numbered ``-2``, ``-3``, ... when another run took it:
    each name is claimed by creating it (never ``exist_ok``), so two runs started in
    the same second get two directories. An ``OSError`` (a read-only ``runs/``, a
    name too long) is a ``UserError`` naming the path.
    """
    first = default_run_dir(name, root=root)
    path, n = first, 2
    while True:
        try:
            _mkdir_new(path)
            return path
        except FileExistsError:
            path = first.with_name(f"{first.name}-{n}")
            n += 1


def _mkdir_new(path: Path) -> bool:
    """Create ``path`` (its parents as needed); whether this call created it.

    ``FileExistsError`` only when ``path`` exists and the caller asked for new."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.mkdir()
    except FileExistsError:
        raise
    except OSError as exc:
        raise os_error(exc, path, "cannot create the run directory") from exc
    return True


def prepare_run_dir(path: Path, *, force: bool) -> Path:
    """Claim the run directory ``path`` for this run (creating it) and return it.

    The directory is created without ``exist_ok`` and locked for as long as this
    process runs in it (``lock_run_dir``), so two runs never share one: the second
    gets a ``UserError`` naming it. An existing empty directory is used as is. An
    existing non-empty one is a ``UserError`` unless ``force`` is true and it is a
    gdcli run (it holds ``config.yaml`` or ``summary.json``); then only the files
    gdcli writes (``GDCLI_FILE_NAMES`` and leftover temporary files) are removed,
    and anything else in the directory is left alone.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise UserError(f"run directory '{path}' exists and is not a directory")
    try:
        created = _mkdir_new(path)
    except FileExistsError:
        created = False
    lock_run_dir(path)
    if not created:
        _make_room(path, force)
    return path


def _make_room(path: Path, force: bool) -> None:
    """Check that the existing directory ``path`` may take a run; with ``force``,
    remove the files of the run it holds."""
    try:
        entries = {p.name for p in path.iterdir()}
    except OSError as exc:
        raise os_error(exc, path, "cannot list the run directory") from exc
    if not entries:
        return
    is_run = bool(entries & set(RUN_MARKERS))
    if not is_run:
        raise UserError(
            f"'{path}' is not empty and is not a gdcli run directory (it holds no "
            "config.yaml or summary.json); give --out a new or empty directory"
        )
    if not force:
        raise UserError(
            f"run directory '{path}' already exists; "
            "pass --force to overwrite it or --out to choose another"
        )
    if path.resolve() in (Path(path.anchor or "/").resolve(), Path.home().resolve()):
        raise UserError(f"--force will not replace '{path}': choose a directory of its own")
    _remove_gdcli_files(path)


def _remove_gdcli_files(path: Path) -> None:
    """Delete the files gdcli writes from ``path``; never recurse, never touch others."""
    candidates = [path / name for name in GDCLI_FILE_NAMES]
    for target in GDCLI_FILE_NAMES:
        candidates.extend(path.glob(f".{target}.*{_TEMP_SUFFIX}"))
    for candidate in candidates:
        if candidate.is_symlink() or candidate.is_file():
            try:
                candidate.unlink(missing_ok=True)
            except OSError as exc:
                raise os_error(exc, candidate, "cannot remove the old file") from exc
        elif candidate.exists():
            # A directory named like one of our files was not made by gdcli, and a
            # run would fail later when it tries to replace it; say so now.
            raise UserError(
                f"'{candidate}' is in the way of a file gdcli writes; "
                "remove it or pass --out to choose another run directory"
            )


# Run directories this process holds: real path -> the open directory whose flock
# is the claim. The lock ends with the process, however it ends, so a killed run
# never leaves a directory locked.
_CLAIMS: dict[str, int] = {}


def lock_run_dir(path: Path) -> None:
    """Lock the existing directory ``path`` for this process, or raise ``UserError``
    when another process holds it (another run writing there).

    A process runs one run at a time, inside at most the directory of its sweep: a
    new lock releases those this process holds on other directories, except the
    ones that contain ``path``. A directory already held stays held. Where the file
    system has no locks the claim is the creation of the directory alone.
    """
    key = os.path.realpath(path)
    if key in _CLAIMS:
        return
    for held in [k for k in _CLAIMS if not key.startswith(k.rstrip(os.sep) + os.sep)]:
        os.close(_CLAIMS.pop(held))
    try:
        fd = os.open(key, os.O_RDONLY)
    except OSError as exc:
        raise os_error(exc, path, "cannot open the run directory") from exc
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise UserError(
            f"run directory '{path}' is in use by another gdcli run; "
            "wait for it to end or pass --out to choose another"
        ) from None
    except OSError:  # no locks on this file system (ENOLCK, EOPNOTSUPP)
        os.close(fd)
        return
    _CLAIMS[key] = fd


def release_run_dirs() -> None:
    """Release every run directory this process holds (at the end of a command)."""
    while _CLAIMS:
        os.close(_CLAIMS.popitem()[1])


# ---------------------------------------------------------------------- atomic writes


@contextlib.contextmanager
def _atomic_target(path: Path) -> Iterator[IO[bytes]]:
    """Yield a binary temporary file next to ``path`` that replaces it on success.

    The temporary file lives in the same directory so that ``os.replace`` is a
    rename within one file system, which POSIX and Windows both make atomic. On any
    error the temporary file is removed and ``path`` keeps its old content; an
    ``OSError`` (a full disk, a read-only directory) becomes a ``UserError`` naming
    ``path``.
    """
    path = Path(path)
    try:
        fd, tmp_name = tempfile.mkstemp(
            prefix=f".{path.name}.", suffix=_TEMP_SUFFIX, dir=path.parent
        )
    except OSError as exc:
        raise os_error(exc, path, "cannot write") from exc
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh
            fh.flush()
            # Without fsync a crash shortly after the rename can leave an empty file
            # under the final name on some file systems.
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_UMASK)
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise os_error(exc, path, "cannot write") from exc
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def _fsync_dir(directory: Path) -> None:
    """Persist a rename in ``directory``; best effort, as not every OS allows it."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically: readers see the old file or the new one."""
    with _atomic_target(path) as fh:
        fh.write(data)


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically, as UTF-8 with ``\\n`` line endings."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_save_npz(path: Path, arrays: Mapping[str, np.ndarray]) -> None:
    """Save ``arrays`` as an uncompressed ``.npz`` archive at exactly ``path``, atomically.

    The archive is what ``np.savez`` writes (``np.load`` reads it, one ``<key>.npy``
    member per array, in the mapping's order) but is built here rather than by
    ``np.savez``, for three reasons: ``np.savez`` given a file name appends ``.npz``
    when the name lacks it, so the temporary file would land under another name;
    keys such as ``file`` or ``allow_pickle`` would collide with its parameters; and
    it stamps each member with the current time, whereas here the stamp is fixed so
    the same arrays give byte-identical files. Object arrays are refused (they would
    need pickle, which ``np.load`` rejects by default).
    """
    with _atomic_target(path) as fh, zipfile.ZipFile(fh, mode="w") as zf:
        for key, value in arrays.items():
            info = zipfile.ZipInfo(f"{key}.npy", date_time=_NPZ_TIMESTAMP)
            info.compress_type = zipfile.ZIP_STORED
            with zf.open(info, "w", force_zip64=True) as member:
                np.lib.format.write_array(member, np.asarray(value), allow_pickle=False)


# ------------------------------------------------------------------------------- JSON


def to_jsonable(obj: Any) -> Any:
    """``obj`` as plain Python data that ``json.dumps(..., allow_nan=False)`` accepts.

    Converted recursively: numpy scalars and arrays to Python numbers and (nested)
    lists, tuples to lists, sets to sorted lists, ``Path`` to ``str``, dataclasses
    and pydantic models to dicts, enums to their values, dates to ISO strings, and
    non-finite floats (NaN, ±inf) to ``None`` so that the output is always valid
    JSON. Raises ``TypeError`` for anything else (a bug, not bad input).
    """
    return _to_plain(obj, finite_only=True)


def _to_plain(obj: Any, *, finite_only: bool) -> Any:
    """Shared conversion for JSON (``finite_only``) and YAML (which has ``.inf``/``.nan``)."""
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    for kinds, convert in _PLAIN:
        if isinstance(obj, kinds):
            return convert(obj, finite_only)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {
            f.name: _to_plain(getattr(obj, f.name), finite_only=finite_only)
            for f in dataclasses.fields(obj)
        }
    model_dump = getattr(obj, "model_dump", None)
    if callable(model_dump):  # pydantic models, without importing pydantic here
        return _to_plain(model_dump(), finite_only=finite_only)
    raise TypeError(f"cannot convert {type(obj).__name__} to JSON")


def _plain_float(obj: Any, finite_only: bool) -> float | None:
    x = float(obj)
    return None if finite_only and not math.isfinite(x) else x


def _plain_items(items: Iterable[Any], finite_only: bool) -> list[Any]:
    return [_to_plain(v, finite_only=finite_only) for v in items]


# (types, conversion) in the order they are tried: np.bool_ before the integers,
# since bool is an int; sets sorted because their order depends on hash randomisation.
_PLAIN: tuple[tuple[Any, Callable[[Any, bool], Any]], ...] = (
    (np.bool_, lambda o, _: bool(o)),
    ((int, np.integer), lambda o, _: int(o)),
    ((float, np.floating), _plain_float),
    (np.ndarray, lambda o, f: _to_plain(o.tolist(), finite_only=f)),
    (Mapping, lambda o, f: {_plain_key(k): _to_plain(v, finite_only=f) for k, v in o.items()}),
    ((list, tuple), _plain_items),
    ((set, frozenset), lambda o, f: sorted(_plain_items(o, f))),
    (Path, lambda o, _: str(o)),
    (enum.Enum, lambda o, f: _to_plain(o.value, finite_only=f)),
    ((datetime, date), lambda o, _: o.isoformat()),
)


def _plain_key(key: object) -> str | int | float | bool | None:
    """A mapping key JSON and YAML can hold; numpy scalar keys become Python ones."""
    if isinstance(key, np.generic):
        key = key.item()
    if isinstance(key, Path):
        return str(key)
    if key is None or isinstance(key, (str, int, float, bool)):
        return key
    raise TypeError(f"cannot use {type(key).__name__} as a JSON key")


def dumps_json(obj: Any, *, indent: int | None = 2) -> str:
    """``obj`` as a JSON document (no trailing newline); keys keep their order."""
    return json.dumps(to_jsonable(obj), allow_nan=False, indent=indent, ensure_ascii=False)


def write_json(path: Path, obj: Any) -> None:
    """Write ``obj`` as indented JSON with a final newline, atomically."""
    atomic_write_text(path, dumps_json(obj) + "\n")


def write_yaml(path: Path, mapping: Mapping[str, Any]) -> None:
    """Write ``mapping`` as block-style YAML in its own key order, atomically.

    Non-finite floats are kept (YAML spells them ``.inf`` and ``.nan``) so that a
    resolved config written here reads back to the same values.
    """
    text = yaml.safe_dump(
        _to_plain(mapping, finite_only=False),
        sort_keys=False,
        default_flow_style=False,
        allow_unicode=True,
    )
    atomic_write_text(path, text)


# ------------------------------------------------------------------------------ trace


def format_number(x: object) -> str:
    """A number as CSV text that reads back exactly.

    Floats use the shortest repr that round-trips (``float(format_number(x)) == x``),
    ``nan``, ``inf`` and ``-inf`` included; integers print as integers and booleans
    as ``true``/``false``. numpy scalars and 0-d arrays are accepted. Raises
    ``TypeError`` for anything that is not a number.
    """
    if isinstance(x, np.ndarray) and x.ndim == 0:
        x = x.item()
    # float first: it is by far the most common cell, and np.float64 is a float.
    if isinstance(x, float):
        return float.__repr__(x)
    if isinstance(x, (bool, np.bool_)):
        return "true" if x else "false"
    if isinstance(x, (int, np.integer)):
        return str(int(x))
    if isinstance(x, np.floating):
        # float32/float16 widen exactly to float64, so this still round-trips.
        return float.__repr__(float(x))
    raise TypeError(f"not a number: {x!r}")


def _format_cell(value: object) -> str:
    """One CSV cell: strings as they are, ``None`` as empty, numbers via ``format_number``."""
    fast = _FAST_CELL.get(type(value))
    if fast is not None:
        return fast(value)
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    return format_number(value)


# Exact-type shortcuts giving the same text as format_number: write_many formats tens
# of thousands of cells per call, and a dict lookup beats the isinstance chain.
# (bool is absent on purpose: it is an int subclass but prints as true/false.)
_FAST_CELL: dict[type, Callable[[Any], str]] = {
    float: float.__repr__,
    np.float64: float.__repr__,
    int: int.__repr__,
    str: str.__str__,
}


# characters that make the csv module quote a cell (delimiter, quote, line breaks)
_QUOTED = re.compile(r'[,"\r\n]')


class _ClosedOnExit(abc.ABC):
    """A context manager whose exit calls ``close()``, however the block ends."""

    @abc.abstractmethod
    def close(self) -> None: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class TraceWriter(_ClosedOnExit):
    """CSV trace written row by row as the run goes.

    The header is written first; each ``write`` (or ``write_many`` batch) is flushed
    to the operating system before it returns, so a killed process leaves only
    complete lines plus at most one partial last line, which ``read_trace`` drops.
    Output is byte-for-byte determined by the rows: ``\\n`` line endings, numbers via
    ``format_number``, quoting by the ``csv`` module only where a cell needs it.

    With ``append=True`` an existing trace is continued (for resuming a run): its
    header must equal ``columns`` (else ``UserError``), and a partial last line left
    by a killed process is cut off before new rows are added. A missing or empty
    file is started as with ``append=False``.

    Row keys not among ``columns`` are ignored, so one record can feed both a trace
    and a table; a missing column is a bug and raises ``KeyError``.
    """

    def __init__(self, path: Path, columns: Sequence[str], *, append: bool = False) -> None:
        self.path = Path(path)
        self.columns: tuple[str, ...] = tuple(columns)
        if not self.columns:
            raise ValueError("a trace needs at least one column")
        if len(set(self.columns)) != len(self.columns):
            raise ValueError(f"duplicate trace columns: {self.columns}")
        try:
            write_header = not (append and self.path.exists()) or not _prepare_for_append(
                self.path, self.columns
            )
            # newline="" hands line endings to the csv module, which writes exactly
            # "\n" on every platform.
            self._file: IO[str] = open(  # noqa: SIM115 - closed by close()/__exit__
                self.path, "w" if write_header else "a", encoding="utf-8", newline=""
            )
        except OSError as exc:
            raise os_error(exc, self.path, "cannot write the trace") from exc
        self._writer = csv.writer(self._file, lineterminator="\n")
        if write_header:
            self._put([self.columns])

    @property
    def closed(self) -> bool:
        """Whether ``close`` has been called."""
        return self._file.closed

    def _cells(self, row: Mapping[str, object]) -> list[str]:
        return [_format_cell(row[c]) for c in self.columns]

    def _put(self, lines: Sequence[Sequence[str]]) -> None:
        """Write and flush ``lines``. When the system refuses (a full disk), the file
        is closed and cut back to its last complete line, so that what it holds
        stays a valid trace, and the error is a ``UserError`` naming the file."""
        try:
            self._writer.writerows(lines)
            self._file.flush()
        except OSError as exc:
            raise self._broken(exc) from exc

    def _broken(self, exc: OSError) -> UserError:
        with contextlib.suppress(OSError):  # closing retries the flush that failed
            self._file.close()
        _cut_partial_line(self.path)
        return os_error(exc, self.path, "cannot write the trace")

    def write(self, row: Mapping[str, object]) -> None:
        """Append one row and flush it."""
        self._put([self._cells(row)])

    def write_many(self, rows: Iterable[Mapping[str, object]]) -> None:
        """Append many rows with a single flush (e.g. thousands of starts per iteration).

        Every row is formatted before any is written, so a bad row (a bug) leaves the
        file without any row of the batch rather than with part of it.
        """
        self._put([self._cells(row) for row in rows])

    def write_columns(self, columns: Mapping[str, object], n: int) -> None:
        """Append ``n`` rows given column by column (the same text as ``write_many``):
        each column an array or sequence of n values, or one value for every row.
        The rows are formatted ``COLUMN_ROWS`` at a time, so that the text of a
        million rows is never all in memory at once."""
        for lo in range(0, n, COLUMN_ROWS):
            hi = min(n, lo + COLUMN_ROWS)
            part = {c: _rows(v, lo, hi) for c, v in columns.items()}
            self._write_block(part, hi - lo)

    def _write_block(self, columns: Mapping[str, object], n: int) -> None:
        """``write_columns`` of a block of rows. Where no cell needs the csv module's
        quoting (numbers never do), the lines are joined directly: the same text,
        without the csv module's per-cell work."""
        cells: list[Sequence[str]] = []
        plain = len(self.columns) > 1  # csv quotes a lone empty field
        for c in self.columns:
            values = columns[c]
            if isinstance(values, np.ndarray):
                fast = _FAST_CELL.get(values.dtype.type)
                if fast is None and values.dtype.kind in "iu":
                    fast = int.__repr__
                values = values.tolist()
                if fast is not None:
                    # float64 and integer arrays: the reprs _format_cell gives
                    cells.append(list(map(fast, values)))
                    continue
            if isinstance(values, (list, tuple)):
                column = [_format_cell(v) for v in values]
            else:
                column = [_format_cell(values)] * n
            plain = plain and not any(_QUOTED.search(v) for v in set(column))
            cells.append(column)
        rows = zip(*cells, strict=True)
        try:
            if plain:
                self._file.write("".join([",".join(row) + "\n" for row in rows]))
            else:
                self._writer.writerows(rows)
            self._file.flush()
        except OSError as exc:  # as _put: the file cut back to its last whole line
            raise self._broken(exc) from exc

    def close(self) -> None:
        """Flush, fsync and close the file; calling it again does nothing."""
        if self._file.closed:
            return
        try:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
        except OSError as exc:
            raise self._broken(exc) from exc

    def __enter__(self) -> TraceWriter:
        return self


COLUMN_ROWS = 65_536
"""Rows formatted at a time by ``TraceWriter.write_columns``."""


def _rows(values: object, lo: int, hi: int) -> object:
    """Rows ``lo:hi`` of a column of ``write_columns``: a slice of an array or sequence
    of a value per row, the column itself when it is one value for all."""
    if isinstance(values, np.ndarray) and values.ndim >= 1:
        return values[lo:hi]
    if isinstance(values, (list, tuple)):
        return values[lo:hi]
    return values


def _prepare_for_append(path: Path, columns: tuple[str, ...]) -> bool:
    """Make ``path`` ready to take more rows; return whether its header is kept.

    Returns ``False`` when the file holds no complete header line (it is then
    rewritten from scratch). Raises ``UserError`` when the header differs from
    ``columns``. Cuts off a partial last line so new rows start on a line of their own.
    """
    with open(path, "r+b") as fh:
        data = fh.read()
        end = data.rfind(b"\n") + 1
        if end == 0:
            return False
        first = data[: data.find(b"\n") + 1].decode("utf-8", errors="replace")
        header = next(csv.reader(io.StringIO(first)), [])
        if tuple(header) != columns:
            raise UserError(
                f"cannot append to trace '{path}': its columns {header} differ from {list(columns)}"
            )
        if end < len(data):
            fh.truncate(end)
    return True


def _cut_partial_line(path: Path, chunk: int = 1 << 16) -> None:
    """Cut ``path`` after its last newline (best effort: the file may be gone)."""
    with contextlib.suppress(OSError), open(path, "r+b") as fh:
        pos = fh.seek(0, os.SEEK_END)
        while pos > 0:
            step = min(chunk, pos)
            fh.seek(pos - step)
            nl = fh.read(step).rfind(b"\n")
            if nl >= 0:
                fh.truncate(pos - step + nl + 1)
                return
            pos -= step
        fh.truncate(0)


def read_trace(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    """Read a trace written by ``TraceWriter``: its header and its rows as strings.

    A partial last line (a process killed mid-write) is dropped. Any other line
    whose number of cells differs from the header's is a ``UserError``, as are a
    missing, unreadable or header-less file.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UserError(f"cannot read trace '{path}': {exc.strerror or exc}") from exc
    # Everything after the last newline is a line the writer never finished.
    complete = data[: data.rfind(b"\n") + 1]
    try:
        text = complete.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UserError(f"trace '{path}' is not UTF-8 text: {exc}") from exc
    lines = csv.reader(io.StringIO(text, newline=""))
    header = next(lines, None)
    if not header:
        raise UserError(f"trace '{path}' has no header line")
    rows: list[dict[str, str]] = []
    for cells in lines:
        if len(cells) != len(header):
            raise UserError(
                f"{path}:{lines.line_num}: expected {len(header)} cells, found {len(cells)}"
            )
        rows.append(dict(zip(header, cells, strict=True)))
    return header, rows
