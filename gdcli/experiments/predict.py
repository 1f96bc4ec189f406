"""Applying a saved model to a CSV file: predictions, probabilities and, when the file
has the target column, accuracy.

The file is read with the rules and messages of ``gdcli.data`` (the reader of the
training CSV). Its columns are the model's features, found by name in any order,
optionally the target column, found by the name saved in the model, and anything else,
which is ignored and reported in ``Prediction.ignored_columns``.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gdcli import data, nn
from gdcli.errors import DataError, Problem
from gdcli.experiments.modelfile import SavedModel, load_model
from gdcli.runs import format_number


@dataclass(frozen=True)
class Prediction:
    """The predictions for one file, and what the caller should warn about.

    - ``target``: the column read as the target, or None;
    - ``ignored_columns``: the file's other columns that are neither features nor the
      target, in file order;
    - ``unknown_labels``: the distinct target values (sorted) that are not classes of
      the model; accuracy is None when there are any;
    - ``missing_labels``: the number of empty target cells; accuracy is None then too.

    ``unknown_labels`` and ``missing_labels`` concern classifiers only (empty and 0 for
    a regression model, whose accuracy is always None).
    """

    model: SavedModel
    predictions: list[str]  # class name (or value for regression) per row
    proba: np.ndarray  # (n, k)
    truth: list[str] | None  # the target column, when the file has one
    accuracy: float | None
    target: str | None = None
    ignored_columns: tuple[str, ...] = ()
    unknown_labels: tuple[str, ...] = ()
    missing_labels: int = 0

    @property
    def n(self) -> int:
        return len(self.predictions)

    def to_dict(self, out: str | None) -> dict[str, Any]:
        classes = self.model.class_names
        return {
            "rows": self.n,
            "classes": list(classes) if classes else None,
            "predictions": self.predictions,
            "probabilities": self.proba.tolist() if classes else None,
            "accuracy": self.accuracy,
            "target": self.target,
            "ignored_columns": list(self.ignored_columns),
            "unknown_labels": list(self.unknown_labels),
            "missing_labels": self.missing_labels,
            "out": out,
        }


def _label(cell: str, classes: tuple[str, ...] | None) -> str:
    """A target cell as a class name, read as training reads it: 1.0 and 1 are class '1'
    (unless the model has a class named '1.0')."""
    text = cell.strip()
    if classes is not None and text in classes:
        return text
    value = data.to_float(text)
    if value is None or not value.is_integer():
        return text
    return str(int(value))


def _target_column(
    model: SavedModel, header: list[str], extra: list[int]
) -> tuple[int | None, list[int]]:
    """The target column's index (or None) and the ignored columns' indices.

    The target is the column named as the model's saved target. A model file without
    a target name (written before gdcli saved it, or trained on an .npz file) takes
    the one column besides the features when there is exactly one.
    """
    if model.target is not None:
        target = header.index(model.target) if model.target in header else None
    else:
        target = extra[0] if len(extra) == 1 else None
    return target, [j for j in extra if j != target]


def _features_and_truth(
    model: SavedModel,
    table: data.CsvTable,
    cols: list[int],
    target: int | None,
    source: str,
) -> tuple[np.ndarray, list[str]]:
    """The feature columns ``cols`` as numbers (n, p) and the target cells as class
    names; every bad row or cell is reported at once."""
    classes = model.class_names
    rows = table.rows
    problems: list[Problem] = []
    X = np.empty((len(rows), len(cols)))
    truth: list[str] = []
    for i, (line, row) in enumerate(rows):
        values = data.numeric_cells(table, line, row, cols, problems)
        if values is None:
            continue
        X[i] = values
        if target is not None:
            truth.append(_label(row[target], classes))
    data.raise_all(problems, source)
    return X, truth


@dataclass(frozen=True)
class ModelInputs:
    """A CSV file read for a model: the feature columns in the model's order (n, p),
    unscaled; the target column (index, cells as class names) when the file has one;
    the header and the columns that are neither."""

    X: np.ndarray
    header: list[str]
    target: int | None
    truth: list[str]
    ignored: list[int]


def read_model_inputs(model: SavedModel, data_path: Path) -> ModelInputs:
    """The rows of ``data_path`` as ``model``'s inputs; a DataError naming the file
    for missing feature columns, bad cells or no rows."""
    table = data.read_table(data.read_text(data_path), str(data_path), target=None)
    header, header_line, rows = table.header, table.header_line, table.rows
    source = str(data_path)
    missing = [f for f in model.feature_names if f not in header]
    if missing:
        shown = ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else "")
        raise DataError(
            Problem(
                f"the model needs {len(model.feature_names)} feature columns; missing: {shown}",
                file=source,
                line=header_line,
            )
        )
    cols = [header.index(f) for f in model.feature_names]
    extra = [j for j in range(len(header)) if header[j] not in model.feature_names]
    target, ignored = _target_column(model, header, extra)
    X, truth = _features_and_truth(model, table, cols, target, source)
    if not rows:
        raise DataError(Problem("no data rows", file=source))
    return ModelInputs(X, header, target, truth, ignored)


def run_predict(model_path: Path, data_path: Path) -> Prediction:
    """Predict every row of ``data_path`` with the model at ``model_path``."""
    model = load_model(model_path)
    inputs = read_model_inputs(model, data_path)
    X, header, target, truth, ignored = (
        inputs.X,
        inputs.header,
        inputs.target,
        inputs.truth,
        inputs.ignored,
    )
    classes = model.class_names
    Xp = model.prepare(X)
    proba = nn.predict_proba(model.arch, model.layers, Xp)
    if classes is None:
        preds = [format_number(float(v)) for v in proba[:, 0]]
    else:
        preds = [classes[int(j)] for j in nn.predict(model.arch, model.layers, Xp)]
    accuracy = None
    unknown: tuple[str, ...] = ()
    n_missing = 0
    if target is not None and classes is not None:
        n_missing = sum(1 for t in truth if not t)
        unknown = tuple(sorted({t for t in truth if t} - set(classes)))
        if not unknown and not n_missing:
            accuracy = float(np.mean([p == t for p, t in zip(preds, truth, strict=True)]))
    return Prediction(
        model,
        preds,
        proba,
        truth if target is not None else None,
        accuracy,
        target=None if target is None else header[target],
        ignored_columns=tuple(header[j] for j in ignored),
        unknown_labels=unknown,
        missing_labels=n_missing,
    )


def predictions_csv(result: Prediction) -> str:
    """``prediction`` then one ``p_<class>`` column per class (and ``target`` if known)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    classes = result.model.class_names
    head = ["row", "prediction"]
    if classes:
        head += [f"p_{c}" for c in classes]
    if result.truth is not None:
        head.append("target")
    w.writerow(head)
    for i, pred in enumerate(result.predictions):
        row: list[str] = [str(i), pred]
        if classes:
            row += [format_number(float(p)) for p in result.proba[i]]
        if result.truth is not None:
            row.append(result.truth[i])
        w.writerow(row)
    return buf.getvalue()
