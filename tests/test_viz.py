"""The lecture's pictures: the evaluation graph drawn (graph.png, DOT), the gradient as
arrows (gradient.png, --field), paths in motion (paths.gif, boundary.gif) and the
surface (surface.png). The numbers are read from the figures' artists, by gid."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from clitools import gdcli, parse_json
from matplotlib.text import Annotation, Text
from PIL import Image

from gdcli.engine import autograd as ag
from gdcli.engine.analysis import run_grad
from gdcli.experiments.config import CompareConfig, DescendConfig, TrainConfig, load_config
from gdcli.experiments.session import Session, run_descend, run_train
from gdcli.render.plot import run_figures
from gdcli.render.plot.animate import MAX_FRAMES, boundary_frames, frame_steps, path_frames
from gdcli.render.plot.descend import load_descend_run
from gdcli.render.plot.gradient import gradient_figure
from gdcli.render.plot.graph import graph_dot, graph_figure
from gdcli.runs import read_trace

CONFIGS = Path(__file__).parent.parent / "configs"
LECTURE = "3*exp(x**2 + 1)"


def texts(fig: object, prefix: str) -> dict[str, str]:
    return {
        t.get_gid(): t.get_text()
        for t in fig.findobj(Text)  # type: ignore[attr-defined]
        if (t.get_gid() or "").startswith(prefix)
    }


def edge_value(text: str) -> float:
    assert text.startswith("×"), text
    return float(text[1:])


# -- the evaluation graph --------------------------------------------------------------


def test_local_derivatives_are_the_factors_backward_multiplies() -> None:
    r = run_grad(LECTURE, [3.0], graph=True)
    assert r.graph is not None
    ops = {t.op: ag.local_derivatives(t) for t in r.graph if t.parents}
    assert ops["pow"][0] == 6.0 and ops["pow"][1] is None  # d(x^2)/dx = 2x; 2 is a constant
    assert ops["add"][0] == 1.0
    assert ops["exp"][0] == pytest.approx(math.exp(10), rel=1e-15)
    assert ops["mul"] == (None, 3.0)
    # a node used twice: each edge of x*x carries x, the two sum to 2x
    square = next(t for t in run_grad("x*x", [5.0], graph=True).graph or [] if t.op == "mul")
    assert ag.local_derivatives(square) == (5.0, 5.0)
    # the adjoints of the graph are left as backward made them
    assert r.graph[2].grad == pytest.approx(396476.3843065209)


def test_graph_png_has_one_node_per_graph_node_and_edges_multiply_to_the_gradient() -> None:
    r = run_grad(LECTURE, [3.0], graph=True)
    assert r.graph is not None
    fig = graph_figure(r.graph, "t")
    nodes = texts(fig, "node:")
    assert sorted(nodes) == sorted(f"node:{i}" for i in range(len(r.graph))) and len(nodes) == 8
    assert nodes["node:5"] == "exp\nvalue 22026.5\nadjoint 3"
    assert nodes["node:2"] == "x\nvalue 3\nadjoint 396476"
    edges = texts(fig, "edge:")
    # x -> pow -> add -> exp -> mul: the one path from x to the output
    path = ["edge:2-3", "edge:3-4", "edge:4-5", "edge:5-7"]
    assert sorted(edges) == sorted(path)  # the constants' edges carry no factor
    product = math.prod(edge_value(edges[k]) for k in path)
    assert product == pytest.approx(396476.38, rel=1e-6)
    # laid out by depth: each edge runs left to right
    pos = {t.get_gid(): t.get_position() for t in fig.findobj(Text) if t.get_gid()}
    xs = [pos[f"node:{i}"][0] for i in (2, 3, 4, 5, 7)]
    assert xs == sorted(xs) and len(set(xs)) == 5


def test_graph_of_the_sigmoid_example_sums_the_paths() -> None:
    r = run_grad("(sigmoid(w*2 + b) - 1)**2", [1.0, 0.5], ("w", "b"), graph=True)
    assert r.graph is not None
    edges = texts(graph_figure(r.graph, "t"), "edge:")
    names = {t.name: i for i, t in enumerate(r.graph) if t.op == "input"}

    def downstream(i: int) -> float:
        """The product of the factors from node i to the output (one path here)."""
        out = [(k, v) for k, v in edges.items() if k.startswith(f"edge:{i}-")]
        if not out:
            return 1.0
        (key, text) = out[0]
        return edge_value(text) * downstream(int(key.split("-")[1]))

    assert downstream(names["w"]) == pytest.approx(r.analysis.gradient[0], rel=1e-6)
    assert downstream(names["b"]) == pytest.approx(r.analysis.gradient[1], rel=1e-6)


def test_graph_dot_has_the_drawings_labels() -> None:
    r = run_grad(LECTURE, [3.0], graph=True)
    assert r.graph is not None
    dot = graph_dot(r.graph, "f")
    assert dot.startswith("digraph evaluation_graph {") and dot.rstrip().endswith("}")
    assert 'n5 [label="exp\\nvalue 22026.5\\nadjoint 3"' in dot
    assert 'n4 -> n5 [label="×22026.47"];' in dot
    assert "n6 -> n7 [style=dashed];" in dot
    assert len(re.findall(r"^  n\d+ \[", dot, re.M)) == 8


def test_cli_graph_plot_writes_graph_png_and_dot(tmp_path: Path) -> None:
    res = gdcli("grad", LECTURE, "--at", "3", "--graph", "--plot", "--out", tmp_path, "--json")
    assert res.exit_code == 0
    doc = parse_json(res.stdout)
    assert doc["pictures"] == [str(tmp_path / "graph.png")]
    assert Image.open(tmp_path / "graph.png").size[0] > 800
    assert doc["graph"][5]["local"] == [pytest.approx(math.exp(10))]
    res = gdcli("grad", LECTURE, "--at", "3", "--graph", "dot")
    assert res.exit_code == 0 and res.stdout.startswith("digraph")
    res = gdcli("grad", LECTURE, "--at", "3", "dot")
    assert res.exit_code == 2 and "--graph dot" in res.stderr
    res = gdcli("grad", LECTURE, "--at", "3", "--plot", "--out", tmp_path / "none")
    assert res.exit_code == 2 and "add --graph" in res.stderr
    assert not (tmp_path / "none").exists()


def test_graph_table_has_the_local_derivative_column() -> None:
    res = gdcli("grad", LECTURE, "--at", "3", "--graph", env={"COLUMNS": "160"})
    assert res.exit_code == 0
    row = next(line for line in res.stdout.splitlines() if "│ exp " in line)
    assert row.rstrip("│ ").endswith("#4: 22026.46579")


# -- gradient arrows ---------------------------------------------------------------------


def test_gradient_arrows_at_the_lecture_point() -> None:
    r = run_grad("3*x**3 + 10*y**2", [3.0, 3.0])
    fig = gradient_figure(r.function, r.analysis.x, r.analysis.gradient)
    arrows = {a.get_gid(): a for a in fig.findobj(Annotation) if a.get_gid()}
    for kind, sign in (("arrow:gradient", 1), ("arrow:descent", -1)):
        tail, tip = np.array(arrows[kind].xyann), np.array(arrows[kind].xy)
        assert tail == pytest.approx([3.0, 3.0])
        d = tip - tail
        assert d / np.linalg.norm(d) == pytest.approx(
            sign * np.array([81, 60]) / math.hypot(81, 60)
        )
        ax = fig.axes[0]
        # scaled to be visible: a quarter of the map's shorter side, and inside the map
        side = min(np.ptp(ax.get_xlim()), np.ptp(ax.get_ylim()))
        assert np.linalg.norm(d) == pytest.approx(0.25 * side)
    labels = texts(fig, "label:")
    assert labels["label:gradient"].startswith("∇f = (81, 60)")
    assert labels["label:descent"].startswith("−∇f = (−81, −60)")
    assert "|∇f| = 100.8" in fig.axes[0].get_title()


def test_cli_grad_plot_writes_gradient_png(tmp_path: Path) -> None:
    res = gdcli("grad", "3*x**3 + 10*y**2", "--at", "3,3", "--plot", "--out", tmp_path)
    assert res.exit_code == 0
    assert f"wrote {tmp_path / 'gradient.png'}" in res.stderr
    assert (tmp_path / "gradient.png").stat().st_size > 10_000


def _cubic(tmp_path: Path, *overrides: str) -> Path:
    cfg, doc = load_config(CONFIGS / "cubic-saddle.yaml", DescendConfig, overrides)
    run_descend(cfg, doc, Session(tmp_path / "cubic"))
    return tmp_path / "cubic"


def test_field_draws_unit_descent_directions(tmp_path: Path) -> None:
    run_dir = _cubic(tmp_path, "iterations=200")
    figs = dict(run_figures(run_dir, None, field=True))
    q: Any = next(c for c in figs["contour.png"].axes[0].collections if c.get_gid() == "field")
    uv = np.column_stack([q.U, q.V])
    ok = np.isfinite(uv).all(axis=1)
    assert ok.sum() > 400 and np.linalg.norm(uv[ok], axis=1) == pytest.approx(1.0)
    # at (2, 2) the gradient of 2x^3 - 6xy + 3y^2 is (12, 0): descent points along -x
    xy = np.asarray(q.get_offsets())
    k = int(np.argmin(np.linalg.norm(xy - [2.0, 2.0], axis=1)))
    g = np.array([6 * xy[k, 0] ** 2 - 6 * xy[k, 1], -6 * xy[k, 0] + 6 * xy[k, 1]])
    assert uv[k] == pytest.approx(-g / np.linalg.norm(g))
    plain = dict(run_figures(run_dir, None))["contour.png"]
    assert not [c for c in plain.axes[0].collections if c.get_gid() == "field"]


# -- paths in motion, the surface -------------------------------------------------------


def test_frame_steps_are_bounded_and_keep_both_ends() -> None:
    steps = frame_steps(np.arange(5001), 100)
    assert steps.size == 100 and steps[0] == 0 and steps[-1] == 5000
    assert np.all(np.diff(steps) > 0) and steps[10] == 10  # the early steps are kept
    assert frame_steps(np.array([0, 1, 2, 2]), 100).tolist() == [0, 1, 2]


def test_paths_gif_frames_end_at_the_traces_last_rows(tmp_path: Path) -> None:
    run_dir = _cubic(tmp_path)
    res = gdcli("plot", run_dir, "--animate", "--json")
    assert res.exit_code == 0
    assert str(run_dir / "paths.gif") in parse_json(res.stdout)["pictures"]
    gif: Any = Image.open(run_dir / "paths.gif")
    assert 1 < gif.n_frames <= MAX_FRAMES
    assert (run_dir / "paths.gif").stat().st_size < 5_000_000
    frames = path_frames(load_descend_run(run_dir))
    assert len(frames) == gif.n_frames
    _, rows = read_trace(run_dir / "trace.csv")
    last: dict[int, list[float]] = {}
    for row in rows:  # one optimizer, four starts: each start's last row
        last[int(row["start"])] = [float(row["x"]), float(row["y"])]
    assert frames[-1].heads[0] == pytest.approx(np.array([last[s] for s in sorted(last)]))
    assert frames[-1].iteration == max(int(r["iteration"]) for r in rows)
    drawn = frames[-1].paths[0]
    assert drawn[np.isfinite(drawn).all(axis=1)].shape[0] == len(rows)
    assert frames[0].iteration == 0 and frames[0].heads[0][0] == pytest.approx([2.0, 2.0])


def test_surface_png_holds_the_paths_on_the_surface(tmp_path: Path) -> None:
    run_dir = _cubic(tmp_path, "iterations=300")
    fig = dict(run_figures(run_dir))["surface.png"]
    ax: Any = fig.axes[0]
    path: Any = next(ln for ln in ax.lines if ln.get_gid() == "path:0")
    x, y, z = (np.asarray(v) for v in path.get_data_3d())
    ok = np.isfinite(z)
    f = 2 * x[ok] ** 3 - 6 * x[ok] * y[ok] + 3 * y[ok] ** 2
    assert ok.sum() > 100 and z[ok] == pytest.approx(f)  # the points lie on f
    assert "cut at" in ax.get_zlabel()  # the cubic's far corner is clipped
    assert ax.get_zlim()[1] < 200


def test_boundary_gif_from_snapshots(tmp_path: Path) -> None:
    cfg, doc = load_config(CONFIGS / "xor.yaml", TrainConfig, ["epochs=40", "snapshot_every=10"])
    run_train(cfg, doc, Session(tmp_path / "xor"))
    run_dir = tmp_path / "xor"
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["files"] == ["model.npz", "snapshots.npz"]
    with np.load(run_dir / "snapshots.npz") as data:
        assert data["epochs"].tolist() == [0, 10, 20, 30, 40]
        with np.load(run_dir / "model.npz") as model:
            assert data["params"][-1] == pytest.approx(model["params"])  # the saved model
    frames = boundary_frames(run_dir)
    assert [f.epoch for f in frames] == [0, 10, 20, 30, 40]
    res = gdcli("plot", run_dir, "--animate")
    assert res.exit_code == 0
    gif: Any = Image.open(run_dir / "boundary.gif")
    assert gif.n_frames == 5


def test_animate_without_snapshots_says_how(tmp_path: Path) -> None:
    cfg, doc = load_config(CONFIGS / "xor.yaml", TrainConfig, ["epochs=5"])
    run_train(cfg, doc, Session(tmp_path / "xor"))
    assert not (tmp_path / "xor" / "snapshots.npz").exists()
    res = gdcli("plot", tmp_path / "xor", "--animate")
    assert res.exit_code == 2 and "snapshot_every" in res.stderr


def test_snapshot_every_is_not_a_compare_key(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("data: {name: xor}\nsnapshot_every: 5\n")
    with pytest.raises(Exception, match="no effect in compare-activations"):
        load_config(path, CompareConfig)
