"""The pictures of ``gdcli plot``: what each figure draws, and the files plot_run writes.

Run directories are made in-process through ``gdcli.experiments.session`` with small budgets;
compare-activations and sweep runs, whose commands other modules implement, are
written here by hand to the contract in ``gdcli/plot.py``.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from matplotlib.axes import Axes
from matplotlib.collections import PathCollection
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle
from PIL import Image

from gdcli.errors import UserError
from gdcli.experiments.config import DescendConfig, TrainConfig, load_config
from gdcli.experiments.session import Session, run_descend, run_train
from gdcli.render import plot
from gdcli.runs import TraceWriter, read_trace, write_json

CONFIGS = Path(__file__).parent.parent / "configs"


# ----------------------------------------------------------------------------- helpers


def descend_run(out: Path, config: Path, *overrides: str) -> Path:
    cfg, doc = load_config(config, DescendConfig, overrides)
    run_descend(cfg, doc, Session(out))
    return out


def train_run(out: Path, config: Path, *overrides: str) -> Path:
    cfg, doc = load_config(config, TrainConfig, overrides)
    run_train(cfg, doc, Session(out))
    return out


def summary_of(run_dir: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((run_dir / "summary.json").read_text())
    return data


def lines(ax: Axes, prefix: str) -> list[Line2D]:
    return [ln for ln in ax.lines if (ln.get_gid() or "").startswith(prefix)]


def scatters(ax: Axes, prefix: str) -> list[PathCollection]:
    return [
        c
        for c in ax.collections
        if isinstance(c, PathCollection) and (c.get_gid() or "").startswith(prefix)
    ]


def xs(line: Line2D) -> np.ndarray:
    return np.asarray(line.get_xdata(), dtype=np.float64)


def ys(line: Line2D) -> np.ndarray:
    return np.asarray(line.get_ydata(), dtype=np.float64)


def offsets(points: PathCollection) -> np.ndarray:
    """The (n, 2) positions of a scatter's points."""
    return np.asarray(points.get_offsets(), dtype=np.float64)


def levels_of(artist: Any) -> np.ndarray:
    return np.asarray(artist.levels, dtype=np.float64)


def main_axes(fig: Figure) -> Axes:
    """The figure's first axes (colour bars come after it)."""
    return fig.axes[0]


def png_chunks(path: Path) -> dict[bytes, bytes]:
    """The chunks of a PNG file by type (the last of each type)."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    chunks: dict[bytes, bytes] = {}
    at = 8
    while at < len(data):
        (length,) = struct.unpack(">I", data[at : at + 4])
        chunks[data[at + 4 : at + 8]] = data[at + 8 : at + 8 + length]
        at += 12 + length
    return chunks


def trace_f(run_dir: Path, run: int, start: int = 0) -> tuple[np.ndarray, np.ndarray]:
    _, rows = read_trace(run_dir / "trace.csv")
    mine = [r for r in rows if int(r["run"]) == run and int(r["start"]) == start]
    it = np.array([int(r["iteration"]) for r in mine])
    f = np.array([float(r["f"]) for r in mine])
    order = np.argsort(it, kind="stable")
    return it[order], f[order]


# ---------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def rosenbrock(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Eight optimizers from one start, 300 iterations."""
    out = tmp_path_factory.mktemp("plot") / "rosenbrock"
    return descend_run(out, CONFIGS / "rosenbrock.yaml", "iterations=300")


@pytest.fixture(scope="module")
def himmelblau(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Steepest descent from 200 random starts; the trace keeps every 10th step."""
    out = tmp_path_factory.mktemp("plot") / "himmelblau"
    return descend_run(
        out, CONFIGS / "himmelblau-basins.yaml", "iterations=300", "starts.random=200"
    )


@pytest.fixture(scope="module")
def moons(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("plot") / "moons"
    return train_run(out, CONFIGS / "moons.yaml", "epochs=20")


@pytest.fixture(scope="module")
def compare_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A compare-activations run to the contract: 3 activations x 2 seeds x 5 epochs.

    Loss of (activation i, seed s, epoch e) is (i + 1) * (s + 1) / e, so the mean
    over the seeds is 1.5 (i + 1) / e and the (population) std 0.5 (i + 1) / e.
    relu has no test accuracy.
    """
    out = tmp_path_factory.mktemp("plot") / "compare"
    out.mkdir()
    columns = [
        "activation",
        "seed",
        "epoch",
        "train_loss",
        "train_accuracy",
        "val_loss",
        "val_accuracy",
        "lr",
        "seconds",
    ]
    activations = ["sigmoid", "tanh", "relu"]
    with TraceWriter(out / "trace.csv", columns) as trace:
        for i, name in enumerate(activations):
            for s in range(2):
                for e in range(1, 6):
                    trace.write(
                        {
                            "activation": name,
                            "seed": s,
                            "epoch": e,
                            "train_loss": (i + 1) * (s + 1) / e,
                            "train_accuracy": 0.5 + 0.1 * e,
                            "val_loss": None,
                            "val_accuracy": None,
                            "lr": 0.01,
                            "seconds": 0.001,
                        }
                    )
    results = [
        {
            "activation": name,
            "runs": 2,
            "train_loss": {"mean": 0.3 * (i + 1), "std": 0.1},
            "train_accuracy": {"mean": 0.9 - 0.1 * i, "std": 0.02},
            "test_accuracy": (
                {"mean": None, "std": None}
                if name == "relu"
                else {"mean": 0.8 - 0.1 * i, "std": 0.05}
            ),
            "epochs_to_target": {"mean": 3.0, "std": 1.0, "reached": 2},
        }
        for i, name in enumerate(activations)
    ]
    write_json(
        out / "summary.json",
        {"experiment": "xor-activations", "command": "compare-activations", "results": results},
    )
    return out


def sweep_summary(points: list[dict[str, Any]], keys: list[str]) -> dict[str, Any]:
    return {"experiment": "sweep", "command": "sweep", "keys": keys, "points": points}


def point(values: dict[str, Any], value: float | None, status: str = "finished") -> dict[str, Any]:
    return {
        "values": values,
        "status": status,
        "metric": {"name": "test_accuracy", "value": value},
    }


# ----------------------------------------------------------------------------- descend


def test_contour_draws_one_path_per_optimizer(rosenbrock: Path) -> None:
    run = plot.load_descend_run(rosenbrock)
    fig = plot.descend_contour_figure(run)
    ax = main_axes(fig)
    paths = lines(ax, "path:")
    summary = summary_of(rosenbrock)
    assert len(paths) == 8 == len(summary["runs"])
    # every optimizer looks different: colour and line style and marker
    looks = {(p.get_color(), str(p.get_linestyle()), p.get_marker()) for p in paths}
    assert len(looks) == 8
    assert len({p.get_color() for p in paths}) == 8
    for p, result in zip(paths, summary["runs"], strict=True):
        xy = np.column_stack([xs(p), ys(p)])
        np.testing.assert_allclose(xy[0], [-1.5, 2.0])
        np.testing.assert_allclose(xy[-1], result["x"])
        assert p.get_label() == result["label"]
    assert len(lines(ax, "start:")) == len(lines(ax, "end:")) == 8
    assert {ln.get_marker() for ln in lines(ax, "start:")} == {"o"}
    assert {ln.get_marker() for ln in lines(ax, "end:")} == {"X"}
    (star,) = lines(ax, "known:global minimum")
    assert star.get_marker() == "*"
    assert (xs(star)[0], ys(star)[0]) == (1.0, 1.0)
    # the library's domain, axes labelled with the variables
    assert ax.get_xlim() == (-2.0, 2.0)
    assert ax.get_xlabel() == "x1" and ax.get_ylabel() == "x2"
    legend_texts = [t.get_text() for t in fig.legends[0].get_texts()]
    assert [r["label"] for r in summary["runs"]] == legend_texts[:8]


def test_contour_levels_resolve_the_rosenbrock_valley(rosenbrock: Path) -> None:
    ax = main_axes(plot.descend_contour_figure(plot.load_descend_run(rosenbrock)))
    (filled,) = [c for c in ax.collections if c.get_gid() == "contour"]
    levels = levels_of(filled)
    assert np.all(np.diff(levels) > 0)
    # f* = 0, so the levels are f + eps: the valley floor, where f = (1 - x)^2 < 9,
    # gets several bands, and the top level reaches the highest corner of the box
    assert np.sum(levels[1:] < 9.0) >= 6
    f_corner = 100 * (-1.0 - 4.0) ** 2 + 9.0  # f(-2, -1)
    assert levels[-1] >= f_corner
    assert levels[-1] / levels[1] > 1e3


def test_contour_of_a_diverging_run_keeps_to_the_stable_paths(tmp_path: Path) -> None:
    run_dir = descend_run(tmp_path / "qd", CONFIGS / "quadratic-diverges.yaml", "iterations=400")
    run = plot.load_descend_run(run_dir)
    assert [t[0].diverged for t in run.tracks] == [True, False]
    fig = plot.descend_contour_figure(run)
    ax = main_axes(fig)
    # the box holds the start and the converging path, not the diverged one's 1e150
    for lo, hi in (ax.get_xlim(), ax.get_ylim()):
        assert -5 < lo < 0 < 1 < hi < 5
    texts = [t.get_text() for t in fig.legends[0].get_texts()]
    assert texts[:2] == ["gd(lr=0.2) — diverged", "gd(lr=0.05)"]

    conv = main_axes(plot.descend_convergence_figure(run))
    assert conv.get_yscale() == "log"
    f0 = 11.0  # f(1, 1) = 1 + 10
    top = conv.get_ylim()[1]
    assert top == pytest.approx(f0 * 1e4)
    diverged, stable = lines(conv, "convergence:")
    assert np.nanmax(ys(diverged)) > top  # leaves through the top
    assert np.nanmax(ys(stable)) == pytest.approx(f0)


def test_convergence_draws_f_minus_f_star_per_optimizer(rosenbrock: Path) -> None:
    ax = main_axes(plot.descend_convergence_figure(plot.load_descend_run(rosenbrock)))
    assert ax.get_yscale() == "log"
    # newton stops after 7 iterations, the others run 300: a log x axis of iteration + 1
    assert ax.get_xscale() == "log"
    assert ax.get_xlabel().startswith("iteration + 1 (log scale")
    assert "f*" in ax.get_ylabel()
    curves = lines(ax, "convergence:")
    assert len(curves) == 8
    it, f = trace_f(rosenbrock, run=4)  # adam; f* = 0
    np.testing.assert_array_equal(xs(curves[4]), it + 1)
    np.testing.assert_allclose(ys(curves[4]), f)


def test_convergence_of_many_starts_is_the_median_per_iteration(himmelblau: Path) -> None:
    ax = main_axes(plot.descend_convergence_figure(plot.load_descend_run(himmelblau)))
    (curve,) = lines(ax, "convergence:")
    x, y = xs(curve), ys(curve)
    _, rows = read_trace(himmelblau / "trace.csv")
    by_start: dict[int, list[tuple[int, float]]] = {}
    for r in rows:
        by_start.setdefault(int(r["start"]), []).append((int(r["iteration"]), float(r["f"])))
    assert len(by_start) == 200
    for k in (0, 20, 50, 100, 200):
        # a start that stopped keeps its last value
        at_k = [max(row for row in rows_ if row[0] <= k)[1] for rows_ in by_start.values()]
        (i,) = np.flatnonzero(x == k)
        assert y[i] == pytest.approx(float(np.median(at_k)), rel=1e-12, abs=0.0)
    assert [c.get_gid() for c in ax.collections] == ["band:0"]


def test_basin_map_has_one_colour_per_minimum(himmelblau: Path) -> None:
    run = plot.load_descend_run(himmelblau)
    fig = plot.descend_basins_figure(run)
    ax = main_axes(fig)
    basins = scatters(ax, "basin:")
    reached = [b for b in basins if b.get_gid() != "basin:none"]
    colours = {tuple(np.round(np.asarray(b.get_facecolor())[0], 4)) for b in reached}
    assert len(reached) == len(colours) == 4
    markers = {np.asarray(b.get_paths()[0].vertices).tobytes() for b in reached}
    assert len(markers) == 4  # shapes differ too, for greyscale
    # every start drawn once, where it started, with the count in the legend
    assert sum(len(offsets(b)) for b in basins) == 200
    summary = summary_of(himmelblau)
    counts = sorted(g["count"] for g in summary["basins"][0]["groups"] if g["outcome"] != "none")
    assert sorted(len(offsets(b)) for b in reached) == counts
    for b in reached:
        assert str(b.get_label()).endswith(f": {len(offsets(b))}")
    # summary.json keeps a sample of the 200 starts; starts.csv has them all
    _, rows = read_trace(himmelblau / "starts.csv")
    starts = {(float(r["start_x1"]), float(r["start_x2"])) for r in rows}
    assert len(starts) == 200
    drawn = {tuple(p) for b in basins for p in offsets(b)}
    assert drawn == starts
    # a start coloured by the minimum summary.json says it reached
    first = summary["runs"][0]
    label = "minimum (" + ", ".join(f"{v:.3g}" for v in first["nearest_minimum"]) + ")"
    (group,) = [b for b in reached if b.get_gid() == f"basin:{label}"]
    assert tuple(first["start"]) in {tuple(p) for p in offsets(group)}


def test_basins_only_with_many_starts(himmelblau: Path, tmp_path: Path) -> None:
    names = [p.name for p in plot.plot_run(himmelblau)]
    assert names == ["contour.png", "surface.png", "convergence.png", "basins.png"]
    cubic = descend_run(tmp_path / "cubic", CONFIGS / "cubic-saddle.yaml", "iterations=300")
    assert [p.name for p in plot.plot_run(cubic)] == [
        "contour.png",
        "surface.png",
        "convergence.png",
    ]


def test_curve_puts_the_iterates_on_the_curve(tmp_path: Path) -> None:
    config = tmp_path / "exp.yaml"
    config.write_text(
        "name: exp1d\nfunction: exp_square\nstart: [1.2]\niterations: 50\n"
        "optimizers:\n  - {name: gd, lr: 0.02}\n  - {name: adam, lr: 0.1}\n"
    )
    run_dir = descend_run(tmp_path / "exp", config)
    run = plot.load_descend_run(run_dir)
    ax = main_axes(plot.descend_curve_figure(run))
    paths = lines(ax, "path:")
    assert len(paths) == 2
    for p in paths:
        x = xs(p)
        np.testing.assert_allclose(ys(p), run.function.values(x[:, None]))
    (star,) = lines(ax, "known:global minimum")
    assert ys(star)[0] == pytest.approx(3 * np.e)
    assert [p.name for p in plot.plot_run(run_dir)] == ["curve.png", "convergence.png"]


# --------------------------------------------------------------------------- train-mlp


def test_decision_boundary_spans_the_regenerated_data(moons: Path) -> None:
    from gdcli import nn

    points = plot.load_training_points(moons)
    summary = summary_of(moons)
    sizes = {part: ds.X.shape[0] for part, ds in points.parts}
    assert sizes == {"train": summary["data"]["train"], "test": summary["data"]["test"]}
    # the regenerated points are the run's: the model scores them as the run did
    test = dict(points.parts)["test"]
    model = points.model
    predicted = nn.predict(model.arch, model.layers, model.prepare(test.X))
    assert np.mean(predicted == test.y) == pytest.approx(summary["final"]["test_accuracy"])

    ax = main_axes(plot.decision_boundary_figure(points, summary))
    X = points.X
    (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
    assert x0 < X[:, 0].min() and X[:, 0].max() < x1
    assert y0 < X[:, 1].min() and X[:, 1].max() < y1
    drawn = lines(ax, "points:")
    assert sum(len(xs(ln)) for ln in drawn) == 400
    assert {ln.get_gid() for ln in drawn} == {
        "points:train:0",
        "points:train:1",
        "points:test:0",
        "points:test:1",
    }
    (regions,) = [c for c in ax.collections if c.get_gid() == "regions"]
    np.testing.assert_allclose(levels_of(regions), [-0.5, 0.5, 1.5])
    assert ax.get_xlabel() == "x1" and ax.get_ylabel() == "x2"


def test_training_curves_come_from_the_trace(moons: Path) -> None:
    _, rows = read_trace(moons / "trace.csv")
    summary = summary_of(moons)
    fig = plot.training_loss_figure(rows, summary)
    loss_ax, acc_ax = fig.axes
    (train_loss,) = lines(loss_ax, "loss:train")
    np.testing.assert_allclose(xs(train_loss), np.arange(1, 21))
    np.testing.assert_allclose(ys(train_loss), [float(r["train_loss"]) for r in rows])
    (test_loss,) = lines(loss_ax, "loss:test")
    assert ys(test_loss)[0] == pytest.approx(summary["final"]["test_loss"])
    assert lines(loss_ax, "loss:val") == []  # moons has no validation part
    (train_acc,) = lines(acc_ax, "accuracy:train")
    np.testing.assert_allclose(ys(train_acc), [float(r["train_accuracy"]) for r in rows])
    assert loss_ax.get_xlabel() == acc_ax.get_xlabel() == "epoch"
    assert loss_ax.get_ylabel().startswith("loss (bce)")


def test_confusion_matrix_writes_the_counts(moons: Path) -> None:
    summary = summary_of(moons)
    matrix = summary["final"]["confusion_matrix"]
    fig = plot.confusion_figure(matrix, summary["data"]["classes"], "moons: confusion matrix")
    ax = main_axes(fig)
    cells = {t.get_gid(): t.get_text() for t in ax.texts}
    assert cells == {f"cell:{i},{j}": str(matrix[i][j]) for i in range(2) for j in range(2)}
    assert [t.get_text() for t in ax.get_xticklabels()] == summary["data"]["classes"]
    assert ax.get_xlabel() == "predicted class" and ax.get_ylabel() == "true class"


def test_plot_run_draws_the_training_pictures(moons: Path) -> None:
    names = [p.name for p in plot.plot_run(moons)]
    assert names == ["loss.png", "decision_boundary.png", "confusion.png"]


# ------------------------------------------------------------------- compare and sweep


def test_activation_loss_curves_are_geometric_means_with_a_geometric_band(
    compare_dir: Path,
) -> None:
    _, rows = read_trace(compare_dir / "trace.csv")
    fig = plot.activations_loss_figure(rows, summary_of(compare_dir))
    ax = main_axes(fig)
    assert ax.get_yscale() == "log"
    curves = lines(ax, "activation:")
    assert [c.get_label() for c in curves] == ["sigmoid", "tanh", "relu"]
    e = np.arange(1, 6)
    for i, c in enumerate(curves):
        np.testing.assert_allclose(xs(c), e)
        # geometric mean of (i + 1) / e and 2 (i + 1) / e
        np.testing.assert_allclose(ys(c), np.sqrt(2) * (i + 1) / e)
    bands = [c for c in ax.collections if (c.get_gid() or "").startswith("band:")]
    assert len(bands) == 3
    # the band of sigmoid reaches from mean / s = 1/e to mean * s = 2/e (s = sqrt 2)
    edge = np.asarray(bands[0].get_paths()[0].vertices, dtype=np.float64)[:, 1]
    assert edge.min() == pytest.approx(1.0 / 5) and edge.max() == pytest.approx(2.0)


def test_activation_accuracy_bars_fall_back_to_training(compare_dir: Path) -> None:
    fig = plot.activations_accuracy_figure(summary_of(compare_dir))
    ax = main_axes(fig)
    bars = {p.get_gid(): p for p in ax.patches if isinstance(p, Rectangle) and p.get_gid()}
    assert bars["bar:sigmoid"].get_height() == pytest.approx(0.8)
    assert bars["bar:tanh"].get_height() == pytest.approx(0.7)
    assert bars["bar:relu"].get_height() == pytest.approx(0.7)  # train accuracy, no test
    assert [t.get_text() for t in ax.get_xticklabels()] == ["sigmoid", "tanh", "relu\n(train)"]
    # error bars one std long each way
    caps = [ln for ln in ax.lines if ln.get_marker() == "_"]
    tops = sorted(float(y) for ln in caps for y in ys(ln))
    assert tops == pytest.approx(sorted([0.75, 0.85, 0.65, 0.75, 0.68, 0.72]))


def test_plot_run_draws_the_compare_pictures(compare_dir: Path) -> None:
    names = [p.name for p in plot.plot_run(compare_dir)]
    assert names == ["activations_loss.png", "activations_accuracy.png"]


def test_sweep_of_one_key_over_decades_uses_a_log_axis() -> None:
    lrs = [1e-4, 1e-3, 1e-2, 1e-1]
    summary = sweep_summary(
        [point({"optimizer.lr": lr}, 0.9 - i / 10) for i, lr in enumerate(lrs)]
        + [point({"optimizer.lr": 1.0}, None, status="diverged")],
        ["optimizer.lr"],
    )
    ax = main_axes(plot.sweep_figure(summary))
    assert ax.get_xscale() == "log"
    (line,) = lines(ax, "sweep:")
    np.testing.assert_allclose(xs(line), lrs)
    np.testing.assert_allclose(ys(line), [0.9, 0.8, 0.7, 0.6])
    assert ax.get_ylabel() == "test_accuracy"
    # the diverged point is a marker on the top edge (axes coordinates), not a value
    (off,) = lines(ax, "sweep-diverged:")
    assert xs(off).tolist() == [1.0] and ys(off).tolist() == [1.0]
    assert off.get_transform() != ax.transData


def test_sweep_of_two_keys_draws_one_line_per_second_value() -> None:
    summary = sweep_summary(
        [
            point({"optimizer.lr": lr, "model.hidden": h}, lr * 10 + h / 100)
            for h in (32, 8)
            for lr in (0.02, 0.01, 0.03)
        ],
        ["optimizer.lr", "model.hidden"],
    )
    ax = main_axes(plot.sweep_figure(summary))
    assert ax.get_xscale() == "linear"  # 0.01 to 0.03 is not a decade
    first, second = lines(ax, "sweep:")
    assert (first.get_label(), second.get_label()) == ("model.hidden = 8", "model.hidden = 32")
    np.testing.assert_allclose(xs(first), [0.01, 0.02, 0.03])
    np.testing.assert_allclose(ys(first), [0.18, 0.28, 0.38])
    np.testing.assert_allclose(ys(second), [0.42, 0.52, 0.62])


def test_sweep_of_names_uses_categories() -> None:
    summary = sweep_summary(
        [point({"optimizer.name": n}, v) for n, v in (("gd", 0.8), ("adam", 0.95))],
        ["optimizer.name"],
    )
    ax = main_axes(plot.sweep_figure(summary))
    assert [t.get_text() for t in ax.get_xticklabels()] == ["gd", "adam"]
    (line,) = lines(ax, "sweep:")
    np.testing.assert_allclose(ys(line), [0.8, 0.95])


# ---------------------------------------------------------------------------- plot_run


def test_missing_trace_is_named(rosenbrock: Path, tmp_path: Path) -> None:
    broken = tmp_path / "x"
    broken.mkdir()
    for name in ("config.yaml", "summary.json"):
        shutil.copy(rosenbrock / name, broken / name)
    with pytest.raises(UserError, match=r"missing trace\.csv; was the run finished\?"):
        plot.plot_run(broken)
    assert not list(broken.glob("*.png"))


def test_missing_summary_and_model_are_named(moons: Path, tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"missing summary\.json"):
        plot.plot_run(tmp_path)
    broken = tmp_path / "m"
    broken.mkdir()
    for name in ("config.yaml", "summary.json", "trace.csv"):
        shutil.copy(moons / name, broken / name)
    with pytest.raises(UserError, match=r"missing model\.npz"):
        plot.plot_run(broken)


def test_unknown_command_is_a_user_error(tmp_path: Path) -> None:
    write_json(tmp_path / "summary.json", {"command": "dance"})
    with pytest.raises(UserError, match="dance"):
        plot.plot_run(tmp_path)


def test_plot_run_redraws_from_the_files_alone(rosenbrock: Path) -> None:
    first = plot.plot_run(rosenbrock)
    for path in first:
        os.utime(path, ns=(0, 0))
    second = plot.plot_run(rosenbrock)
    names = ["contour.png", "surface.png", "convergence.png"]
    assert first == second == [rosenbrock / n for n in names]
    assert all(p.stat().st_mtime_ns > 0 for p in second)  # written again
    assert sorted(p.name for p in rosenbrock.glob("*.png")) == sorted(names)
    assert not [p.name for p in rosenbrock.iterdir() if p.name.startswith(".")]  # no temp files


def test_pngs_are_150_dpi_and_titled(
    rosenbrock: Path, moons: Path, compare_dir: Path, tmp_path: Path
) -> None:
    write_json(
        tmp_path / "summary.json",
        sweep_summary([point({"lr": 0.1}, 0.5), point({"lr": 0.2}, 0.6)], ["lr"]),
    )
    for run_dir in (rosenbrock, moons, compare_dir, tmp_path):
        figures = dict(plot.run_figures(run_dir))
        for path in plot.plot_run(run_dir):
            fig = figures[path.name]
            # pHYs holds pixels per metre: 150 dpi is 150 / 0.0254 = 5905.5 -> 5906
            phys = png_chunks(path)[b"pHYs"]
            assert struct.unpack(">IIB", phys) == (5906, 5906, 1)
            with Image.open(path) as img:
                assert img.info["dpi"] == pytest.approx((150, 150), abs=0.02)
                width, height = fig.get_size_inches()
                assert img.size == (round(width * 150), round(height * 150))
                title = img.info["Title"]
            assert title and title == fig.get_suptitle()
            assert all(ax.get_xlabel() for ax in fig.axes if ax.get_label() != "<colorbar>")


def test_importing_the_cli_and_plot_does_not_import_matplotlib() -> None:
    code = (
        "import sys\n"
        "import gdcli.cli, gdcli.render.plot\n"
        "from gdcli.cli import app\n"
        "try:\n"
        "    app(['--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "print('matplotlib' in sys.modules, 'gdcli.render.plot' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip().splitlines()[-1] == "False True"
