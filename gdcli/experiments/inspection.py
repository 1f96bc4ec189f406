"""Inside a trained network (``gdcli inspect``): its architecture, every layer's
weights and biases, and for given inputs each layer's pre-activations and
activations, computed by the network's own inference code (``nn.layer_values``)
after the model's saved standardization, as ``gdcli predict`` applies it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gdcli import nn
from gdcli.errors import UserError
from gdcli.experiments.modelfile import SavedModel, load_model
from gdcli.experiments.predict import read_model_inputs


@dataclass(frozen=True)
class Inspection:
    """A saved model and, when inputs were given, what each layer made of them:
    ``X`` (n, p) in the model's units (before its standardization), ``values`` one
    (z, h) pair per layer, each (n, units), and the predicted class (or value) per row."""

    path: str
    model: SavedModel
    X: np.ndarray | None = None
    values: tuple[tuple[np.ndarray, np.ndarray], ...] = ()
    predictions: tuple[str, ...] = ()

    def layer_activation(self, k: int) -> str:
        """The activation of layer ``k`` (0-based): a hidden one's, or the output's."""
        acts = self.model.arch.activations
        return acts[k] if k < len(acts) else self.model.arch.output

    def to_dict(self) -> dict[str, Any]:
        """The whole inspection at full precision (the JSON of ``gdcli inspect``)."""
        m = self.model
        layers = []
        for k, (W, b) in enumerate(m.layers):
            entry: dict[str, Any] = {
                "layer": k + 1,
                "kind": "hidden" if k < len(m.arch.activations) else "output",
                "activation": self.layer_activation(k),
                "inputs": int(W.shape[0]),
                "units": int(W.shape[1]),
                "weights": W.tolist(),
                "biases": b.tolist(),
            }
            if self.values:
                z, h = self.values[k]
                entry["pre_activations"] = z.tolist()
                entry["activations"] = h.tolist()
            layers.append(entry)
        scaled = m.mean is not None and m.scale is not None
        return {
            "command": "inspect",
            "model": self.path,
            "architecture": m.arch.to_dict(),
            "features": list(m.feature_names),
            "classes": list(m.class_names) if m.class_names else None,
            "standardization": (
                {"mean": m.mean.tolist(), "scale": m.scale.tolist()}  # type: ignore[union-attr]
                if scaled
                else None
            ),
            "parameters": m.arch.n_params(),
            "layers": layers,
            "inputs": None if self.X is None else self.X.tolist(),
            "predictions": list(self.predictions) if self.values else None,
        }


def parse_inputs(texts: Sequence[str], n_features: int) -> np.ndarray:
    """``--input`` values (each ``a,b,...``, one number per feature) as rows (n, p)."""
    rows = []
    for i, text in enumerate(texts, start=1):
        parts = [p.strip() for p in text.split(",")]
        try:
            row = [float(p) for p in parts]
        except ValueError:
            raise UserError(
                f"--input {i} '{text}': not numbers; write one number per feature, "
                "separated by commas, e.g. --input 0,1"
            ) from None
        if len(row) != n_features:
            raise UserError(
                f"--input {i} '{text}': {len(row)} number(s); the model takes "
                f"{n_features} feature(s)"
            )
        if not all(np.isfinite(row)):
            raise UserError(f"--input {i} '{text}': numbers must be finite")
        rows.append(row)
    return np.asarray(rows, dtype=np.float64)


def run_inspect(
    model_path: Path, inputs: Sequence[str] = (), data_path: Path | None = None
) -> Inspection:
    """The model at ``model_path``, applied to the ``--input`` rows and/or the rows of
    the CSV file ``data_path`` (its feature columns found by name, as predict does)."""
    model = load_model(model_path)
    parts = []
    if inputs:
        parts.append(parse_inputs(inputs, model.arch.sizes[0]))
    if data_path is not None:
        parts.append(read_model_inputs(model, data_path).X)
    if not parts:
        return Inspection(str(model_path), model)
    X = np.concatenate(parts)
    prepared = model.prepare(X)
    values = tuple(nn.layer_values(model.arch, model.layers, prepared))
    return Inspection(str(model_path), model, X, values, _predictions(model, prepared))


def _predictions(model: SavedModel, X: np.ndarray) -> tuple[str, ...]:
    """The class (or value) per row of the prepared inputs, as ``gdcli predict`` says it."""
    from gdcli.runs import format_number

    out = nn.predict(model.arch, model.layers, X)
    if model.class_names is None:
        return tuple(format_number(float(v)) for v in np.reshape(out, (len(X), -1))[:, 0])
    return tuple(model.class_names[int(j)] for j in out)


def input_space_lines(model: SavedModel) -> tuple[np.ndarray, np.ndarray]:
    """The first layer's units as lines w . x + b = 0 in the model's input units
    (before standardization): (W (p, units), b (units,)) with z = x @ W + b."""
    W, b = model.layers[0]
    W = np.asarray(W, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if model.mean is not None and model.scale is not None:
        # z = ((x - m) / s) @ W + b = x @ (W / s) + (b - (m / s) @ W)
        W, b = W / model.scale[:, None], b - (model.mean / model.scale) @ W
    return W, b
