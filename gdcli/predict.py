"""Applying a saved model to a CSV file: predictions, probabilities and, when the file
has the target column, accuracy."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gdcli import nn
from gdcli.errors import DataError, Problem
from gdcli.runs import format_number
from gdcli.train import SavedModel, load_model


@dataclass(frozen=True)
class Prediction:
    model: SavedModel
    predictions: list[str]  # class name (or value for regression) per row
    proba: np.ndarray  # (n, k)
    truth: list[str] | None  # the target column, when the file has one
    accuracy: float | None

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
            "out": out,
        }


def _read_rows(path: Path) -> tuple[list[str], list[tuple[int, list[str]]]]:
    source = str(path)
    if not path.exists():
        raise DataError(Problem("no such file", file=source))
    if path.is_dir():
        raise DataError(Problem("is a directory, expected a CSV file", file=source))
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except (OSError, UnicodeDecodeError):
        raise DataError(
            Problem("cannot be read as UTF-8 text; expected CSV", file=source)
        ) from None
    if "\x00" in text or not text.strip():
        raise DataError(Problem("empty or binary file; expected CSV with a header", file=source))
    reader = csv.reader(io.StringIO(text, newline=""))
    header = [c.strip() for c in next(reader)]
    rows = [(reader.line_num, row) for row in reader if row]
    return header, rows


def _label(cell: str) -> str:
    """A target cell as a class name, read as training reads it: 1.0 and 1 are class '1'."""
    text = cell.strip()
    try:
        value = float(text)
    except ValueError:
        return text
    return str(int(value)) if value.is_integer() else text


def run_predict(model_path: Path, data_path: Path) -> Prediction:
    """Predict every row of ``data_path`` with the model at ``model_path``."""
    model = load_model(model_path)
    header, rows = _read_rows(data_path)
    source = str(data_path)
    missing = [f for f in model.feature_names if f not in header]
    if missing:
        shown = ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else "")
        raise DataError(
            Problem(
                f"the model needs {len(model.feature_names)} feature columns; missing: {shown}",
                file=source,
                line=1,
            )
        )
    cols = [header.index(f) for f in model.feature_names]
    extra = [j for j in range(len(header)) if header[j] not in model.feature_names]
    target = extra[0] if len(extra) == 1 else None
    problems: list[Problem] = []
    X = np.empty((len(rows), len(cols)))
    truth: list[str] = []
    for i, (line, row) in enumerate(rows):
        if len(row) != len(header):
            problems.append(
                Problem(f"expected {len(header)} cells, found {len(row)}", file=source, line=line)
            )
            continue
        for k, j in enumerate(cols):
            try:
                X[i, k] = float(row[j])
            except ValueError:
                X[i, k] = np.nan
            if not np.isfinite(X[i, k]):
                problems.append(
                    Problem(
                        f"column '{header[j]}': '{row[j].strip()}' is not a number",
                        file=source,
                        line=line,
                        column=j + 1,
                    )
                )
        if target is not None:
            truth.append(_label(row[target]))
        if len(problems) >= 20:
            break
    if problems:
        raise DataError(*problems)
    if not rows:
        raise DataError(Problem("no data rows", file=source))
    Xp = model.prepare(X)
    proba = nn.predict_proba(model.arch, model.layers, Xp)
    classes = model.class_names
    if classes is None:
        preds = [format_number(float(v)) for v in proba[:, 0]]
    else:
        preds = [classes[int(j)] for j in nn.predict(model.arch, model.layers, Xp)]
    accuracy = None
    if target is not None and classes is not None and set(truth) <= set(classes):
        accuracy = float(np.mean([p == t for p, t in zip(preds, truth, strict=True)]))
    return Prediction(model, preds, proba, truth if target is not None else None, accuracy)


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
