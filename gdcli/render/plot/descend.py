"""The pictures of descend: contour map or curve, convergence, basins of attraction.

A run is read back from its directory (``load_descend_run``): the function is
resolved by name or formula from ``config.yaml``, the paths come from
``trace.csv`` and the outcomes from ``summary.json``; nothing is planned again
and nothing random is drawn.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from gdcli.errors import UserError
from gdcli.render.plot.style import (
    KNOWN_POINT_STYLE,
    MARKERS,
    NONE_COLOUR,
    PALETTE,
    legend_marker,
    new_figure,
    numbers,
    read_rows,
    read_summary,
    read_trace,
    require,
    require_columns,
    series_style,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from gdcli.engine.functions import CriticalPoint, ResolvedFunction

BASIN_MIN_STARTS = 20  # a run with this many starts or more gets basins.png
MEDIAN_ABOVE_STARTS = 10  # above this many starts, convergence.png draws medians


@dataclass(frozen=True)
class Track:
    """The trace of one optimizer from one start: ``T`` rows, thinned as traced."""

    run: int
    start: int
    iteration: np.ndarray  # (T,) int64
    f: np.ndarray  # (T,)
    x: np.ndarray  # (T, d)
    status: str  # from summary.json; "" when the summary has no entry

    @property
    def diverged(self) -> bool:
        return self.status == "diverged" or not bool(np.isfinite(self.x[-1]).all())


@dataclass(frozen=True)
class DescendRun:
    """A descend run read back from its directory.

    ``labels[r]`` names optimizer ``r`` and ``tracks[r]`` holds its tracks, one per
    start in start order; ``results`` are summary.json's ``runs`` entries.
    """

    name: str
    function: ResolvedFunction
    labels: tuple[str, ...]
    tracks: tuple[tuple[Track, ...], ...]
    results: tuple[dict[str, Any], ...]

    @property
    def dimension(self) -> int:
        return self.function.dimension

    @property
    def n_starts(self) -> int:
        return max((len(t) for t in self.tracks), default=0)

    @property
    def variables(self) -> tuple[str, ...]:
        return self.function.variables


def load_descend_run(run_dir: Path) -> DescendRun:
    """Read a descend run: the function from ``config.yaml``, the paths from
    ``trace.csv``, the outcomes from ``summary.json``."""
    run_dir = Path(run_dir)
    summary = read_summary(run_dir)
    require(run_dir, "config.yaml", "trace.csv")
    config = _read_config(run_dir)
    fn = _resolve_function(run_dir, config)
    header, rows = read_rows(run_dir)
    # a formula's trace names its variables; a built-in function's (and older runs') x1..xn
    coords = list(fn.variables)
    if not set(coords) <= set(header):
        coords = [f"x{k + 1}" for k in range(fn.dimension)]
    require_columns(run_dir, header, ("run", "optimizer", "start", "iteration", "f", *coords))
    results = _starts_results(run_dir, fn, coords) or tuple(summary.get("runs") or ())
    labels, tracks = _tracks(rows, coords, _statuses(results))
    name = str(summary.get("experiment") or config.get("name"))
    return DescendRun(name, fn, labels, tracks, results)


def _starts_results(
    run_dir: Path, fn: ResolvedFunction, coords: Sequence[str]
) -> tuple[dict[str, Any], ...]:
    """Every start's outcome from ``starts.csv`` (summary.json keeps only a sample),
    as summary.json's ``runs`` entries; () when the run has no starts.csv."""
    path = run_dir / "starts.csv"
    if not path.exists():
        return ()
    header, rows = read_trace(path)
    if not set(coords) <= set(header):
        return ()
    minima = fn.known_minima()
    return tuple(
        {
            "run": int(row["run"]),
            "status": row["status"],
            "classification": row["classification"],
            "x": [float(row[c]) for c in coords],
            "nearest_minimum": list(minima[int(row["minimum"])].x) if row["minimum"] else None,
        }
        for row in rows
    )


def _read_config(run_dir: Path) -> dict[str, Any]:
    """``config.yaml`` as a plain mapping: the run wrote it resolved, so it is read,
    not validated again."""
    from gdcli.yamlio import load_document

    data = load_document(run_dir / "config.yaml").data
    if not isinstance(data, dict) or not isinstance(data.get("function"), str):
        raise UserError(f"{run_dir / 'config.yaml'}: no 'function' to draw")
    return data


def _resolve_function(run_dir: Path, config: Mapping[str, Any]) -> ResolvedFunction:
    """The run's function by name or formula, in as many variables as its starts
    have (the same choice as the descent's plan); no start is drawn."""
    from gdcli.engine.functions import resolve

    start, starts = config.get("start"), config.get("starts")
    dimension = None
    if isinstance(start, list):
        dimension = len(start)
    elif isinstance(starts, list) and starts and isinstance(starts[0], list):
        dimension = len(starts[0])
    elif isinstance(starts, dict) and isinstance(starts.get("low"), list):
        dimension = len(starts["low"])
    variables = config.get("vars")
    return resolve(
        config["function"], dimension=dimension, variables=tuple(variables) if variables else None
    )


def _statuses(results: Sequence[Mapping[str, Any]]) -> dict[tuple[int, int], str]:
    """``(run, start) -> status`` from summary.json's ``runs`` (starts in order)."""
    status: dict[tuple[int, int], str] = {}
    seen: dict[int, int] = {}
    for entry in results:
        r = int(entry["run"])
        status[(r, seen.get(r, 0))] = str(entry.get("status") or "")
        seen[r] = seen.get(r, 0) + 1
    return status


def _tracks(
    rows: Sequence[Mapping[str, str]], coords: Sequence[str], status: dict[tuple[int, int], str]
) -> tuple[tuple[str, ...], tuple[tuple[Track, ...], ...]]:
    """The trace's rows grouped by optimizer, then by start, in iteration order;
    with each optimizer's label."""
    run_ids = np.array([int(r["run"]) for r in rows], dtype=np.int64)
    start_ids = np.array([int(r["start"]) for r in rows], dtype=np.int64)
    iteration = np.array([int(r["iteration"]) for r in rows], dtype=np.int64)
    f = numbers(rows, "f")
    X = np.column_stack([numbers(rows, c) for c in coords]) if rows else np.zeros((0, len(coords)))
    labels: dict[int, str] = {}
    for r, row in zip(run_ids.tolist(), rows, strict=True):
        labels.setdefault(r, row["optimizer"])
    order = np.lexsort((iteration, start_ids, run_ids))
    tracks: list[tuple[Track, ...]] = []
    for r in sorted(labels):
        in_run = order[run_ids[order] == r]
        per_start = []
        for s in np.unique(start_ids[in_run]).tolist():
            idx = in_run[start_ids[in_run] == s]
            per_start.append(Track(r, s, iteration[idx], f[idx], X[idx], status.get((r, s), "")))
        tracks.append(tuple(per_start))
    return tuple(labels[r] for r in sorted(labels)), tuple(tracks)


Window = tuple[float, ...]
"""A drawing window: (xmin, xmax) or (xmin, xmax, ymin, ymax)."""


def parse_window(text: str) -> Window:
    """``"xmin,xmax[,ymin,ymax]"`` -> the window; a ``UserError`` saying what is wrong."""
    parts = [p.strip() for p in text.split(",")]
    try:
        values = tuple(float(p) for p in parts)
    except ValueError:
        values = ()
    ok = len(values) in (2, 4) and all(math.isfinite(v) for v in values)
    if ok and all(values[i] < values[i + 1] for i in range(0, len(values), 2)):
        return values
    raise UserError(
        f"--window {text!r}: expected xmin,xmax or xmin,xmax,ymin,ymax as finite numbers "
        "with each min below its max, e.g. --window -2,2,-1,3"
    )


def descend_figures(
    run_dir: Path, summary: dict[str, Any], window: Window | None = None, field: bool = False
) -> Iterator[tuple[str, Figure]]:
    run = load_descend_run(run_dir)
    if run.dimension == 2:
        from gdcli.render.plot.surface import surface_figure

        yield "contour.png", descend_contour_figure(run, window, field)
        yield "surface.png", surface_figure(run, window)
    elif run.dimension == 1:
        yield "curve.png", descend_curve_figure(run, window)
    yield "convergence.png", descend_convergence_figure(run)
    if run.n_starts >= BASIN_MIN_STARTS:
        yield "basins.png", descend_basins_figure(run)


def _plot_box(
    run: DescendRun, pad: float = 0.05, window: Window | None = None
) -> list[tuple[float, float]]:
    """The box to draw: ``window`` when given (its first two coordinates), else the
    function's window (the library's plotting window, or a box around the starts
    for a formula) widened to hold every start, every known point and the end of
    every path that converged. A path that runs far away is not followed: it leaves
    the box and is marked where it leaves (``_draw_escapes``)."""
    if window is not None:
        pairs = [(window[i], window[i + 1]) for i in range(0, len(window), 2)]
        default = _plot_box(run, pad) if len(pairs) < run.dimension else []
        return (pairs + default[len(pairs) :])[: run.dimension]
    starts = [t.x[:1] for tracks in run.tracks for t in tracks]
    parts = starts + [t.x[-1:] for tracks in run.tracks for t in tracks if t.status == "converged"]
    parts += [np.array([p.x]) for p in run.function.known_points()]
    points = np.concatenate(parts) if parts else np.zeros((0, run.dimension))
    points = points[np.isfinite(points).all(axis=1)]
    first = np.concatenate(starts) if starts else points
    box = [list(b) for b in run.function.window(first[np.isfinite(first).all(axis=1)])]
    if points.size:
        lo, hi = points.min(axis=0), points.max(axis=0)
        for k, b in enumerate(box):
            span = max(hi[k] - lo[k], b[1] - b[0], 1e-12)
            b[0] = min(b[0], lo[k] - pad * span)
            b[1] = max(b[1], hi[k] + pad * span)
    return [(float(a), float(b)) for a, b in box]


def _exit_point(x: np.ndarray, box: Sequence[tuple[float, float]]) -> tuple[np.ndarray, int] | None:
    """Where a path (T, 2) whose end lies outside ``box`` (or is not finite) last
    crosses the box's edge, and which edge (0 left, 1 right, 2 bottom, 3 top);
    None when the path ends inside."""
    lo = np.array([b[0] for b in box])
    hi = np.array([b[1] for b in box])
    finite = np.isfinite(x).all(axis=1)
    inside = finite & np.all((x >= lo) & (x <= hi), axis=1)
    if inside[-1] or not inside.any():
        return None
    k = int(np.flatnonzero(inside)[-1])
    p = x[k]
    if k + 1 < len(x) and finite[k + 1]:
        d = x[k + 1] - p
    else:  # the next step overflowed: keep the last direction of travel
        d = p - x[k - 1] if k > 0 else np.array([1.0, 0.0])
    if not np.any(d):
        d = np.array([1.0, 0.0])
    with np.errstate(divide="ignore", invalid="ignore"):
        t_edges = np.where(d > 0, (hi - p) / d, np.where(d < 0, (lo - p) / d, np.inf))
    axis = int(np.argmin(t_edges))
    edge = 2 * axis + (1 if d[axis] > 0 else 0)
    return np.clip(p + float(t_edges[axis]) * d, lo, hi), edge


def _joined(parts: Sequence[np.ndarray]) -> np.ndarray:
    """Polylines joined into one array with a NaN row between them, so one Line2D
    draws them all as separate pieces."""
    if not parts:
        return np.zeros((0, 2))
    gap = np.full((1, parts[0].shape[1]), np.nan)
    out: list[np.ndarray] = []
    for p in parts:
        out += [p, gap]
    return np.concatenate(out[:-1])


def _draw_known_points(
    ax: Axes,
    points: Sequence[CriticalPoint],
    to_xy: Callable[[CriticalPoint], tuple[float, float]],
) -> None:
    """Mark known critical points at ``to_xy(point)``, one legend entry per kind
    (gid ``known:<kind>``): minima as stars, saddles as crosses, maxima as triangles."""
    kinds_done: set[str] = set()
    for p in points:
        marker, fill, text = KNOWN_POINT_STYLE.get(p.kind, ("d", "white", p.kind))
        x, y = to_xy(p)
        big = marker == "*"
        ax.plot(
            [x],
            [y],
            linestyle="none",
            marker=marker,
            markersize=20 if big else 10,
            markerfacecolor=fill,
            markeredgecolor="black",
            color="black",
            markeredgewidth=1.0 if big else 2.0,
            zorder=4.5,
            gid=f"known:{p.kind}",
            label=text if p.kind not in kinds_done else "_nolegend_",
        )
        kinds_done.add(p.kind)


@dataclass(frozen=True)
class _Surface:
    """f on a grid over the plot box, shifted to be positive, with contour levels."""

    gx: np.ndarray  # (n, n)
    gy: np.ndarray  # (n, n)
    height: np.ndarray  # (n, n): f - base + eps > 0, NaN where f is not finite
    levels: np.ndarray  # increasing; levels[0] = eps, the floor
    base: float  # what was subtracted: f* when known (and not above the grid's minimum)
    base_is_known: bool


def _surface(fn: ResolvedFunction, box: Sequence[tuple[float, float]], n: int, k: int) -> _Surface:
    """f over an ``n`` x ``n`` grid and about ``2k`` contour levels.

    The levels merge two sets: ``k`` log-spaced heights from the 0.2nd percentile to
    the maximum, which resolve a narrow valley (Rosenbrock's floor spans decades
    below its walls), and ``k`` quantiles of the heights, which give every region of
    the map some bands even when f is unbounded below and the grid's minimum sits in
    a far corner (the lecture's cubic). Levels closer than 3% are merged.
    """
    (x0, x1), (y0, y1) = box
    gx, gy = np.meshgrid(np.linspace(x0, x1, n), np.linspace(y0, y1, n))
    Z = fn.values(np.column_stack([gx.ravel(), gy.ravel()])).reshape(gx.shape)
    finite = np.isfinite(Z)
    zmin = float(Z[finite].min()) if finite.any() else 0.0
    zmax = float(Z[finite].max()) if finite.any() else 1.0
    f_star = min((m.f for m in fn.known_minima()), default=None)
    base = zmin if f_star is None else min(f_star, zmin)
    eps = max(1e-12, 1e-9 * (zmax - base))
    height = np.where(finite, Z - base + eps, np.nan)
    inside = height[finite] if finite.any() else np.array([eps, 1.0])
    lo = max(float(np.quantile(inside, 0.002)), 10 * eps)
    hi = max(float(inside.max()), 10 * lo)
    candidates = np.concatenate(
        [np.geomspace(lo, hi, k), np.quantile(inside, np.linspace(0.02, 1.0, k))]
    )
    levels = [eps]
    for v in np.sort(candidates[candidates > 10 * eps]):
        if v > levels[-1] * 1.03:
            levels.append(float(v))
    if len(levels) < 3:
        levels = [eps, *np.geomspace(10 * eps, max(hi, 100 * eps), 3).tolist()]
    return _Surface(gx, gy, height, np.array(levels), base, f_star is not None and base == f_star)


def descend_contour_figure(
    run: DescendRun, window: Window | None = None, field: bool = False
) -> Figure:
    """Filled contour map of f with every optimizer's path (2 variables).

    f is shifted to ``f - f* + eps`` (``f*`` the lowest known minimum, else the
    grid's minimum) and drawn with log-spaced and equal-area levels (see
    ``_surface``), so a narrow valley such as Rosenbrock's shows as nested bands.
    Each optimizer's paths form one line (gid ``path:<run>``, pieces joined by NaN),
    with its starts (``o``, gid ``start:<run>``) and ends (``X``, gid ``end:<run>``);
    known critical points have gid ``known:<kind>``. The box is ``window`` or the
    function's window with the starts (see ``_plot_box``); a path that ends outside
    it is marked where it leaves (gid ``escaped:<run>``) and counted in a note.
    """
    if run.dimension != 2:
        raise ValueError("a contour map needs a function of 2 variables")
    box = _plot_box(run, window=window)
    many = run.n_starts > 1
    fig = new_figure(7.2, 7.6, f"{run.name}: optimizer paths on {_function_text(run)}")
    ax = fig.add_subplot()
    _draw_surface(fig, ax, _surface(run.function, box, 300, 14))
    if field:  # the normalised -gradient field (gid ``field``)
        from gdcli.render.plot.gradient import draw_descent_field

        draw_descent_field(ax, run.function, box)
    escaped = 0
    for r, (label, tracks) in enumerate(zip(run.labels, run.tracks, strict=True)):
        _draw_paths(ax, run, r, label, tracks)
        escaped += _draw_escapes(ax, r, tracks, box)
    _draw_known_points(ax, run.function.known_points(), lambda p: (p.x[0], p.x[1]))
    handles, texts = ax.get_legend_handles_labels()
    handles += [
        legend_marker("o", 8, color="#777777", markeredgecolor="black"),
        legend_marker("X", 9, color="#777777", markeredgecolor="black"),
    ]
    texts += ["start", "end"]
    fig.legend(handles, texts, loc="outside lower center", ncols=3, fontsize="small", frameon=False)
    ax.set_xlim(*box[0])
    ax.set_ylim(*box[1])
    ax.set_xlabel(run.variables[0])
    ax.set_ylabel(run.variables[1])
    notes = [f"{run.n_starts} starts per optimizer"] if many else []
    if escaped:
        notes.append(
            f"{escaped} path{'s' if escaped > 1 else ''} left the window "
            "(diverged or ran away): a triangle on the edge marks where"
        )
    if notes:
        ax.set_title("\n".join(notes), fontsize="medium")
    return fig


_EDGE_MARKERS = ("<", ">", "v", "^")  # pointing out of the left, right, bottom, top edge


def _draw_escapes(
    ax: Axes, r: int, tracks: Sequence[Track], box: Sequence[tuple[float, float]]
) -> int:
    """Optimizer ``r``'s paths that end outside ``box``: a triangle on the edge
    where each leaves, pointing the way it went (gid ``escaped:<run>``). Returns
    how many there are."""
    exits = [e for e in (_exit_point(t.x, box) for t in tracks) if e is not None]
    colour = series_style(r)["color"]
    for edge in range(4):
        xy = np.array([p for p, e in exits if e == edge])
        if xy.size:
            _mark(
                ax,
                xy,
                _EDGE_MARKERS[edge],
                11,
                colour,
                "black",
                1.0,
                zorder=6,
                clip_on=False,
                gid=f"escaped:{r}",
            )
    return len(exits)


def _draw_surface(fig: Figure, ax: Axes, surf: _Surface) -> None:
    """The shifted surface as grey bands with thin contour lines, and its colour bar."""
    from matplotlib import colormaps
    from matplotlib.colors import BoundaryNorm, ListedColormap
    from matplotlib.ticker import FuncFormatter

    # A light grey ramp keeps the coloured paths in front and reads in greyscale: the
    # valley is white, high ground grey. Each band gets its own shade (BoundaryNorm).
    greys = ListedColormap(colormaps["Greys"](np.linspace(0.0, 0.5, 256)))
    norm = BoundaryNorm(surf.levels, greys.N)
    cs = ax.contourf(surf.gx, surf.gy, surf.height, levels=surf.levels, norm=norm, cmap=greys)
    cs.set_gid("contour")
    ax.contour(
        surf.gx, surf.gy, surf.height, levels=surf.levels[1:], colors="#707070", linewidths=0.35
    )
    cbar = fig.colorbar(cs, ax=ax, shrink=0.85, pad=0.02)
    cbar.set_ticks(_log_ticks(surf.levels[1], surf.levels[-1]))
    cbar.ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    cbar.ax.minorticks_off()
    if surf.base_is_known:
        cbar.set_label(f"f − f*   (f* = {surf.base:.4g})")
    else:
        cbar.set_label(f"f − min f   (min f = {surf.base:.4g} on the grid)")


def _draw_paths(ax: Axes, run: DescendRun, r: int, label: str, tracks: Sequence[Track]) -> None:
    """Optimizer ``r``'s paths on the contour map as one line, with starts and ends."""
    style = series_style(r)
    many = run.n_starts > 1
    xy = _joined([t.x for t in tracks])
    diverged = sum(t.diverged for t in tracks)
    note = ""
    if diverged:
        note = " — diverged" if len(tracks) == 1 else f" — {diverged} diverged"
    ax.plot(
        xy[:, 0],
        xy[:, 1],
        color=style["color"],
        linestyle=style["linestyle"],
        linewidth=(0.7 if run.n_starts > 10 else 1.3) if many else 1.6,
        alpha=0.6 if run.n_starts > 10 else 0.95,
        marker="none" if many else style["marker"],
        markevery=0.08,
        markersize=5,
        markerfacecolor="white",
        zorder=3,
        gid=f"path:{r}",
        label=label + note,
    )
    starts = np.array([t.x[0] for t in tracks])
    ends = np.array([t.x[-1] for t in tracks])
    colour = style["color"]
    _mark(ax, starts, "o", 3 if many else 8, colour, "black", 0.5, zorder=4, gid=f"start:{r}")
    _mark(ax, ends, "X", 6 if many else 8, colour, "black", 0.6, zorder=5, gid=f"end:{r}")


def _mark(
    ax: Axes,
    xy: np.ndarray,
    marker: str,
    size: float,
    colour: str,
    edge: str,
    edge_width: float | None = None,
    **more: Any,
) -> None:
    """Markers without a line at the points ``xy`` (shape (n, 2))."""
    if edge_width is not None:
        more["markeredgewidth"] = edge_width
    ax.plot(
        xy[:, 0],
        xy[:, 1],
        linestyle="none",
        marker=marker,
        markersize=size,
        color=colour,
        markeredgecolor=edge,
        **more,
    )


def _log_ticks(lo: float, hi: float) -> list[float]:
    """Tick values in [lo, hi] at powers of ten, or at 1-2-5 steps when the range
    spans fewer than three powers of ten."""
    from matplotlib.ticker import LogLocator

    ticks = [t for t in LogLocator(numticks=9).tick_values(lo, hi) if lo <= t <= hi]
    if len(ticks) < 3:
        more = LogLocator(subs=(1.0, 2.0, 5.0), numticks=12).tick_values(lo, hi)
        ticks = [t for t in more if lo <= t <= hi]
    return [float(t) for t in ticks]


def _function_text(run: DescendRun) -> str:
    """``f = <formula>`` for a typed formula, the library's name for a library function."""
    fn = run.function
    if fn.entry is not None and fn.name == fn.entry.name:
        return f"{fn.name} ({len(fn.variables)}-D)" if fn.entry.dimension is None else fn.name
    from gdcli.render.plot.maths import formula_mathtext

    return f"f = {formula_mathtext(fn.formula)}"


def descend_curve_figure(run: DescendRun, window: Window | None = None) -> Figure:
    """The curve of a 1-variable function with each optimizer's iterates on it
    (one line per optimizer, gid ``path:<run>``)."""
    if run.dimension != 1:
        raise ValueError("a curve needs a function of 1 variable")
    ((x0, x1),) = _plot_box(run, window=window)
    xs = np.linspace(x0, x1, 800)
    ys = run.function.values(xs[:, None])
    fig = new_figure(7.6, 5.2, f"{run.name}: iterates on {_function_text(run)}")
    ax = fig.add_subplot()
    ax.plot(xs, ys, color="#404040", linewidth=2.2, gid="curve", label="f")
    many = run.n_starts > 1
    for r, (label, tracks) in enumerate(zip(run.labels, run.tracks, strict=True)):
        style = series_style(r)
        pts = _joined([np.column_stack([t.x[:, 0], t.f]) for t in tracks])
        ax.plot(
            pts[:, 0],
            pts[:, 1],
            color=style["color"],
            linestyle=style["linestyle"],
            linewidth=0.6 if many else 1.0,
            marker=style["marker"],
            markersize=4,
            markerfacecolor="white",
            alpha=0.9,
            zorder=3,
            gid=f"path:{r}",
            label=label,
        )
        ends = np.array([[t.x[-1, 0], t.f[-1]] for t in tracks])
        _mark(ax, ends, "X", 10, style["color"], "white", zorder=5, gid=f"end:{r}")
    _draw_known_points(ax, run.function.known_points(), lambda p: (p.x[0], p.f))
    finite = ys[np.isfinite(ys)]
    if finite.size:
        lo, hi = float(finite.min()), float(finite.max())
        span = max(hi - lo, 1e-12)
        ax.set_ylim(lo - 0.05 * span, hi + 0.05 * span)
    if window is not None and len(window) == 4:
        ax.set_ylim(window[2], window[3])
    ax.set_xlim(x0, x1)
    ax.set_xlabel(run.variables[0])
    ax.set_ylabel("f")
    ax.legend(fontsize="small", loc="best")
    return fig


def _median_curve(
    tracks: Sequence[Track], values: Callable[[Track], np.ndarray]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Iterations and the median, 25% and 75% of ``values`` over the starts there.

    A start that stopped keeps its last value (a converged start stays converged);
    NaN (a value that is not finite) is left out.
    """
    grid = np.unique(np.concatenate([t.iteration for t in tracks]))
    table = np.empty((len(tracks), grid.size))
    for i, t in enumerate(tracks):
        at = np.searchsorted(t.iteration, grid, side="right") - 1
        table[i] = values(t)[np.maximum(at, 0)]
    with np.errstate(all="ignore"):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            q = np.nanpercentile(table, [50, 25, 75], axis=0)
    return grid, q[0], q[1], q[2]


def descend_convergence_figure(run: DescendRun) -> Figure:
    """``f - f*`` against iteration on a log scale, one line per optimizer
    (gid ``convergence:<run>``). Up to ``MEDIAN_ABOVE_STARTS`` starts each start is
    a piece of that line; above, the line is the median over the starts, with a
    band from the 25th to the 75th percentile (gid ``band:<run>``).

    ``f*`` is the lowest known minimum; without one, ``f`` itself is drawn (on a
    symmetric log scale when it is not positive). The y axis stops 10^4 times above
    the highest start, so a diverging run leaves through the top (its legend entry
    says so) instead of squashing every other line.
    """
    minima = run.function.known_minima()
    f_star = min((m.f for m in minima), default=None)
    many = run.n_starts > MEDIAN_ABOVE_STARTS
    fig = new_figure(7.6, 4.8, f"{run.name}: convergence")
    ax = fig.add_subplot()
    drawn: list[np.ndarray] = []
    firsts: list[float] = []
    log_x = _iterations_span_decades(run)
    for r, (label, tracks) in enumerate(zip(run.labels, run.tracks, strict=True)):
        mid, first = _draw_convergence_line(ax, r, label, tracks, f_star, many, int(log_x))
        drawn.append(mid)
        firsts += first
    values = np.concatenate(drawn) if drawn else np.zeros(0)
    _convergence_y_axis(ax, values[np.isfinite(values)], firsts, f_star, minima)
    if log_x:
        ax.set_xscale("log")
        ax.set_xlabel("iteration + 1 (log scale: the runs' lengths span decades)")
    else:
        ax.set_xlabel("iteration")
    ax.grid(True, which="major", alpha=0.3)
    if many:
        ax.set_title(f"median over {run.n_starts} starts, band 25–75%", fontsize="medium")
    elif run.n_starts > 1:
        ax.set_title(f"one line per start ({run.n_starts} starts)", fontsize="medium")
    ax.legend(fontsize="small", loc="best")
    return fig


def _iterations_span_decades(run: DescendRun) -> bool:
    """Whether the longest track has at least 10 times the iterations (+ 1) of the
    shortest: then a linear axis squeezes the short ones against x = 0."""
    lengths = [
        int(t.iteration[-1]) + 1 for tracks in run.tracks for t in tracks if t.iteration.size
    ]
    return bool(lengths) and max(lengths) >= 10 * min(lengths)


def _gap(t: Track, f_star: float | None) -> np.ndarray:
    """``f - f*`` along a track (``f`` without a known minimum), NaN where not finite."""
    # Values past 1e100 belong to a run that diverged and lie far above the y
    # axis anyway; leaving them out keeps matplotlib's log scale from overflowing.
    v = t.f - f_star if f_star is not None else t.f.copy()
    v[~np.isfinite(v) | (np.abs(v) > 1e100)] = np.nan
    return v


def _draw_convergence_line(
    ax: Axes,
    r: int,
    label: str,
    tracks: Sequence[Track],
    f_star: float | None,
    many: bool,
    shift: int = 0,
) -> tuple[np.ndarray, list[float]]:
    """Optimizer ``r``'s line (or median and band) with an ``X`` where it ended,
    drawn at iteration + ``shift``; returns the values drawn and the first gap of
    every start."""
    style = series_style(r)
    if many:
        it, mid, lo, hi = _median_curve(tracks, lambda t: _gap(t, f_star))
        it = it + shift
        band = ax.fill_between(it, lo, hi, color=style["color"], alpha=0.15, linewidth=0)
        band.set_gid(f"band:{r}")
    else:
        joined = _joined([np.column_stack([t.iteration + shift, _gap(t, f_star)]) for t in tracks])
        it, mid = joined[:, 0], joined[:, 1]
    firsts = [float(v) for t in tracks for v in _gap(t, f_star)[:1] if np.isfinite(v)]
    diverged = sum(t.diverged for t in tracks)
    note = ""
    if diverged:
        note = " — diverged" if len(tracks) == 1 else f" — {diverged} of {len(tracks)} diverged"
    ax.plot(
        it,
        mid,
        color=style["color"],
        linestyle=style["linestyle"],
        linewidth=1.6,
        marker=style["marker"] if len(tracks) == 1 or many else "none",
        markevery=0.1,
        markersize=5,
        markerfacecolor="white",
        gid=f"convergence:{r}",
        label=label + note,
    )
    ends = [(it, mid)]
    if not many:
        ends = [(t.iteration + shift, _gap(t, f_star)) for t in tracks if not t.diverged]
    for end_it, end_v in ends if not (many and diverged) else []:
        ok = np.flatnonzero(np.isfinite(end_v) & (end_v > 0 if f_star is not None else True))
        if ok.size:
            k = int(ok[-1])
            _mark(ax, np.array([[end_it[k], end_v[k]]]), "X", 8, style["color"], "white")
    return mid, firsts


def _convergence_y_axis(
    ax: Axes,
    values: np.ndarray,
    firsts: list[float],
    f_star: float | None,
    minima: Sequence[CriticalPoint],
) -> None:
    """Log scale (symmetric log when f can be negative), limited to 10^4 times the
    highest start, and the label that says what is drawn. ``values``: finite, drawn."""
    if f_star is not None or (values.size and bool(np.all(values > 0))):
        ax.set_yscale("log")
        positive = values[values > 0]
        if positive.size:
            top = float(positive.max()) * 3
            if firsts and max(firsts) > 0:
                top = min(top, max(firsts) * 1e4)
            ax.set_ylim(float(positive.min()) / 3, top)
        if f_star is not None:
            kind = "global" if any(m.kind == "global minimum" for m in minima) else "lowest known"
            ax.set_ylabel(f"f − f*   (f* = {f_star:.6g}, {kind} minimum)")
        else:
            ax.set_ylabel("f   (no known minimum)")
    else:
        nonzero = np.abs(values[values != 0])
        linthresh = max(float(nonzero.min()), 1e-12) if nonzero.size else 1.0
        ax.set_yscale("symlog", linthresh=linthresh)
        if values.size:
            reach = max(abs(v) for v in firsts) * 1e4 if firsts and any(firsts) else np.inf
            ax.set_ylim(
                max(float(values.min()), -reach) * 1.5, min(float(values.max()), reach) * 1.5
            )
        ax.set_ylabel("f   (no known minimum; symmetric log scale)")


@dataclass(frozen=True)
class _Basin:
    key: str
    label: str
    colour: str
    marker: str


def _basin_key(entry: Mapping[str, Any], found: list[np.ndarray]) -> str:
    """The basin of one summary entry: ``known:<point>`` for the known minimum
    summary.json names as its nearest, ``found:<j>`` for the j-th minimum the
    library does not know (``found`` grows as new ones appear), else ``none``."""
    nearest = entry.get("nearest_minimum")
    if nearest is not None and entry.get("status") != "diverged":
        return "known:" + ",".join(repr(float(v)) for v in nearest)
    x = np.array(entry.get("x") or [], dtype=np.float64)
    if entry.get("classification") != "minimum" or not x.size or not np.isfinite(x).all():
        return "none"
    for j, c in enumerate(found):
        if np.linalg.norm(c - x) <= 1e-3 * max(1.0, float(np.linalg.norm(c))):
            return f"found:{j}"
    found.append(x)
    return f"found:{len(found) - 1}"


def _where(v: Sequence[float]) -> str:
    return "(" + ", ".join(f"{a:.3g}" for a in v) + ")"


def _basin_keys(run: DescendRun) -> tuple[list[list[str]], list[_Basin]]:
    """For every run and start, the minimum it reached, and the basins in legend order.

    A start belongs to the known minimum summary.json names as its nearest; a start
    that ended at a minimum the library does not know is grouped with the other
    starts that ended within a small distance of it; every other start is "none".
    """
    found: list[np.ndarray] = []
    keys: list[list[str]] = [[] for _ in run.tracks]
    for entry in run.results:
        key = _basin_key(entry, found)
        if int(entry["run"]) < len(keys):
            keys[int(entry["run"])].append(key)
    used = {k for ks in keys for k in ks}
    known = [m.x for m in run.function.known_minima()]
    ordered = [f"known:{','.join(repr(float(v)) for v in x)}" for x in known]
    ordered += [f"found:{j}" for j in range(len(found))]
    ordered += sorted(k for k in used if k.startswith("known:") and k not in ordered)
    basins: list[_Basin] = []
    for key in (k for k in ordered if k in used):
        i = len(basins)
        if key.startswith("known:"):
            label = f"minimum {_where([float(v) for v in key[6:].split(',')])}"
        else:
            label = f"minimum near {_where(found[int(key[6:])].tolist())}"
        basins.append(_Basin(key, label, PALETTE[i % len(PALETTE)], MARKERS[i % len(MARKERS)]))
    if "none" in used:
        basins.append(_Basin("none", "none (no minimum reached)", NONE_COLOUR, "o"))
    return keys, basins


def descend_basins_figure(run: DescendRun) -> Figure:
    """Each start point coloured by the minimum it reached; one panel per optimizer.

    One scatter per basin and panel (gid ``basin:<label>``), one colour and marker
    per minimum reached, grey for none; the legend counts the starts.
    """
    keys, basins = _basin_keys(run)
    n_panels = len(run.tracks)
    cols = min(n_panels, 3)
    rows = math.ceil(n_panels / cols)
    fig = new_figure(
        5.0 * cols + 0.4,
        6.2 * rows + 0.4,
        f"{run.name}: basins of attraction ({run.n_starts} starts)",
    )
    surf = _surface(run.function, _plot_box(run, pad=0.02), 200, 8) if run.dimension == 2 else None
    size = 30 if run.n_starts <= 300 else 14
    for r, (label, tracks) in enumerate(zip(run.labels, run.tracks, strict=True)):
        ax = fig.add_subplot(rows, cols, r + 1)
        run_keys = keys[r] if r < len(keys) else []
        _basins_panel(ax, run, label, tracks, run_keys, basins, surf, size)
    return fig


def _basins_background(
    ax: Axes, run: DescendRun, starts: np.ndarray, surf: _Surface | None
) -> tuple[np.ndarray, np.ndarray]:
    """f's curve (1-D) or contour lines behind the starts (shape (n, d)), the axis
    labels; returns where each start is drawn."""
    if run.dimension == 1:
        xs = np.linspace(*_plot_box(run)[0], 600)
        ax.plot(xs, run.function.values(xs[:, None]), color="#404040", linewidth=1.5)
        px, py = starts[:, 0], run.function.values(starts)
        ax.set_xlabel(run.variables[0])
        ax.set_ylabel("f at the start")
    else:
        if surf is not None:
            ax.contour(
                surf.gx,
                surf.gy,
                surf.height,
                levels=surf.levels[1:],
                colors="#B8B8B8",
                linewidths=0.6,
            )
        px, py = starts[:, 0], starts[:, 1]
        ax.set_xlabel(run.variables[0])
        ax.set_ylabel(run.variables[1])
    return px, py


def _basins_panel(
    ax: Axes,
    run: DescendRun,
    label: str,
    tracks: Sequence[Track],
    run_keys: list[str],
    basins: Sequence[_Basin],
    surf: _Surface | None,
    size: float,
) -> None:
    """One optimizer's starts, one scatter per basin, over f's contour lines (or its
    curve in 1-D); ``run_keys`` names each start's basin."""
    run_keys = run_keys + ["none"] * (len(tracks) - len(run_keys))
    px, py = _basins_background(ax, run, np.array([t.x[0] for t in tracks]), surf)
    key_array = np.array(run_keys)
    for b in basins:
        mask = key_array == b.key
        if not mask.any():
            continue
        sc = ax.scatter(
            px[mask],
            py[mask],
            s=size,
            c=b.colour,
            marker=b.marker,
            edgecolors="none",
            label=f"{b.label}: {int(mask.sum())}",
            zorder=3,
        )
        sc.set_gid(f"basin:{b.label}")
    _draw_known_points(
        ax,
        run.function.known_minima(),
        (lambda p: (p.x[0], p.f)) if run.dimension == 1 else (lambda p: (p.x[0], p.x[1])),
    )
    if surf is not None:
        ax.set_xlim(surf.gx[0, 0], surf.gx[0, -1])
        ax.set_ylim(surf.gy[0, 0], surf.gy[-1, 0])
    title = label if run.dimension <= 2 else f"{label} (first two of {run.dimension} coordinates)"
    ax.set_title(title, fontsize="medium")
    ax.legend(
        fontsize="small",
        loc="upper center",
        bbox_to_anchor=(0.5, -0.12),
        ncols=2,
        frameon=False,
        title="starts that reached",
        title_fontsize="small",
    )
