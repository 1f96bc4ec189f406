"""The picture of a sweep: the swept value against the metric."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from gdcli.errors import UserError
from gdcli.render.plot.style import new_figure, series_style

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure


def sweep_figures(run_dir: Path, summary: dict[str, Any]) -> Iterator[tuple[str, Figure]]:
    yield "sweep.png", sweep_figure(summary)


def _is_number(v: object) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _value_text(v: object) -> str:
    """A swept value as text: JSON for lists and mappings (``[16, 16]``), else str."""
    return json.dumps(v) if isinstance(v, (list, dict)) else str(v)


# How each point's status is drawn: marker, filled?, legend text. "finished" is what
# older summaries say of every point that ran (they had no status of the run itself).
STATUS_LOOK: dict[str, tuple[str, bool, str]] = {
    "converged": ("o", True, "converged"),
    "finished": ("o", True, "finished"),
    "max_iterations": ("s", False, "budget spent (max_iterations)"),
    "early_stopped": ("D", True, "early stopped"),
    "diverged": ("X", True, "diverged (no usable value: drawn on the top edge)"),
    "interrupted": ("P", False, "interrupted (drawn on the top edge)"),
    "failed": ("x", True, "failed (drawn on the top edge)"),
}
_OFF_SCALE = ("diverged", "interrupted", "failed")  # their metric is not drawn as a value


@dataclass(frozen=True)
class _Point:
    x: float  # position on the x axis (the value, or the category's index)
    metric: float  # NaN when there is none or it is not usable
    iterations: float  # NaN when the summary has no count
    status: str


@dataclass
class _SweepSeries:
    """The points of a sweep grouped into lines: ``series[key]`` holds the points of
    one value ``raw[key]`` of the other keys, in x order."""

    series: dict[tuple[str, ...], list[_Point]] = field(default_factory=dict)
    raw: dict[tuple[str, ...], tuple[Any, ...]] = field(default_factory=dict)


def _categories(xs: list[Any], numeric: bool) -> list[str]:
    """The swept values as categories in the order they first appear (none for numbers)."""
    categories: list[str] = []
    for v in xs:
        if not numeric and v is not None and _value_text(v) not in categories:
            categories.append(_value_text(v))
    return categories


def _status(p: Mapping[str, Any]) -> str:
    """A point's status; an unknown word is drawn as "finished"."""
    status = str(p.get("status") or "finished")
    return status if status in STATUS_LOOK else "finished"


def _number(v: object) -> float:
    return float(v) if _is_number(v) and math.isfinite(float(v)) else math.nan  # type: ignore[arg-type]


def _group_points(
    points: list[Any], first: str, rest: list[str], categories: list[str] | None
) -> _SweepSeries:
    """Group the points by the values of the ``rest`` keys. ``categories`` is None
    for numbers. A diverged, interrupted or failed point keeps its status but no
    metric: its value says nothing about the swept setting."""
    out = _SweepSeries()
    for p in points:
        values = p.get("values") or {}
        x = values.get(first)
        if x is None:
            continue
        status = _status(p)
        metric = math.nan if status in _OFF_SCALE else _number((p.get("metric") or {}).get("value"))
        pos = float(x) if categories is None else float(categories.index(_value_text(x)))
        other = tuple(values.get(k) for k in rest)
        key = tuple(_value_text(v) for v in other)
        out.raw[key] = other
        point = _Point(pos, metric, _number(p.get("iterations")), status)
        out.series.setdefault(key, []).append(point)
    for pts in out.series.values():
        pts.sort(key=lambda q: q.x)
    return out


def _draw_series(
    ax: Axes, grouped: _SweepSeries, rest: list[str], name: str, value: str, gid: str
) -> None:
    """One line per value of the other keys through the points that have a usable
    ``value`` ("metric" or "iterations"), a marker per point by its status; points
    off the scale sit on the top edge (gid ``<gid>-off:<key>``)."""
    for i, key in enumerate(sorted(grouped.series, key=lambda k: _sort_key(grouped.raw[k]))):
        pts = grouped.series[key]
        look = series_style(i)
        label = ", ".join(f"{k} = {v}" for k, v in zip(rest, key, strict=True)) or name
        x = np.array([q.x for q in pts])
        y = np.array([getattr(q, value) for q in pts])
        usable = np.isfinite(y)
        ax.plot(
            x[usable],
            y[usable],
            color=look["color"],
            linestyle=look["linestyle"],
            linewidth=1.6,
            label=label,
            gid=f"{gid}:" + ",".join(key),
        )
        for status in {q.status for q in pts}:
            marker, filled, _ = STATUS_LOOK[status]
            mask = np.array([q.status == status for q in pts])
            off = status in _OFF_SCALE or (value == "iterations" and status != "converged")
            if status in _OFF_SCALE:
                ys, transform = np.ones(int(mask.sum())), ax.get_xaxis_transform()
            else:
                ys, transform = y[mask], ax.transData
            ax.plot(
                x[mask],
                ys,
                linestyle="none",
                marker=marker,
                markersize=9,
                color=look["color"],
                markerfacecolor=look["color"] if filled else "white",
                markeredgecolor="black" if off else look["color"],
                transform=transform,
                clip_on=False,
                zorder=4,
                gid=f"{gid}-{status}:" + ",".join(key),
            )


def _status_legend(ax: Axes, statuses: set[str]) -> None:
    from matplotlib.lines import Line2D

    handles = [
        Line2D(
            [],
            [],
            linestyle="none",
            marker=STATUS_LOOK[s][0],
            markersize=8,
            color="#555555",
            markerfacecolor="#555555" if STATUS_LOOK[s][1] else "white",
        )
        for s in STATUS_LOOK
        if s in statuses
    ]
    texts = [STATUS_LOOK[s][2] for s in STATUS_LOOK if s in statuses]
    lines_legend = ax.get_legend()
    legend = ax.legend(
        handles, texts, fontsize="small", title="status", title_fontsize="small", loc="best"
    )
    legend.set_gid("status-legend")
    if lines_legend is not None:  # keep the legend of the lines beside it
        ax.add_artist(lines_legend)


def _log_if_decades(values: np.ndarray, set_scale: Any) -> bool:
    """Log scale when every finite value is positive and they span more than a decade."""
    v = values[np.isfinite(values)]
    if v.size and bool(np.all(v > 0)) and v.max() / v.min() > 10:
        set_scale("log")
        return True
    return False


def sweep_figure(summary: Mapping[str, Any]) -> Figure:
    """The swept value against the metric: one line per value of the other keys
    (gid ``sweep:<values of the other keys>``) through the points that ended with
    a usable value, and a marker per point by its status (gid
    ``sweep-<status>:<values>``; diverged, interrupted and failed points sit on the
    top edge, since their value says nothing). Axes are logarithmic where the values
    are positive and span more than a decade; other values than numbers are
    categories in the order they first appear. For a descend sweep whose summary
    counts iterations, a second panel draws the iterations against the swept value
    (gid ``iterations:<values>``)."""
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
    categories = _categories(xs_all, numeric)
    grouped = _group_points(points, first, rest, None if numeric else categories)
    with_iterations = summary.get("base_command") == "descend" and any(
        _is_number(p.get("iterations")) for p in points
    )
    fig = new_figure(
        12.0 if with_iterations else 8.6,
        4.8,
        f"{summary.get('experiment', 'sweep')}: {metric_name} against {first}",
    )
    panels = [("metric", metric_name, "sweep")]
    if with_iterations:
        panels.append(("iterations", "iterations (to converge, where converged)", "iterations"))
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    xs = np.array([float(v) for v in xs_all if v is not None]) if numeric else np.zeros(0)
    for ax, (value, ylabel, gid) in zip(axes, panels, strict=True):
        _draw_series(ax, grouped, rest, metric_name, value, gid)
        log_x = _log_if_decades(xs, ax.set_xscale)
        y = np.array([getattr(q, value) for pts in grouped.series.values() for q in pts])
        log_y = _log_if_decades(y, ax.set_yscale)
        if not numeric:
            ax.set_xticks(range(len(categories)), categories)
        ax.set_xlabel(first + (" (log scale)" if log_x else ""))
        ax.set_ylabel(ylabel + (" (log scale)" if log_y else ""))
        ax.grid(True, alpha=0.3)
        if rest:
            ax.legend(fontsize="small", loc="lower left")
    _status_legend(axes[-1], {q.status for pts in grouped.series.values() for q in pts})
    return fig


def _sort_key(values: tuple[Any, ...]) -> tuple[tuple[int, float, str], ...]:
    """Numbers first, by value; then everything else, by its text."""
    return tuple((0, float(v), "") if _is_number(v) else (1, 0.0, _value_text(v)) for v in values)
