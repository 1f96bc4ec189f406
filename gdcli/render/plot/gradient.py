"""The gradient as an arrow: ``gradient.png`` of ``gdcli grad --plot`` (2 variables),
and the field of descent directions that ``--field`` adds to a contour map.

At the point, the gradient (uphill, the direction f grows fastest) and the descent
direction -gradient are drawn as arrows from the point. Their true length |grad f|
is often far larger than the map (|(81, 60)| = 100.8 on a map 5 units wide), so both
are drawn at one length, a quarter of the map's shorter side, in their true
direction, and their true components and length are written beside them.

Artists: the arrows are annotations with gids ``arrow:gradient`` and
``arrow:descent`` (tail ``xyann``, tip ``xy``), their labels texts with gids
``label:gradient`` and ``label:descent``, the point ``point``, the field a quiver
with gid ``field``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from gdcli.render.plot.descend import _draw_surface, _surface
from gdcli.render.plot.style import PALETTE, new_figure

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from gdcli.engine.functions import ResolvedFunction

ARROW_SHARE = 0.25  # drawn arrow length, as a share of the map's shorter side


def _vector(v: np.ndarray) -> str:
    return "(" + ", ".join(f"{float(c):.4g}".replace("-", "−") for c in v) + ")"


def point_box(fn: ResolvedFunction, x: np.ndarray) -> list[tuple[float, float]]:
    """The map around ``x`` (2,): the function's window for a library function, else
    a box around the point and, when the point is within 10 of it, the origin."""
    points = x[None, :]
    if fn.entry is None and float(np.linalg.norm(x)) <= 10:
        points = np.vstack([points, np.zeros_like(x)])
    box = [list(b) for b in fn.window(points)]
    for k, b in enumerate(box):  # room for the arrows and their labels on every side
        span = b[1] - b[0]
        b[0], b[1] = min(b[0], x[k] - 0.45 * span), max(b[1], x[k] + 0.45 * span)
    return [(float(a), float(b)) for a, b in box]


def gradient_figure(fn: ResolvedFunction, x: np.ndarray, gradient: np.ndarray) -> Figure:
    """The contour map of f (2 variables) around ``x`` (2,) with the gradient and the
    descent direction as arrows at ``x``."""
    box = point_box(fn, x)
    fig = new_figure(7.2, 7.4, f"gradient of f = {fn.formula} at {_vector(x)}")
    ax = fig.add_subplot()
    _draw_surface(fig, ax, _surface(fn, box, 240, 12))
    ax.plot(*x, "o", color="black", markersize=8, zorder=6, gid="point")
    size = float(np.linalg.norm(gradient))
    if size > 0 and np.isfinite(size):
        length = ARROW_SHARE * min(b[1] - b[0] for b in box)
        unit = gradient / size
        _arrow(ax, x, unit * length, "gradient", PALETTE[1], f"∇f = {_vector(gradient)}\nuphill")
        _arrow(
            ax,
            x,
            -unit * length,
            "descent",
            PALETTE[0],
            f"−∇f = {_vector(-gradient)}\ndescent direction",
        )
        note = (
            f"|∇f| = {size:.4g}: both arrows drawn {length:.3g} long (scaled), "
            "in their true directions"
        )
    else:
        note = "∇f = 0 here: no direction is uphill (a critical point)"
    ax.set_title(note, fontsize="medium")
    ax.set_xlim(*box[0])
    ax.set_ylim(*box[1])
    ax.set_aspect("equal", adjustable="box")
    ax.set_xlabel(fn.variables[0])
    ax.set_ylabel(fn.variables[1])
    return fig


def _arrow(ax: Axes, x: np.ndarray, d: np.ndarray, kind: str, colour: str, text: str) -> None:
    tip = x + d
    ax.annotate(
        "",
        xy=(float(tip[0]), float(tip[1])),
        xytext=(float(x[0]), float(x[1])),
        arrowprops={"arrowstyle": "-|>,head_width=0.5,head_length=0.9", "color": colour, "lw": 3},
        zorder=5,
        gid=f"arrow:{kind}",
    )
    # the label beyond the tip, on the side the arrow points to
    ax.text(
        float(tip[0] + 0.12 * d[0]),
        float(tip[1] + 0.12 * d[1]),
        text,
        color=colour,
        fontsize=11,
        fontweight="bold",
        ha="right" if d[0] >= 0 else "left",  # the text runs back over the map
        va="bottom" if d[1] >= 0 else "top",
        bbox={"boxstyle": "round,pad=0.25", "facecolor": "white", "edgecolor": colour},
        zorder=6,
        gid=f"label:{kind}",
    )


def draw_descent_field(ax: Axes, fn: ResolvedFunction, box: Sequence[tuple[float, float]]) -> None:
    """-grad f / |grad f| on a 21 x 21 grid over ``box`` as short grey arrows (gid
    ``field``): which way steepest descent would step from anywhere on the map."""
    from gdcli.engine.autograd import value_and_grad

    n = 21
    (x0, x1), (y0, y1) = box
    gx, gy = np.meshgrid(np.linspace(x0, x1, n), np.linspace(y0, y1, n))
    with np.errstate(all="ignore"):
        _, g = value_and_grad(fn.objective, np.column_stack([gx.ravel(), gy.ravel()]))
        size = np.linalg.norm(g, axis=1, keepdims=True)
        d = np.where((size > 0) & np.isfinite(size), -g / np.where(size > 0, size, 1.0), np.nan)
    q = ax.quiver(
        gx.ravel(),
        gy.ravel(),
        d[:, 0],
        d[:, 1],
        color="#505050",
        alpha=0.7,
        angles="xy",
        pivot="middle",
        scale_units="width",
        scale=n * 1.6,
        width=0.0025,
        zorder=2.5,
    )
    q.set_gid("field")
