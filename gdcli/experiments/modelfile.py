"""The model file: ``model.npz`` as ``gdcli train-mlp`` writes it and ``predict``,
``inspect`` and ``plot`` read it back, checked array by array."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from gdcli import data, nn

if TYPE_CHECKING:
    from gdcli.experiments.train import TrainPlan, TrainResult

NOT_A_MODEL = "not a gdcli model file (expected the model.npz written by gdcli train-mlp)"

# The target column's name for data that has no CSV header to take it from.
_NATURAL_TARGETS = {"breast_cancer": "diagnosis", "digits": "digit"}


@dataclass(frozen=True)
class SavedModel:
    """A trained network with everything needed to apply it to new data."""

    arch: nn.Architecture
    layers: list[nn.Layer]
    feature_names: tuple[str, ...]
    class_names: tuple[str, ...] | None
    mean: np.ndarray | None  # (p,) standardization fitted on the training part
    scale: np.ndarray | None
    # The name of the column the model predicts; None in files written before gdcli
    # saved it, and for data without a natural name (an .npz file).
    target: str | None = None

    def prepare(self, X: np.ndarray) -> np.ndarray:
        if self.mean is not None and self.scale is not None:
            X = (X - self.mean) / self.scale
        return X.astype(self.arch.dtype)


def natural_target_name(data_name: str, features: tuple[str, ...] | None = None) -> str | None:
    """The target's name for a bundled or built-in data set, else None.

    With ``features``, the data must also have that set's feature names, so that a
    CSV file that happens to be called ``moons.csv`` is not taken for the built-in set.
    """
    from importlib import resources

    if data_name == "breast_cancer":
        text = resources.files("gdcli.data.bundled").joinpath("wdbc.csv").read_text("utf-8")
        expected = tuple(c for c in text.split("\n", 1)[0].strip().split(",") if c != "diagnosis")
    elif data_name == "digits":
        expected = tuple(f"px{i}" for i in range(64))
    elif data_name in data.BUILTIN:
        expected = ("x1", "x2")
    else:
        return None
    if features is not None and tuple(features) != expected:
        return None
    return _NATURAL_TARGETS.get(data_name, "label")


def model_arrays(
    plan: TrainPlan, result: TrainResult, target_name: str | None = None
) -> dict[str, np.ndarray]:
    """The arrays of model.npz: every parameter in one flat vector (shapes follow from
    the architecture), the architecture and names as JSON text, the scaler.

    ``target_name`` is the target column of CSV data; without it, the natural name of
    a bundled or built-in data set is saved ("diagnosis", "digit", "label"), or null.
    """
    import json

    flat = np.concatenate([p.ravel() for p in nn.flatten(result.layers)])
    train = plan.splits.train
    scaler = plan.splits.scaler
    target = target_name
    if target is None:
        target = natural_target_name(train.name, train.feature_names)
    return {
        "params": flat,
        "architecture": np.array(json.dumps(plan.arch.to_dict())),
        "feature_names": np.array(json.dumps(list(train.feature_names))),
        "class_names": np.array(json.dumps(list(train.class_names) if train.class_names else None)),
        "target": np.array(json.dumps(target)),
        "scaler_mean": np.asarray(scaler.mean if scaler else np.zeros(0)),
        "scaler_scale": np.asarray(scaler.scale if scaler else np.zeros(0)),
    }


class _Corrupt(Exception):
    """What is wrong with a model file; ``load_model`` turns it into a DataError."""


def load_model(path: str | Path) -> SavedModel:
    """Read a model.npz written by ``gdcli train-mlp``.

    Anything else, or a damaged or inconsistent model file, is a ``DataError`` with one
    problem naming the file: "not a gdcli model file: <what is wrong>".
    """
    from gdcli.errors import DataError, Problem

    if not os.path.lexists(path):
        raise DataError(Problem("no such model file", file=str(path)))
    words = data.NpzMessages("a gdcli model file", NOT_A_MODEL, "not a gdcli model file: ")
    arrays = data.read_npz(path, words)
    try:
        return _model_from_arrays(arrays)
    except _Corrupt as exc:
        raise DataError(Problem(f"not a gdcli model file: {exc}", file=str(path))) from None


def _model_from_arrays(arrays: dict[str, np.ndarray]) -> SavedModel:
    """The model the arrays of a model.npz describe; ``_Corrupt`` when they do not."""
    missing = [k for k in ("params", "architecture", "feature_names") if k not in arrays]
    if missing:
        raise _Corrupt(f"missing {', '.join(missing)}")
    arch = _architecture(arrays)
    features = _name_list(_json_array(arrays, "feature_names"), "feature_names")
    if features is None:
        raise _Corrupt("'feature_names' is null, expected a list of column names")
    if len(features) != arch.sizes[0]:
        raise _Corrupt(f"{len(features)} feature name(s) for an input layer of {arch.sizes[0]}")
    classes = _class_names(arrays, arch)
    target = _json_array(arrays, "target", "null")
    if target is not None and (not isinstance(target, str) or not target):
        raise _Corrupt("'target' is not a column name")
    if target in features:
        raise _Corrupt(f"the target '{target}' is also a feature")
    mean, scale = _scaler(arrays, arch.sizes[0])
    return SavedModel(
        arch,
        _layers(arrays, arch),
        tuple(features),
        tuple(classes) if classes else None,
        mean,
        scale,
        target,
    )


def _architecture(arrays: dict[str, np.ndarray]) -> nn.Architecture:
    from gdcli.errors import ConfigError

    spec = _json_array(arrays, "architecture")
    if not isinstance(spec, dict):
        raise _Corrupt("'architecture' is not a JSON object")
    try:
        return nn.Architecture.from_dict(spec)
    except (ConfigError, TypeError, ValueError) as exc:
        problems = getattr(exc, "problems", None)
        detail = problems[0].message if problems else str(exc)
        detail = detail.removeprefix("architecture: ")
        raise _Corrupt(f"architecture: {detail}") from None


def _class_names(arrays: dict[str, np.ndarray], arch: nn.Architecture) -> list[str] | None:
    """The class names, as many as the output layer needs (none for regression)."""
    classes = _name_list(_json_array(arrays, "class_names", "null"), "class_names")
    expected = {"sigmoid": 2, "softmax": arch.sizes[-1], "identity": None}[arch.output]
    if (classes is None) != (expected is None) or (
        classes is not None and len(classes) != expected
    ):
        got = "no class names" if classes is None else f"{len(classes)} class name(s)"
        want = "none (regression)" if expected is None else str(expected)
        raise _Corrupt(f"{got} for a {arch.output} output; expected {want}")
    return classes


def _layers(arrays: dict[str, np.ndarray], arch: nn.Architecture) -> list[nn.Layer]:
    """The flat parameter vector cut into the architecture's (W, b) layers."""
    flat = _float_vector(arrays, "params")
    if flat.size != arch.n_params():
        raise _Corrupt(
            f"{flat.size} parameters, the architecture {list(arch.sizes)} needs {arch.n_params()}"
        )
    parts, offset = [], 0
    for fan_in, fan_out in zip(arch.sizes[:-1], arch.sizes[1:], strict=True):
        for shape in ((fan_in, fan_out), (fan_out,)):
            size = int(np.prod(shape))
            parts.append(flat[offset : offset + size].reshape(shape))
            offset += size
    return nn.unflatten(parts)


def _scaler(
    arrays: dict[str, np.ndarray], n_in: int
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """The saved standardization (mean, scale), each (n_in,), or (None, None)."""
    mean = _float_vector(arrays, "scaler_mean") if "scaler_mean" in arrays else None
    scale = _float_vector(arrays, "scaler_scale") if "scaler_scale" in arrays else None
    mean = mean if mean is not None and mean.size else None
    scale = scale if scale is not None and scale.size else None
    if (mean is None) != (scale is None):
        raise _Corrupt("'scaler_mean' and 'scaler_scale' must both be present or both empty")
    if mean is not None and scale is not None:
        if mean.size != n_in or scale.size != n_in:
            raise _Corrupt(
                f"scaler of {mean.size} means and {scale.size} scales for {n_in} features"
            )
        if not np.all(scale > 0):
            raise _Corrupt("'scaler_scale' holds a scale that is not positive")
    return mean, scale


def _json_array(arrays: dict[str, np.ndarray], key: str, default: str | None = None) -> Any:
    """The JSON value held as text in the 0-d string array ``key`` (``default`` if absent)."""
    import json

    if key not in arrays:
        if default is None:
            raise _Corrupt(f"missing {key}")
        return json.loads(default)
    a = arrays[key]
    if a.shape != () or a.dtype.kind != "U":
        raise _Corrupt(f"'{key}' is not JSON text (an array of {a.dtype} {a.shape})")
    try:
        return json.loads(str(a))
    except (ValueError, RecursionError):
        raise _Corrupt(f"'{key}' is not valid JSON") from None


def _name_list(value: Any, key: str) -> list[str] | None:
    """``value`` as a list of distinct non-empty names (None stays None)."""
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise _Corrupt(f"'{key}' is not a list of names")
    if len(set(value)) != len(value):
        raise _Corrupt(f"'{key}' holds a name twice")
    return value


def _float_vector(arrays: dict[str, np.ndarray], key: str) -> np.ndarray:
    """The 1-D array ``key`` of finite floating-point numbers."""
    a = arrays[key]
    if a.ndim != 1 or a.dtype.kind != "f":
        raise _Corrupt(f"'{key}' is an array of {a.dtype} {a.shape}, expected 1-D floats")
    if not np.all(np.isfinite(a)):
        raise _Corrupt(f"'{key}' holds values that are not finite numbers")
    return a
