"""``hidden_units.png`` of ``gdcli inspect``: for a network of two inputs, each unit
of its first layer as the line w . x + b = 0 over the given points, with an arrow
to the side where the unit's z > 0, and the network's output classes as light
regions behind. For XOR it shows the two (or more) lines that cut the square into
parts the output layer can separate.

Artists that carry data have a ``gid``: ``unit:J`` (the line of unit J, 1-based),
``points`` and ``regions``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from gdcli import nn
from gdcli.experiments.inspection import Inspection, input_space_lines
from gdcli.render.plot.style import lighter, new_figure, save_figure, series_style

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

GRID = 300  # cells per side of the class-region grid


def _box(X: np.ndarray) -> tuple[float, float, float, float]:
    """The points' bounding box, padded by a third of its size (at least 0.5)."""
    lo, hi = X.min(axis=0), X.max(axis=0)
    pad = np.maximum((hi - lo) / 3.0, 0.5)
    return (
        float(lo[0] - pad[0]),
        float(hi[0] + pad[0]),
        float(lo[1] - pad[1]),
        float(hi[1] + pad[1]),
    )


def _regions(ax: Axes, ins: Inspection, box: tuple[float, float, float, float]) -> None:
    """The output classes over the box, lightly, from the model's own prediction."""
    m = ins.model
    gx, gy = np.meshgrid(np.linspace(box[0], box[1], GRID), np.linspace(box[2], box[3], GRID))
    grid = np.column_stack([gx.ravel(), gy.ravel()])
    label = nn.predict(m.arch, m.layers, m.prepare(grid)).reshape(gx.shape)
    k = len(m.class_names or ()) or 1
    from matplotlib.colors import ListedColormap

    cmap = ListedColormap([_class_shade(i, k) for i in range(k)])
    ax.contourf(gx, gy, label, levels=np.arange(k + 1) - 0.5, cmap=cmap, zorder=0).set_gid(
        "regions"
    )


def _class_shade(i: int, k: int) -> tuple[float, float, float]:
    """Class i of k as a light grey, from white up: the units' colours stay the only colours."""
    return lighter("#000000", 0.97 - 0.1 * i / max(k - 1, 1))


def _signed(v: float) -> str:
    return f"+ {v:.3g}" if v >= 0 else f"- {-v:.3g}"


def _unit_line(ax: Axes, j: int, w: np.ndarray, b: float, box: tuple[float, ...]) -> None:
    """Unit j's line w . x + b = 0 clipped to the box, its label and an arrow to z > 0."""
    look = series_style(j)
    x0, x1, y0, y1 = box
    norm = float(np.hypot(*w))
    if norm == 0:
        return  # a unit with no weights has no line
    # the point of the line nearest the box's centre, and the line's direction
    c = np.array([(x0 + x1) / 2, (y0 + y1) / 2])
    p = c - (w @ c + b) / norm**2 * w
    d = np.array([-w[1], w[0]]) / norm
    t = np.linspace(-3, 3, 2) * max(x1 - x0, y1 - y0)
    ax.plot(
        p[0] + t * d[0],
        p[1] + t * d[1],
        color=look["color"],
        linestyle=look["linestyle"],
        lw=2.2,
        gid=f"unit:{j + 1}",
        label=f"unit {j + 1}: {w[0]:.3g} x1 {_signed(w[1])} x2 {_signed(b)} = 0",
    )
    span = 0.12 * max(x1 - x0, y1 - y0)
    start = p + d * span * (1.5 * j - 1.5)  # spread the arrows of lines that cross
    tip = start + w / norm * span
    ax.annotate(
        "",
        xy=tuple(tip),
        xytext=tuple(start),
        arrowprops={"arrowstyle": "->", "color": look["color"], "lw": 1.8},
    )
    ax.annotate(
        f"{j + 1}: z > 0",
        xy=tuple(tip),
        fontsize="small",
        color=look["color"],
        fontweight="bold",
        ha="center",
        va="center",
        xytext=tuple(tip + w / norm * span * 0.4),
    )


def hidden_units_figure(ins: Inspection) -> Figure:
    """The first layer's units as lines over the inputs, on the output's class regions."""
    if ins.X is None or ins.model.arch.sizes[0] != 2:
        raise ValueError("hidden_units_figure needs a model of 2 inputs and the points")
    m = ins.model
    W, b = input_space_lines(m)
    fig = new_figure(7.5, 7.8, "The first layer's units: lines w · x + b = 0")
    ax = fig.add_subplot()
    box = _box(ins.X)
    if m.class_names:
        _regions(ax, ins, box)
    for j in range(W.shape[1]):
        _unit_line(ax, j, W[:, j], float(b[j]), box)
    classes = list(m.class_names or ["a value (regression)"])
    k = len(classes)
    # a point is filled with its predicted class's shade, darker: black for the last class
    fills = [
        lighter("#000000", 1.0 - (classes.index(p) + 1) / k if p in classes else 0.5)
        for p in ins.predictions
    ]
    ax.scatter(
        ins.X[:, 0], ins.X[:, 1], c=fills, s=120, edgecolors="black", lw=1.5, zorder=5, gid="points"
    )
    for x, y in ins.X:
        ax.annotate(f"({x:g}, {y:g})", (x, y), xytext=(7, 7), textcoords="offset points")
    ax.set_xlim(box[0], box[1])
    ax.set_ylim(box[2], box[3])
    ax.set_aspect("equal", adjustable="box")
    names = m.feature_names
    ax.set_xlabel(names[0])
    ax.set_ylabel(names[1])
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.1), fontsize="small", frameon=False)
    ax.set_title(
        f"shade: the class the network predicts (from light to dark: {', '.join(classes)}); "
        "points filled by prediction",
        fontsize="small",
    )
    return fig


def save_hidden_units(ins: Inspection, out_dir: Path) -> Path:
    """Write hidden_units.png into ``out_dir``; returns its path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "hidden_units.png"
    save_figure(hidden_units_figure(ins), path)
    return path
