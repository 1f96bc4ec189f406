"""The evaluation graph drawn: ``graph.png`` of ``gdcli grad --graph --plot``, and the
same graph as Graphviz DOT text (``--graph dot``) with the same labels.

Each node shows its operation, its value from the forward pass and its adjoint
d f / d node from the backward pass; each edge, drawn from an input of an operation
to the operation, shows the local derivative d node / d input: the factor the chain
rule multiplies. Along any path from an input to the output the factors multiply
to that path's share of the gradient (for ``3*exp(x**2 + 1)`` at 3 there is one
path: 6 * 1 * 22026.47 * 3 = 396476.4). Nodes are laid out by depth, inputs on the
left and the output on the right; a constant sits one column before the first
operation that uses it.

Text artists carry gids ``node:<i>`` and ``edge:<input>-<node>`` (indices into the
graph's evaluation order), so tests read the numbers the drawing shows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from gdcli.render.plot.style import PALETTE, new_figure

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
    from matplotlib.text import Text

    from gdcli.engine.autograd import Tensor


def number(value: object, digits: int = 6) -> str:
    """A value as the drawing and the DOT text show it: ``digits`` significant digits;
    the first three entries of an array."""
    a = np.asarray(value, dtype=np.float64)
    if a.size == 1:
        return f"{float(a.reshape(())):.{digits}g}"
    head = ", ".join(f"{v:.4g}" for v in a.ravel()[:3])
    return f"[{head}{', …' if a.size > 3 else ''}]"


def operation(t: Tensor) -> str:
    """What a node is: a variable's name, a constant's value, else the operation."""
    if t.op == "input":
        return t.name or "input"
    if t.op == "const":
        return t.name or number(t.data)
    return t.op


def node_text(t: Tensor) -> str:
    lines = [operation(t)]
    if t.op != "const":
        lines.append(f"value {number(t.data)}")
        lines.append("adjoint –" if t.grad is None else f"adjoint {number(t.grad)}")
    return "\n".join(lines)


def edge_text(local: np.ndarray | None) -> str:
    # one more digit than the nodes: the product of a path's factors is the gradient
    return "" if local is None else f"×{number(local, 7)}"


@dataclass(frozen=True)
class Edge:
    """From graph node ``source`` (an input of the operation) to node ``target``."""

    source: int
    target: int
    local: np.ndarray | None  # d target / d source; None where no adjoint flows


def graph_edges(order: Sequence[Tensor]) -> list[Edge]:
    """Every edge of the graph in evaluation order, one per distinct input of a node
    (``x*x`` has one edge, labelled with the local derivative of both uses, 2x)."""
    from gdcli.engine.autograd import local_derivatives

    ids = {id(t): i for i, t in enumerate(order)}
    edges: list[Edge] = []
    for j, t in enumerate(order):
        done: set[int] = set()
        for p, local in zip(t.parents, local_derivatives(t), strict=True):
            i = ids[id(p)]
            if i in done:
                continue
            uses = sum(q is p for q in t.parents)
            edges.append(Edge(i, j, None if local is None else local * uses))
            done.add(i)
    return edges


def layout(order: Sequence[Tensor], edges: Sequence[Edge]) -> np.ndarray:
    """Positions (n, 2): column = depth from the inputs, row within the column.

    A node's depth is one more than its deepest input's; a constant's is one less than
    its first user's. Rows follow the mean row of each node's inputs (two sweeps), so
    edges mostly run straight and do not cross.
    """
    n = len(order)
    inputs: list[list[int]] = [[] for _ in range(n)]
    users: list[list[int]] = [[] for _ in range(n)]
    for e in edges:
        inputs[e.target].append(e.source)
        users[e.source].append(e.target)
    depth = np.zeros(n, dtype=np.int64)
    for j in range(n):  # evaluation order: inputs before their users
        if inputs[j]:
            depth[j] = 1 + max(depth[i] for i in inputs[j])
    for i in range(n):
        if order[i].op == "const" and users[i]:
            depth[i] = max(0, min(depth[u] for u in users[i]) - 1)
    row = np.zeros(n, dtype=np.float64)
    for _ in range(2):
        for d in range(int(depth.max(initial=0)) + 1):
            column = [i for i in range(n) if depth[i] == d]
            linked = {i: inputs[i] or users[i] for i in column}
            column.sort(key=lambda i: (float(np.mean(row[linked[i]])) if linked[i] else 0.0, i))
            centre = (len(column) - 1) / 2
            for k, i in enumerate(column):
                row[i] = k - centre
    return np.column_stack([depth.astype(np.float64), -row])


def graph_figure(order: Sequence[Tensor], title: str) -> Figure:
    """The evaluation graph, one boxed node per graph node, inputs left, output right."""
    edges = graph_edges(order)
    pos = layout(order, edges)
    columns = int(pos[:, 0].max(initial=0)) + 1
    rows = max(int(np.unique(pos[:, 0], return_counts=True)[1].max(initial=1)), 2)
    fig = new_figure(max(7.0, 3.2 * columns), max(3.6, 1.25 * rows + 1.4), title)
    ax = fig.add_subplot()
    ax.set_axis_off()
    boxes: dict[int, Text] = {}
    for i, t in enumerate(order):
        kind = "input" if t.op == "input" else "const" if t.op == "const" else "op"
        face = {"input": "#DCEBF7", "const": "#EEEEEE", "op": "white"}[kind]
        boxes[i] = ax.text(
            float(pos[i, 0]),
            float(pos[i, 1]),
            node_text(t),
            ha="center",
            va="center",
            fontsize=12,
            linespacing=1.35,
            bbox={"boxstyle": "round,pad=0.45", "facecolor": face, "edgecolor": "#333333"},
            zorder=3,
            gid=f"node:{i}",
        )
    for e in edges:
        _draw_edge(ax, pos, e, boxes)
    ax.set_xlim(-0.6, columns - 0.4)
    ax.set_ylim(float(pos[:, 1].min()) - 0.7, float(pos[:, 1].max()) + 0.7)
    ax.set_title(
        "node: operation, value (forward), adjoint d f / d node (backward)\n"
        "edge: ×local derivative d node / d input, the factor the chain rule multiplies",
        fontsize="medium",
    )
    return fig


def _draw_edge(ax: Axes, pos: np.ndarray, e: Edge, boxes: dict[int, Text]) -> None:
    flows = e.local is not None
    ax.annotate(
        "",
        xy=tuple(pos[e.target]),
        xytext=tuple(pos[e.source]),
        arrowprops={
            "arrowstyle": "-|>",
            "color": "#333333" if flows else "#9A9A9A",
            "linestyle": "-" if flows else "--",
            "linewidth": 1.3,
            "patchA": boxes[e.source].get_bbox_patch(),
            "patchB": boxes[e.target].get_bbox_patch(),
            "shrinkA": 2,
            "shrinkB": 2,
        },
        zorder=2,
    )
    if flows:
        mid = 0.5 * (pos[e.source] + pos[e.target])
        ax.text(
            float(mid[0]),
            float(mid[1]),
            edge_text(e.local),
            ha="center",
            va="center",
            fontsize=12,
            color=PALETTE[1],
            fontweight="bold",
            bbox={"boxstyle": "round,pad=0.15", "facecolor": "white", "edgecolor": "none"},
            zorder=4,
            gid=f"edge:{e.source}-{e.target}",
        )


def graph_dot(order: Sequence[Tensor], title: str) -> str:
    """The graph as Graphviz DOT (``dot -Tpng``), with the drawing's labels."""

    def quoted(text: str) -> str:
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'

    lines = [
        "digraph evaluation_graph {",
        f"  label={quoted(title)};",
        "  labelloc=t;",
        "  rankdir=LR;",
        '  node [shape=box, style="rounded,filled", fillcolor=white, fontname=Helvetica];',
    ]
    for i, t in enumerate(order):
        fill = {"input": "#DCEBF7", "const": "#EEEEEE"}.get(t.op, "white")
        lines.append(f'  n{i} [label={quoted(node_text(t))}, fillcolor="{fill}"];')
    for e in graph_edges(order):
        look = f"label={quoted(edge_text(e.local))}" if e.local is not None else "style=dashed"
        lines.append(f"  n{e.source} -> n{e.target} [{look}];")
    lines.append("}")
    return "\n".join(lines) + "\n"
