"""Data files: CSV with a header row and NPZ archives, read into ``Dataset``s.

The CSV helpers are public because ``predict`` reads its input the way training
does: the same header checks, the same numeric cells, the same located problems.
Bad data is reported with :class:`gdcli.errors.DataError`, located by file, line and
column where there is one.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from gdcli.data.base import Dataset, FloatArray, IntArray, hint
from gdcli.data.encoding import encode_numeric, encode_text
from gdcli.data.reading import MAX_CSV_BYTES, read_limited, read_npz
from gdcli.data.splits import Parts
from gdcli.errors import DataError, Problem

MAX_PROBLEMS = 20
"""Bad cells reported at once; the rest are counted."""
_MEDMNIST_PARTS = ("train", "val", "test")


def load_csv(path: str | Path, target: str) -> Dataset:
    """A CSV file with a header row: ``target`` names the target column, every other
    column is a numeric feature.

    ``X`` is ``(n, p)`` with ``p`` = columns - 1, in file order. A target whose
    values are all numbers with more than 20 distinct values or any non-integer
    value is a regression target; otherwise its values are class labels, sorted
    numerically for integer labels and by name for text labels.
    """
    text = read_text(path)
    return parse_csv(text, source=str(path), target=target, name=Path(path).stem)


def read_text(path: str | Path) -> str:
    """A text file's contents; DataError for a missing, unreadable, special, too large
    (``MAX_CSV_BYTES``) or binary file."""
    source = str(path)
    raw = read_limited(path, MAX_CSV_BYTES, "a CSV file")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = "\x00"
    if "\x00" in text:
        raise DataError(
            Problem("not a text file (binary, or not UTF-8); expected CSV", file=source)
        )
    return text


@dataclass(frozen=True)
class CsvTable:
    """A CSV file's header (stripped names) and line, and its non-blank rows, each with
    the (last) line it ends on."""

    source: str
    header: list[str]
    header_line: int
    rows: list[tuple[int, list[str]]]


def read_table(text: str, source: str, target: str | None) -> CsvTable:
    """The header and rows of CSV ``text``; DataError for an empty or malformed file.

    The header is checked (``check_header``) before any row is read. With ``target``
    None no target column is needed (predict's input may lack one): only the names
    are checked, and only when there are two or more.
    """
    if not text.strip():
        raise DataError(Problem("the file is empty; expected a header row and data", file=source))
    reader = csv.reader(io.StringIO(text, newline=""))
    rows_in = csv_rows(reader, source)
    header = [cell.strip() for cell in next(rows_in)]
    header_line = reader.line_num
    if target is not None:
        check_header(header, source=source, target=target, line=header_line)
    elif len(header) >= 2:
        # header[0] passes the target check, so only the names' checks apply
        check_header(header, source=source, target=header[0], line=header_line)
    rows = [(reader.line_num, row) for row in rows_in]
    return CsvTable(source, header, header_line, rows)


def numeric_cells(
    table: CsvTable, line: int, row: list[str], columns: list[int], problems: list[Problem]
) -> list[float] | None:
    """The cells of ``row`` in ``columns`` as floats (nan for a bad one), or None when the
    row's width is not the header's. Each bad cell or row adds one located Problem."""
    header, source = table.header, table.source
    if len(row) != len(header):
        problems.append(
            Problem(
                f"expected {len(header)} cells as in the header, found {len(row)}",
                file=source,
                line=line,
            )
        )
        return None
    values = []
    for j in columns:
        cell = row[j].strip()
        value = to_float(cell)
        if value is None or not np.isfinite(value):
            problems.append(bad_cell(header[j], cell, source, line, j))
        values.append(np.nan if value is None else value)
    return values


def parse_csv(text: str, *, source: str, target: str, name: str) -> Dataset:
    """A Dataset from CSV ``text``, read as ``load_csv`` describes."""
    table = read_table(text, source, target)
    header = table.header
    t = header.index(target)
    features = [j for j in range(len(header)) if j != t]

    problems: list[Problem] = []
    rows: list[list[float]] = []
    labels: list[tuple[str, int]] = []  # (target cell, line)
    for line, row in table.rows:
        values = numeric_cells(table, line, row, features, problems)
        if values is None:
            continue
        rows.append(values)
        labels.append((row[t].strip(), line))
        if not labels[-1][0]:
            problems.append(bad_cell(target, "", source, line, t))
    return _table_dataset(rows, labels, problems, features, table, target, name)


def _table_dataset(
    rows: list[list[float]],
    labels: list[tuple[str, int]],
    problems: list[Problem],
    features: list[int],
    table: CsvTable,
    target: str,
    name: str,
) -> Dataset:
    """The Dataset of the parsed rows, once the target column is checked and encoded."""
    source, t = table.source, table.header.index(target)
    # A numeric target column is numbers throughout; "nan" or "inf" in it is a
    # missing value, while in a column of text labels it is just another label.
    numeric = all(to_float(cell) is not None for cell, _ in labels if cell)
    if numeric:
        problems.extend(
            bad_cell(target, cell, source, line, t)
            for cell, line in labels
            if cell and not np.isfinite(float(cell))
        )
    raise_all(problems, source)
    if len(rows) < 2:
        raise DataError(Problem(f"needs at least 2 data rows, found {len(rows)}", file=source))
    cells = [cell for cell, _ in labels]
    y, class_names = (
        encode_numeric(np.array([float(c) for c in cells])) if numeric else encode_text(cells)
    )
    if class_names is not None and len(class_names) == 1:
        raise DataError(
            Problem(f"only one class '{class_names[0]}' in column '{target}'", file=source)
        )
    return Dataset(
        X=np.array(rows, dtype=np.float64).reshape(len(rows), len(features)),
        y=y,
        feature_names=tuple(table.header[j] for j in features),
        class_names=class_names,
        name=name,
    )


def csv_rows(reader: Any, source: str) -> Iterator[list[str]]:
    """The non-blank rows of ``reader``; ``reader.line_num`` is each row's (last) line."""
    try:
        for row in reader:
            if row:
                yield row
    except csv.Error as e:
        raise DataError(Problem(f"malformed CSV: {e}", file=source, line=reader.line_num)) from None


def check_header(header: list[str], *, source: str, target: str, line: int) -> None:
    """No blank or repeated name, not a row of numbers, ``target`` among the names and
    one feature besides it; else a located DataError."""
    problems: list[Problem] = []
    first: dict[str, int] = {}
    for j, col in enumerate(header):
        if not col:
            problems.append(Problem("a column has no name", file=source, line=line, column=j + 1))
        elif col in first:
            problems.append(
                Problem(
                    f"duplicate column name '{col}' (also column {first[col] + 1})",
                    file=source,
                    line=line,
                    column=j + 1,
                )
            )
        else:
            first[col] = j
    if problems:
        raise DataError(*problems)
    if all(to_float(col) is not None for col in header):
        raise DataError(
            Problem("the first row holds only numbers; a header row is required", file=source)
        )
    if target not in header:
        raise DataError(
            Problem(
                f"no target column '{target}'{hint(target, header)}; columns: {', '.join(header)}",
                file=source,
                line=line,
            )
        )
    if len(header) < 2:
        raise DataError(Problem("no feature columns besides the target", file=source, line=line))


def to_float(cell: str) -> float | None:
    """``float(cell)`` (possibly inf or nan), or None when ``cell`` is not a number."""
    try:
        return float(cell)
    except ValueError:
        return None


def bad_cell(col: str, cell: str, source: str, line: int, j: int) -> Problem:
    """A cell that is empty, not a number, or not a finite number; ``j`` is 0-based."""
    if not cell:
        message = f"column '{col}': empty cell (missing value)"
    elif to_float(cell) is None:
        message = f"column '{col}': '{_shown(cell)}' is not a number"
    else:
        message = f"column '{col}': '{cell}' is not a finite number"
    return Problem(message, file=source, line=line, column=j + 1)


def _shown(cell: str, limit: int = 40) -> str:
    """``cell`` on one line (a quoted cell may hold line breaks), cut to ``limit`` chars."""
    text = cell if cell.isprintable() else repr(cell)[1:-1]
    return text if len(text) <= limit else text[: limit - 3] + "..."


def raise_all(problems: list[Problem], source: str) -> None:
    """A DataError with the first MAX_PROBLEMS problems and a count of the rest, if any."""
    if not problems:
        return
    shown = problems[:MAX_PROBLEMS]
    if len(problems) > MAX_PROBLEMS:
        shown.append(Problem(f"... and {len(problems) - MAX_PROBLEMS} more", file=source))
    raise DataError(*shown)


# --- NPZ ---------------------------------------------------------------------------


def load_npz(path: str | Path) -> Parts:
    """An ``.npz`` archive as ``(train, val, test)``; parts the file does not define are None.

    Two layouts:

    - arrays ``X`` (``(n, p)``, or ``(n, ...)`` flattened to ``(n, p)``) and ``y``
      (``(n,)``): one data set ``(ds, None, None)``, features ``x1..xp``; ``y`` is
      encoded like a CSV target (text labels, few integers, or regression values);
    - MedMNIST: ``train_images`` / ``train_labels`` and optionally the ``val_`` and
      ``test_`` pairs. Images ``(n, H, W[, C])`` are flattened to ``(n, H*W[*C])``
      (features ``px0..``); integer images must lie in 0..255 and are divided by 255,
      float images are taken as they are. Labels ``(n,)`` or ``(n, 1)`` are class
      indices ``0..k-1``, named ``"0".."k-1"``, shared by the three parts.
    """
    source = str(path)
    arrays = read_npz(path)
    for key, a in arrays.items():
        if a.dtype.kind in "biuf" and not np.all(np.isfinite(a)):
            raise DataError(Problem(f"array '{key}' holds non-finite values", file=source))
    if {"X", "y", "train_images", "train_labels"} <= arrays.keys():
        raise DataError(
            Problem(
                "holds both 'X'/'y' and MedMNIST 'train_images'/'train_labels'; "
                "keep one layout, gdcli would read only one",
                file=source,
            )
        )
    if "X" in arrays and "y" in arrays:
        return _npz_xy(arrays, source=source, name=Path(path).stem), None, None
    if "train_images" in arrays and "train_labels" in arrays:
        return _npz_medmnist(arrays, source=source, name=Path(path).stem)
    raise DataError(
        Problem(
            "expected arrays 'X' and 'y', or 'train_images' and 'train_labels' (with optional"
            f" 'val_*' and 'test_*' pairs); found: {', '.join(sorted(arrays)) or 'none'}",
            file=source,
        )
    )


def _numeric_features(a: npt.NDArray[Any], key: str, source: str) -> FloatArray:
    if a.dtype.kind not in "biuf":
        raise DataError(Problem(f"array '{key}' is not numeric (dtype {a.dtype})", file=source))
    if a.ndim < 2 or a.shape[0] == 0:
        raise DataError(
            Problem(f"array '{key}' has shape {a.shape}, expected (n, features...)", file=source)
        )
    return a.reshape(a.shape[0], -1).astype(np.float64)


def _npz_xy(arrays: dict[str, npt.NDArray[Any]], *, source: str, name: str) -> Dataset:
    X = _numeric_features(arrays["X"], "X", source)
    y_raw = arrays["y"]
    if y_raw.ndim == 2 and y_raw.shape[1] == 1:
        y_raw = y_raw[:, 0]
    if y_raw.shape != (X.shape[0],):
        raise DataError(
            Problem(
                f"'y' has shape {y_raw.shape}, expected ({X.shape[0]},) to match 'X'", file=source
            )
        )
    if X.shape[0] < 2:
        raise DataError(Problem(f"needs at least 2 samples, found {X.shape[0]}", file=source))
    y: npt.NDArray[Any]
    class_names: tuple[str, ...] | None
    if y_raw.dtype.kind in "US":
        y, class_names = encode_text([str(v) for v in y_raw.astype(str)])
    elif y_raw.dtype.kind in "biuf":
        y, class_names = encode_numeric(y_raw.astype(np.float64))
    else:
        raise DataError(Problem(f"array 'y' has unsupported dtype {y_raw.dtype}", file=source))
    if class_names is not None and len(class_names) == 1:
        raise DataError(Problem(f"only one class '{class_names[0]}' in array 'y'", file=source))
    return Dataset(
        X=X,
        y=y,
        feature_names=tuple(f"x{i + 1}" for i in range(X.shape[1])),
        class_names=class_names,
        name=name,
    )


def _npz_medmnist(arrays: dict[str, npt.NDArray[Any]], *, source: str, name: str) -> Parts:
    found: dict[str, tuple[FloatArray, IntArray]] = {}
    for part in _MEDMNIST_PARTS:
        img_key, lab_key = f"{part}_images", f"{part}_labels"
        if img_key not in arrays and lab_key not in arrays:
            continue
        if img_key not in arrays or lab_key not in arrays:
            raise DataError(Problem(f"'{img_key}' and '{lab_key}' must come together", file=source))
        found[part] = (
            _medmnist_images(arrays[img_key], img_key, source),
            _medmnist_labels(arrays[lab_key], lab_key, source),
        )
        n_img, n_lab = found[part][0].shape[0], found[part][1].shape[0]
        if n_img != n_lab:
            raise DataError(
                Problem(f"{n_img} rows in '{img_key}' but {n_lab} in '{lab_key}'", file=source)
            )
    widths = {X.shape[1] for X, _ in found.values()}
    if len(widths) > 1:
        raise DataError(
            Problem(f"the parts' images differ in size: {sorted(widths)} pixels", file=source)
        )
    k = int(max(y.max() for _, y in found.values())) + 1
    if k < 2:
        raise DataError(Problem("only one class '0' in the labels", file=source))
    class_names = tuple(str(c) for c in range(k))
    feature_names = tuple(f"px{i}" for i in range(widths.pop()))
    parts = {
        part: Dataset(
            X=X, y=y, feature_names=feature_names, class_names=class_names, name=f"{name}-{part}"
        )
        for part, (X, y) in found.items()
    }
    return parts["train"], parts.get("val"), parts.get("test")


def _medmnist_images(a: npt.NDArray[Any], key: str, source: str) -> FloatArray:
    X = _numeric_features(a, key, source)
    if a.dtype.kind in "biu":
        if X.min() < 0 or X.max() > 255:
            raise DataError(Problem(f"integer images in '{key}' must lie in 0..255", file=source))
        X /= 255.0
    return X


def _medmnist_labels(a: npt.NDArray[Any], key: str, source: str) -> IntArray:
    if a.ndim == 2 and a.shape[1] == 1:
        a = a[:, 0]
    if a.ndim != 1:
        raise DataError(
            Problem(
                f"'{key}' has shape {a.shape}; expected (n,) or (n, 1) single-label classes",
                file=source,
            )
        )
    if a.dtype.kind not in "iu" or (a.size and a.min() < 0):
        raise DataError(
            Problem(f"'{key}' must hold non-negative integer class indices", file=source)
        )
    if a.size == 0:
        raise DataError(Problem(f"'{key}' is empty", file=source))
    return a.astype(np.int64)
