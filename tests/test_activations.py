"""`gdcli activations`: h and h' of every activation from gdcli's own backward pass,
PyTorch's conventions at kinks, the same activations inside formulas, and the
pictures of h and h'."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from clitools import gdcli, parse_json

from gdcli.engine import expr
from gdcli.engine.activations import ACTIVATIONS, values_and_derivatives
from gdcli.render import report

KINKS = {name: entry.kinks for name, entry in ACTIVATIONS.items()}


def _table(*points: float) -> dict[str, dict[str, list[float]]]:
    result = gdcli("activations", "--at", ",".join(map(str, points)), "--json")
    assert result.exit_code == 0, result.stderr
    doc = parse_json(result.stdout)
    assert doc["points"] == [float(p) for p in points]
    return {row["name"]: row for row in doc["activations"]}


def test_the_lecture_numbers_at_0_and_1() -> None:
    rows = _table(0, 1)
    assert set(rows) == {
        "linear",
        "sigmoid",
        "tanh",
        "relu",
        "leaky_relu",
        "elu",
        "softplus",
        "gelu",
        "heaviside",
    }
    assert rows["sigmoid"]["dh"][0] == 0.25
    assert rows["tanh"]["dh"][0] == 1.0
    assert rows["relu"]["dh"][1] == 1.0
    assert rows["heaviside"]["dh"][1] == 0.0
    assert rows["sigmoid"]["h"][0] == 0.5
    # PyTorch's conventions at the kink x = 0
    assert rows["relu"]["dh"][0] == 0.0
    assert rows["leaky_relu"]["dh"][0] == 0.01
    assert rows["heaviside"]["dh"][0] == 0.0
    assert rows["elu"]["dh"][0] == 1.0
    assert rows["relu"]["at_kink"] == [True, False]
    assert rows["gelu"]["h"][1] == pytest.approx(0.5 * (1 + math.erf(1 / math.sqrt(2))), rel=1e-15)


def test_derivatives_equal_central_differences_away_from_kinks() -> None:
    points = [-3.0, -2.0, -1.3, -0.7, -0.2, 0.1, 0.5, 1.0, 2.0, 3.5]
    rows = _table(*points)
    step = 1e-6
    for name, row in rows.items():
        for x, dh in zip(points, row["dh"], strict=True):
            assert all(abs(x - k) > 1e-3 for k in KINKS[name])
            h = ACTIVATIONS[name].array
            fd = (h(np.array(x + step)) - h(np.array(x - step))) / (2 * step)
            assert dh == pytest.approx(float(fd), abs=1e-8), (name, x)


def test_the_table_fits_80_columns_and_marks_kinks() -> None:
    from rich.console import Console

    console = Console(width=80, record=True, color_system=None)
    summary = parse_json(gdcli("activations", "--json").stdout)
    report.activations_report(console, summary)
    text = console.export_text()
    assert max(len(line) for line in text.splitlines()) <= 80
    assert "0.01*" in text  # leaky_relu'(0)
    # seven points make two tables of at most five columns each
    summary = parse_json(gdcli("activations", "--at", "-3,-2,-1,0,1,2,3", "--json").stdout)
    console = Console(width=80, record=True, color_system=None)
    report.activations_report(console, summary)
    text = console.export_text()
    assert max(len(line) for line in text.splitlines()) <= 80
    assert "x = 3" in text and text.count("sigmoid") >= 2


def test_bad_points_are_bad_input() -> None:
    result = gdcli("activations", "--at", "0,x")
    assert result.exit_code == 2
    assert "coordinate 2 'x' is not a number" in result.stderr


@pytest.mark.parametrize(
    ("formula", "at", "value", "gradient"),
    [
        ("heaviside(x)", 1.0, 1.0, 0.0),
        ("heaviside(x)", 0.0, 0.0, 0.0),
        ("relu(x)", 0.0, 0.0, 0.0),
        ("leaky_relu(x)", -2.0, -0.02, 0.01),
        ("leaky_relu(x, 0.1)", -2.0, -0.2, 0.1),
        ("leaky_relu(x, -0.5)", -2.0, 1.0, -0.5),
        ("elu(x)", 0.0, 0.0, 1.0),
        ("elu(x, 2)", -1.0, 2 * (math.exp(-1) - 1), 2 * math.exp(-1)),
        ("softplus(x)", 0.0, math.log(2), 0.5),
        ("gelu(x)", 0.0, 0.0, 0.5),
        ("3*sigmoid(2*x)", 0.0, 1.5, 1.5),
    ],
)
def test_activations_in_formulas(formula: str, at: float, value: float, gradient: float) -> None:
    result = gdcli("grad", formula, "--at", str(at), "--json")
    assert result.exit_code == 0, result.stderr
    doc = parse_json(result.stdout)
    assert doc["value"] == pytest.approx(value, rel=1e-14, abs=1e-15)
    assert doc["gradient"][0] == pytest.approx(gradient, rel=1e-14, abs=1e-15)


def test_formulas_read_the_one_activation_table() -> None:
    for name, entry in ACTIVATIONS.items():
        assert expr.FUNCTIONS[name].graph is entry.graph
        assert expr.FUNCTIONS[name].array is entry.array
    # vectorized values match the graph op
    f = expr.parse("leaky_relu(x, 0.2) + elu(x)")
    x = np.array([-1.0, 0.0, 2.0])
    assert np.allclose(f.values(x), np.where(x > 0, 2 * x, 0.2 * x + np.expm1(x)))


@pytest.mark.parametrize(
    ("formula", "message"),
    [
        ("leaky_relu(x, y)", "slope alpha must be a number"),
        ("relu(x, 0.1)", "relu() takes 1 argument(s), got 2"),
        ("elu(x, 1, 2)", "elu() takes 1 or 2 arguments"),
        ("heaviside", "'heaviside' is a function"),
    ],
)
def test_activation_misuse_in_formulas_is_bad_input(formula: str, message: str) -> None:
    result = gdcli("grad", formula, "--at", "1")
    assert result.exit_code == 2
    assert message in result.stderr


def test_pictures_of_h_and_h_prime(tmp_path: Path) -> None:
    result = gdcli("activations", "--plot", "--out", tmp_path / "pics", "--json")
    assert result.exit_code == 0, result.stderr
    doc = parse_json(result.stdout)
    assert [Path(p).name for p in doc["pictures"]] == [
        "activations.png",
        "activation_derivatives.png",
    ]
    assert all(Path(p).stat().st_size > 20_000 for p in doc["pictures"])


def _artists(fig: object, gid: str) -> list[object]:
    return [a for a in fig.findobj() if getattr(a, "get_gid", lambda: None)() == gid]  # type: ignore[attr-defined]


def test_heaviside_derivative_is_drawn_as_0_with_its_undefined_point_marked() -> None:
    from gdcli.render.plot.activations import activation_figure

    fig = activation_figure(derivative=True)
    (curve,) = _artists(fig, "curve:heaviside")
    assert np.all(np.asarray(curve.get_ydata()) == 0)  # type: ignore[attr-defined]
    (hole,) = _artists(fig, "undefined:heaviside")
    assert list(hole.get_xydata()[0]) == [0.0, 0.0]  # type: ignore[attr-defined]
    assert hole.get_markerfacecolor() == "white"  # type: ignore[attr-defined]
    texts = [t.get_text() for t in fig.findobj() if hasattr(t, "get_text")]  # type: ignore[attr-defined]
    assert any("undefined at 0" in t for t in texts)
    # relu' jumps at 0: the value used (0) filled, the right-hand limit (1) open, no line across
    (dot,) = _artists(fig, "value:relu")
    (limit,) = _artists(fig, "limit:relu")
    assert list(dot.get_xydata()[0]) == [0.0, 0.0]  # type: ignore[attr-defined]
    assert list(limit.get_xydata()[0]) == [0.0, 1.0]  # type: ignore[attr-defined]
    (relu,) = _artists(fig, "curve:relu")
    x, y = np.asarray(relu.get_xdata()), np.asarray(relu.get_ydata())  # type: ignore[attr-defined]
    assert np.isnan(y[x == 0]).all()
    # sigmoid' is drawn from the engine: its peak is 1/4 at 0
    (sig,) = _artists(fig, "curve:sigmoid")
    assert float(np.nanmax(sig.get_ydata())) == 0.25  # type: ignore[attr-defined]


TORCH_POINTS = np.concatenate([np.linspace(-6, 6, 241), [0.0, -1e-8, 1e-8, 25.0, -25.0]])


@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_values_and_derivatives_match_torch(name: str) -> None:
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    ops = {
        "linear": lambda t: t * 1.0,
        "sigmoid": torch.sigmoid,
        "tanh": torch.tanh,
        "relu": F.relu,
        "leaky_relu": lambda t: F.leaky_relu(t, 0.01),
        "elu": lambda t: F.elu(t, 1.0),
        "softplus": F.softplus,
        "gelu": F.gelu,  # torch's default: the exact erf form
        "heaviside": lambda t: torch.heaviside(t, torch.zeros((), dtype=t.dtype)),
    }
    h, dh = values_and_derivatives(name, TORCH_POINTS)
    t = torch.tensor(TORCH_POINTS, dtype=torch.float64, requires_grad=True)
    out = ops[name](t)
    np.testing.assert_allclose(h, out.detach().numpy(), rtol=1e-12, atol=1e-15)
    if name == "heaviside":  # torch has no derivative for it; gdcli passes 0
        assert np.all(dh == 0)
        return
    out.sum().backward()
    assert t.grad is not None
    np.testing.assert_allclose(dh, t.grad.numpy(), rtol=1e-9, atol=1e-12)
