"""Data sets: built-in toy sets, bundled medical and image sets, CSV and NPZ files.

Every loader returns a :class:`Dataset` whose ``X`` is an ``(n, p)`` float64 array and
whose ``y`` is an ``(n,)`` array: int64 class indices into ``class_names`` for a
classification task, float64 values for a regression task (``class_names`` is None).
Class names are sorted (by name for text labels, numerically for integer labels), so
``class_names[1]`` is the positive class of a binary task whenever it sorts last
(``("benign", "malignant")``, ``("0", "1")``).

Bad data is reported with :class:`gdcli.errors.DataError`, located by file, line and
column where there is one. Randomness comes only from the ``numpy.random.Generator``
a caller passes in.
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from gdcli.errors import DataError, Problem, nearest

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
Task = Literal["binary", "multiclass", "regression"]

LOGIC = ("xor", "and", "or")
BUILTIN = (*LOGIC, "moons", "circles", "spirals", "blobs")
BUNDLED = ("breast_cancer", "digits")
DATASETS = (*BUILTIN, *BUNDLED)

DEFAULT_N = 200
# A numeric target with more distinct values than this (or any non-integer value)
# is a regression target; otherwise its values are class labels.
MAX_NUMERIC_CLASSES = 20
# Bad cells reported at once; the rest are counted.
MAX_PROBLEMS = 20
BLOB_RING_RADIUS = 3.0
CIRCLES_FACTOR = 0.5
SPIRAL_ANGLE = 4.0  # radians an arm turns between r = 0 and r = 1

_CORNERS = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
_LOGIC_TARGETS = {
    "xor": np.array([0, 1, 1, 0], dtype=np.int64),
    "and": np.array([0, 0, 0, 1], dtype=np.int64),
    "or": np.array([0, 1, 1, 1], dtype=np.int64),
}
_MEDMNIST_PARTS = ("train", "val", "test")


@dataclass(frozen=True, eq=False)
class Dataset:
    """A table of ``n`` samples with ``p`` features and one target.

    ``X`` is ``(n, p)`` float64. ``y`` is ``(n,)``: int64 indices into ``class_names``
    for classification, float64 values for regression (``class_names`` is None).
    """

    X: FloatArray
    y: npt.NDArray[Any]
    feature_names: tuple[str, ...]
    class_names: tuple[str, ...] | None
    name: str

    def __post_init__(self) -> None:
        if self.X.ndim != 2 or self.X.dtype != np.float64:
            raise ValueError(f"X must be a 2-D float64 array, got {self.X.dtype} {self.X.shape}")
        if self.y.shape != (self.X.shape[0],):
            raise ValueError(f"y has shape {self.y.shape}, expected ({self.X.shape[0]},)")
        if len(self.feature_names) != self.X.shape[1]:
            raise ValueError(
                f"{len(self.feature_names)} feature names for {self.X.shape[1]} columns"
            )
        expected = np.float64 if self.class_names is None else np.int64
        if self.y.dtype != expected:
            raise ValueError(f"y must be {np.dtype(expected)}, got {self.y.dtype}")
        if (
            self.class_names is not None
            and self.y.size
            and (self.y.min() < 0 or self.y.max() >= len(self.class_names))
        ):
            raise ValueError(f"class indices outside 0..{len(self.class_names) - 1}")

    @property
    def task(self) -> Task:
        """``"regression"`` without class names, else binary or multiclass by their count."""
        if self.class_names is None:
            return "regression"
        return "binary" if len(self.class_names) == 2 else "multiclass"

    def take(self, indices: npt.ArrayLike) -> Dataset:
        """The samples at ``indices`` (an int array of length ``m``) as an ``(m, p)`` set."""
        idx = np.asarray(indices, dtype=np.intp)
        return replace(self, X=self.X[idx], y=self.y[idx])


Parts = tuple[Dataset, "Dataset | None", "Dataset | None"]
"""``(train, val, test)``; val and test may be absent."""


@dataclass(frozen=True, eq=False)
class Standardizer:
    """Per-column affine scaling ``(X - mean) / scale``; ``mean`` and ``scale`` are ``(p,)``.

    Fit it on the training part only, then transform every part with it.
    """

    mean: FloatArray
    scale: FloatArray

    @classmethod
    def fit(cls, X: FloatArray) -> Standardizer:
        """Column means and population standard deviations of ``X`` (``(n, p)``, n >= 1).

        A constant column gets scale 1, so it maps to zeros instead of NaN.
        """
        if X.ndim != 2 or X.shape[0] == 0:
            raise ValueError(f"cannot fit a standardizer on an array of shape {X.shape}")
        mean = X.mean(axis=0)
        scale = X.std(axis=0)
        # max == min is an exact test for a constant column; std may be 1e-17 there.
        scale[np.ptp(X, axis=0) == 0] = 1.0
        return cls(mean=mean, scale=scale)

    def transform(self, X: FloatArray) -> FloatArray:
        """``(n, p)`` -> ``(n, p)`` standardized copy."""
        if X.ndim != 2 or X.shape[1] != self.mean.shape[0]:
            raise DataError(
                f"expected {self.mean.shape[0]} features, got an array of shape {X.shape}"
            )
        return (X - self.mean) / self.scale

    def apply(self, ds: Dataset) -> Dataset:
        """``ds`` with its ``X`` standardized."""
        return replace(ds, X=self.transform(ds.X))


@dataclass(frozen=True, eq=False)
class Splits:
    """The parts a model is trained, tuned and tested on, after optional scaling."""

    train: Dataset
    val: Dataset | None
    test: Dataset | None
    scaler: Standardizer | None


# --- built-in toy sets -------------------------------------------------------------


def make_builtin(
    name: str,
    *,
    n: int | None,
    noise: float,
    rng: np.random.Generator,
    arms: int = 2,
    centers: int = 3,
) -> Dataset:
    """A generated 2-D classification set: ``X`` is ``(n, 2)`` with features x1, x2.

    - ``xor``, ``and``, ``or``: without ``n``, exactly the four corners of the unit
      square with their truth-table targets and no noise; with ``n``, ``n`` points
      cycling through the corners (balanced across corners) plus Gaussian noise.
    - ``moons``: two interleaving half circles, as scikit-learn's ``make_moons``.
    - ``circles``: an outer unit circle (class 0) around an inner circle of radius 0.5
      (class 1), as scikit-learn's ``make_circles(factor=0.5)``.
    - ``spirals``: ``arms`` arms, one class each, points at radius 0..1 whose angle
      grows by 4 radians along the arm, the arms evenly rotated.
    - ``blobs``: ``centers`` isotropic Gaussian clusters of standard deviation
      ``noise`` whose centres sit evenly on a circle of radius 3 (a fixed layout, so
      ``noise`` alone sets how much the clusters overlap).

    For all but blobs, ``noise`` is the standard deviation of Gaussian noise added to
    both coordinates. ``n`` defaults to 200 for the non-logic sets; the generated
    samples are shuffled. The same ``rng`` state gives the same data.
    """
    if name not in BUILTIN:
        raise DataError(_unknown("built-in data set", name, BUILTIN))
    if not (np.isfinite(noise) and noise >= 0):
        raise DataError(f"{name}: noise must be a finite number >= 0, got {noise}")
    if name in LOGIC:
        return _make_logic(name, n=n, noise=noise, rng=rng)
    n = DEFAULT_N if n is None else n
    k = {"spirals": arms, "blobs": centers}.get(name, 2)
    if k < 2:
        raise DataError(f"{name}: needs at least 2 classes, got {k}")
    if n < k:
        raise DataError(f"{name}: n must be at least {k} (one sample per class), got {n}")
    counts = np.full(k, n // k) + (np.arange(k) < n % k)
    if name == "moons":
        X, y = _moons(counts)
    elif name == "circles":
        X, y = _circles(counts)
    elif name == "spirals":
        X, y = _spirals(counts)
    else:
        X, y = _blob_centres(counts)
    X = X + rng.normal(0.0, noise, size=X.shape)
    order = rng.permutation(n)
    return Dataset(
        X=X[order],
        y=y[order],
        feature_names=("x1", "x2"),
        class_names=tuple(str(c) for c in range(k)),
        name=name,
    )


def _make_logic(name: str, *, n: int | None, noise: float, rng: np.random.Generator) -> Dataset:
    targets = _LOGIC_TARGETS[name]
    if n is None:
        X, y = _CORNERS.copy(), targets.copy()
    else:
        if n < 4:
            raise DataError(f"{name}: n must be at least 4 (one point per corner), got {n}")
        corner = np.arange(n) % 4
        X = _CORNERS[corner] + rng.normal(0.0, noise, size=(n, 2))
        y = targets[corner]
    return Dataset(X=X, y=y, feature_names=("x1", "x2"), class_names=("0", "1"), name=name)


def _labels(counts: IntArray) -> IntArray:
    return np.repeat(np.arange(len(counts), dtype=np.int64), counts)


def _moons(counts: IntArray) -> tuple[FloatArray, IntArray]:
    t_out = np.linspace(0.0, np.pi, counts[0])
    t_in = np.linspace(0.0, np.pi, counts[1])
    outer = np.column_stack([np.cos(t_out), np.sin(t_out)])
    inner = np.column_stack([1.0 - np.cos(t_in), 0.5 - np.sin(t_in)])
    return np.vstack([outer, inner]), _labels(counts)


def _circles(counts: IntArray) -> tuple[FloatArray, IntArray]:
    t_out = np.linspace(0.0, 2 * np.pi, counts[0], endpoint=False)
    t_in = np.linspace(0.0, 2 * np.pi, counts[1], endpoint=False)
    outer = np.column_stack([np.cos(t_out), np.sin(t_out)])
    inner = CIRCLES_FACTOR * np.column_stack([np.cos(t_in), np.sin(t_in)])
    return np.vstack([outer, inner]), _labels(counts)


def _spirals(counts: IntArray) -> tuple[FloatArray, IntArray]:
    arms = []
    for j, m in enumerate(counts):
        r = np.linspace(0.0, 1.0, m)
        theta = 2 * np.pi * j / len(counts) + SPIRAL_ANGLE * r
        arms.append(np.column_stack([r * np.cos(theta), r * np.sin(theta)]))
    return np.vstack(arms), _labels(counts)


def _blob_centres(counts: IntArray) -> tuple[FloatArray, IntArray]:
    """The noise-free blobs: every sample at its cluster centre on the ring."""
    y = _labels(counts)
    angle = 2 * np.pi * y / len(counts)
    return BLOB_RING_RADIUS * np.column_stack([np.cos(angle), np.sin(angle)]), y


# --- bundled sets ------------------------------------------------------------------


def load_bundled(name: str) -> Dataset:
    """A data set shipped with gdcli.

    - ``breast_cancer``: Wisconsin diagnostic breast cancer, ``X`` (569, 30) with the
      header's feature names, classes ``("benign", "malignant")`` (malignant = 1).
    - ``digits``: 8x8 handwritten digits, ``X`` (1797, 64) = pixel / 16 in [0, 1],
      features ``px0..px63``, classes ``"0".."9"``.
    """
    if name == "breast_cancer":
        text = resources.files("gdcli.data.bundled").joinpath("wdbc.csv").read_text("utf-8")
        return _parse_csv(text, source="wdbc.csv", target="diagnosis", name=name)
    if name == "digits":
        with resources.files("gdcli.data.bundled").joinpath("digits.npz").open("rb") as f:
            archive = np.load(f, allow_pickle=False)
            images, labels = archive["images"], archive["labels"]
        X = images.reshape(images.shape[0], -1).astype(np.float64) / 16.0
        return Dataset(
            X=X,
            y=labels.astype(np.int64),
            feature_names=tuple(f"px{i}" for i in range(X.shape[1])),
            class_names=tuple(str(c) for c in range(10)),
            name=name,
        )
    raise DataError(_unknown("bundled data set", name, BUNDLED))


# --- CSV ---------------------------------------------------------------------------


def load_csv(path: str | Path, target: str) -> Dataset:
    """A CSV file with a header row: ``target`` names the target column, every other
    column is a numeric feature.

    ``X`` is ``(n, p)`` with ``p`` = columns - 1, in file order. A target whose
    values are all numbers with more than 20 distinct values or any non-integer
    value is a regression target; otherwise its values are class labels, sorted
    numerically for integer labels and by name for text labels.
    """
    text = _read_text(path)
    return _parse_csv(text, source=str(path), target=target, name=Path(path).stem)


def _read_text(path: str | Path) -> str:
    source = str(path)
    p = Path(path)
    if p.is_dir():
        raise DataError(Problem("is a directory, expected a CSV file", file=source))
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise DataError(Problem("no such file", file=source)) from None
    except OSError as e:
        raise DataError(Problem(f"cannot read the file: {e.strerror}", file=source)) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = "\x00"
    if "\x00" in text:
        raise DataError(
            Problem("not a text file (binary, or not UTF-8); expected CSV", file=source)
        )
    return text


def _parse_csv(text: str, *, source: str, target: str, name: str) -> Dataset:
    if not text.strip():
        raise DataError(Problem("the file is empty; expected a header row and data", file=source))
    reader = csv.reader(io.StringIO(text, newline=""))
    rows_in = _csv_rows(reader, source)
    header = [cell.strip() for cell in next(rows_in)]
    _check_header(header, source=source, target=target, line=reader.line_num)
    t = header.index(target)
    features = [j for j in range(len(header)) if j != t]

    problems: list[Problem] = []
    rows: list[list[float]] = []
    labels: list[tuple[str, int]] = []  # (target cell, line)
    for row in rows_in:
        line = reader.line_num
        if len(row) != len(header):
            problems.append(
                Problem(
                    f"expected {len(header)} cells as in the header, found {len(row)}",
                    file=source,
                    line=line,
                )
            )
            continue
        values = []
        for j in features:
            cell = row[j].strip()
            value = _to_float(cell)
            if value is None or not np.isfinite(value):
                problems.append(_bad_cell(header[j], cell, source, line, j))
            values.append(np.nan if value is None else value)
        rows.append(values)
        labels.append((row[t].strip(), line))
        if not labels[-1][0]:
            problems.append(_bad_cell(target, "", source, line, t))

    # A numeric target column is numbers throughout; "nan" or "inf" in it is a
    # missing value, while in a column of text labels it is just another label.
    numeric = all(_to_float(cell) is not None for cell, _ in labels if cell)
    if numeric:
        problems.extend(
            _bad_cell(target, cell, source, line, t)
            for cell, line in labels
            if cell and not np.isfinite(float(cell))
        )
    _raise_all(problems, source)
    if len(rows) < 2:
        raise DataError(Problem(f"needs at least 2 data rows, found {len(rows)}", file=source))
    cells = [cell for cell, _ in labels]
    y, class_names = (
        _encode_numeric(np.array([float(c) for c in cells])) if numeric else _encode_text(cells)
    )
    if class_names is not None and len(class_names) == 1:
        raise DataError(
            Problem(f"only one class '{class_names[0]}' in column '{target}'", file=source)
        )
    return Dataset(
        X=np.array(rows, dtype=np.float64).reshape(len(rows), len(features)),
        y=y,
        feature_names=tuple(header[j] for j in features),
        class_names=class_names,
        name=name,
    )


def _csv_rows(reader: Any, source: str) -> Iterator[list[str]]:
    """The non-blank rows of ``reader``; ``reader.line_num`` is each row's (last) line."""
    try:
        for row in reader:
            if row:
                yield row
    except csv.Error as e:
        raise DataError(Problem(f"malformed CSV: {e}", file=source, line=reader.line_num)) from None


def _check_header(header: list[str], *, source: str, target: str, line: int) -> None:
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
    if all(_to_float(col) is not None for col in header):
        raise DataError(
            Problem("the first row holds only numbers; a header row is required", file=source)
        )
    if target not in header:
        raise DataError(
            Problem(
                f"no target column '{target}'{_hint(target, header)}; columns: {', '.join(header)}",
                file=source,
                line=line,
            )
        )
    if len(header) < 2:
        raise DataError(Problem("no feature columns besides the target", file=source, line=line))


def _to_float(cell: str) -> float | None:
    """``float(cell)`` (possibly inf or nan), or None when ``cell`` is not a number."""
    try:
        return float(cell)
    except ValueError:
        return None


def _bad_cell(col: str, cell: str, source: str, line: int, j: int) -> Problem:
    """A cell that is empty, not a number, or not a finite number; ``j`` is 0-based."""
    if not cell:
        message = f"column '{col}': empty cell (missing value)"
    elif _to_float(cell) is None:
        message = f"column '{col}': '{_shown(cell)}' is not a number"
    else:
        message = f"column '{col}': '{cell}' is not a finite number"
    return Problem(message, file=source, line=line, column=j + 1)


def _shown(cell: str, limit: int = 40) -> str:
    """``cell`` on one line (a quoted cell may hold line breaks), cut to ``limit`` chars."""
    text = cell if cell.isprintable() else repr(cell)[1:-1]
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _encode_numeric(values: FloatArray) -> tuple[npt.NDArray[Any], tuple[str, ...] | None]:
    """``(n,)`` finite numbers -> class indices and names, or float64 values for regression."""
    distinct = np.unique(values)
    if len(distinct) > MAX_NUMERIC_CLASSES or np.any(distinct != np.round(distinct)):
        return values.astype(np.float64), None
    y = np.searchsorted(distinct, values).astype(np.int64)
    return y, tuple(str(int(v)) for v in distinct)


def _encode_text(values: Sequence[str]) -> tuple[IntArray, tuple[str, ...]]:
    """``n`` labels -> ``(n,)`` indices into the sorted distinct labels."""
    names = tuple(sorted(set(values)))
    index = {label: i for i, label in enumerate(names)}
    return np.array([index[v] for v in values], dtype=np.int64), names


def _raise_all(problems: list[Problem], source: str) -> None:
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
    p = Path(path)
    if p.is_dir():
        raise DataError(Problem("is a directory, expected an .npz file", file=source))
    if not p.exists():
        raise DataError(Problem("no such file", file=source))
    try:
        archive = np.load(p, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise DataError(Problem(f"not a readable .npz archive: {e}", file=source)) from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise DataError(Problem("a single .npy array, expected an .npz archive", file=source))
    with archive:
        arrays = {key: _read_array(archive, key, source) for key in archive.files}
    for key, a in arrays.items():
        if a.dtype.kind in "biuf" and not np.all(np.isfinite(a)):
            raise DataError(Problem(f"array '{key}' holds non-finite values", file=source))
    if "X" in arrays and "y" in arrays:
        return _npz_xy(arrays, source=source, name=p.stem), None, None
    if "train_images" in arrays and "train_labels" in arrays:
        return _npz_medmnist(arrays, source=source, name=p.stem)
    raise DataError(
        Problem(
            "expected arrays 'X' and 'y', or 'train_images' and 'train_labels' (with optional"
            f" 'val_*' and 'test_*' pairs); found: {', '.join(sorted(arrays)) or 'none'}",
            file=source,
        )
    )


def _read_array(archive: np.lib.npyio.NpzFile, key: str, source: str) -> npt.NDArray[Any]:
    try:
        return np.asarray(archive[key])
    except (OSError, ValueError, zipfile.BadZipFile) as e:
        # numpy refuses object arrays with a ValueError naming allow_pickle
        reason = "holds Python objects" if "allow_pickle" in str(e) else f"cannot be read: {e}"
        raise DataError(Problem(f"array '{key}' {reason}", file=source)) from None


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
        y, class_names = _encode_text([str(v) for v in y_raw.astype(str)])
    elif y_raw.dtype.kind in "biuf":
        y, class_names = _encode_numeric(y_raw.astype(np.float64))
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


# --- splitting and preparation -----------------------------------------------------


def split(
    ds: Dataset, *, test_fraction: float, val_fraction: float, rng: np.random.Generator
) -> tuple[Dataset, Dataset | None, Dataset | None]:
    """Random ``(train, val, test)`` parts of ``ds``; a part whose fraction is 0 is None.

    Classification sets are split per class (stratified): class ``c`` with ``m_c``
    samples gives ``round(m_c * fraction)`` to each held-out part, and always keeps
    at least one sample in train. Regression sets are split by one permutation.
    Each part's samples are in random order. The same ``rng`` state gives the same
    parts.
    """
    for label, f in (("test_fraction", test_fraction), ("val_fraction", val_fraction)):
        if not 0.0 <= f < 1.0:
            raise DataError(f"{label} must be in [0, 1), got {f}")
    if test_fraction + val_fraction >= 1.0:
        raise DataError(
            f"test_fraction + val_fraction must be below 1, got {test_fraction + val_fraction}"
        )
    if ds.class_names is None:
        groups = [rng.permutation(ds.y.shape[0])]
    else:
        groups = [rng.permutation(np.flatnonzero(ds.y == c)) for c in range(len(ds.class_names))]
    train_idx, val_idx, test_idx = [], [], []
    for g in groups:
        m = g.shape[0]
        n_test = round(m * test_fraction)
        n_val = round(m * val_fraction)
        # keep one training sample per group, taking it from the larger held-out part
        while m > 0 and n_test + n_val >= m:
            if n_val >= n_test:
                n_val -= 1
            else:
                n_test -= 1
        test_idx.append(g[:n_test])
        val_idx.append(g[n_test : n_test + n_val])
        train_idx.append(g[n_test + n_val :])
    train = ds.take(rng.permutation(np.concatenate(train_idx)))
    return (
        train,
        _held_out(ds, val_idx, val_fraction, "validation", rng),
        _held_out(ds, test_idx, test_fraction, "test", rng),
    )


def _held_out(
    ds: Dataset, idx: list[IntArray], fraction: float, label: str, rng: np.random.Generator
) -> Dataset | None:
    if fraction == 0.0:
        return None
    flat = np.concatenate(idx)
    if flat.shape[0] == 0:
        raise DataError(
            f"a {label} fraction of {fraction} of {ds.y.shape[0]} samples leaves the"
            f" {label} part of '{ds.name}' empty"
        )
    return ds.take(rng.permutation(flat))


def prepare(
    source: Dataset | Parts,
    *,
    test_fraction: float = 0.0,
    val_fraction: float = 0.0,
    standardize: bool = False,
    rng: np.random.Generator,
) -> Splits:
    """Split (where needed) and standardize a data set, or the parts of a file.

    ``source`` is one data set, or ``(train, val, test)`` as :func:`load_npz` returns.
    Parts the source already defines are kept and their fraction is ignored; a
    missing part with a fraction above 0 is split off the train part (stratified),
    so its fraction is of the train part. With ``standardize``, a
    :class:`Standardizer` is fitted on the train part only and applied to every
    part.
    """
    train, val, test = source if isinstance(source, tuple) else (source, None, None)
    tf = 0.0 if test is not None else test_fraction
    vf = 0.0 if val is not None else val_fraction
    if tf > 0.0 or vf > 0.0:
        train, new_val, new_test = split(train, test_fraction=tf, val_fraction=vf, rng=rng)
        val = new_val if val is None else val
        test = new_test if test is None else test
    if not standardize:
        return Splits(train=train, val=val, test=test, scaler=None)
    scaler = Standardizer.fit(train.X)
    return Splits(
        train=scaler.apply(train),
        val=None if val is None else scaler.apply(val),
        test=None if test is None else scaler.apply(test),
        scaler=scaler,
    )


def _unknown(kind: str, name: str, valid: Sequence[str]) -> str:
    return f"unknown {kind} '{name}'{_hint(name, valid)}; choose one of: {', '.join(valid)}"


def _hint(name: str, valid: Sequence[str]) -> str:
    near = nearest(name, valid)
    return f" (did you mean '{near}'?)" if near else ""
