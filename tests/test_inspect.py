"""`gdcli inspect`: a trained XOR network's weights and what each layer makes of the
four inputs; the printed activations give the model's predictions."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from clitools import gdcli, parse_json
from rich.console import Console

from gdcli.render import report

ROOT = Path(__file__).resolve().parent.parent
CORNERS = ["0,0", "0,1", "1,0", "1,1"]


@pytest.fixture(scope="module")
def xor_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("xor") / "run"
    result = gdcli("train-mlp", ROOT / "configs" / "xor.yaml", "--out", out, "--quiet")
    assert result.exit_code == 0, result.stderr
    return out / "model.npz"


def _inspect(model: Path, *more: object) -> dict:
    args: list[object] = ["inspect", model]
    for c in CORNERS:
        args += ["--input", c]
    result = gdcli(*args, *more, "--json")
    assert result.exit_code == 0, result.stderr
    return parse_json(result.stdout)


def _predict(model: Path, tmp_path: Path) -> list[str]:
    data = tmp_path / "corners.csv"
    data.write_text("x1,x2\n" + "\n".join(CORNERS) + "\n")
    result = gdcli("predict", model, data)
    assert result.exit_code == 0, result.stderr
    return [row["prediction"] for row in csv.DictReader(result.stdout.splitlines())]


def test_the_activations_of_the_four_inputs_give_the_predictions(
    xor_model: Path, tmp_path: Path
) -> None:
    doc = _inspect(xor_model)
    hidden, output = doc["layers"]
    assert doc["architecture"]["sizes"] == [2, 4, 1]
    assert doc["inputs"] == [[0, 0], [0, 1], [1, 0], [1, 1]]
    # layer 1 on the inputs, from the printed weights: z = x W + b, h = tanh(z)
    X = np.array(doc["inputs"], dtype=np.float64)
    W1, b1 = np.array(hidden["weights"]), np.array(hidden["biases"])
    z1 = np.array(hidden["pre_activations"])
    np.testing.assert_allclose(z1, X @ W1 + b1, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(hidden["activations"], np.tanh(z1), rtol=1e-6, atol=1e-6)
    # the output from the printed hidden activations
    W2, b2 = np.array(output["weights"]), np.array(output["biases"])
    z2 = np.array(output["pre_activations"])
    np.testing.assert_allclose(z2, np.array(hidden["activations"]) @ W2 + b2, rtol=1e-5, atol=1e-5)
    p = np.array(output["activations"])[:, 0]
    np.testing.assert_allclose(p, 1 / (1 + np.exp(-z2[:, 0])), rtol=1e-6)
    from_activations = ["1" if v > 0.5 else "0" for v in p]
    predicted = _predict(xor_model, tmp_path)
    assert from_activations == predicted == doc["predictions"] == ["0", "1", "1", "0"]


def test_the_table_shows_weights_rounded_and_fits_80_columns(xor_model: Path) -> None:
    doc = _inspect(xor_model)
    console = Console(width=80, record=True, color_system=None)
    report.inspect_report(console, doc)
    text = console.export_text()
    assert max(len(line) for line in text.splitlines()) <= 80
    assert "2 -> 4 (tanh) -> 1 (sigmoid), 17 parameters" in text
    w = doc["layers"][0]["weights"][0][0]
    assert report.num(w, 4) in text and repr(w) not in text
    assert "layer 2 on the inputs: z, then h = sigmoid(z)" in text


def test_data_file_rows_are_inputs_with_the_saved_standardization(tmp_path: Path) -> None:
    out = tmp_path / "run"
    args = ["train-mlp", ROOT / "configs" / "xor.yaml", "--out", out, "--quiet"]
    result = gdcli(*args, "--set", "data.standardize=true", "--set", "epochs=5")
    assert result.exit_code == 0, result.stderr
    data = tmp_path / "corners.csv"
    data.write_text("x2,x1\n0,0\n1,0\n0,1\n1,1\n")  # columns found by name
    doc = parse_json(gdcli("inspect", out / "model.npz", "--data", data, "--json").stdout)
    assert doc["inputs"] == [[0, 0], [0, 1], [1, 0], [1, 1]]
    mean, scale = (np.array(doc["standardization"][k]) for k in ("mean", "scale"))
    X = (np.array(doc["inputs"]) - mean) / scale
    layer = doc["layers"][0]
    expected = X @ np.array(layer["weights"]) + np.array(layer["biases"])
    np.testing.assert_allclose(layer["pre_activations"], expected, rtol=1e-5, atol=1e-5)
    assert doc["predictions"] == _predict(out / "model.npz", tmp_path)


def test_hidden_units_picture_draws_each_unit_line(xor_model: Path, tmp_path: Path) -> None:
    doc = _inspect(xor_model, "--plot", "--out", tmp_path)
    assert doc["pictures"] == [str(tmp_path / "hidden_units.png")]
    assert (tmp_path / "hidden_units.png").stat().st_size > 20_000
    from gdcli.experiments.inspection import run_inspect
    from gdcli.render.plot.inspect import hidden_units_figure

    fig = hidden_units_figure(run_inspect(xor_model, CORNERS))
    W, b = np.array(doc["layers"][0]["weights"]), np.array(doc["layers"][0]["biases"])
    for j in range(4):
        (line,) = [
            a for a in fig.findobj() if getattr(a, "get_gid", lambda: None)() == f"unit:{j + 1}"
        ]
        xy = np.asarray(line.get_xydata())  # type: ignore[attr-defined]
        np.testing.assert_allclose(xy @ W[:, j] + b[j], 0, atol=1e-5)  # on w . x + b = 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--input", "0,x"], "--input 1 '0,x': not numbers"),
        (["--input", "0,1,2"], "3 number(s); the model takes 2 feature(s)"),
        (["--plot"], "--plot draws a model of 2 inputs over its inputs"),
    ],
)
def test_bad_inputs_are_bad_input(xor_model: Path, args: list[str], message: str) -> None:
    result = gdcli("inspect", xor_model, *args)
    assert result.exit_code == 2
    assert message in result.stderr


def test_not_a_model_is_bad_input(tmp_path: Path) -> None:
    result = gdcli("inspect", tmp_path / "missing.npz")
    assert result.exit_code == 2
    assert "no such model file" in result.stderr
