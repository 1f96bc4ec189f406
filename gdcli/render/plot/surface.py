"""``surface.png``: f of 2 variables as a 3-D surface with the optimizers' paths on it.

The surface spans the contour map's box. Where f climbs far above the rest of the
map (Rosenbrock's walls, a cubic's far corner) it is cut flat at the height below
which 95% of the map lies, and the path points above the cut are left out, so the valley
that matters keeps its relief; the z axis says where it was cut.

Artists: the surface has gid ``surface``; each optimizer's paths one 3-D line with
gid ``path:<run>``, its starts ``start:<run>`` and its ends ``end:<run>``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from gdcli.render.plot.descend import DescendRun, Window, _joined, _plot_box
from gdcli.render.plot.style import series_style

if TYPE_CHECKING:
    from matplotlib.figure import Figure

CLIP_QUANTILE = 0.95


def surface_figure(run: DescendRun, window: Window | None = None) -> Figure:
    """The surface of f over the contour map's box, with every optimizer's paths."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    if run.dimension != 2:
        raise ValueError("a surface needs a function of 2 variables")
    (x0, x1), (y0, y1) = _plot_box(run, window=window)
    gx, gy = np.meshgrid(np.linspace(x0, x1, 80), np.linspace(y0, y1, 80))
    Z = run.function.values(np.column_stack([gx.ravel(), gy.ravel()])).reshape(gx.shape)
    finite = Z[np.isfinite(Z)]
    cap = float(np.quantile(finite, CLIP_QUANTILE)) if finite.size else 1.0
    floor = float(finite.min()) if finite.size else 0.0
    clipped = bool(finite.size and finite.max() > cap)
    fig = Figure(figsize=(8.0, 6.8), layout="constrained")
    FigureCanvasAgg(fig)
    fig.suptitle(f"{run.name}: f as a surface, with the paths", fontsize="large", weight="bold")
    ax = fig.add_subplot(projection="3d")
    shown = np.where(np.isfinite(Z), np.minimum(Z, cap), np.nan)  # a flat top where cut
    surf = ax.plot_surface(
        gx, gy, shown, cmap="Greys", vmin=floor - 0.6 * (cap - floor), vmax=cap,
        rstride=2, cstride=2, linewidth=0.2, edgecolor="#808080", alpha=0.55,
    )  # fmt: skip
    surf.set_gid("surface")
    box = ((x0, x1), (y0, y1))
    for r, (label, tracks) in enumerate(zip(run.labels, run.tracks, strict=True)):
        pieces = [_on_surface(np.column_stack([t.x, t.f]), box, cap) for t in tracks]
        xyz = _joined(pieces)
        colour = series_style(r)["color"]
        ax.plot(*xyz.T, color=colour, linewidth=2.0, zorder=5, gid=f"path:{r}", label=label)
        for k, (marker, gid) in enumerate((("o", "start"), ("X", "end"))):
            ends = np.array([p[-k] for p in pieces if len(p) and np.isfinite(p[-k]).all()])
            if ends.size:
                ax.plot(*ends.T, linestyle="none", marker=marker, markersize=7, color=colour,
                        markeredgecolor="black", gid=f"{gid}:{r}")  # fmt: skip
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_zlim(floor, cap)
    ax.set_xlabel(run.variables[0])
    ax.set_ylabel(run.variables[1])
    ax.set_zlabel(f"f (cut at {cap:.4g})" if clipped else "f")
    ax.view_init(elev=35, azim=-60)
    ax.legend(fontsize="small", loc="upper left")
    return fig


def _on_surface(xyz: np.ndarray, box: tuple[tuple[float, float], ...], cap: float) -> np.ndarray:
    """A path's points (T, 3) with those outside the box or above the cut as NaN, so
    the line breaks there instead of leaving the drawing."""
    (x0, x1), (y0, y1) = box
    x, y, z = xyz.T
    ok = np.isfinite(xyz).all(axis=1) & (x >= x0) & (x <= x1) & (y >= y0) & (y <= y1) & (z <= cap)
    return np.where(ok[:, None], xyz, np.nan)
