"""The pictures of a finished run, drawn from its files alone.

``plot_run(run_dir)`` reads ``summary.json``, picks the pictures of the command
that wrote it and saves them as PNG files (150 dpi) next to it:

- ``descend``: ``contour.png`` (2 variables) or ``curve.png`` (1 variable),
  ``convergence.png``, and ``basins.png`` when the run has 20 starts or more;
- ``train-mlp``: ``loss.png``, ``decision_boundary.png`` (two features) and
  ``confusion.png`` (classification);
- ``compare-activations``: ``activations_loss.png`` and ``activations_accuracy.png``;
- ``sweep``: ``sweep.png``.

Every picture is built by a ``*_figure`` function that returns a matplotlib
``Figure``, so tests can inspect what was drawn. Artists that carry data get a
``gid`` of the form ``kind:key`` (``path:0`` is the path of the first optimizer,
``basin:none`` the starts that reached no minimum, ...).

matplotlib is imported inside the functions only, and figures are made with
``matplotlib.figure.Figure`` and the Agg canvas, never with pyplot: nothing here
touches global state, and importing this module stays cheap.

Styles are readable in greyscale and by colour-blind readers: the Okabe-Ito
palette, and each series also differs by line style and marker.
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from gdcli.errors import UserError
from gdcli.runs import atomic_write_bytes, read_trace

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from gdcli.data import Dataset
    from gdcli.engine.functions import CriticalPoint, ResolvedFunction
    from gdcli.experiments.modelfile import SavedModel

__all__ = [
    "BASIN_MIN_STARTS",
    "DPI",
    "MEDIAN_ABOVE_STARTS",
    "DescendRun",
    "Track",
    "TrainingPoints",
    "activations_accuracy_figure",
    "activations_loss_figure",
    "confusion_figure",
    "decision_boundary_figure",
    "descend_basins_figure",
    "descend_contour_figure",
    "descend_convergence_figure",
    "descend_curve_figure",
    "load_descend_run",
    "load_training_points",
    "plot_run",
    "run_figures",
    "sweep_figure",
    "training_loss_figure",
]

DPI = 150
BASIN_MIN_STARTS = 20
MEDIAN_ABOVE_STARTS = 10

# Okabe & Ito (2008), without yellow (unreadable as a line on a light background),
# plus Paul Tol's wine as an eighth colour.
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#882255")
LINESTYLES: tuple[Any, ...] = (
    "-",
    "--",
    "-.",
    ":",
    (0, (6, 1.5)),
    (0, (3, 1, 1, 1, 1, 1)),
    (0, (1, 1)),
    (0, (8, 2, 2, 2)),
)
# "o" and "X" are kept for the start and the end of a path, "*" for minima.
MARKERS = ("s", "^", "D", "v", "P", "h", "<", ">")
HATCHES = ("", "//", "\\\\", "xx", "..", "oo", "++", "--")
NONE_COLOUR = "#9A9A9A"
# How the points of each part of a data set are drawn: marker fill style, legend word.
PART_LOOK: dict[str, tuple[Literal["full", "left", "none"], str]] = {
    "train": ("full", "filled"),
    "val": ("left", "half-filled"),
    "test": ("none", "open"),
}
MINIMUM_FILL = "#F0E442"  # Okabe-Ito yellow, as a fill inside a black edge

# Known critical points by kind: marker, fill and legend text.
KNOWN_POINT_STYLE: dict[str, tuple[str, str, str]] = {
    "global minimum": ("*", MINIMUM_FILL, "global minimum"),
    "local minimum": ("*", "white", "local minimum"),
    "saddle": ("x", "black", "saddle point"),
    "maximum": ("^", "white", "maximum"),
    "degenerate": ("d", "white", "degenerate critical point"),
}


def series_style(i: int) -> dict[str, Any]:
    """Colour, line style and marker of series ``i``; no two of the first 64 are alike."""
    n = len(PALETTE)
    return {
        "color": PALETTE[i % n],
        "linestyle": LINESTYLES[(i + i // n) % len(LINESTYLES)],
        "marker": MARKERS[(i + 2 * (i // n)) % len(MARKERS)],
    }


# --------------------------------------------------------------------------- plot_run


def plot_run(run_dir: Path) -> list[Path]:
    """Draw the pictures of the run in ``run_dir`` and return the files written.

    The command is read from ``summary.json``; every file a picture needs is checked
    before anything is drawn, and a missing one is a ``UserError`` that names it.
    Each PNG is written atomically, so running this again redraws the same files.
    """
    run_dir = Path(run_dir)
    written: list[Path] = []
    for name, fig in run_figures(run_dir):
        path = run_dir / name
        save_figure(fig, path)
        written.append(path)
    return written


def run_figures(run_dir: Path) -> Iterator[tuple[str, Figure]]:
    """``(file name, figure)`` for every picture of the run, built one at a time."""
    run_dir = Path(run_dir)
    summary = _read_summary(run_dir)
    command = summary.get("command")
    drawers: dict[str, Callable[[Path, dict[str, Any]], Iterator[tuple[str, Figure]]]] = {
        "descend": _descend_figures,
        "train-mlp": _train_figures,
        "compare-activations": _compare_figures,
        "sweep": _sweep_figures,
    }
    if command not in drawers:
        raise UserError(
            f"{run_dir}: summary.json names the command {command!r}; "
            f"gdcli plot draws {', '.join(drawers)} runs"
        )
    return drawers[str(command)](run_dir, summary)


def save_figure(fig: Figure, path: Path) -> None:
    """Save ``fig`` as a 150-dpi PNG at ``path`` atomically; its title goes into the
    PNG's ``Title`` text chunk."""
    buf = io.BytesIO()
    title = fig.get_suptitle()
    fig.savefig(buf, format="png", dpi=DPI, metadata={"Title": title})
    atomic_write_bytes(path, buf.getvalue())


def _require(run_dir: Path, *names: str) -> None:
    missing = [n for n in names if not (run_dir / n).is_file()]
    if missing:
        raise UserError(f"{run_dir}: missing {', '.join(missing)}; was the run finished?")


def _read_summary(run_dir: Path) -> dict[str, Any]:
    if not run_dir.is_dir():
        raise UserError(f"{run_dir}: no such run directory")
    _require(run_dir, "summary.json")
    try:
        summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UserError(f"{run_dir / 'summary.json'}: not a readable JSON file ({exc})") from None
    if not isinstance(summary, dict):
        raise UserError(f"{run_dir / 'summary.json'}: expected a JSON object")
    return summary


def _read_rows(run_dir: Path) -> tuple[list[str], list[dict[str, str]]]:
    """The run's trace; one without a single row (a run stopped before its first
    step was recorded) has nothing to draw and is a ``UserError``."""
    header, rows = read_trace(run_dir / "trace.csv")
    if not rows:
        raise UserError(f"{run_dir / 'trace.csv'}: no rows yet; nothing to draw")
    return header, rows


def _new_figure(width: float, height: float, title: str) -> Figure:
    """A figure on its own Agg canvas (no pyplot, no global state), titled."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    fig.suptitle(title, fontsize="large", fontweight="bold")
    return fig


def _numbers(rows: Sequence[Mapping[str, str]], column: str) -> np.ndarray:
    """A trace column as float64; empty cells (no value) become NaN."""
    return np.array([float(r[column]) if r[column] else math.nan for r in rows], dtype=np.float64)


# ---------------------------------------------------------------------------- descend


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
    from gdcli.experiments.config import DescendConfig, load_config
    from gdcli.experiments.plan import descend_function

    run_dir = Path(run_dir)
    summary = _read_summary(run_dir)
    _require(run_dir, "config.yaml", "trace.csv")
    config, doc = load_config(run_dir / "config.yaml", DescendConfig)
    fn = descend_function(config, doc)
    header, rows = _read_rows(run_dir)
    coords = [f"x{k + 1}" for k in range(fn.dimension)]
    missing = [
        c for c in ("run", "optimizer", "start", "iteration", "f", *coords) if c not in header
    ]
    if missing:
        raise UserError(f"{run_dir / 'trace.csv'}: no column(s) {', '.join(missing)}")
    results = tuple(summary.get("runs") or ())
    status: dict[tuple[int, int], str] = {}
    seen: dict[int, int] = {}
    for entry in results:
        r = int(entry["run"])
        status[(r, seen.get(r, 0))] = str(entry.get("status") or "")
        seen[r] = seen.get(r, 0) + 1

    run_ids = np.array([int(r["run"]) for r in rows], dtype=np.int64)
    start_ids = np.array([int(r["start"]) for r in rows], dtype=np.int64)
    iteration = np.array([int(r["iteration"]) for r in rows], dtype=np.int64)
    f = _numbers(rows, "f")
    X = np.column_stack([_numbers(rows, c) for c in coords]) if rows else np.zeros((0, len(coords)))
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
    name = str(summary.get("experiment") or config.name)
    return DescendRun(name, fn, tuple(labels[r] for r in sorted(labels)), tuple(tracks), results)


def _descend_figures(run_dir: Path, summary: dict[str, Any]) -> Iterator[tuple[str, Figure]]:
    run = load_descend_run(run_dir)
    if run.dimension == 2:
        yield "contour.png", descend_contour_figure(run)
    elif run.dimension == 1:
        yield "curve.png", descend_curve_figure(run)
    yield "convergence.png", descend_convergence_figure(run)
    if run.n_starts >= BASIN_MIN_STARTS:
        yield "basins.png", descend_basins_figure(run)


def _plot_box(run: DescendRun, pad: float = 0.05) -> list[tuple[float, float]]:
    """The box to draw: the library's domain, or a box around the points for a
    formula, widened to hold every start and every path that did not diverge."""
    parts = [t.x[:1] for tracks in run.tracks for t in tracks]
    parts += [t.x for tracks in run.tracks for t in tracks if not t.diverged]
    parts += [np.array([p.x]) for p in run.function.known_points()]
    points = np.concatenate(parts) if parts else np.zeros((0, run.dimension))
    points = points[np.isfinite(points).all(axis=1)]
    box = [list(b) for b in run.function.domain(points)]
    if points.size:
        lo, hi = points.min(axis=0), points.max(axis=0)
        for k, b in enumerate(box):
            span = max(hi[k] - lo[k], b[1] - b[0], 1e-12)
            b[0] = min(b[0], lo[k] - pad * span)
            b[1] = max(b[1], hi[k] + pad * span)
    return [(float(a), float(b)) for a, b in box]


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


def _surface(run: DescendRun, box: Sequence[tuple[float, float]], n: int, k: int) -> _Surface:
    """f over an ``n`` x ``n`` grid and about ``2k`` contour levels.

    The levels merge two sets: ``k`` log-spaced heights from the 0.2nd percentile to
    the maximum, which resolve a narrow valley (Rosenbrock's floor spans decades
    below its walls), and ``k`` quantiles of the heights, which give every region of
    the map some bands even when f is unbounded below and the grid's minimum sits in
    a far corner (the lecture's cubic). Levels closer than 3% are merged.
    """
    (x0, x1), (y0, y1) = box
    gx, gy = np.meshgrid(np.linspace(x0, x1, n), np.linspace(y0, y1, n))
    Z = run.function.values(np.column_stack([gx.ravel(), gy.ravel()])).reshape(gx.shape)
    finite = np.isfinite(Z)
    zmin = float(Z[finite].min()) if finite.any() else 0.0
    zmax = float(Z[finite].max()) if finite.any() else 1.0
    f_star = min((m.f for m in run.function.known_minima()), default=None)
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


def descend_contour_figure(run: DescendRun) -> Figure:
    """Filled contour map of f with every optimizer's path (2 variables).

    f is shifted to ``f - f* + eps`` (``f*`` the lowest known minimum, else the
    grid's minimum) and drawn with log-spaced and equal-area levels (see
    ``_surface``), so a narrow valley such as Rosenbrock's shows as nested bands.
    Each optimizer's paths form one line (gid ``path:<run>``, pieces joined by NaN),
    with its starts (``o``, gid ``start:<run>``) and ends (``X``, gid ``end:<run>``);
    known critical points have gid ``known:<kind>``.
    """
    from matplotlib import colormaps
    from matplotlib.colors import BoundaryNorm, ListedColormap
    from matplotlib.lines import Line2D
    from matplotlib.ticker import FuncFormatter

    if run.dimension != 2:
        raise ValueError("a contour map needs a function of 2 variables")
    box = _plot_box(run)
    surf = _surface(run, box, 300, 14)
    many = run.n_starts > 1
    fig = _new_figure(7.2, 7.6, f"{run.name}: optimizer paths on {_function_text(run)}")
    ax = fig.add_subplot()
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

    for r, (label, tracks) in enumerate(zip(run.labels, run.tracks, strict=True)):
        style = series_style(r)
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
        ax.plot(
            starts[:, 0],
            starts[:, 1],
            linestyle="none",
            marker="o",
            markersize=3 if many else 8,
            color=style["color"],
            markeredgecolor="black",
            markeredgewidth=0.5,
            zorder=4,
            gid=f"start:{r}",
        )
        ax.plot(
            ends[:, 0],
            ends[:, 1],
            linestyle="none",
            marker="X",
            markersize=6 if many else 8,
            color=style["color"],
            markeredgecolor="black",
            markeredgewidth=0.6,
            zorder=5,
            gid=f"end:{r}",
        )
    _draw_known_points(ax, run.function.known_points(), lambda p: (p.x[0], p.x[1]))
    handles, texts = ax.get_legend_handles_labels()
    handles += [
        Line2D(
            [],
            [],
            linestyle="none",
            marker="o",
            markersize=8,
            color="#777777",
            markeredgecolor="black",
        ),
        Line2D(
            [],
            [],
            linestyle="none",
            marker="X",
            markersize=9,
            color="#777777",
            markeredgecolor="black",
        ),
    ]
    texts += ["start", "end"]
    fig.legend(handles, texts, loc="outside lower center", ncols=3, fontsize="small", frameon=False)
    ax.set_xlim(*box[0])
    ax.set_ylim(*box[1])
    ax.set_xlabel(run.variables[0])
    ax.set_ylabel(run.variables[1])
    if many:
        ax.set_title(f"{run.n_starts} starts per optimizer", fontsize="medium")
    return fig


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
    return f"f = {fn.formula}"


def descend_curve_figure(run: DescendRun) -> Figure:
    """The curve of a 1-variable function with each optimizer's iterates on it
    (one line per optimizer, gid ``path:<run>``)."""
    if run.dimension != 1:
        raise ValueError("a curve needs a function of 1 variable")
    ((x0, x1),) = _plot_box(run)
    xs = np.linspace(x0, x1, 800)
    ys = run.function.values(xs[:, None])
    fig = _new_figure(7.6, 5.2, f"{run.name}: iterates on {_function_text(run)}")
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
        ax.plot(
            ends[:, 0],
            ends[:, 1],
            linestyle="none",
            marker="X",
            markersize=10,
            color=style["color"],
            markeredgecolor="white",
            zorder=5,
            gid=f"end:{r}",
        )
    _draw_known_points(ax, run.function.known_points(), lambda p: (p.x[0], p.f))
    finite = ys[np.isfinite(ys)]
    if finite.size:
        lo, hi = float(finite.min()), float(finite.max())
        span = max(hi - lo, 1e-12)
        ax.set_ylim(lo - 0.05 * span, hi + 0.05 * span)
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

    def gap(t: Track) -> np.ndarray:
        # Values past 1e100 belong to a run that diverged and lie far above the y
        # axis anyway; leaving them out keeps matplotlib's log scale from overflowing.
        v = t.f - f_star if f_star is not None else t.f.copy()
        v[~np.isfinite(v) | (np.abs(v) > 1e100)] = np.nan
        return v

    fig = _new_figure(7.6, 4.8, f"{run.name}: convergence")
    ax = fig.add_subplot()
    drawn: list[np.ndarray] = []
    firsts: list[float] = []
    for r, (label, tracks) in enumerate(zip(run.labels, run.tracks, strict=True)):
        style = series_style(r)
        if many:
            it, mid, lo, hi = _median_curve(tracks, gap)
            band = ax.fill_between(it, lo, hi, color=style["color"], alpha=0.15, linewidth=0)
            band.set_gid(f"band:{r}")
        else:
            joined = _joined([np.column_stack([t.iteration, gap(t)]) for t in tracks])
            it, mid = joined[:, 0], joined[:, 1]
        drawn.append(mid)
        firsts += [float(v) for t in tracks for v in gap(t)[:1] if np.isfinite(v)]
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
        ends = [(it, mid)] if many else [(t.iteration, gap(t)) for t in tracks if not t.diverged]
        for end_it, end_v in ends if not (many and diverged) else []:
            ok = np.flatnonzero(np.isfinite(end_v) & (end_v > 0 if f_star is not None else True))
            if not ok.size:
                continue
            k = int(ok[-1])
            ax.plot(
                [end_it[k]],
                [end_v[k]],
                linestyle="none",
                marker="X",
                markersize=8,
                color=style["color"],
                markeredgecolor="white",
            )
    values = np.concatenate(drawn) if drawn else np.zeros(0)
    values = values[np.isfinite(values)]
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
    ax.set_xlabel("iteration")
    ax.grid(True, which="major", alpha=0.3)
    if many:
        ax.set_title(f"median over {run.n_starts} starts, band 25–75%", fontsize="medium")
    elif run.n_starts > 1:
        ax.set_title(f"one line per start ({run.n_starts} starts)", fontsize="medium")
    ax.legend(fontsize="small", loc="best")
    return fig


@dataclass(frozen=True)
class _Basin:
    key: str
    label: str
    colour: str
    marker: str


def _basin_keys(run: DescendRun) -> tuple[list[list[str]], list[_Basin]]:
    """For every run and start, the minimum it reached, and the basins in legend order.

    A start belongs to the known minimum summary.json names as its nearest; a start
    that ended at a minimum the library does not know is grouped with the other
    starts that ended within a small distance of it; every other start is "none".
    """
    known = {tuple(m.x): m for m in run.function.known_minima()}
    found: list[np.ndarray] = []
    keys: list[list[str]] = [[] for _ in run.tracks]
    for entry in run.results:
        r = int(entry["run"])
        nearest = entry.get("nearest_minimum")
        x = np.array(entry.get("x") or [], dtype=np.float64)
        if nearest is not None and entry.get("status") != "diverged":
            key = "known:" + ",".join(repr(float(v)) for v in nearest)
        elif entry.get("classification") == "minimum" and x.size and np.isfinite(x).all():
            for j, c in enumerate(found):
                if np.linalg.norm(c - x) <= 1e-3 * max(1.0, float(np.linalg.norm(c))):
                    key = f"found:{j}"
                    break
            else:
                found.append(x)
                key = f"found:{len(found) - 1}"
        else:
            key = "none"
        if r < len(keys):
            keys[r].append(key)

    def where(v: Sequence[float]) -> str:
        return "(" + ", ".join(f"{a:.3g}" for a in v) + ")"

    ordered = [f"known:{','.join(repr(float(v)) for v in k)}" for k in known]
    ordered += [f"found:{j}" for j in range(len(found))]
    used = {k for ks in keys for k in ks}
    ordered += sorted(k for k in used if k.startswith("known:") and k not in ordered)
    basins: list[_Basin] = []
    for key in ordered:
        if key not in used:
            continue
        i = len(basins)
        if key.startswith("known:"):
            point = [float(v) for v in key[6:].split(",")]
            label = f"minimum {where(point)}"
        else:
            label = f"minimum near {where(found[int(key[6:])].tolist())}"
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
    fig = _new_figure(
        5.0 * cols + 0.4,
        6.2 * rows + 0.4,
        f"{run.name}: basins of attraction ({run.n_starts} starts)",
    )
    surf = _surface(run, _plot_box(run, pad=0.02), 200, 8) if run.dimension == 2 else None
    size = 30 if run.n_starts <= 300 else 14
    for r, (label, tracks) in enumerate(zip(run.labels, run.tracks, strict=True)):
        ax = fig.add_subplot(rows, cols, r + 1)
        starts = np.array([t.x[0] for t in tracks])
        run_keys = keys[r] if r < len(keys) else []
        run_keys = run_keys + ["none"] * (len(tracks) - len(run_keys))
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
        title = (
            label if run.dimension <= 2 else f"{label} (first two of {run.dimension} coordinates)"
        )
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
    return fig


# -------------------------------------------------------------------------- train-mlp


def _train_figures(run_dir: Path, summary: dict[str, Any]) -> Iterator[tuple[str, Figure]]:
    data = summary.get("data") or {}
    final = summary.get("final") or {}
    two_features = data.get("features") == 2
    has_model = "model.npz" in (summary.get("files") or []) or (run_dir / "model.npz").exists()
    needed = ["trace.csv"]
    if two_features and has_model:
        needed += ["config.yaml", "model.npz"]
    _require(run_dir, *needed)
    _, rows = _read_rows(run_dir)
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
    from matplotlib.ticker import FuncFormatter

    epoch = _numbers(rows, "epoch")
    final = summary.get("final") or {}
    loss_name = (summary.get("model") or {}).get("loss")
    has_acc = any(np.isfinite(_numbers(rows, c)).any() for c in ("train_accuracy", "val_accuracy"))
    fig = _new_figure(
        11.0 if has_acc else 7.0, 4.6, f"{summary.get('experiment', 'run')}: training"
    )
    panels = [("loss", f"loss ({loss_name})" if loss_name else "loss")]
    if has_acc:
        panels.append(("accuracy", "accuracy"))
    for i, (what, ylabel) in enumerate(panels):
        ax = fig.add_subplot(1, len(panels), i + 1)
        drawn: list[np.ndarray] = []
        for j, (part, name) in enumerate((("train", "training"), ("val", "validation"))):
            y = _numbers(rows, f"{part}_{what}")
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
        best = summary.get("best_epoch")
        if best is not None:
            ax.axvline(
                best, color="#555555", linestyle="--", linewidth=0.8, label=f"best epoch {best}"
            )
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
    return fig


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
    """The run's data regenerated from ``config.yaml`` and its seed (the same
    data stream, ``plan.training_splits``, so the points match the run), and ``model.npz``."""
    from dataclasses import replace

    from gdcli.experiments.config import TrainConfig, load_config
    from gdcli.experiments.modelfile import load_model
    from gdcli.experiments.plan import training_splits

    run_dir = Path(run_dir)
    _require(run_dir, "config.yaml", "model.npz")
    config, _ = load_config(run_dir / "config.yaml", TrainConfig)
    splits = training_splits(config, run_dir)
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


def _lighter(colour: str, amount: float) -> tuple[float, float, float]:
    """``colour`` mixed with white; ``amount`` 0 keeps it, 1 gives white."""
    from matplotlib.colors import to_rgb

    r, g, b = to_rgb(colour)
    return (r + (1 - r) * amount, g + (1 - g) * amount, b + (1 - b) * amount)


def decision_boundary_figure(points: TrainingPoints, summary: Mapping[str, Any]) -> Figure:
    """The model's predicted class over a grid spanning the data (with a margin) as
    filled regions (gid ``regions``), the points coloured and shaped by class
    (gid ``points:<part>:<class>``; training points filled, others open)."""
    from matplotlib.colors import ListedColormap
    from matplotlib.lines import Line2D

    from gdcli import nn

    model = points.model
    X = points.X
    lo, hi = X.min(axis=0), X.max(axis=0)
    margin = 0.1 * np.maximum(hi - lo, 1e-9)
    lo, hi = lo - margin, hi + margin
    n = 300
    gx, gy = np.meshgrid(np.linspace(lo[0], hi[0], n), np.linspace(lo[1], hi[1], n))
    grid = np.column_stack([gx.ravel(), gy.ravel()])
    proba = nn.predict_proba(model.arch, model.layers, model.prepare(grid))
    classes = model.class_names
    names = model.feature_names
    fig = _new_figure(7.6, 6.2, f"{summary.get('experiment', 'run')}: decision boundary")
    ax = fig.add_subplot()
    if classes is None:
        pred = proba[:, 0].reshape(gx.shape)
        targets = np.concatenate([ds.y for _, ds in points.parts])
        vmin = float(min(np.nanmin(pred), targets.min()))
        vmax = float(max(np.nanmax(pred), targets.max()))
        levels = np.linspace(vmin, vmax if vmax > vmin else vmin + 1.0, 21)
        cs = ax.contourf(gx, gy, pred, levels=levels, cmap="cividis", alpha=0.8)
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
    else:
        k = len(classes)
        label = proba.argmax(axis=1).reshape(gx.shape)
        colours = [PALETTE[i % len(PALETTE)] for i in range(k)]
        cmap = ListedColormap([_lighter(c, 0.72) for c in colours])
        cs = ax.contourf(gx, gy, label, levels=np.arange(k + 1) - 0.5, cmap=cmap)
        cs.set_gid("regions")
        if k == 2:
            b = ax.contour(
                gx, gy, proba[:, 1].reshape(gx.shape), levels=[0.5], colors="black", linewidths=1.4
            )
        else:
            b = ax.contour(
                gx, gy, label, levels=np.arange(k - 1) + 0.5, colors="black", linewidths=0.9
            )
        b.set_gid("boundary")
        size = 11.0 if X.shape[0] <= 50 else 5.5
        for part, ds in points.parts:
            fill, _ = PART_LOOK.get(part, PART_LOOK["test"])
            for c in range(k):
                mask = ds.y == c
                if not mask.any():
                    continue
                colour = colours[c]
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
        handles = [
            Line2D(
                [],
                [],
                linestyle="none",
                marker=MARKERS[c % len(MARKERS)],
                markersize=7,
                markerfacecolor=colours[c],
                markeredgecolor="white",
            )
            for c in range(k)
        ]
        texts = [f"class {name}" for name in classes]
        handles.append(Line2D([], [], color="black", linewidth=1.4))
        texts.append("decision boundary")
        for part, _ in points.parts:
            fill, look = PART_LOOK.get(part, PART_LOOK["test"])
            handles.append(
                Line2D(
                    [],
                    [],
                    linestyle="none",
                    marker="o",
                    markersize=7,
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
    ax.set_xlim(lo[0], hi[0])
    ax.set_ylim(lo[1], hi[1])
    ax.set_xlabel(names[0] if names else "feature 1")
    ax.set_ylabel(names[1] if len(names) > 1 else "feature 2")
    return fig


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
    fig = _new_figure(size + 1.2, size, title)
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


# --------------------------------------------------------------- compare-activations


def _compare_figures(run_dir: Path, summary: dict[str, Any]) -> Iterator[tuple[str, Figure]]:
    _require(run_dir, "trace.csv")
    header, rows = _read_rows(run_dir)
    missing = [c for c in ("activation", "seed", "epoch", "train_loss") if c not in header]
    if missing:
        raise UserError(f"{run_dir / 'trace.csv'}: no column(s) {', '.join(missing)}")
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
    epoch = _numbers(rows, "epoch")
    loss = _numbers(rows, "train_loss")
    order = _activation_order(rows, summary)
    n_seeds = len(set(seeds.tolist()))
    fig = _new_figure(7.6, 4.8, f"{summary.get('experiment', 'run')}: training loss per activation")
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

    fig = _new_figure(
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
            color=_lighter(style["color"], 0.35),
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


# ------------------------------------------------------------------------------ sweep


def _sweep_figures(run_dir: Path, summary: dict[str, Any]) -> Iterator[tuple[str, Figure]]:
    yield "sweep.png", sweep_figure(summary)


def _is_number(v: object) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _value_text(v: object) -> str:
    """A swept value as text: JSON for lists and mappings (``[16, 16]``), else str."""
    return json.dumps(v) if isinstance(v, (list, dict)) else str(v)


def sweep_figure(summary: Mapping[str, Any]) -> Figure:
    """The swept value against the metric: one line per value of the other keys
    (gid ``sweep:<values of the other keys>``). The x axis is logarithmic when every
    value is positive and they span more than a decade; other values than numbers
    are categories in the order they first appear. Points that did not finish, or
    have no metric, are left out and counted in the subtitle."""
    keys = [str(k) for k in summary.get("keys") or []]
    points = list(summary.get("points") or [])
    if not keys:
        raise UserError("sweep summary.json has no 'keys'")
    first, rest = keys[0], keys[1:]
    metric_name = next(
        (str(p["metric"]["name"]) for p in points if (p.get("metric") or {}).get("name")),
        "metric",
    )
    xs_all = [(p.get("values") or {}).get(first) for p in points]
    numeric = all(_is_number(v) for v in xs_all if v is not None)
    categories: list[str] = []
    for v in xs_all:
        if not numeric and v is not None and _value_text(v) not in categories:
            categories.append(_value_text(v))
    series: dict[tuple[str, ...], list[tuple[float, float]]] = {}
    raw: dict[tuple[str, ...], tuple[Any, ...]] = {}
    left_out: dict[str, int] = {}
    for p in points:
        values = p.get("values") or {}
        value = (p.get("metric") or {}).get("value")
        x = values.get(first)
        status = str(p.get("status", "finished"))
        if status != "finished" or value is None or x is None:
            why = status if status != "finished" else "no metric"
            left_out[why] = left_out.get(why, 0) + 1
            continue
        pos = float(x) if numeric else float(categories.index(_value_text(x)))
        other = tuple(values.get(k) for k in rest)
        key = tuple(_value_text(v) for v in other)
        raw[key] = other
        series.setdefault(key, []).append((pos, float(value)))
    fig = _new_figure(
        7.6, 4.8, f"{summary.get('experiment', 'sweep')}: {metric_name} against {first}"
    )
    ax = fig.add_subplot()
    for i, key in enumerate(sorted(series, key=lambda k: _sort_key(raw[k]))):
        pts = sorted(series[key])
        style = series_style(i)
        label = ", ".join(f"{k} = {v}" for k, v in zip(rest, key, strict=True)) or metric_name
        ax.plot(
            [a for a, _ in pts],
            [b for _, b in pts],
            color=style["color"],
            linestyle=style["linestyle"],
            marker=style["marker"],
            markersize=7,
            markerfacecolor="white",
            linewidth=1.6,
            label=label,
            gid="sweep:" + ",".join(key),
        )
    xs = [float(v) for v in xs_all if v is not None] if numeric else []
    if xs and min(xs) > 0 and max(xs) / min(xs) > 10:
        ax.set_xscale("log")
    if not numeric:
        ax.set_xticks(range(len(categories)), categories)
    ax.set_xlabel(first + (" (log scale)" if ax.get_xscale() == "log" else ""))
    ax.set_ylabel(metric_name)
    ax.grid(True, alpha=0.3)
    if rest:
        ax.legend(fontsize="small")
    if left_out:
        counts = ", ".join(f"{n} {why}" for why, n in sorted(left_out.items()))
        ax.set_title(f"left out: {counts}", fontsize="medium")
    return fig


def _sort_key(values: tuple[Any, ...]) -> tuple[tuple[int, float, str], ...]:
    """Numbers first, by value; then everything else, by its text."""
    return tuple((0, float(v), "") if _is_number(v) else (1, 0.0, _value_text(v)) for v in values)
