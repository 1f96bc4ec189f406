"""The picture of a sweep: the swept value against the metric."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

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


@dataclass
class _SweepSeries:
    """The points of a sweep grouped into lines: ``series[key]`` holds the
    ``(x position, metric)`` pairs of one value ``raw[key]`` of the other keys."""

    series: dict[tuple[str, ...], list[tuple[float, float]]] = field(default_factory=dict)
    raw: dict[tuple[str, ...], tuple[Any, ...]] = field(default_factory=dict)
    left_out: dict[str, int] = field(default_factory=dict)


def _categories(xs: list[Any], numeric: bool) -> list[str]:
    """The swept values as categories in the order they first appear (none for numbers)."""
    categories: list[str] = []
    for v in xs:
        if not numeric and v is not None and _value_text(v) not in categories:
            categories.append(_value_text(v))
    return categories


def _group_points(
    points: list[Any], first: str, rest: list[str], categories: list[str] | None
) -> _SweepSeries:
    """Group the finished points with a metric by the values of the ``rest`` keys;
    count the others by why they are left out. ``categories`` is None for numbers."""
    out = _SweepSeries()
    for p in points:
        values = p.get("values") or {}
        value = (p.get("metric") or {}).get("value")
        x = values.get(first)
        status = str(p.get("status", "finished"))
        if status != "finished" or value is None or x is None:
            why = status if status != "finished" else "no metric"
            out.left_out[why] = out.left_out.get(why, 0) + 1
            continue
        pos = float(x) if categories is None else float(categories.index(_value_text(x)))
        other = tuple(values.get(k) for k in rest)
        key = tuple(_value_text(v) for v in other)
        out.raw[key] = other
        out.series.setdefault(key, []).append((pos, float(value)))
    return out


def _draw_sweep_lines(ax: Axes, grouped: _SweepSeries, rest: list[str], metric_name: str) -> None:
    for i, key in enumerate(sorted(grouped.series, key=lambda k: _sort_key(grouped.raw[k]))):
        pts = sorted(grouped.series[key])
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
    categories = _categories(xs_all, numeric)
    grouped = _group_points(points, first, rest, None if numeric else categories)
    fig = new_figure(
        7.6, 4.8, f"{summary.get('experiment', 'sweep')}: {metric_name} against {first}"
    )
    ax = fig.add_subplot()
    _draw_sweep_lines(ax, grouped, rest, metric_name)
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
    if grouped.left_out:
        counts = ", ".join(f"{n} {why}" for why, n in sorted(grouped.left_out.items()))
        ax.set_title(f"left out: {counts}", fontsize="medium")
    return fig


def _sort_key(values: tuple[Any, ...]) -> tuple[tuple[int, float, str], ...]:
    """Numbers first, by value; then everything else, by its text."""
    return tuple((0, float(v), "") if _is_number(v) else (1, 0.0, _value_text(v)) for v in values)
