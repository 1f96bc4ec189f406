"""What every picture shares: palette, line styles and markers, figure creation,
saving, and reading a run's files.

Styles are readable in greyscale and by colour-blind readers: the Okabe-Ito
palette, and each series also differs by line style and marker.
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from gdcli.errors import UserError
from gdcli.runs import atomic_write_bytes, read_trace

if TYPE_CHECKING:
    from matplotlib.figure import Figure

DPI = 150  # dots per inch of every PNG


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


# One look per activation, keyed by its name and never by its rank in a run, so that
# relu is vermillion in every picture of every run. Names not listed here (a new
# activation) get a look from their name's checksum: still the same in every picture.
ACTIVATION_LOOK: dict[str, dict[str, Any]] = {
    "linear": {"color": "#000000", "linestyle": ":", "marker": "o"},
    "sigmoid": {"color": "#0072B2", "linestyle": "-", "marker": "s"},
    "tanh": {"color": "#009E73", "linestyle": "-.", "marker": "^"},
    "relu": {"color": "#D55E00", "linestyle": "--", "marker": "D"},
    "leaky_relu": {"color": "#CC79A7", "linestyle": (0, (6, 1.5)), "marker": "v"},
    "heaviside": {"color": "#E69F00", "linestyle": (0, (3, 1, 1, 1, 1, 1)), "marker": "P"},
    "elu": {"color": "#56B4E9", "linestyle": (0, (1, 1)), "marker": "h"},
    "softplus": {"color": "#882255", "linestyle": (0, (8, 2, 2, 2)), "marker": "<"},
    "gelu": {"color": "#44AA99", "linestyle": "--", "marker": ">"},
}


def activation_style(name: str) -> dict[str, Any]:
    """Colour, line style and marker of activation ``name``: the same in every picture."""
    import zlib

    look = ACTIVATION_LOOK.get(name)
    return dict(look) if look else series_style(zlib.crc32(name.encode()) % 64)


def curve(
    ax: Any,
    x: np.ndarray,
    y: np.ndarray,
    look: Mapping[str, Any],
    *,
    label: str,
    gid: str,
    linewidth: float = 1.6,
) -> None:
    """A per-epoch curve in a series' look: markers at every tenth of it, hollow, so
    that lines that overlap stay apart in greyscale."""
    ax.plot(
        x,
        y,
        **look,
        markevery=0.1,
        markersize=5,
        markerfacecolor="white",
        linewidth=linewidth,
        label=label,
        gid=gid,
    )


def log_axis_labels(axis: Any, lo: float, hi: float) -> None:
    """Readable tick labels on a log ``axis`` showing [lo, hi] (lo > 0): plain numbers
    at the major ticks (powers of ten); on minor ticks only where they cannot
    overlap: at 2, 3 and 5 times a power of ten within one decade, at 2 and 5
    within two, none beyond."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    plain = FuncFormatter(lambda v, _: f"{v:g}")
    axis.set_major_formatter(plain)
    decades = math.log10(hi / lo) if hi > lo > 0 else 0.0
    if decades <= 2:
        subs = (2.0, 3.0, 5.0) if decades < 1 else (2.0, 5.0)
        axis.set_minor_locator(LogLocator(subs=subs))
        axis.set_minor_formatter(plain)
    else:
        axis.set_minor_formatter(NullFormatter())


def save_figure(fig: Figure, path: Path) -> None:
    """Save ``fig`` as a 150-dpi PNG at ``path`` atomically; its title goes into the
    PNG's ``Title`` text chunk."""
    buf = io.BytesIO()
    title = fig.get_suptitle()
    fig.savefig(buf, format="png", dpi=DPI, metadata={"Title": title})
    atomic_write_bytes(path, buf.getvalue())


def require(run_dir: Path, *names: str) -> None:
    missing = [n for n in names if not (run_dir / n).is_file()]
    if missing:
        raise UserError(f"{run_dir}: missing {', '.join(missing)}; was the run finished?")


def read_summary(run_dir: Path) -> dict[str, Any]:
    if not run_dir.is_dir():
        raise UserError(f"{run_dir}: no such run directory")
    require(run_dir, "summary.json")
    try:
        summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UserError(f"{run_dir / 'summary.json'}: not a readable JSON file ({exc})") from None
    if not isinstance(summary, dict):
        raise UserError(f"{run_dir / 'summary.json'}: expected a JSON object")
    return summary


def read_rows(run_dir: Path) -> tuple[list[str], list[dict[str, str]]]:
    """The run's trace; one without a single row (a run stopped before its first
    step was recorded) has nothing to draw and is a ``UserError``."""
    header, rows = read_trace(run_dir / "trace.csv")
    if not rows:
        raise UserError(f"{run_dir / 'trace.csv'}: no rows yet; nothing to draw")
    return header, rows


def require_columns(run_dir: Path, header: Sequence[str], columns: Sequence[str]) -> None:
    """A ``UserError`` naming the ``columns`` that ``trace.csv``'s header lacks."""
    missing = [c for c in columns if c not in header]
    if missing:
        raise UserError(f"{run_dir / 'trace.csv'}: no column(s) {', '.join(missing)}")


def new_figure(width: float, height: float, title: str) -> Figure:
    """A figure on its own Agg canvas (no pyplot, no global state), titled."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    fig.suptitle(title, fontsize="large", fontweight="bold")
    return fig


def numbers(rows: Sequence[Mapping[str, str]], column: str) -> np.ndarray:
    """A trace column as float64; empty cells (no value) become NaN."""
    return np.array([float(r[column]) if r[column] else math.nan for r in rows], dtype=np.float64)


def legend_marker(marker: str, size: float, **look: Any) -> Any:
    """A legend handle that shows one marker and no line (a ``Line2D``)."""
    from matplotlib.lines import Line2D

    return Line2D([], [], linestyle="none", marker=marker, markersize=size, **look)


def lighter(colour: str, amount: float) -> tuple[float, float, float]:
    """``colour`` mixed with white; ``amount`` 0 keeps it, 1 gives white."""
    from matplotlib.colors import to_rgb

    r, g, b = to_rgb(colour)
    return (r + (1 - r) * amount, g + (1 - g) * amount, b + (1 - b) * amount)
