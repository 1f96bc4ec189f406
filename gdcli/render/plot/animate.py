"""Pictures in motion (``gdcli plot RUN_DIR --animate``), as GIFs written by
matplotlib's ``PillowWriter`` (Pillow comes with matplotlib; no ffmpeg):

- ``paths.gif`` for a descend run of 2 variables: the paths growing step by step on
  the contour map, with the iteration and each optimizer's f;
- ``boundary.gif`` for a train-mlp run on 2 features that recorded snapshots
  (``snapshot_every``): the decision boundary over the epochs.

At most ``MAX_FRAMES`` frames: the steps are thinned, densest at the start where
paths move most, and the last step is always the last frame. The frames' data are
built first (``path_frames``, ``boundary_frames``) and drawn second, so tests read
what each frame shows.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from gdcli.errors import UserError
from gdcli.render.plot import style
from gdcli.render.plot.descend import (
    DescendRun,
    Window,
    _draw_surface,
    _function_text,
    _joined,
    _plot_box,
    _surface,
    load_descend_run,
)

if TYPE_CHECKING:
    from matplotlib.figure import Figure

MAX_FRAMES = 100
FPS = 10
ANIMATION_DPI = 64  # a 7-inch frame is 448 pixels: a GIF of a few MB at most


def frame_steps(steps: np.ndarray, max_frames: int = MAX_FRAMES) -> np.ndarray:
    """At most ``max_frames`` of the sorted unique ``steps``, geometrically spaced so
    that the early steps (where paths move most) are kept; the first and last always."""
    steps = np.unique(steps)
    if steps.size <= max_frames:
        return steps
    keep = np.unique(np.round(np.geomspace(1, steps.size, max_frames)).astype(np.int64) - 1)
    free = max_frames - keep.size  # the rounding merged some: fill in evenly
    if free > 0:
        rest = np.setdiff1d(np.arange(steps.size), keep)
        keep = np.union1d(keep, rest[np.linspace(0, rest.size - 1, free).astype(np.int64)])
    return steps[keep]


@dataclass(frozen=True)
class PathFrame:
    """What one frame of ``paths.gif`` shows, per optimizer ``r``: ``paths[r]`` its
    paths so far (NaN rows between starts), ``heads[r]`` (S, 2) where each start is
    now, ``f[r]`` f there (the median over the starts when there are several)."""

    iteration: int
    paths: tuple[np.ndarray, ...]
    heads: tuple[np.ndarray, ...]
    f: tuple[float, ...]


def path_frames(run: DescendRun, max_frames: int = MAX_FRAMES) -> list[PathFrame]:
    """The frames of ``paths.gif``: the traced rows up to each kept iteration."""
    every = [t.iteration for tracks in run.tracks for t in tracks if t.iteration.size]
    if not every:
        raise UserError(f"{run.name}: the trace has no rows; nothing to animate")
    frames = []
    for it in frame_steps(np.concatenate(every), max_frames).tolist():
        paths, heads, fs = [], [], []
        for tracks in run.tracks:
            cut = [int(np.searchsorted(t.iteration, it, side="right")) for t in tracks]
            paths.append(_joined([t.x[: max(k, 1)] for t, k in zip(tracks, cut, strict=True)]))
            heads.append(np.array([t.x[max(k, 1) - 1] for t, k in zip(tracks, cut, strict=True)]))
            with np.errstate(all="ignore"):
                fs.append(
                    float(np.median([t.f[max(k, 1) - 1] for t, k in zip(tracks, cut, strict=True)]))
                )
        frames.append(PathFrame(int(it), tuple(paths), tuple(heads), tuple(fs)))
    return frames


def paths_animation_figure(run: DescendRun, window: Window | None = None) -> tuple[Figure, Any]:
    """The figure of ``paths.gif`` and the function that draws frame k on it."""
    box = _plot_box(run, window=window)
    fig = style.new_figure(7.0, 7.0, f"{run.name}: paths on {_function_text(run)}")
    ax = fig.add_subplot()
    _draw_surface(fig, ax, _surface(run.function, box, 200, 12))
    lines, heads = [], []
    for r, label in enumerate(run.labels):
        look = style.series_style(r)
        (line,) = ax.plot([], [], color=look["color"], linestyle=look["linestyle"], linewidth=1.6,
                          gid=f"path:{r}", label=label)  # fmt: skip
        (head,) = ax.plot([], [], linestyle="none", marker="o", markersize=7, color=look["color"],
                          markeredgecolor="black", gid=f"head:{r}")  # fmt: skip
        lines.append(line)
        heads.append(head)
    legend = ax.legend(fontsize="small", loc="upper right")
    ax.set_xlim(*box[0])
    ax.set_ylim(*box[1])
    ax.set_xlabel(run.variables[0])
    ax.set_ylabel(run.variables[1])

    def draw(frame: PathFrame) -> None:
        for r, label in enumerate(run.labels):
            lines[r].set_data(frame.paths[r][:, 0], frame.paths[r][:, 1])
            heads[r].set_data(frame.heads[r][:, 0], frame.heads[r][:, 1])
            many = "median " if frame.heads[r].shape[0] > 1 else ""
            legend.get_texts()[r].set_text(f"{label}: {many}f = {frame.f[r]:.5g}")
        ax.set_title(f"iteration {frame.iteration}", fontsize="medium")

    return fig, draw


@dataclass(frozen=True)
class BoundaryFrame:
    """One frame of ``boundary.gif``: the epoch (0 = the initial weights), the flat
    parameters then (P,), and the training loss of that epoch (NaN for epoch 0)."""

    epoch: int
    params: np.ndarray
    train_loss: float


def boundary_frames(run_dir: Path, max_frames: int = MAX_FRAMES) -> list[BoundaryFrame]:
    """The snapshots of ``snapshots.npz`` thinned to at most ``max_frames``."""
    path = run_dir / "snapshots.npz"
    if not path.is_file():
        raise UserError(
            f"{run_dir}: no snapshots.npz; rerun the training with --set snapshot_every=N "
            "(e.g. 10) to record the weights every N epochs"
        )
    with np.load(path, allow_pickle=False) as data:
        epochs, params = np.asarray(data["epochs"]), np.asarray(data["params"])
    _, rows = style.read_rows(run_dir)
    loss = {int(r["epoch"]): float(r["train_loss"] or "nan") for r in rows}
    keep = np.searchsorted(epochs, frame_steps(epochs, max_frames))
    return [
        BoundaryFrame(int(epochs[k]), params[k], loss.get(int(epochs[k]), np.nan)) for k in keep
    ]


def boundary_animation_figure(run_dir: Path, summary: dict[str, Any]) -> tuple[Figure, Any]:
    """The figure of ``boundary.gif`` and the function that draws a frame on it."""
    from gdcli.experiments.modelfile import _layers
    from gdcli.render.plot.train import (
        TrainingPoints,
        _draw_class_points,
        _draw_class_regions,
        _prediction_grid,
        load_training_points,
    )

    points = load_training_points(run_dir)
    classes = points.model.class_names
    if classes is None:
        raise UserError(f"{run_dir}: boundary.gif needs a classification run; this one regresses")
    colours = [style.PALETTE[i % len(style.PALETTE)] for i in range(len(classes))]
    fig = style.new_figure(6.6, 6.2, f"{summary.get('experiment', 'run')}: decision boundary")
    ax = fig.add_subplot()
    names = points.model.feature_names

    def draw(frame: BoundaryFrame) -> None:
        ax.clear()
        model = replace(points.model, layers=_layers({"params": frame.params}, points.model.arch))
        grid = _prediction_grid(TrainingPoints(model, points.parts), n=120)
        _draw_class_regions(ax, grid, colours)
        _draw_class_points(ax, points, classes, colours)
        ax.set_xlim(grid.lo[0], grid.hi[0])
        ax.set_ylim(grid.lo[1], grid.hi[1])
        ax.set_xlabel(names[0] if names else "feature 1")
        ax.set_ylabel(names[1] if len(names) > 1 else "feature 2")
        loss = "" if np.isnan(frame.train_loss) else f", training loss {frame.train_loss:.4g}"
        ax.set_title(f"epoch {frame.epoch}{loss}", fontsize="medium")

    return fig, draw


def save_gif(fig: Figure, draw: Any, frames: Sequence[Any], path: Path) -> Path:
    """Draw ``frames`` one by one on ``fig`` into a GIF at ``path`` (written beside it,
    then renamed, so a reader never sees half a file)."""
    from matplotlib.animation import PillowWriter

    tmp = path.with_name(f".{path.stem}.partial{path.suffix}")
    writer = PillowWriter(fps=FPS)
    try:
        with writer.saving(fig, str(tmp), ANIMATION_DPI):
            for frame in frames:
                draw(frame)
                writer.grab_frame()
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def animate_run(run_dir: Path, summary: dict[str, Any], window: Window | None = None) -> list[Path]:
    """``paths.gif`` or ``boundary.gif`` of the run in ``run_dir``; a ``UserError``
    when the run has nothing that moves in 2 dimensions."""
    command = summary.get("command")
    if command == "descend":
        run = load_descend_run(run_dir)
        if run.dimension != 2:
            raise UserError(
                f"{run_dir}: --animate draws paths of 2 variables; this run has {run.dimension}"
            )
        fig, draw = paths_animation_figure(run, window)
        return [save_gif(fig, draw, path_frames(run), run_dir / "paths.gif")]
    if command == "train-mlp" and (summary.get("data") or {}).get("features") == 2:
        frames = boundary_frames(run_dir)
        fig, draw = boundary_animation_figure(run_dir, summary)
        return [save_gif(fig, draw, frames, run_dir / "boundary.gif")]
    raise UserError(
        f"{run_dir}: --animate draws a descend run of 2 variables (paths.gif) or a "
        "train-mlp run on 2 features (boundary.gif)"
    )
