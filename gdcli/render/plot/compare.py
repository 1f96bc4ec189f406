"""The pictures of compare-activations: training loss and accuracy per activation."""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from gdcli.render.plot import style

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure


def compare_figures(run_dir: Path, summary: dict[str, Any]) -> Iterator[tuple[str, Figure]]:
    style.require(run_dir, "trace.csv")
    header, rows = style.read_rows(run_dir)
    style.require_columns(run_dir, header, ("activation", "seed", "epoch", "train_loss"))
    yield "activations_loss.png", activations_loss_figure(rows, summary)
    yield "activations_accuracy.png", activations_accuracy_figure(summary)


def _activation_order(rows: Sequence[Mapping[str, str]], summary: Mapping[str, Any]) -> list[str]:
    order = [str(r["activation"]) for r in summary.get("results") or []]
    for row in rows:
        if row["activation"] not in order:
            order.append(row["activation"])
    return order


def _geometric_band(values: np.ndarray) -> tuple[float, float, float]:
    """Geometric mean of positive ``values`` and the band one geometric standard
    deviation either side of it (``mean / s`` to ``mean * s``): on a log axis the band
    is symmetric about the line and never reaches zero."""
    v = values[np.isfinite(values) & (values > 0)]
    if v.size == 0:
        return math.nan, math.nan, math.nan
    logs = np.log(v)
    mean, spread = float(np.exp(logs.mean())), float(np.exp(logs.std()))
    return mean, mean / spread, mean * spread


def _arithmetic_band(values: np.ndarray) -> tuple[float, float, float]:
    v = values[np.isfinite(values)]
    if v.size == 0:
        return math.nan, math.nan, math.nan
    mean, std = float(v.mean()), float(v.std())
    return mean, mean - std, mean + std


def activations_loss_figure(
    rows: Sequence[Mapping[str, str]], summary: Mapping[str, Any]
) -> Figure:
    """Training loss per epoch of each activation over its seeds (one colour per
    activation name, see ``style.activation_style``). When every loss is positive
    the y axis is logarithmic and the line is the geometric mean with a band of one
    geometric standard deviation (a ``mean ± std`` band would reach below zero on
    a log axis and cover the picture); otherwise the mean ± 1 std on a linear axis.
    Lines have gid ``activation:<name>``, bands ``band:<name>``."""
    acts = np.array([r["activation"] for r in rows])
    seeds = np.array([r["seed"] for r in rows])
    epoch = style.numbers(rows, "epoch")
    loss = style.numbers(rows, "train_loss")
    n_seeds = len(set(seeds.tolist()))
    log = bool(np.all(loss[np.isfinite(loss)] > 0))
    band_of = _geometric_band if log else _arithmetic_band
    title = f"{summary.get('experiment', 'run')}: training loss per activation"
    fig = style.new_figure(7.6, 4.8, title)
    ax = fig.add_subplot()
    for name in _activation_order(rows, summary):
        mask = acts == name
        if not mask.any():
            continue
        epochs = np.unique(epoch[mask])
        mid, lo, hi = np.array([band_of(loss[mask & (epoch == e)]) for e in epochs]).T
        look = style.activation_style(name)
        band = ax.fill_between(epochs, lo, hi, color=look["color"], alpha=0.18, linewidth=0)
        band.set_gid(f"band:{name}")
        style.curve(ax, epochs, mid, look, label=name, gid=f"activation:{name}")
    seeds_text = f"{n_seeds} seed{'s' if n_seeds != 1 else ''}"
    if log:
        ax.set_yscale("log")
        finite = loss[np.isfinite(loss)]
        if finite.size:
            style.log_axis_labels(ax.yaxis, float(finite.min()), float(finite.max()))
        ax.set_title(
            f"geometric mean, band ×/÷ 1 geometric std, over {seeds_text}", fontsize="medium"
        )
    else:
        ax.set_title(f"mean ± 1 std over {seeds_text}", fontsize="medium")
    ax.set_xlabel("epoch")
    ax.set_ylabel("training loss" + (" (log scale)" if log else ""))
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="small", title="activation", title_fontsize="small")
    return fig


def _accuracy_of(r: Mapping[str, Any]) -> tuple[float, float, bool]:
    """Test accuracy (mean, std) of one result, or the training accuracy (and True)
    when there is no test accuracy; NaN when there is neither."""
    for key, is_train in (("test_accuracy", False), ("train_accuracy", True)):
        s = r.get(key) or {}
        if s.get("mean") is not None:
            return float(s["mean"]), float(s.get("std") or 0.0), is_train
    return math.nan, 0.0, False


def activations_accuracy_figure(summary: Mapping[str, Any]) -> Figure:
    """Test accuracy per activation as bars (one colour per activation name) with
    one-std error bars clipped to [0, 1], since an accuracy cannot leave it; an
    activation without a test accuracy shows its training accuracy instead, marked
    "(train)" under its name. Value labels sit inside the axes. Bars have gid
    ``bar:<name>``, error bars ``error:<name>``, labels ``value:<name>``."""
    results = list(summary.get("results") or [])
    fig = style.new_figure(
        max(5.0, 1.2 * len(results) + 2.5),
        4.8,
        f"{summary.get('experiment', 'run')}: accuracy per activation",
    )
    ax = fig.add_subplot()
    names: list[str] = []
    used_train = False
    for i, r in enumerate(results):
        name = str(r["activation"])
        mean, std, is_train = _accuracy_of(r)
        used_train = used_train or is_train
        names.append(f"{name}\n(train)" if is_train else name)
        _accuracy_bar(ax, i, name, mean, std)
    ax.set_xticks(range(len(results)), names)
    # room above 1.0 for a two-line label over a bar at 1.0
    ax.set_ylim(0.0, 1.22)
    ax.set_yticks(np.linspace(0.0, 1.0, 6))
    ax.set_xlabel("activation")
    ax.set_ylabel("test accuracy" + (" (training where marked)" if used_train else ""))
    runs = sorted({int(r.get("runs") or 0) for r in results})
    if runs:
        ax.set_title(
            f"mean ± 1 std over {', '.join(map(str, runs))} runs (bars clipped to [0, 1])",
            fontsize="medium",
        )
    ax.grid(True, axis="y", alpha=0.3)
    return fig


def _accuracy_bar(ax: Axes, i: int, name: str, mean: float, std: float) -> None:
    """Bar ``i`` at ``mean`` with its error bar clipped to [0, 1] and its label."""
    look = style.activation_style(name)
    height = 0.0 if math.isnan(mean) else mean
    below, above = min(std, height), min(std, max(1.0 - height, 0.0))
    bars = ax.bar(
        i,
        height,
        width=0.7,
        color=style.lighter(look["color"], 0.35),
        edgecolor=look["color"],
        hatch=style.HATCHES[i % len(style.HATCHES)],
        linewidth=1.2,
    )
    bars.patches[0].set_gid(f"bar:{name}")
    if not math.isnan(mean):
        err = ax.errorbar(
            i, height, yerr=[[below], [above]], color="black", elinewidth=1.2, capsize=6
        )
        err.lines[2][0].set_gid(f"error:{name}")
    text = "n/a" if math.isnan(mean) else f"{mean:.3f}\n± {std:.3f}"
    label = ax.text(i, height + above + 0.015, text, ha="center", va="bottom", fontsize="small")
    label.set_gid(f"value:{name}")
