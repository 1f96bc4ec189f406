"""The pictures of a finished run, drawn from its files alone.

``plot_run(run_dir)`` reads ``summary.json``, picks the pictures of the command
that wrote it and saves them as PNG files (150 dpi) next to it:

- ``descend``: ``contour.png`` (2 variables) or ``curve.png`` (1 variable),
  ``convergence.png``, and ``basins.png`` when the run has 20 starts or more;
- ``train-mlp``: ``loss.png``, ``decision_boundary.png`` (two features) and
  ``confusion.png`` (classification);
- ``compare-activations``: ``activations_loss.png`` and ``activations_accuracy.png``;
- ``sweep``: ``sweep.png``.

``plot_grad`` draws the pictures of ``gdcli grad``: ``graph.png`` (the evaluation
graph, module ``graph``) and, for 2 variables, ``gradient.png`` (the gradient and
the descent direction as arrows on the contour map, module ``gradient``).

Every picture is built by a ``*_figure`` function that returns a matplotlib
``Figure``, so tests can inspect what was drawn. Artists that carry data get a
``gid`` of the form ``kind:key`` (``path:0`` is the path of the first optimizer,
``basin:none`` the starts that reached no minimum, ...).

The modules: ``style`` (palette, figure creation, saving, reading run files),
``descend``, ``train``, ``compare`` and ``sweep`` (the pictures of each command).
matplotlib is imported inside the functions only, and figures are made with
``matplotlib.figure.Figure`` and the Agg canvas, never with pyplot: nothing here
touches global state, and importing this package stays cheap.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gdcli.errors import UserError
from gdcli.render.plot.compare import (
    activations_accuracy_figure,
    activations_loss_figure,
    compare_figures,
)
from gdcli.render.plot.descend import (
    BASIN_MIN_STARTS,
    MEDIAN_ABOVE_STARTS,
    DescendRun,
    Track,
    Window,
    descend_basins_figure,
    descend_contour_figure,
    descend_convergence_figure,
    descend_curve_figure,
    descend_figures,
    load_descend_run,
    parse_window,
)
from gdcli.render.plot.style import DPI, read_summary, save_figure
from gdcli.render.plot.sweep import sweep_figure, sweep_figures
from gdcli.render.plot.train import (
    TrainingPoints,
    confusion_figure,
    confusion_summary_figure,
    decision_boundary_figure,
    load_training_points,
    train_figures,
    training_loss_figure,
)

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from gdcli.engine.analysis import GradResult

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
    "confusion_summary_figure",
    "decision_boundary_figure",
    "descend_basins_figure",
    "descend_contour_figure",
    "descend_convergence_figure",
    "descend_curve_figure",
    "load_descend_run",
    "load_training_points",
    "parse_window",
    "plot_grad",
    "plot_run",
    "run_figures",
    "sweep_figure",
    "training_loss_figure",
]


def plot_run(
    run_dir: Path, window: Window | None = None, *, field: bool = False, animate: bool = False
) -> list[Path]:
    """Draw the pictures of the run in ``run_dir`` and return the files written.

    The command is read from ``summary.json``; every file a picture needs is checked
    before anything is drawn, and a missing one is a ``UserError`` that names it.
    Each PNG is written atomically, so running this again redraws the same files.
    ``window`` (``xmin, xmax[, ymin, ymax]``, see ``parse_window``) is the box of a
    descent's contour map or curve; the function's own window when None. ``field``
    adds the descent directions to a descent's contour map; ``animate`` also writes
    ``paths.gif`` or ``boundary.gif`` (module ``animate``).
    """
    run_dir = Path(run_dir)
    written: list[Path] = []
    for name, fig in run_figures(run_dir, window, field):
        path = run_dir / name
        save_figure(fig, path)
        written.append(path)
    if animate:
        from gdcli.render.plot.animate import animate_run

        written += animate_run(run_dir, read_summary(run_dir), window)
    return written


def plot_grad(result: GradResult, out_dir: Path) -> list[Path]:
    """The pictures of ``gdcli grad --plot`` in ``out_dir``: ``graph.png`` when the
    result holds the evaluation graph, ``gradient.png`` for a function of 2
    variables; a ``UserError`` when there is nothing to draw."""
    from gdcli.render.plot.gradient import gradient_figure
    from gdcli.render.plot.graph import graph_figure

    fn, a = result.function, result.analysis
    figures: list[tuple[str, Figure]] = []
    if result.graph is not None:
        at = ", ".join(f"{n} = {v:g}" for n, v in zip(fn.variables, a.x, strict=False))
        figures.append(("graph.png", graph_figure(result.graph, f"f = {fn.formula} at {at}")))
    if fn.dimension == 2:
        figures.append(("gradient.png", gradient_figure(fn, a.x, a.gradient)))
    if not figures:
        raise UserError(
            f"--plot: nothing to draw for a function of {fn.dimension} variable(s): the "
            "gradient arrows need 2 variables; add --graph to draw the evaluation graph"
        )
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    written = []
    for name, fig in figures:
        save_figure(fig, Path(out_dir) / name)
        written.append(Path(out_dir) / name)
    return written


def run_figures(
    run_dir: Path, window: Window | None = None, field: bool = False
) -> Iterator[tuple[str, Figure]]:
    """``(file name, figure)`` for every picture of the run, built one at a time."""
    run_dir = Path(run_dir)
    summary = read_summary(run_dir)
    command = summary.get("command")
    drawers: dict[str, Callable[[Path, dict[str, Any]], Iterator[tuple[str, Figure]]]] = {
        "descend": partial(descend_figures, window=window, field=field),
        "train-mlp": train_figures,
        "compare-activations": compare_figures,
        "sweep": sweep_figures,
    }
    if command not in drawers:
        raise UserError(
            f"{run_dir}: summary.json names the command {command!r}; "
            f"gdcli plot draws {', '.join(drawers)} runs"
        )
    return drawers[str(command)](run_dir, summary)
