"""The pictures of compare-activations: training loss and accuracy per activation."""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from gdcli.render.plot.style import (
    HATCHES,
    lighter,
    new_figure,
    numbers,
    read_rows,
    require,
    require_columns,
    series_style,
)

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def compare_figures(run_dir: Path, summary: dict[str, Any]) -> Iterator[tuple[str, Figure]]:
    require(run_dir, "trace.csv")
    header, rows = read_rows(run_dir)
    require_columns(run_dir, header, ("activation", "seed", "epoch", "train_loss"))
    yield "activations_loss.png", activations_loss_figure(rows, summary)
    yield "activations_accuracy.png", activations_accuracy_figure(summary)


def _activation_order(rows: Sequence[Mapping[str, str]], summary: Mapping[str, Any]) -> list[str]:
    order = [str(r["activation"]) for r in summary.get("results") or []]
    for row in rows:
        if row["activation"] not in order:
            order.append(row["activation"])
    return order


def activations_loss_figure(
    rows: Sequence[Mapping[str, str]], summary: Mapping[str, Any]
) -> Figure:
    """Mean training loss per epoch of each activation over its seeds, with a band of
    one standard deviation (log y). Lines have gid ``activation:<name>``, bands
    ``band:<name>``."""
    acts = np.array([r["activation"] for r in rows])
    seeds = np.array([r["seed"] for r in rows])
    epoch = numbers(rows, "epoch")
    loss = numbers(rows, "train_loss")
    order = _activation_order(rows, summary)
    n_seeds = len(set(seeds.tolist()))
    fig = new_figure(7.6, 4.8, f"{summary.get('experiment', 'run')}: training loss per activation")
    ax = fig.add_subplot()
    positive = True
    for i, name in enumerate(order):
        mask = acts == name
        if not mask.any():
            continue
        epochs = np.unique(epoch[mask])
        mean = np.array([np.nanmean(loss[mask & (epoch == e)]) for e in epochs])
        std = np.array([np.nanstd(loss[mask & (epoch == e)]) for e in epochs])
        style = series_style(i)
        floor = np.where(mean > 0, mean * 1e-3, np.nan)
        band = ax.fill_between(
            epochs,
            np.maximum(mean - std, floor),
            mean + std,
            color=style["color"],
            alpha=0.18,
            linewidth=0,
        )
        band.set_gid(f"band:{name}")
        ax.plot(
            epochs,
            mean,
            color=style["color"],
            linestyle=style["linestyle"],
            marker=style["marker"],
            markevery=0.1,
            markersize=5,
            markerfacecolor="white",
            linewidth=1.6,
            label=name,
            gid=f"activation:{name}",
        )
        positive = positive and bool(np.all(mean[np.isfinite(mean)] > 0))
    if positive:
        ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("training loss" + (" (log scale)" if positive else ""))
    ax.set_title(
        f"mean ± 1 std over {n_seeds} seed{'s' if n_seeds != 1 else ''}", fontsize="medium"
    )
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="small", title="activation", title_fontsize="small")
    return fig


def activations_accuracy_figure(summary: Mapping[str, Any]) -> Figure:
    """Test accuracy per activation as bars with one-std error bars; an activation
    without a test accuracy shows its training accuracy instead, hatched the same
    but marked "(train)" under its name. Bars have gid ``bar:<name>``."""
    results = list(summary.get("results") or [])

    def stat(r: Mapping[str, Any], key: str) -> tuple[float, float]:
        s = r.get(key) or {}
        mean, std = s.get("mean"), s.get("std")
        return (math.nan if mean is None else float(mean), 0.0 if std is None else float(std))

    fig = new_figure(
        max(5.0, 1.2 * len(results) + 2.5),
        4.8,
        f"{summary.get('experiment', 'run')}: accuracy per activation",
    )
    ax = fig.add_subplot()
    names: list[str] = []
    used_train = False
    for i, r in enumerate(results):
        name = str(r["activation"])
        mean, std = stat(r, "test_accuracy")
        if math.isnan(mean):
            mean, std = stat(r, "train_accuracy")
            used_train = used_train or not math.isnan(mean)
            names.append(f"{name}\n(train)" if not math.isnan(mean) else name)
        else:
            names.append(name)
        style = series_style(i)
        bars = ax.bar(
            i,
            0.0 if math.isnan(mean) else mean,
            yerr=std,
            width=0.7,
            color=lighter(style["color"], 0.35),
            edgecolor=style["color"],
            hatch=HATCHES[i % len(HATCHES)],
            linewidth=1.2,
            capsize=6,
            error_kw={"elinewidth": 1.2, "ecolor": "black"},
        )
        bars.patches[0].set_gid(f"bar:{name}")
        text = "n/a" if math.isnan(mean) else f"{mean:.3f}\n± {std:.3f}"
        top = 0.0 if math.isnan(mean) else mean + std
        ax.text(i, top + 0.015, text, ha="center", va="bottom", fontsize="small")
    ax.set_xticks(range(len(results)), names)
    ax.set_ylim(0.0, 1.15)
    ax.set_xlabel("activation")
    ax.set_ylabel("test accuracy" + (" (training where marked)" if used_train else ""))
    runs = sorted({int(r.get("runs") or 0) for r in results})
    if runs:
        ax.set_title(f"mean ± 1 std over {', '.join(map(str, runs))} runs", fontsize="medium")
    ax.grid(True, axis="y", alpha=0.3)
    return fig
