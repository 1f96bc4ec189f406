"""The pictures of train-mlp: training curves, decision boundary, confusion matrix."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from gdcli.render.plot import style
from gdcli.render.plot.style import MARKERS, PALETTE, PART_LOOK, new_figure

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
    style.require(run_dir, *needed)
    _, rows = style.read_rows(run_dir)
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


PENALTY_COLUMNS = ("l2_penalty", "penalty")
"""Trace columns that hold the L2 penalty ``0.5 * l2 * sum(W**2)`` per epoch. A trace
with one of them reports ``train_loss`` as the data loss alone (the table's figure);
a trace without one reports the mean minibatch loss, penalty included."""


def training_loss_figure(rows: Sequence[Mapping[str, str]], summary: Mapping[str, Any]) -> Figure:
    """Loss and accuracy against epoch, training and validation (two panels; one
    when there is no accuracy). Lines have gids ``loss:train``, ``loss:val``,
    ``accuracy:train``, ``accuracy:val``, and ``loss:penalty`` for the L2 penalty
    when the trace has it (its own line, never added to the loss). The final
    figures of the table are drawn too: the test value as a dotted line
    (``<what>:test``) and the training value as a marker at the kept epoch
    (``final:<what>:train``), so the picture and the table show the same numbers."""
    loss_name = (summary.get("model") or {}).get("loss")
    has_acc = any(
        np.isfinite(style.numbers(rows, c)).any()
        for c in ("train_accuracy", "val_accuracy")
        if c in rows[0]
    )
    fig = new_figure(11.0 if has_acc else 7.0, 4.6, f"{summary.get('experiment', 'run')}: training")
    panels = [("loss", f"loss ({loss_name})" if loss_name else "loss")]
    if has_acc:
        panels.append(("accuracy", "accuracy"))
    for i, (what, ylabel) in enumerate(panels):
        ax = fig.add_subplot(1, len(panels), i + 1)
        _training_panel(ax, rows, summary, what, ylabel)
    return fig


def _series(rows: Sequence[Mapping[str, str]], what: str) -> list[tuple[str, str, np.ndarray]]:
    """``(gid part, legend text, values)`` of the lines of one panel."""
    penalty = next((c for c in PENALTY_COLUMNS if c in rows[0]), None)
    if what == "loss":
        train = "training (data loss)" if penalty else "training (mean over the minibatches)"
    else:
        train = "training"
    out = [
        (part, text, style.numbers(rows, f"{part}_{what}"))
        for part, text in (("train", train), ("val", "validation"))
        if f"{part}_{what}" in rows[0]
    ]
    if what == "loss" and penalty is not None:
        out.append(
            ("penalty", "L2 penalty ½·l2·Σw² (not in the loss)", style.numbers(rows, penalty))
        )
    # a penalty of 0 throughout (l2: 0) is no line at all
    return [
        (part, text, y)
        for part, text, y in out
        if np.isfinite(y).any() and (part != "penalty" or bool(np.nanmax(y) > 0))
    ]


def _training_panel(
    ax: Axes, rows: Sequence[Mapping[str, str]], summary: Mapping[str, Any], what: str, ylabel: str
) -> None:
    """One panel of ``training_loss_figure``: ``what`` ("loss" or "accuracy") of the
    training and validation sets per epoch, the final values of the table, the
    best epoch."""
    epoch = style.numbers(rows, "epoch")
    drawn: list[np.ndarray] = []
    for j, (part, text, y) in enumerate(_series(rows, what)):
        look = style.series_style(j)
        style.curve(ax, epoch, y, look, label=text, gid=f"{what}:{part}", linewidth=1.5)
        drawn.append(y)
    drawn += _final_values(ax, summary, what, float(epoch[-1]))
    best = summary.get("best_epoch")
    if best is not None:
        ax.axvline(best, color="#555555", linestyle="--", linewidth=0.8, label=f"best epoch {best}")
    values = np.concatenate(drawn) if drawn else np.zeros(0)
    values = values[np.isfinite(values)]
    if what == "loss" and values.size and bool(np.all(values > 0)):
        ax.set_yscale("log")
        style.log_axis_labels(ax.yaxis, float(values.min()), float(values.max()))
    if what == "accuracy":
        ax.set_ylim(min(0.0, float(values.min())) if values.size else 0.0, 1.02)
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel + (" (log scale)" if ax.get_yscale() == "log" else ""))
    ax.set_title(what, fontsize="medium")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="small", loc="best")


def _final_values(ax: Axes, summary: Mapping[str, Any], what: str, last: float) -> list[np.ndarray]:
    """The table's final training value (a marker at the kept epoch) and test value
    (a dotted line); returns them for the axis limits."""
    final = summary.get("final") or {}
    out: list[np.ndarray] = []
    train = final.get(f"train_{what}")
    if train is not None:
        at = summary.get("best_epoch") or summary.get("epochs_run") or last
        ax.plot(
            [at],
            [train],
            linestyle="none",
            marker="*",
            markersize=13,
            color=PALETTE[0],
            markeredgecolor="black",
            label=f"training (final, as in the table) = {train:.4g}",
            gid=f"final:{what}:train",
            zorder=4,
        )
        out.append(np.array([train], dtype=np.float64))
    test = final.get(f"test_{what}")
    if test is not None:
        ax.axhline(
            test,
            color=PALETTE[2],
            linestyle=":",
            linewidth=1.5,
            label=f"test (final) = {test:.4g}",
            gid=f"{what}:test",
        )
        out.append(np.array([test], dtype=np.float64))
    return out


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
    style.require(run_dir, "config.yaml", "model.npz")
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
    """A square grid over the data's box (with a 10% margin) and what the model says
    there: the logits and the predicted class, by the rule of ``predict`` and the
    metrics (``nn.predict``: a sigmoid output is class 1 where its logit is > 0)."""

    lo: np.ndarray  # (2,)
    hi: np.ndarray  # (2,)
    gx: np.ndarray  # (n, n)
    gy: np.ndarray  # (n, n)
    logits: np.ndarray  # (n * n, outputs); the prediction itself for regression
    label: np.ndarray  # (n * n,) int64 predicted class; unused for regression


def _prediction_grid(points: TrainingPoints, n: int = 300) -> _Grid:
    from gdcli import nn

    model = points.model
    X = points.X
    lo, hi = X.min(axis=0), X.max(axis=0)
    margin = 0.1 * np.maximum(hi - lo, 1e-9)
    lo, hi = lo - margin, hi + margin
    gx, gy = np.meshgrid(np.linspace(lo[0], hi[0], n), np.linspace(lo[1], hi[1], n))
    grid = model.prepare(np.column_stack([gx.ravel(), gy.ravel()]))
    logits = nn.logits_array(model.arch, model.layers, grid)
    label = np.zeros(grid.shape[0], dtype=np.int64)
    if model.class_names is not None:
        label = np.asarray(nn.predict(model.arch, model.layers, grid), dtype=np.int64)
    return _Grid(lo, hi, gx, gy, logits, label)


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
        has_boundary = _draw_class_regions(ax, g, colours)
        _draw_class_points(ax, points, classes, colours)
        _class_legend(ax, points, classes, colours, has_boundary)
    ax.set_xlim(g.lo[0], g.hi[0])
    ax.set_ylim(g.lo[1], g.hi[1])
    ax.set_xlabel(names[0] if names else "feature 1")
    ax.set_ylabel(names[1] if len(names) > 1 else "feature 2")
    return fig


def _draw_regression(fig: Figure, ax: Axes, g: _Grid, points: TrainingPoints) -> None:
    """The prediction of a regression model as filled contours, the points coloured
    by their target on the same scale."""
    pred = g.logits[:, 0].reshape(g.gx.shape)
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


def _draw_class_regions(ax: Axes, g: _Grid, colours: Sequence[str]) -> bool:
    """The predicted class as light regions, and the boundary: the line logit = 0
    for two classes (where ``predict`` changes its answer), the lines between the
    regions for more. Returns whether a boundary lies in the window; when none
    does, the picture says which class the model predicts everywhere."""
    from matplotlib.colors import ListedColormap

    k = len(colours)
    label = g.label.reshape(g.gx.shape)
    cmap = ListedColormap([style.lighter(c, 0.72) for c in colours])
    cs = ax.contourf(g.gx, g.gy, label, levels=np.arange(k + 1) - 0.5, cmap=cmap)
    cs.set_gid("regions")
    if k == 2 and g.logits.shape[1] == 1 and float(np.max(np.abs(g.logits))) < 1e-3:
        # |logit| < 1e-3 keeps p within 0.00025 of 1/2: the classes follow its sign alone
        _note(
            ax,
            "p = 0.5 everywhere (|logit| < 0.001): the class follows the logit's sign",
            0.03,
            "undecided",
        )
    if np.unique(label).size < 2:
        text = f"no decision boundary in this window: class {int(label.flat[0])} everywhere"
        _note(ax, text, 0.97, "no-boundary")
        return False
    if k == 2 and g.logits.shape[1] == 1:
        z = g.logits[:, 0].reshape(g.gx.shape)
        b = ax.contour(g.gx, g.gy, z, levels=[0.0], colors="black", linewidths=1.4)
    else:
        b = ax.contour(
            g.gx, g.gy, label, levels=np.arange(k - 1) + 0.5, colors="black", linewidths=0.9
        )
    b.set_gid("boundary")
    return True


def _note(ax: Axes, text: str, y: float, gid: str) -> None:
    """A boxed line of text across the top (``y`` near 1) or bottom of the axes."""
    ax.text(
        0.5,
        y,
        text,
        transform=ax.transAxes,
        ha="center",
        va="top" if y > 0.5 else "bottom",
        fontsize="small",
        bbox={"boxstyle": "round", "facecolor": "white", "edgecolor": "#555555"},
        zorder=6,
        gid=gid,
    )


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
    ax: Axes,
    points: TrainingPoints,
    classes: Sequence[str],
    colours: Sequence[str],
    has_boundary: bool,
) -> None:
    """One legend beside the axes: the classes, the boundary (only when drawn), the
    parts' fill styles."""
    from matplotlib.lines import Line2D

    handles = [
        style.legend_marker(
            MARKERS[c % len(MARKERS)], 7, markerfacecolor=colour, markeredgecolor="white"
        )
        for c, colour in enumerate(colours)
    ]
    texts = [f"class {name}" for name in classes]
    if has_boundary:
        handles.append(Line2D([], [], color="black", linewidth=1.4))
        texts.append("decision boundary (logit = 0)" if len(classes) == 2 else "decision boundary")
    for part, _ in points.parts:
        fill, look = PART_LOOK.get(part, PART_LOOK["test"])
        handles.append(
            style.legend_marker(
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


CONFUSION_MAX_CLASSES = 50  # above this, confusion.png is a summary, not the matrix
TOP_CONFUSED = 15  # pairs listed in the summary


def confusion_summary_figure(
    M: np.ndarray, names: Sequence[str], title: str, on: str | None = None
) -> Figure:
    """For many classes: each class's recall, sorted, as one line (gid ``recall``),
    and the ``TOP_CONFUSED`` most frequent (true, predicted) pairs off the diagonal
    as bars (gid ``pair:<true>,<predicted>``). The number of artists does not grow
    with the number of classes."""
    k = M.shape[0]
    support = M.sum(axis=1)
    with np.errstate(all="ignore"):
        recall = np.where(support > 0, np.diag(M) / np.maximum(support, 1), np.nan)
    fig = new_figure(12.0, 5.4, title)
    left, right = fig.subplots(1, 2, width_ratios=(1.0, 1.1))
    shown = np.sort(recall[np.isfinite(recall)])
    left.plot(np.arange(1, shown.size + 1), shown, color=PALETTE[0], linewidth=1.6, gid="recall")
    left.set_xlim(0, max(shown.size, 1) + 1)
    left.set_ylim(-0.02, 1.02)
    left.set_xlabel(f"classes sorted by recall ({shown.size} of {k} with samples)")
    left.set_ylabel("recall (share of the class predicted right)")
    left.set_title(f"per-class recall; median {np.median(shown):.3f}" if shown.size else "recall")
    left.grid(True, alpha=0.3)
    off = M.copy()
    np.fill_diagonal(off, 0)
    n_top = min(TOP_CONFUSED, int(np.count_nonzero(off)))
    flat = np.argsort(off, axis=None, kind="stable")[::-1][:n_top]
    rows_, cols_ = np.unravel_index(flat, M.shape)
    counts = off[rows_, cols_]
    y = np.arange(n_top)[::-1]
    bars = right.barh(y, counts, color=style.lighter(PALETTE[1], 0.3), edgecolor=PALETTE[1])
    for bar, i, j in zip(bars.patches, rows_, cols_, strict=True):
        bar.set_gid(f"pair:{names[i]},{names[j]}")
    right.set_yticks(y, [f"{names[i]} → {names[j]}" for i, j in zip(rows_, cols_, strict=True)])
    right.set_xlabel("samples (true → predicted)")
    right.set_title(f"the {n_top} most frequent confusions")
    n, correct = int(M.sum()), int(np.trace(M))
    where = f"{on} set, " if on else ""
    fig.text(
        0.5,
        0.005,
        f"{where}{k} classes, too many for a matrix: {correct} of {n} right "
        f"({correct / max(n, 1):.1%})",
        ha="center",
        va="bottom",
        fontsize="medium",
    )
    return fig


def confusion_figure(
    matrix: Sequence[Sequence[int]],
    classes: Sequence[str] | None,
    title: str,
    on: str | None = None,
) -> Figure:
    """The confusion matrix (rows: true class, columns: predicted) with the count
    written in each cell (gid ``cell:<i>,<j>``); shading by the share of the row.
    Above ``CONFUSION_MAX_CLASSES`` classes a matrix of k² cells can neither be
    drawn in bounded time nor read, so ``confusion_summary_figure`` is drawn instead."""
    M = np.asarray(matrix, dtype=np.int64)
    k = M.shape[0]
    names = list(classes) if classes else [str(i) for i in range(k)]
    if k > CONFUSION_MAX_CLASSES:
        return confusion_summary_figure(M, names, title, on)
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
