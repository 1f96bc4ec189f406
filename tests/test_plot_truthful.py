"""Pictures that agree with the tables and can be read when projected: what was
drawn, by gid, data, scale, label text and colour."""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from matplotlib.axes import Axes
from matplotlib.lines import Line2D
from typer.testing import CliRunner

from gdcli.cli import app
from gdcli.errors import UserError
from gdcli.experiments.config import DescendConfig, TrainConfig, load_config
from gdcli.experiments.session import Session, run_descend, run_train
from gdcli.render import plot
from gdcli.render.plot.maths import formula_mathtext
from gdcli.render.plot.style import ACTIVATION_LOOK
from gdcli.runs import TraceWriter, read_trace, write_json

CONFIGS = Path(__file__).parent.parent / "configs"


def lines(ax: Axes, prefix: str) -> list[Line2D]:
    return [ln for ln in ax.lines if (ln.get_gid() or "").startswith(prefix)]


def ys(line: Line2D) -> np.ndarray:
    return np.asarray(line.get_ydata(), dtype=np.float64)


def xs(line: Line2D) -> np.ndarray:
    return np.asarray(line.get_xdata(), dtype=np.float64)


def train(out: Path, config: Path, *overrides: str) -> Path:
    cfg, doc = load_config(config, TrainConfig, list(overrides))
    run_train(cfg, doc, Session(out))
    return out


def descend(out: Path, config: Path, *overrides: str) -> Path:
    cfg, doc = load_config(config, DescendConfig, list(overrides))
    run_descend(cfg, doc, Session(out))
    return out


def summary_of(run_dir: Path) -> dict[str, Any]:
    return dict(json.loads((run_dir / "summary.json").read_text()))


# ------------------------------------------------------------- item 5: one decision rule


def test_perceptron_picture_uses_predicts_rule(tmp_path: Path) -> None:
    """XOR without a hidden layer: p = 0.5 everywhere, logit > 0 at every point, so
    predict and the confusion matrix say class 1; the picture must too."""
    from gdcli import nn
    from gdcli.render.plot.train import _prediction_grid

    run = train(tmp_path / "p", CONFIGS / "xor-perceptron.yaml")
    points = plot.load_training_points(run)
    model = points.model
    z = nn.logits_array(model.arch, model.layers, model.prepare(points.X))[:, 0]
    assert np.all(z > 0)  # the rule of predict: class 1 at every point
    confusion = summary_of(run)["final"]["confusion_matrix"]
    assert [row[0] for row in confusion] == [0, 0]  # the table: nothing predicted class 0
    g = _prediction_grid(points)
    grid = model.prepare(np.column_stack([g.gx.ravel(), g.gy.ravel()]))
    np.testing.assert_array_equal(g.label, nn.predict(model.arch, model.layers, grid))
    assert g.label.mean() > 0.99  # the plane is class 1 (argmax of rounded p said 0)
    ax = plot.decision_boundary_figure(points, summary_of(run)).axes[0]
    (note,) = [t for t in ax.texts if t.get_gid() == "undecided"]
    assert "p = 0.5 everywhere" in note.get_text()
    (boundary,) = [c for c in ax.collections if c.get_gid() == "boundary"]
    assert list(boundary.levels) == [0.0]  # logit = 0 crosses a corner of the window


def test_no_boundary_in_the_window_is_said_and_not_in_the_legend(tmp_path: Path) -> None:
    from dataclasses import replace

    from gdcli import nn

    run = train(tmp_path / "p", CONFIGS / "xor-perceptron.yaml", "epochs=5")
    points = plot.load_training_points(run)
    (layer,) = points.model.layers
    constant = nn.Layer(np.zeros_like(layer.W), np.ones_like(layer.b))  # logit 1 everywhere
    points = replace(points, model=replace(points.model, layers=[constant]))
    ax = plot.decision_boundary_figure(points, summary_of(run)).axes[0]
    assert not [c for c in ax.collections if c.get_gid() == "boundary"]
    (note,) = [t for t in ax.texts if t.get_gid() == "no-boundary"]
    assert "class 1 everywhere" in note.get_text()
    assert not any("boundary" in t.get_text() for t in ax.get_legend().get_texts())


def test_boundary_is_the_zero_logit_line(tmp_path: Path) -> None:
    run = train(tmp_path / "x", CONFIGS / "xor.yaml", "epochs=300")
    points = plot.load_training_points(run)
    ax = plot.decision_boundary_figure(points, summary_of(run)).axes[0]
    (boundary,) = [c for c in ax.collections if c.get_gid() == "boundary"]
    assert list(boundary.levels) == [0.0]
    assert "decision boundary (logit = 0)" in [t.get_text() for t in ax.get_legend().get_texts()]


# ------------------------------------------------------ item 7: the loss of the table


def _training_rows(with_penalty: bool) -> list[dict[str, str]]:
    rows = []
    for e in range(1, 6):
        row = {
            "epoch": str(e),
            "train_loss": str(0.1 / e),
            "train_accuracy": "0.9",
            "val_loss": "",
            "val_accuracy": "",
            "lr": "0.001",
            "seconds": "0.01",
        }
        if with_penalty:
            row["l2_penalty"] = str(0.02 + 0.001 * e)
        rows.append(row)
    return rows


def test_loss_picture_draws_the_tables_final_value_and_the_penalty_apart() -> None:
    summary = {
        "experiment": "bc",
        "model": {"loss": "bce"},
        "final": {"train_loss": 0.0204, "train_accuracy": 0.99, "test_loss": 0.08},
        "epochs_run": 5,
        "best_epoch": None,
    }
    fig = plot.training_loss_figure(_training_rows(True), summary)
    ax = fig.axes[0]
    (train_line,) = lines(ax, "loss:train")
    np.testing.assert_allclose(ys(train_line), [0.1 / e for e in range(1, 6)])
    assert train_line.get_label() == "training (data loss)"
    (penalty,) = lines(ax, "loss:penalty")
    np.testing.assert_allclose(ys(penalty), [0.02 + 0.001 * e for e in range(1, 6)])
    assert "L2 penalty" in penalty.get_label()
    (final,) = lines(ax, "final:loss:train")
    assert (xs(final)[0], ys(final)[0]) == (5.0, 0.0204)
    assert "0.0204" in final.get_label()


def test_loss_picture_of_an_older_trace_says_what_its_line_is(tmp_path: Path) -> None:
    run = train(tmp_path / "bc", CONFIGS / "breast-cancer.yaml", "epochs=5")
    _, rows = read_trace(run / "trace.csv")
    older = [{k: v for k, v in r.items() if k != "l2_penalty"} for r in rows]
    summary = summary_of(run)
    ax = plot.training_loss_figure(older, summary).axes[0]
    (train_line,) = lines(ax, "loss:train")
    assert train_line.get_label() == "training (mean over the minibatches)"
    (final,) = lines(ax, "final:loss:train")
    assert ys(final)[0] == pytest.approx(summary["final"]["train_loss"])
    assert lines(ax, "loss:penalty") == []


def test_loss_picture_draws_the_data_loss_and_the_penalty_apart(tmp_path: Path) -> None:
    run = train(tmp_path / "bc", CONFIGS / "breast-cancer.yaml", "epochs=5")
    _, rows = read_trace(run / "trace.csv")
    ax = plot.training_loss_figure(rows, summary_of(run)).axes[0]
    (train_line,) = lines(ax, "loss:train")
    assert train_line.get_label() == "training (data loss)"
    assert list(ys(train_line)) == [float(r["train_loss"]) for r in rows]
    (penalty,) = lines(ax, "loss:penalty")
    assert list(ys(penalty)) == [float(r["l2_penalty"]) for r in rows]
    assert min(ys(penalty)) > 0


# ------------------------------------------------------------- item 8: readable axes


def test_log_loss_axis_labels_no_minor_ticks_over_a_decade(tmp_path: Path) -> None:
    run = train(tmp_path / "x", CONFIGS / "xor.yaml", "epochs=300")
    _, rows = read_trace(run / "trace.csv")
    fig = plot.training_loss_figure(rows, summary_of(run))
    ax = fig.axes[0]
    assert ax.get_yscale() == "log"
    lo, hi = ax.get_ylim()
    assert hi / lo > 10
    fig.canvas.draw()
    minor = [t.get_text() for t in ax.get_yticklabels(minor=True) if t.get_text()]
    assert minor == []
    major = [t.get_text() for t in ax.get_yticklabels() if t.get_text()]
    assert major and all("$" not in t for t in major)


def test_log_axis_within_a_decade_labels_a_few_minor_ticks() -> None:
    from matplotlib.figure import Figure

    from gdcli.render.plot.style import log_axis_labels

    fig = Figure()
    ax = fig.add_subplot()
    ax.plot([1, 2], [0.2, 0.6])
    ax.set_yscale("log")
    ax.set_ylim(0.2, 0.6)
    log_axis_labels(ax.yaxis, 0.2, 0.6)
    fig.canvas.draw()
    minor = [t.get_text() for t in ax.get_yticklabels(minor=True) if t.get_text()]
    assert minor == ["0.2", "0.3", "0.5"]


@pytest.fixture(scope="module")
def spread_compare(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two activations x 3 seeds whose losses spread over two decades per epoch, and
    accuracies near 1 with a large std; the results list the activations in an
    order unlike the trace's."""
    out = tmp_path_factory.mktemp("cmp") / "c"
    out.mkdir()
    columns = ["activation", "seed", "epoch", "train_loss"]
    with TraceWriter(out / "trace.csv", columns) as trace:
        for name in ("relu", "tanh"):
            for s, scale in enumerate((0.01, 0.1, 1.0)):
                for e in range(1, 4):
                    trace.write(
                        {"activation": name, "seed": s, "epoch": e, "train_loss": scale / e}
                    )
    results = [
        {"activation": "tanh", "runs": 3, "test_accuracy": {"mean": 0.97, "std": 0.09}},
        {"activation": "relu", "runs": 3, "test_accuracy": {"mean": 0.05, "std": 0.2}},
    ]
    write_json(
        out / "summary.json",
        {"experiment": "spread", "command": "compare-activations", "results": results},
    )
    return out


def test_loss_bands_on_a_log_axis_are_geometric(spread_compare: Path) -> None:
    _, rows = read_trace(spread_compare / "trace.csv")
    ax = plot.activations_loss_figure(rows, summary_of(spread_compare)).axes[0]
    assert ax.get_yscale() == "log"
    (relu,) = lines(ax, "activation:relu")
    np.testing.assert_allclose(ys(relu), [0.1 / e for e in range(1, 4)])  # geometric mean
    band = next(c for c in ax.collections if c.get_gid() == "band:relu")
    edge = np.asarray(band.get_paths()[0].vertices)[:, 1]
    s = math.exp(np.log([0.01, 0.1, 1.0]).std())
    # mean ± std would reach 0.37 - 0.41 < 0 at epoch 1; the geometric band stays positive
    assert edge.min() == pytest.approx(0.1 / 3 / s) and edge.max() == pytest.approx(0.1 * s)


def test_accuracy_error_bars_stay_in_0_1_and_labels_in_the_axes(spread_compare: Path) -> None:
    fig = plot.activations_accuracy_figure(summary_of(spread_compare))
    ax = fig.axes[0]
    caps = {ln.get_gid(): ln for ln in ax.collections if (ln.get_gid() or "").startswith("error:")}
    for name, (lo, hi) in {"tanh": (0.88, 1.0), "relu": (0.0, 0.25)}.items():
        seg = np.asarray(caps[f"error:{name}"].get_segments()[0])[:, 1]
        assert (seg.min(), seg.max()) == (pytest.approx(lo), pytest.approx(hi))
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    frame = ax.get_window_extent(renderer)
    for t in ax.texts:
        box = t.get_window_extent(renderer)
        assert frame.y0 <= box.y0 and box.y1 <= frame.y1, t.get_text()


def test_each_activation_keeps_its_colour_in_every_picture(
    spread_compare: Path, tmp_path: Path
) -> None:
    _, rows = read_trace(spread_compare / "trace.csv")
    summary = summary_of(spread_compare)
    loss_ax = plot.activations_loss_figure(rows, summary).axes[0]
    acc_ax = plot.activations_accuracy_figure(summary).axes[0]
    # another run listing relu alone: relu keeps its colour though its rank changed
    alone = dict(summary, results=[summary["results"][1]])
    alone_ax = plot.activations_accuracy_figure(alone).axes[0]
    for name in ("relu", "tanh"):
        colour = ACTIVATION_LOOK[name]["color"]
        (line,) = lines(loss_ax, f"activation:{name}")
        assert line.get_color() == colour
        bar = next(p for p in acc_ax.patches if p.get_gid() == f"bar:{name}")
        assert bar.get_edgecolor()[:3] == pytest.approx(
            tuple(int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5))
        )
    bar = next(p for p in alone_ax.patches if p.get_gid() == "bar:relu")
    relu = ACTIVATION_LOOK["relu"]["color"]
    assert bar.get_edgecolor()[:3] == pytest.approx(
        tuple(int(relu[i : i + 2], 16) / 255 for i in (1, 3, 5))
    )
    assert len({look["color"] for look in ACTIVATION_LOOK.values()}) == len(ACTIVATION_LOOK)


def test_contour_window_holds_the_functions_window_and_marks_escaped_runs(
    tmp_path: Path,
) -> None:
    """gd at lr 0.105 on x^2 + 10y^2 runs away (|y| passes 1000 before the run is called
    diverged): the map keeps the window of the starts and marks where the run left it."""
    run_dir = descend(
        tmp_path / "q",
        CONFIGS / "quadratic-diverges.yaml",
        "optimizers=[{name: gd, lr: 0.105}, {name: gd, lr: 0.05}]",
    )
    run = plot.load_descend_run(run_dir)
    assert np.nanmax(np.abs(run.tracks[0][0].x)) > 1e3
    ax = plot.descend_contour_figure(run).axes[0]
    x0, x1 = ax.get_xlim()
    y0, y1 = ax.get_ylim()
    assert x1 - x0 < 10 and y1 - y0 < 10
    assert x0 <= 1.0 <= x1 and y0 <= 1.0 <= y1  # the start
    (escaped,) = lines(ax, "escaped:0")
    ex, ey = xs(escaped)[0], ys(escaped)[0]
    assert ex in (pytest.approx(x0), pytest.approx(x1)) or ey in (
        pytest.approx(y0),
        pytest.approx(y1),
    )
    assert lines(ax, "escaped:1") == []
    assert "1 path left the window" in ax.get_title()


def test_window_option_sets_the_box(tmp_path: Path) -> None:
    run_dir = descend(tmp_path / "q", CONFIGS / "quadratic-diverges.yaml")
    ax = plot.descend_contour_figure(plot.load_descend_run(run_dir), (-2.0, 3.0, -1.0, 1.5)).axes[0]
    assert ax.get_xlim() == (-2.0, 3.0) and ax.get_ylim() == (-1.0, 1.5)
    assert plot.parse_window("-2,3,-1,1.5") == (-2.0, 3.0, -1.0, 1.5)
    for bad in ("1,0", "a,b", "1,2,3", "nan,1"):
        with pytest.raises(UserError, match="--window"):
            plot.parse_window(bad)
    result = CliRunner().invoke(app, ["plot", str(run_dir), "--window", "-2,3,-1,1.5", "--json"])
    assert result.exit_code == 0, result.output
    assert "contour.png" in result.stdout
    bad = CliRunner().invoke(app, ["plot", str(run_dir), "--window", "3,1"])
    assert bad.exit_code == 2


def test_convergence_of_runs_of_very_different_length_uses_a_log_x_axis(tmp_path: Path) -> None:
    run_dir = descend(tmp_path / "b", CONFIGS / "gaussian-bumps.yaml")
    run = plot.load_descend_run(run_dir)
    lengths = sorted(int(t.iteration[-1]) for t in run.tracks[0])
    assert lengths[0] < 100 and lengths[-1] >= 5000
    ax = plot.descend_convergence_figure(run).axes[0]
    assert ax.get_xscale() == "log"
    assert ax.get_xlabel().startswith("iteration + 1")
    (line,) = lines(ax, "convergence:0")
    assert np.nanmin(xs(line)) == 1.0  # iteration 0 drawn at 1


@pytest.mark.parametrize(
    ("formula", "maths"),
    [
        ("2*x**3 - 6*x*y + 3*y**2", "$2 x^{3} - 6 x y + 3 y^{2}$"),
        ("3*x**3 + 10*y**2", "$3 x^{3} + 10 y^{2}$"),
        ("x*y*exp(-(x**2 + y**2)/2)", r"$x y\,\exp\left(-\frac{x^{2} + y^{2}}{2}\right)$"),
        ("3*exp(x^2 + 1)", r"$3\,\exp\left(x^{2} + 1\right)$"),
        ("x**2 + 10*y**2", "$x^{2} + 10 y^{2}$"),
        (
            "(1 - x)**2 + 100*(y - x**2)**2",
            r"$\left(1 - x\right)^{2} + 100 \left(y - x^{2}\right)^{2}$",
        ),
        ("abs(x1) + sqrt(x2)", r"$\left|x_{1}\right| + \sqrt{x_{2}}$"),
        ("2*pi*x", r"$2 \pi x$"),
        ("1e-7*(x**2 + y**2)", r"$10^{-7} \left(x^{2} + y^{2}\right)$"),
        ("x +", "x +"),  # not a formula: unchanged
    ],
)
def test_formulas_are_written_as_maths(formula: str, maths: str) -> None:
    assert formula_mathtext(formula) == maths


def test_contour_title_prints_maths_not_python(tmp_path: Path) -> None:
    run_dir = descend(tmp_path / "c", CONFIGS / "cubic-saddle.yaml")
    fig = plot.descend_contour_figure(plot.load_descend_run(run_dir))
    title = fig.get_suptitle()
    assert "**" not in title and "$2 x^{3} - 6 x y + 3 y^{2}$" in title
    fig.canvas.draw()  # mathtext that does not parse would raise here


# --------------------------------------------------------------- item 2: sweep.png


def test_sweep_marks_status_uses_log_axes_and_draws_iterations() -> None:
    def pt(lr: float, f: float | None, status: str, its: int | None) -> dict[str, Any]:
        p: dict[str, Any] = {
            "values": {"optimizer.lr": lr},
            "status": status,
            "metric": {"name": "best f", "value": f},
        }
        if its is not None:
            p["iterations"] = its
        return p

    summary = {
        "experiment": "s",
        "command": "sweep",
        "base_command": "descend",
        "keys": ["optimizer.lr"],
        "points": [
            pt(1e-4, 5.0, "max_iterations", 1000),
            pt(1e-3, 0.05, "converged", 400),
            pt(1e-2, 1e-4, "converged", 40),
            pt(0.2, -1.6e229, "diverged", 12),
        ],
    }
    fig = plot.sweep_figure(summary)
    metric_ax, its_ax = fig.axes
    assert metric_ax.get_xscale() == "log" and metric_ax.get_yscale() == "log"
    (line,) = lines(metric_ax, "sweep:")
    np.testing.assert_allclose(ys(line), [5.0, 0.05, 1e-4])  # the diverged f is not a value
    (conv,) = lines(metric_ax, "sweep-converged:")
    np.testing.assert_allclose(xs(conv), [1e-3, 1e-2])
    assert conv.get_marker() == "o"
    (budget,) = lines(metric_ax, "sweep-max_iterations:")
    assert budget.get_marker() == "s"
    (div,) = lines(metric_ax, "sweep-diverged:")
    assert div.get_marker() == "X" and ys(div).tolist() == [1.0]
    legends = [ax.get_legend() for ax in fig.axes if ax.get_legend() is not None]
    legends = [lg for lg in legends if lg.get_gid() == "status-legend"]
    status_texts = [t.get_text() for legend in legends for t in legend.get_texts()]
    assert any(t.startswith("diverged") for t in status_texts)
    assert "converged" in status_texts
    (its,) = lines(its_ax, "iterations:")
    np.testing.assert_allclose(xs(its), [1e-4, 1e-3, 1e-2, 0.2])
    np.testing.assert_allclose(ys(its), [1000, 400, 40, 12])
    assert its_ax.get_yscale() == "log"


def test_sweep_of_an_older_summary_reads_finished_and_no_iterations() -> None:
    summary = {
        "experiment": "s",
        "command": "sweep",
        "keys": ["optimizer.lr"],
        "points": [
            {"values": {"optimizer.lr": v}, "status": "finished", "metric": {"value": v}}
            for v in (0.1, 0.2)
        ],
    }
    fig = plot.sweep_figure(summary)
    assert len(fig.axes) == 1
    (finished,) = lines(fig.axes[0], "sweep-finished:")
    np.testing.assert_allclose(ys(finished), [0.1, 0.2])


# ------------------------------------------------- many classes


def test_confusion_of_500_classes_is_a_bounded_summary_without_warnings() -> None:
    rng = np.random.default_rng(0)
    k = 500
    M = np.diag(rng.integers(1, 20, size=k))
    M[3, 7] = 40
    M[10, 2] = 30
    M += rng.integers(0, 2, size=(k, k)) * (rng.random((k, k)) < 0.002)
    names = [f"c{i}" for i in range(k)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fig = plot.confusion_figure(M.tolist(), names, "many: confusion matrix")
        fig.canvas.draw()
    n_artists = sum(len(ax.get_children()) for ax in fig.axes) + len(fig.texts)
    assert n_artists < 150  # a matrix would be 250 000 cells
    assert not [t for ax in fig.axes for t in ax.texts if (t.get_gid() or "").startswith("cell:")]
    left, right = fig.axes
    (recall,) = lines(left, "recall")
    assert ys(recall).size == k and np.all(np.diff(ys(recall)) >= 0)
    bars = [p for p in right.patches if (p.get_gid() or "").startswith("pair:")]
    assert len(bars) == plot.train.TOP_CONFUSED  # type: ignore[attr-defined]
    assert bars[0].get_gid() == "pair:c3,c7" and bars[0].get_width() == 40
    assert bars[1].get_gid() == "pair:c10,c2"


def test_confusion_of_few_classes_is_still_the_matrix() -> None:
    fig = plot.confusion_figure([[5, 1], [2, 7]], ["a", "b"], "t")
    cells = [t for t in fig.axes[0].texts if (t.get_gid() or "").startswith("cell:")]
    assert len(cells) == 4
