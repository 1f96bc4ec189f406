"""The pictures of train-mlp: training curves, decision boundary, confusion matrix."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from gdcli.render.plot.style import (
    MARKERS,
    PALETTE,
    PART_LOOK,
    legend_marker,
    lighter,
    new_figure,
    numbers,
    read_rows,
    require,
    series_style,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from gdcli.data import Dataset
    from gdcli.experiments.modelfile import SavedModel


def train_figures(run_dir: Path, summary: dict[str, Any]) -> Iterator[tuple[str, Figure]]:
    data = summary.get("data") or {}
    final = summary.get("final") or {}
    two_features = data.get("features") == 2
    has_model = "model.npz" in (summary.get("files") or []) or (run_dir / "model.npz").exists()
    needed = ["trace.csv"]
    if two_features and has_model:
        needed += ["config.yaml", "model.npz"]
    require(run_dir, *needed)
    _, rows = read_rows(run_dir)
    yield "loss.png", training_loss_figure(rows, summary)
    if two_features and has_model:
        points = load_training_points(run_dir)
        yield "decision_boundary.png", decision_boundary_figure(points, summary)
    if final.get("confusion_matrix"):
        yield (
            "confusion.png",
            confusion_figure(
                final["confusion_matrix"],
                data.get("classes"),
                f"{summary.get('experiment', 'run')}: confusion matrix",
                on=final.get("figures_on"),
            ),
        )


def training_loss_figure(rows: Sequence[Mapping[str, str]], summary: Mapping[str, Any]) -> Figure:
    """Loss and accuracy against epoch, training and validation (two panels; one
    when there is no accuracy). Lines have gids ``loss:train``, ``loss:val``,
    ``accuracy:train``, ``accuracy:val``; the final test figures are dotted lines."""
    loss_name = (summary.get("model") or {}).get("loss")
    has_acc = any(np.isfinite(numbers(rows, c)).any() for c in ("train_accuracy", "val_accuracy"))
    fig = new_figure(11.0 if has_acc else 7.0, 4.6, f"{summary.get('experiment', 'run')}: training")
    panels = [("loss", f"loss ({loss_name})" if loss_name else "loss")]
    if has_acc:
        panels.append(("accuracy", "accuracy"))
    for i, (what, ylabel) in enumerate(panels):
        ax = fig.add_subplot(1, len(panels), i + 1)
        _training_panel(ax, rows, summary, what, ylabel)
    return fig


def _training_panel(
    ax: Axes, rows: Sequence[Mapping[str, str]], summary: Mapping[str, Any], what: str, ylabel: str
) -> None:
    """One panel of ``training_loss_figure``: ``what`` ("loss" or "accuracy") of the
    training and validation sets per epoch, the final test value, the best epoch."""
    from matplotlib.ticker import FuncFormatter

    epoch = numbers(rows, "epoch")
    drawn: list[np.ndarray] = []
    for j, (part, name) in enumerate((("train", "training"), ("val", "validation"))):
        y = numbers(rows, f"{part}_{what}")
        if not np.isfinite(y).any():
            continue
        style = series_style(j)
        ax.plot(
            epoch,
            y,
            color=style["color"],
            linestyle=style["linestyle"],
            marker=style["marker"],
            markevery=0.1,
            markersize=5,
            markerfacecolor="white",
            linewidth=1.5,
            label=name,
            gid=f"{what}:{part}",
        )
        drawn.append(y)
    test = (summary.get("final") or {}).get(f"test_{what}")
    if test is not None:
        ax.axhline(
            test,
            color=PALETTE[2],
            linestyle=":",
            linewidth=1.5,
            label=f"test (final) = {test:.4g}",
            gid=f"{what}:test",
        )
    best = summary.get("best_epoch")
    if best is not None:
        ax.axvline(best, color="#555555", linestyle="--", linewidth=0.8, label=f"best epoch {best}")
    if what == "loss" and drawn and not any(np.nanmin(y) <= 0 for y in drawn):
        ax.set_yscale("log")
        plain = FuncFormatter(lambda v, _: f"{v:g}")
        ax.yaxis.set_major_formatter(plain)
        ax.yaxis.set_minor_formatter(plain)
    if what == "accuracy":
        ax.set_ylim(min(0.0, *(float(np.nanmin(y)) for y in drawn)) if drawn else 0.0, 1.02)
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel + (" (log scale)" if ax.get_yscale() == "log" else ""))
    ax.set_title(what, fontsize="medium")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="small", loc="best")


@dataclass(frozen=True)
class TrainingPoints:
    """A trained model with the points it was trained and tested on, in the data's
    own units (before standardization)."""

    model: SavedModel
    parts: tuple[tuple[str, Dataset], ...]  # ("train", ds), ("val", ds), ("test", ds)

    @property
    def X(self) -> np.ndarray:
        return np.concatenate([ds.X for _, ds in self.parts])


def load_training_points(run_dir: Path) -> TrainingPoints:
    """The run's data regenerated from ``config.yaml`` and its seed, in the data's own
    units, and the model from ``model.npz``."""
    from dataclasses import replace

    from gdcli.experiments.modelfile import load_model

    run_dir = Path(run_dir)
    require(run_dir, "config.yaml", "model.npz")
    splits = _rederived_splits(run_dir)
    model = load_model(run_dir / "model.npz")
    parts: list[tuple[str, Dataset]] = []
    for name in ("train", "val", "test"):
        ds = getattr(splits, name)
        if ds is None or ds.X.shape[0] == 0:
            continue
        if splits.scaler is not None:
            ds = replace(ds, X=ds.X * splits.scaler.scale + splits.scaler.mean)
        parts.append((name, ds))
    return TrainingPoints(model, tuple(parts))


def _rederived_splits(run_dir: Path) -> Any:
    """The run's train/val/test splits, drawn again from ``config.yaml``'s data section
    and the seed's named data stream, so the points match the run. The only place
    where plotting re-derives data."""
    from gdcli.experiments.config import TrainConfig, load_config
    from gdcli.experiments.plan import training_splits

    config, _ = load_config(run_dir / "config.yaml", TrainConfig)
    return training_splits(config, run_dir)


@dataclass(frozen=True)
class _Grid:
    """A square grid over the data's box (with a 10% margin) and the model's
    class probabilities there."""

    lo: np.ndarray  # (2,)
    hi: np.ndarray  # (2,)
    gx: np.ndarray  # (n, n)
    gy: np.ndarray  # (n, n)
    proba: np.ndarray  # (n * n, outputs)


def _prediction_grid(points: TrainingPoints, n: int = 300) -> _Grid:
    from gdcli import nn

    model = points.model
    X = points.X
    lo, hi = X.min(axis=0), X.max(axis=0)
    margin = 0.1 * np.maximum(hi - lo, 1e-9)
    lo, hi = lo - margin, hi + margin
    gx, gy = np.meshgrid(np.linspace(lo[0], hi[0], n), np.linspace(lo[1], hi[1], n))
    grid = np.column_stack([gx.ravel(), gy.ravel()])
    proba = nn.predict_proba(model.arch, model.layers, model.prepare(grid))
    return _Grid(lo, hi, gx, gy, proba)


def decision_boundary_figure(points: TrainingPoints, summary: Mapping[str, Any]) -> Figure:
    """The model's predicted class over a grid spanning the data (with a margin) as
    filled regions (gid ``regions``), the points coloured and shaped by class
    (gid ``points:<part>:<class>``; training points filled, others open)."""
    g = _prediction_grid(points)
    classes = points.model.class_names
    names = points.model.feature_names
    fig = new_figure(7.6, 6.2, f"{summary.get('experiment', 'run')}: decision boundary")
    ax = fig.add_subplot()
    if classes is None:
        _draw_regression(fig, ax, g, points)
    else:
        colours = [PALETTE[i % len(PALETTE)] for i in range(len(classes))]
        _draw_class_regions(ax, g, colours)
        _draw_class_points(ax, points, classes, colours)
        _class_legend(ax, points, classes, colours)
    ax.set_xlim(g.lo[0], g.hi[0])
    ax.set_ylim(g.lo[1], g.hi[1])
    ax.set_xlabel(names[0] if names else "feature 1")
    ax.set_ylabel(names[1] if len(names) > 1 else "feature 2")
    return fig


def _draw_regression(fig: Figure, ax: Axes, g: _Grid, points: TrainingPoints) -> None:
    """The prediction of a regression model as filled contours, the points coloured
    by their target on the same scale."""
    pred = g.proba[:, 0].reshape(g.gx.shape)
    targets = np.concatenate([ds.y for _, ds in points.parts])
    vmin = float(min(np.nanmin(pred), targets.min()))
    vmax = float(max(np.nanmax(pred), targets.max()))
    levels = np.linspace(vmin, vmax if vmax > vmin else vmin + 1.0, 21)
    cs = ax.contourf(g.gx, g.gy, pred, levels=levels, cmap="cividis", alpha=0.8)
    cs.set_gid("regions")
    fig.colorbar(cs, ax=ax).set_label("prediction")
    for part, ds in points.parts:
        sc = ax.scatter(
            ds.X[:, 0],
            ds.X[:, 1],
            c=ds.y,
            cmap="cividis",
            vmin=float(levels[0]),
            vmax=float(levels[-1]),
            edgecolors="black",
            linewidths=0.5,
            s=22,
            marker="o" if part == "train" else "^",
        )
        sc.set_gid(f"points:{part}:target")


def _draw_class_regions(ax: Axes, g: _Grid, colours: Sequence[str]) -> None:
    """The predicted class as light regions, and the boundary: p = 0.5 for two
    classes, the lines between the regions for more."""
    from matplotlib.colors import ListedColormap

    k = len(colours)
    label = g.proba.argmax(axis=1).reshape(g.gx.shape)
    cmap = ListedColormap([lighter(c, 0.72) for c in colours])
    cs = ax.contourf(g.gx, g.gy, label, levels=np.arange(k + 1) - 0.5, cmap=cmap)
    cs.set_gid("regions")
    if k == 2:
        p1 = g.proba[:, 1].reshape(g.gx.shape)
        b = ax.contour(g.gx, g.gy, p1, levels=[0.5], colors="black", linewidths=1.4)
    else:
        b = ax.contour(
            g.gx, g.gy, label, levels=np.arange(k - 1) + 0.5, colors="black", linewidths=0.9
        )
    b.set_gid("boundary")


def _draw_class_points(
    ax: Axes, points: TrainingPoints, classes: Sequence[str], colours: Sequence[str]
) -> None:
    """The points by part (fill style) and class (colour and marker)."""
    size = 11.0 if points.X.shape[0] <= 50 else 5.5
    for part, ds in points.parts:
        fill, _ = PART_LOOK.get(part, PART_LOOK["test"])
        for c, colour in enumerate(colours):
            mask = ds.y == c
            if not mask.any():
                continue
            ln = ax.plot(
                ds.X[mask, 0],
                ds.X[mask, 1],
                linestyle="none",
                marker=MARKERS[c % len(MARKERS)],
                markersize=size if fill == "full" else size + 1,
                fillstyle=fill,
                markerfacecolor=colour,
                markerfacecoloralt="white",
                markeredgecolor="white" if fill == "full" else colour,
                markeredgewidth=0.5 if fill == "full" else 1.3,
                zorder=3,
            )
            ln[0].set_gid(f"points:{part}:{classes[c]}")


def _class_legend(
    ax: Axes, points: TrainingPoints, classes: Sequence[str], colours: Sequence[str]
) -> None:
    """One legend beside the axes: the classes, the boundary, the parts' fill styles."""
    from matplotlib.lines import Line2D

    handles = [
        legend_marker(MARKERS[c % len(MARKERS)], 7, markerfacecolor=colour, markeredgecolor="white")
        for c, colour in enumerate(colours)
    ]
    texts = [f"class {name}" for name in classes]
    handles.append(Line2D([], [], color="black", linewidth=1.4))
    texts.append("decision boundary")
    for part, _ in points.parts:
        fill, look = PART_LOOK.get(part, PART_LOOK["test"])
        handles.append(
            legend_marker(
                "o",
                7,
                fillstyle=fill,
                markerfacecolor="#555555",
                markerfacecoloralt="white",
                markeredgecolor="#555555",
                markeredgewidth=1.3,
            )
        )
        texts.append(f"{part} points ({look})")
    ax.legend(
        handles,
        texts,
        loc="upper left",
        bbox_to_anchor=(1.01, 1.0),
        fontsize="small",
        frameon=False,
    )


def confusion_figure(
    matrix: Sequence[Sequence[int]],
    classes: Sequence[str] | None,
    title: str,
    on: str | None = None,
) -> Figure:
    """The confusion matrix (rows: true class, columns: predicted) with the count
    written in each cell (gid ``cell:<i>,<j>``); shading by the share of the row."""
    M = np.asarray(matrix, dtype=np.int64)
    k = M.shape[0]
    names = list(classes) if classes else [str(i) for i in range(k)]
    size = min(3.0 + 0.55 * k, 9.0)
    fig = new_figure(size + 1.2, size, title)
    ax = fig.add_subplot()
    share = M / np.maximum(M.sum(axis=1, keepdims=True), 1)
    im = ax.imshow(share, cmap="Blues", vmin=0.0, vmax=1.0)
    fig.colorbar(im, ax=ax, shrink=0.85).set_label("share of the true class")
    font = "medium" if k <= 6 else "small"
    for i in range(k):
        for j in range(k):
            t = ax.text(
                j,
                i,
                str(int(M[i, j])),
                ha="center",
                va="center",
                fontsize=font,
                color="white" if share[i, j] > 0.55 else ("black" if M[i, j] else "#8A8A8A"),
                fontweight="bold" if i == j else "normal",
            )
            t.set_gid(f"cell:{i},{j}")
    ax.set_xticks(range(k), names, rotation=45 if max(len(n) for n in names) > 3 else 0)
    ax.set_yticks(range(k), names)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    n = int(M.sum())
    correct = int(np.trace(M))
    where = f"{on} set, " if on else ""
    ax.set_title(f"{where}{correct} of {n} right ({correct / max(n, 1):.1%})", fontsize="medium")
    return fig
