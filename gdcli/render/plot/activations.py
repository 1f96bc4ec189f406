"""The pictures of ``gdcli activations``: every activation h in one figure and every
derivative h' in another, one panel per activation on a shared x-range.

The derivatives are those gdcli's backward pass computes
(``engine.activations.values_and_derivatives``). At a kink the curve is broken
rather than joined by a vertical line: a filled dot marks the value gdcli uses
there (PyTorch's convention), an open circle a one-sided limit that it does not
take; where h' does not exist although both sides agree (Heaviside's 0), an open
circle marks the missing point and says so.

Artists that carry data have a ``gid``: ``curve:NAME``, ``value:NAME`` (the dot at
a kink), ``limit:NAME`` (an open circle) and ``undefined:NAME``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from gdcli.engine.activations import ACTIVATIONS, values_and_derivatives
from gdcli.render.plot.style import activation_style, new_figure, save_figure

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

X_RANGE = (-4.0, 4.0)
"""The x-range every panel shares."""
DERIVATIVE_YLIM = (-0.3, 1.3)
"""The y-range every h' panel shares, so that sigmoid's 1/4 reads against tanh's 1."""
_SIDE = 1e-9  # how far from a kink its one-sided limits are read
_SAME = 1e-6  # one-sided limits closer than this are one value


def _grid(kinks: tuple[float, ...]) -> np.ndarray:
    """X_RANGE sampled finely, with every kink on the grid."""
    return np.union1d(np.linspace(*X_RANGE, 801), np.asarray(kinks, dtype=np.float64))


def _pick(derivative: bool) -> Callable[[str, np.ndarray], np.ndarray]:
    return lambda name, x: values_and_derivatives(name, x)[1 if derivative else 0]


def _draw_kink(ax: Axes, name: str, k: float, f: Callable[..., np.ndarray], look: Any) -> bool:
    """Mark kink ``k`` of ``f`` (h or h'); True when the curve must be broken there."""
    left, at, right = f(name, np.array([k - _SIDE, k, k + _SIDE]))
    colour = look["color"]
    if abs(left - right) < _SAME:
        if f is not _DERIVATIVE:
            return False
        # both sides agree, yet h' does not exist at k (Heaviside's step)
        _open_circle(ax, k, at, colour, f"undefined:{name}", size=9, edge=2.0)
        note = f"undefined at {k:g}\n(gdcli and torch use {at:g})"
        _note(
            ax, note, (k, at), (0, 28), ha="center", arrowprops={"arrowstyle": "-", "color": "0.4"}
        )
        return False
    ax.plot([k], [at], "o", ms=7, color=colour, zorder=6, gid=f"value:{name}")
    for limit in (left, right):
        if abs(limit - at) >= _SAME:
            _open_circle(ax, k, limit, colour, f"limit:{name}", size=7, edge=1.5)
    _note(ax, f"{at:g} at x = {k:g}", (k, at), (8, 6))
    return True


def _panel(ax: Axes, name: str, derivative: bool) -> None:
    entry = ACTIVATIONS[name]
    f = _DERIVATIVE if derivative else _VALUE
    look = activation_style(name)
    x = _grid(entry.kinks)
    y = f(name, x).astype(np.float64)
    for k in entry.kinks:
        if _draw_kink(ax, name, k, f, look):
            y[x == k] = np.nan  # no vertical line across the jump
    ax.plot(x, y, color=look["color"], linestyle=look["linestyle"], lw=2, gid=f"curve:{name}")
    alpha = f" (alpha {entry.alpha:g})" if entry.alpha is not None else ""
    ax.set_title(f"{name}{chr(39) if derivative else ''}{alpha}", fontsize="medium")
    ax.axhline(0, color="0.75", lw=0.8, zorder=0)
    ax.axvline(0, color="0.75", lw=0.8, zorder=0)
    ax.grid(True, color="0.92")
    ax.set_xlim(*X_RANGE)
    if derivative:
        ax.set_ylim(*DERIVATIVE_YLIM)


_VALUE = _pick(False)
_DERIVATIVE = _pick(True)


def activation_figure(derivative: bool = False) -> Figure:
    """A 3 x 3 grid, one panel per activation: h (or h' with ``derivative``)."""
    title = (
        "Derivatives h'(x), as backpropagation passes them"
        if derivative
        else "Activation functions h(x)"
    )
    fig = new_figure(11, 9, title)
    names = list(ACTIVATIONS)
    cols = 3
    rows = -(-len(names) // cols)
    axes = fig.subplots(rows, cols, sharex=True, sharey=derivative, squeeze=False)
    for ax, name in zip(axes.flat, names, strict=False):
        _panel(ax, name, derivative)
    for ax in axes.flat[len(names) :]:
        ax.set_visible(False)
    for ax in axes[-1]:
        ax.set_xlabel("x")
    return fig


def save_activation_figures(out_dir: Path) -> list[Path]:
    """Write activations.png and activation_derivatives.png into ``out_dir`` (made
    if missing); returns their paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for file, derivative in (("activations.png", False), ("activation_derivatives.png", True)):
        path = out_dir / file
        save_figure(activation_figure(derivative), path)
        written.append(path)
    return written


def _open_circle(
    ax: Any, x: float, y: float, colour: str, gid: str, *, size: float, edge: float
) -> None:
    """A hollow dot: a value h or h' does not take there (a limit from one side)."""
    ax.plot([x], [y], "o", ms=size, mfc="white", mec=colour, mew=edge, zorder=5, gid=gid)


def _note(
    ax: Any, text: str, at: tuple[float, float], offset: tuple[float, float], **more: Any
) -> None:
    """A small label ``offset`` points away from the point ``at``."""
    ax.annotate(text, at, xytext=offset, textcoords="offset points", fontsize="small", **more)
