"""Reading data and model files safely: regular files only, within documented limits.

A FIFO would block the reader until some writer appears, and a device such as
``/dev/zero`` never ends; both are refused before a byte is read. The pipes of a
shell's process substitution (``<(cat data.csv)``, seen as ``/dev/fd/N``) are
accepted, and read up to the limit plus one byte. An ``.npz`` archive's arrays are
sized from their ``.npy`` headers (shape and dtype) before any of them is loaded.
"""

from __future__ import annotations

import io
import os
import re
import stat
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np
import numpy.typing as npt

from gdcli.errors import DataError, Problem

MAX_CSV_BYTES = 100 * 2**20
"""A CSV file (data for training or predict) is at most 100 MiB."""
MAX_NPZ_BYTES = 2 * 2**30
"""An ``.npz`` file (data or model) is at most 2 GiB on disk."""
MAX_ARRAY_BYTES = 2 * 2**30
"""The arrays of an ``.npz`` file need at most 2 GiB once loaded, counting every
number at 8 bytes at least (features and labels become float64 and int64)."""

# the pipes a shell passes for <(...) or a redirected stdin
_INHERITED = re.compile(r"/(dev/fd|proc/(self|\d+)/fd)/\d+|/dev/stdin")
_NPY_MAGIC = b"\x93NUMPY"
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
_DAMAGED = (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error, KeyError)


def size_text(n: float) -> str:
    """``n`` bytes for people: 2 GiB, 7.3 TiB, 512 bytes."""
    for unit, factor in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= factor:
            return f"{n / factor:.3g} {unit}"
    return f"{int(n)} bytes"


def _kind_of(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "is a directory"
    if stat.S_ISFIFO(mode):
        return "is a named pipe (FIFO), which would wait for a writer"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "is a device, not a file"
    if stat.S_ISSOCK(mode):
        return "is a socket"
    return "is not a regular file"


@contextmanager
def open_regular(path: str | Path, expected: str) -> Iterator[tuple[IO[bytes], int | None]]:
    """The open file at ``path`` and its size (None for a pipe of process substitution).

    Anything but a regular file or such a pipe is a DataError naming the file, what it
    is and ``expected`` (e.g. "a CSV file"), raised without waiting on it.
    """
    source = str(path)
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer before we can refuse it
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise DataError(Problem("no such file", file=source)) from None
    except OSError as exc:
        raise DataError(Problem(f"cannot read the file: {exc.strerror}", file=source)) from None
    mode = os.fstat(fd).st_mode
    pipe = stat.S_ISFIFO(mode) and _INHERITED.fullmatch(source) is not None
    if not (stat.S_ISREG(mode) or pipe):
        os.close(fd)
        raise DataError(Problem(f"{_kind_of(mode)}; expected {expected}", file=source))
    if hasattr(os, "set_blocking"):
        os.set_blocking(fd, True)
    with os.fdopen(fd, "rb") as fh:
        yield fh, None if pipe else os.fstat(fd).st_size


def read_limited(path: str | Path, limit: int, expected: str) -> bytes:
    """The whole content of a regular file (or process substitution's pipe) of at most
    ``limit`` bytes; at most ``limit + 1`` bytes are read before a larger one is refused."""
    with open_regular(path, expected) as (fh, size):
        return _read_within(fh, size, limit, str(path), expected)


def _read_within(fh: IO[bytes], size: int | None, limit: int, source: str, expected: str) -> bytes:
    raw = b""
    if size is None or size <= limit:
        try:
            raw = fh.read(limit + 1)
        except OSError as exc:
            raise DataError(Problem(f"cannot read the file: {exc.strerror}", file=source)) from None
    if size is None and len(raw) > limit:
        raise DataError(
            Problem(f"holds more than {size_text(limit)}, the limit for {expected}", file=source)
        )
    if size is not None and size > limit:
        raise DataError(
            Problem(
                f"the file is {size_text(size)}; the limit for {expected} is {size_text(limit)}",
                file=source,
            )
        )
    return raw


@dataclass(frozen=True)
class NpzMessages:
    """How problems of an .npz are worded for its reader: what was expected, what is
    said of a file that is no .npz archive, and a prefix for problems inside one."""

    expected: str = "an .npz file"
    not_npz: str = "not a valid .npz file (an .npz is a zip archive of .npy arrays)"
    prefix: str = ""


def read_npz(path: str | Path, words: NpzMessages | None = None) -> dict[str, npt.NDArray[Any]]:
    """Every array of the ``.npz`` archive at ``path``, each sized from its header first.

    DataError (one problem naming the file) for a special or too large file, a file
    that is no .npz archive, a damaged member, an array of Python objects, or arrays
    that would need more than MAX_ARRAY_BYTES of memory.
    """
    words = words or NpzMessages()
    source = str(path)
    with open_regular(path, words.expected) as (fh, size):
        if size is None or size > MAX_NPZ_BYTES:  # a pipe cannot seek, as a zip needs
            fh = io.BytesIO(_read_within(fh, size, MAX_NPZ_BYTES, source, words.expected))
        return _npz_arrays(fh, source, words)


def _npz_arrays(fh: IO[bytes], source: str, words: NpzMessages) -> dict[str, npt.NDArray[Any]]:
    def problem(message: str) -> DataError:
        return DataError(Problem(words.prefix + message, file=source))

    magic = fh.read(len(_NPY_MAGIC))
    fh.seek(0)
    if magic.startswith(_NPY_MAGIC):
        raise problem("a single .npy array, not an .npz archive")
    if not magic.startswith(_ZIP_MAGIC):
        raise DataError(Problem(words.not_npz, file=source))
    try:
        archive = np.load(fh, allow_pickle=False)
    except _DAMAGED as exc:
        raise DataError(Problem(f"{words.not_npz}: {exc}", file=source)) from None
    arrays: dict[str, npt.NDArray[Any]] = {}
    with archive:
        needed = sum(_member_bytes(archive, key, problem) for key in archive.files)
        if needed > MAX_ARRAY_BYTES:
            raise problem(
                f"its arrays would need {size_text(needed)} of memory; the limit is "
                f"{size_text(MAX_ARRAY_BYTES)}"
            )
        for key in archive.files:
            try:
                arrays[key] = np.asarray(archive[key])
            except _DAMAGED as exc:
                # numpy refuses object arrays with a ValueError naming allow_pickle
                reason = "holds Python objects" if "allow_pickle" in str(exc) else "is damaged"
                raise problem(f"array '{key}' {reason}") from None
    return arrays


def _member_bytes(archive: Any, key: str, problem: Any) -> int:
    """The memory array ``key`` needs once loaded, from its header alone."""
    name = key if key in archive.zip.namelist() else key + ".npy"
    try:
        with archive.zip.open(name) as member:
            if member.read(len(_NPY_MAGIC)) != _NPY_MAGIC:
                return int(archive.zip.getinfo(name).file_size)  # loaded as raw bytes
            member.seek(0)
            fmt = np.lib.format
            version = fmt.read_magic(member)
            read_header = (
                fmt.read_array_header_1_0 if version == (1, 0) else fmt.read_array_header_2_0
            )
            shape, _, dtype = read_header(member)
    except _DAMAGED:
        raise problem(f"array '{key}' is damaged") from None
    if dtype.hasobject:
        raise problem(f"array '{key}' holds Python objects")
    count = 1
    for n in shape:
        count *= int(n)
    need = count * max(dtype.itemsize, 8)
    if need > MAX_ARRAY_BYTES:
        raise problem(
            f"array '{key}' of shape {tuple(shape)} ({dtype}) would need {size_text(need)} "
            f"of memory; the limit is {size_text(MAX_ARRAY_BYTES)}"
        )
    return need
