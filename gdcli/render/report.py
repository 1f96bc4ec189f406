"""Rendering: rich tables, sparklines, number formats. Only the CLI calls these.

Every function takes the console to draw on, so tests can render to a fixed-width
console and compare text.
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

if TYPE_CHECKING:
    from gdcli.engine.analysis import PointAnalysis
    from gdcli.engine.autograd import Tensor
    from gdcli.engine.functions import ResolvedFunction, TestFunction

SPARK = "▁▂▃▄▅▆▇█"


def make_console(*, stderr: bool = False, quiet: bool = False, width: int | None = None) -> Console:
    """A console that writes no escape codes when not on a terminal or under NO_COLOR."""
    stream = sys.stderr if stderr else sys.stdout
    if width is None and not stream.isatty() and "COLUMNS" not in os.environ:
        width = 80  # files and pipes have no width: the width a reader can rely on
    return Console(
        file=stream,
        quiet=quiet,
        width=width,
        # NO_COLOR: plain text, no colour and no bold or italic either
        color_system=None if "NO_COLOR" in os.environ else "auto",
        highlight=False,
        soft_wrap=False,
    )


def num(x: Any, digits: int = 6) -> str:
    """A number for a table: short, exact for integers, ``nan``/``inf`` spelled out."""
    if x is None:
        return "-"
    try:
        v = float(x)
    except (TypeError, ValueError):
        return str(x)
    if math.isnan(v):
        return "nan"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    if v == 0:
        return "0"
    return f"{v:.{digits}g}"


def vec(xs: Iterable[Any], digits: int = 6) -> str:
    return "(" + ", ".join(num(x, digits) for x in xs) + ")"


def sparkline(values: Sequence[float], width: int = 24, log: bool = True) -> str:
    """A loss history as a row of block characters, resampled to ``width`` cells.

    On a log scale when every value is positive, so that the late, small changes of
    a converging run still show.
    """
    vals = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    if not vals:
        return ""
    if len(vals) > width:
        step = (len(vals) - 1) / (width - 1)
        vals = [vals[round(i * step)] for i in range(width)]
    if log and min(vals) > 0:
        vals = [math.log10(v) for v in vals]
    lo, hi = min(vals), max(vals)
    if hi - lo <= 1e-12 * max(1.0, abs(hi)):
        return SPARK[0] * len(vals)
    top = len(SPARK) - 1
    return "".join(SPARK[round((v - lo) / (hi - lo) * top)] for v in vals)


# -- gdcli functions ---------------------------------------------------------------


def _box_label(box: Sequence[tuple[float, float]], any_n: bool) -> str:
    """A box in the literature's notation: ``[lo, hi]^n`` (any n) or ``^2`` when
    every axis is the same, else one interval per axis joined by ``x``."""
    sides = [f"[{num(lo, 5)}, {num(hi, 5)}]" for lo, hi in box]
    if len(set(sides)) == 1 and (any_n or len(sides) > 1):
        return sides[0] + ("^n" if any_n else f"^{len(sides)}")
    return " x ".join(sides)


def functions_table(console: Console, entries: Iterable[TestFunction]) -> None:
    """One row per function: its literature domain over its plotting window, then
    one line per known minimum with its kind. Any-n functions are shown at n = 2.
    Fits in 80 columns with the longest entries, so it never folds off a terminal."""
    table = Table(title="Test functions (any n: shown at n = 2)", title_justify="left")
    table.pad_edge = False
    table.add_column("name", style="bold")
    table.add_column("domain\nplot window")
    table.add_column("minima")
    table.add_column("x")
    table.add_column("f", justify="right")
    for f in entries:
        any_n = f.dimension is None
        domain = _box_label(f.domain(), any_n)
        if f.min_dimension > 1 and any_n:
            domain += f", n >= {f.min_dimension}"
        minima = f.minima()
        table.add_row(
            f.name,
            f"{domain}\n[dim]{_box_label(f.window(), any_n)}[/dim]",
            "\n".join(p.kind.removesuffix(" minimum") for p in minima) or "none",
            "\n".join(vec(p.x, 4) for p in minima),
            "\n".join(num(p.f, 4) for p in minima),
        )
    console.print(table)
    console.print("Formulas, descriptions and full precision: gdcli functions --json", style="dim")


# -- gdcli grad --------------------------------------------------------------------


def grad_report(console: Console, fn: ResolvedFunction, a: PointAnalysis) -> None:
    names = fn.variables
    console.print(f"[bold]f[/bold]({', '.join(names)}) = {fn.formula}")
    console.print(f"at {', '.join(f'{n} = {num(v, 10)}' for n, v in zip(names, a.x, strict=True))}")
    console.print(f"  value       {num(a.value, 10)}")
    console.print(f"  gradient    {vec(a.gradient, 10)}   |grad| = {num(a.grad_norm, 6)}")
    if a.hessian is not None and a.eigenvalues is not None:
        _hessian_table(console, names, a.hessian)
        console.print(f"  eigenvalues {vec(a.eigenvalues, 8)}")
    console.print(f"  point is    [bold]{a.classification}[/bold]  ({_kind_reason(a)})")


def _hessian_table(console: Console, names: Sequence[str], hessian: Any) -> None:
    table = Table(title="Hessian", title_justify="left", show_header=True)
    table.add_column("")
    for n in names:
        table.add_column(n, justify="right")
    for n, row in zip(names, hessian, strict=True):
        table.add_row(n, *(num(v, 8) for v in row))
    console.print(table)


def _kind_reason(a: PointAnalysis) -> str:
    return {
        "minimum": "gradient 0, eigenvalues all positive",
        "maximum": "gradient 0, eigenvalues all negative",
        "saddle": "gradient 0, eigenvalues of both signs",
        "degenerate": "gradient 0, an eigenvalue 0: second-order test inconclusive",
        "not-critical": "gradient not 0; -gradient points downhill",
        "non-smooth": "the gradient jumps here (a kink): no Hessian, no second-order test",
        "undefined": "f, its gradient or its Hessian is not finite here: no second-order test",
    }[a.classification]


def graph_table(console: Console, order: Sequence[Tensor]) -> None:
    """The evaluation graph: one row per node in evaluation order, with its adjoint and
    the local derivative with respect to each input the chain rule multiplies."""
    from gdcli.engine.autograd import local_derivatives

    ids = {id(t): i for i, t in enumerate(order)}
    table = Table(title="Evaluation graph: values forward, adjoints df/dnode backward")
    table.add_column("node", justify="right")
    table.add_column("operation")
    table.add_column("inputs")
    table.add_column("value", justify="right")
    table.add_column("adjoint", justify="right")
    table.add_column("local derivative d node / d input", justify="right")
    for i, t in enumerate(order):
        op = t.name if t.op in ("input", "const") and t.name else t.op
        if t.op == "const" and not t.name:
            op = "const"
        inputs = ", ".join(f"#{ids[id(p)]}" for p in t.parents)
        local = ", ".join(
            f"#{ids[id(p)]}: {_arr(d)}"
            for p, d in zip(t.parents, local_derivatives(t), strict=True)
            if d is not None
        )
        grad = "-" if t.grad is None else _arr(t.grad)
        table.add_row(f"#{i}", op, inputs, _arr(t.data), grad, local or "-")
    console.print(table)


def _arr(a: Any) -> str:
    import numpy as np

    arr = np.asarray(a)
    if arr.ndim == 0:
        return num(arr, 10)
    return vec(arr.ravel(), 8)


# -- progress ------------------------------------------------------------------------


class RichProgress:
    """A progress bar on stderr; silent when stderr is not a terminal or output is quiet."""

    def __init__(self, enabled: bool) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self._console = make_console(stderr=True)
        self.enabled = enabled and self._console.is_terminal
        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=self._console,
            transient=True,
            disable=not self.enabled,
        )
        self._task: Any = None

    def __enter__(self) -> RichProgress:
        self._progress.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.__exit__(None, None, None)

    def start(self, total: int, description: str) -> None:
        self._task = self._progress.add_task(description, total=total)

    def advance(self, n: int = 1, description: str | None = None) -> None:
        if self._task is not None:
            if description is not None:
                self._progress.update(self._task, advance=n, description=description)
            else:
                self._progress.advance(self._task, n)


# -- gdcli descend ---------------------------------------------------------------------


def descend_report(console: Console, outcome: Any) -> None:
    """One row per optimizer run; with many starts, where the starts ended instead.

    ``outcome`` is a descend outcome: the verdicts and basins come from its summary,
    the numbers and histories from its result."""
    result, summary = outcome.result, outcome.summary
    plan = result.plan
    fn = plan.function
    console.print(
        f"[bold]{plan.name}[/bold]: f({', '.join(fn.variables)}) = {fn.formula}; "
        f"{plan.starts.shape[0]} start(s), up to {plan.iterations} iterations, "
        f"tolerance {num(plan.tolerance)}"
        + (
            f"; trace.csv keeps every {plan.trace_every}th iteration and each start's last"
            if plan.trace_every > 1
            else ""
        )
    )
    if plan.starts.shape[0] == 1 or all(r.n <= 5 for r in result.runs):
        said = [str(entry["verdict"]) for entry in summary["runs"]]
        _descend_runs_table(console, result.runs, said)
    else:
        _descend_basins_tables(console, result.runs, summary["basins"])


def _descend_runs_table(console: Console, runs: Any, said: list[str]) -> None:
    """One row per (optimizer, start), then one verdict sentence per row (``said``,
    in the same order)."""
    table = Table()
    narrow = console.width < 100
    digits = 4 if narrow else 7
    history = not narrow and any(r.n == 1 for r in runs)
    columns = [
        ("#", "right"),
        ("optimizer", "left"),
        ("start", "left"),
        ("final x", "left"),
        ("f", "right"),
        ("|grad|", "right"),
        ("iter", "right"),
        ("status", "left"),
    ]
    if history:
        columns.append(("f history", "left"))
    for col, just in columns:
        table.add_column(col, justify=just)  # type: ignore[arg-type]
    verdicts: list[str] = []
    for r in runs:
        for i in range(r.n):
            number = len(verdicts) + 1
            cells = [
                str(number),
                r.label,
                vec(r.starts[i], 4),
                vec(r.x[i], digits),
                num(r.f[i], digits),
                num(r.grad_norm[i], 3),
                str(int(r.iterations[i])),
                _status(str(r.status[i])),
            ]
            if history:
                cells.append(sparkline(r.history, width=16) if r.n == 1 else "")
            table.add_row(*cells)
            verdicts.append(f"  {number}. {r.label}: {said[number - 1]}")
    console.print(table)
    # the verdicts are sentences: under the table they never squeeze the numbers
    for line in verdicts:
        console.print(line)


def _descend_basins_tables(console: Console, runs: Any, basins: list[Any]) -> None:
    """Per optimizer, where its many starts ended, grouped by outcome (``basins``, one
    per run, from the summary)."""
    for r, b in zip(runs, basins, strict=True):
        table = Table(title=f"{r.label}: where {r.n} starts ended", title_justify="left")
        table.add_column("outcome")
        table.add_column("starts", justify="right")
        table.add_column("share", justify="right")
        table.add_column("median iter", justify="right")
        table.add_column("median f", justify="right")
        for g in b["groups"]:
            table.add_row(
                g["outcome"],
                str(g["count"]),
                f"{100 * g['count'] / r.n:.1f}%",
                num(g["median_iterations"], 6),
                num(g["median_f"], 6),
            )
        console.print(table)
        console.print(f"  median f by iteration: {sparkline(r.history)}")


def _status(status: str) -> str:
    color = {"converged": "green", "diverged": "red", "interrupted": "yellow"}.get(status)
    return f"[{color}]{status}[/{color}]" if color else status


def run_footer(console: Console, out_dir: str, files: Iterable[str]) -> None:
    """Where the run went; the path on a line of its own and never folded, so that it
    can be copied whole."""
    console.print(f"run directory: {escape(out_dir)}", style="dim", soft_wrap=True)
    console.print(f"  ({', '.join(files)})", style="dim")


# -- gdcli train-mlp -------------------------------------------------------------------


def train_report(console: Console, summary: dict[str, Any]) -> None:
    """Metrics per part, the two-class figures a clinician asks for, the confusion matrix."""
    d, m, final = summary["data"], summary["model"], summary["final"]
    console.print(
        f"[bold]{summary['experiment']}[/bold]: {d['name']} ({d['task']}, {d['features']} "
        f"features; train {d['train']}, val {d['val']}, test {d['test']}); "
        f"layers {' -> '.join(map(str, m['layers']))} "
        + escape(
            f"[{', '.join(m['activations']) or 'no hidden layer'} | {m['output']} + {m['loss']}]"
        )
        + ", "
        f"{m['parameters']} parameters; {summary['optimizer']}"
    )
    console.print(
        f"{_status(summary['status'])} after {summary['epochs_run']} epoch(s) "
        f"in {summary['train_seconds']:.2f} s"
        + (f"; best validation epoch {summary['best_epoch']}" if summary["best_epoch"] else "")
        + f"   loss {sparkline(summary['history']['train_loss'])}"
    )
    if summary.get("reason"):
        console.print(f"  {summary['reason']}")
    table = Table()
    table.add_column("part")
    table.add_column("loss", justify="right")
    table.add_column("accuracy", justify="right")
    for part in ("train", "val", "test"):
        if final[f"{part}_loss"] is not None:
            table.add_row(part, num(final[f"{part}_loss"], 5), num(final[f"{part}_accuracy"], 4))
    console.print(table)
    if final.get("recall") is not None or final.get("roc_auc") is not None:
        on = final["figures_on"]
        positive = d["classes"][1] if d["classes"] else "1"
        console.print(
            f"on {on}, positive class '{positive}': "
            f"sensitivity (recall) {num(final['recall'], 4)}, "
            f"specificity {num(final['specificity'], 4)}, precision {num(final['precision'], 4)}, "
            f"F1 {num(final['f1'], 4)}, ROC AUC {num(final['roc_auc'], 4)}"
        )
    cm = final.get("confusion_matrix")
    if cm is not None and len(cm) <= 12:
        _confusion_table(console, cm, d["classes"], final["figures_on"])
    check = summary.get("gradient_check")
    if check:
        _gradient_check(console, check, m["activations"])


def _confusion_table(console: Console, cm: list[list[int]], classes: Any, on: str) -> None:
    """The confusion matrix (rows: true class, columns: predicted) as a table."""
    classes = classes or [str(i) for i in range(len(cm))]
    console.print(f"confusion matrix on {on} (rows: true, columns: predicted)")
    t = Table()
    t.add_column("")
    for c in classes:
        t.add_column(str(c), justify="right")
    for c, row in zip(classes, cm, strict=True):
        t.add_row(str(c), *(str(v) for v in row))
    console.print(t)


def _gradient_check(console: Console, check: dict[str, Any], activations: list[str]) -> None:
    """The --check-grad result, and why a kinked activation can make it look bad."""
    console.print(
        f"gradient check on {check['batch']} examples: largest relative error "
        f"{num(check['max_relative_error'], 3)} (backprop vs central differences)"
    )
    kinked = {"relu", "leaky_relu", "heaviside"} & set(activations)
    if check["max_relative_error"] > 1e-4 and kinked:
        console.print(
            f"  {', '.join(sorted(kinked))} has a kink at 0 where no derivative exists; "
            "a unit sitting exactly there (zero biases and an input of 0, as in XOR) "
            "makes central differences and backprop disagree without either being wrong. "
            "Try a smooth activation or --set model.dtype=float64 to see the match."
        )


# -- gdcli compare-activations -----------------------------------------------------------


def _ms(stat: dict[str, Any], digits: int = 3, *, spread: bool = True) -> str:
    """mean±std of a statistic over seeds; the mean alone without ``spread``."""
    if stat.get("mean") is None:
        return "-"
    if not spread:
        return f"{stat['mean']:.{digits}f}"
    return f"{stat['mean']:.{digits}f}±{stat['std']:.{digits}f}"


def compare_report(console: Console, summary: dict[str, Any]) -> None:
    """The ranked table (best first; the winner starred, tied activations ranked =1)
    and the one-line reading under it, which names the test behind the verdict.
    A column that is "-" for every activation (no test set, no target) is left out;
    on a narrow console the cells hold means only (the summary has the spreads)."""
    narrow = console.width < 100
    wide = ("train loss", "train acc", "test acc", "epochs to target", "saturated")
    short = ("loss", "train", "test", "target at", "sat.")
    names = short if narrow else wide
    columns = [
        ("#", "right"),
        ("activation", "left"),
        *((name, "right") for name in names[:4]),
        ("dead", "right"),
        (names[4], "right"),
        ("W moved" if narrow else "hidden W moved", "left"),
        ("curve" if narrow else "loss", "left"),
    ]
    rows = [_compare_row(summary, r, narrow) for r in summary["results"]]
    keep = [j for j in range(len(columns)) if any(row[j] != "-" for row in rows)]
    over = f"{len(summary['seeds'])} seed(s) per activation"
    table = Table(
        title=f"{summary['experiment']}: {'means over ' if narrow else ''}{over}",
        title_justify="left",
        # on a narrow console rules between columns would cost a tenth of the width
        box=box.SIMPLE_HEAD if narrow else box.HEAVY_HEAD,
        show_edge=not narrow,
        pad_edge=not narrow,
    )
    for j in keep:
        col, just = columns[j]
        table.add_column(col, justify=just, no_wrap=col != "epochs to target")  # type: ignore[arg-type]
    for row in rows:
        table.add_row(*(row[j] for j in keep))
    console.print(table)
    for r in summary["results"]:
        for err in r["failed"]:
            console.print(f"[red]{r['activation']}: a run failed: {err}[/red]")
    console.print(summary["reading"])


def _compare_row(summary: dict[str, Any], r: dict[str, Any], narrow: bool) -> list[str]:
    """One activation's cells, in the order of ``compare_report``'s columns."""
    verdict = summary.get("verdict") or {}
    ett = r["epochs_to_target"]
    spread = not narrow
    reached = "-"
    if summary.get("target"):
        reached = f"{_ms(ett, 0, spread=spread)} ({ett['reached']}/{r['runs']})"
    moved = r["hidden_weights_moved"]
    star = " ★" if r["activation"] == verdict.get("winner") else ""
    return [
        "=1" if r["activation"] in set(verdict.get("tied") or ()) else str(r["rank"]),
        f"[bold]{r['activation']}{star}[/bold]" if star else r["activation"],
        _ms(r["train_loss"], 4, spread=spread),
        _ms(r["train_accuracy"], spread=spread),
        _ms(r["test_accuracy"], spread=spread),
        reached,
        _pct(r["dead_fraction"]),
        _pct(r["saturated_fraction"]),
        "-" if moved is None else ("yes" if moved else "[red]no[/red]"),
        sparkline(r.get("loss_history") or [], width=8 if narrow else 12),
    ]


def _pct(stat: dict[str, Any]) -> str:
    return "-" if stat.get("mean") is None else f"{100 * stat['mean']:.0f}%"


# -- sweeps ------------------------------------------------------------------------------


def sweep_plan(console: Console, plan: dict[str, Any]) -> None:
    table = Table(title=f"{len(plan['points'])} point(s) of a {plan['base_command']} sweep")
    for key in plan["keys"]:
        table.add_column(key, justify="right")
    table.add_column("run directory")
    for p in plan["points"]:
        table.add_row(*(str(p["values"][k]) for k in plan["keys"]), p["dir"])
    console.print(table)
    console.print("dry run: nothing was run", style="dim")


def sweep_report(console: Console, summary: dict[str, Any]) -> None:
    """One row per point with its own status and iterations, the best point starred,
    and the reading line that says which points were ranked."""
    keys = summary["keys"]
    metric = next((p["metric"]["name"] for p in summary["points"] if p["metric"]["name"]), "")
    steps = "epochs" if summary.get("base_command") == "train-mlp" else "iterations"
    counted = any(p.get("iterations") is not None for p in summary["points"])
    table = Table(title=f"{summary['experiment']}: sweep of {', '.join(keys)}")
    for key in keys:
        table.add_column(key, justify="right")
    table.add_column("status")
    if counted:
        table.add_column(steps, justify="right")
    table.add_column(metric or "result", justify="right")
    table.add_column("directory")
    for p in summary["points"]:
        status = _status(p["status"]) + (" (earlier run)" if p["resumed"] else "")
        if p.get("error"):
            status += escape(f": {p['error']}")
        value = num(p["metric"]["value"], 6)
        if p["metric"].get("by"):
            value += escape(f" ({p['metric']['by']})")
        if p.get("best"):
            value = f"[bold]{value} ★[/bold]"
        its = p.get("iterations")
        counts = ["-" if its is None else str(its)] if counted else []
        table.add_row(*(str(p["values"][k]) for k in keys), status, *counts, value, p["dir"])
    console.print(table)
    if summary.get("reading"):
        console.print(summary["reading"])
    if summary["missing"]:
        console.print(f"not run: {', '.join(summary['missing'])} (use --resume to finish)")


# -- gdcli activations, inspect, optimizers ----------------------------------------------

POINTS_PER_TABLE = 5
"""Columns of x values per activation table, so that a table fits 80 columns."""


def activations_report(console: Console, summary: dict[str, Any]) -> None:
    """h(x) and h'(x) of every activation, a row pair each, five points per table;
    a value at a kink gets a ``*`` (PyTorch's convention there)."""
    points = summary["points"]
    for start in range(0, len(points), POINTS_PER_TABLE):
        cols = range(start, min(start + POINTS_PER_TABLE, len(points)))
        title = "Activations h(x) and their derivatives h'(x)" if start == 0 else None
        table = Table(title=title)
        table.add_column("activation")
        table.add_column("")
        for j in cols:
            table.add_column(f"x = {num(points[j], 4)}", justify="right")
        for row in summary["activations"]:
            name = row["name"] if row["alpha"] is None else f"{row['name']} ({row['alpha']:g})"
            marks = ["*" if row["at_kink"][j] else "" for j in cols]
            table.add_row(name, "h", *(num(row["h"][j], 4) for j in cols))
            table.add_row(
                "", "h'", *(num(row["dh"][j], 4) + m for j, m in zip(cols, marks, strict=True))
            )
        console.print(table)
    if any(any(r["at_kink"]) for r in summary["activations"]):
        console.print(
            "* a kink: h' does not exist there; shown is PyTorch's value, which backprop passes"
        )
    console.print("h'(x), as gdcli's backward pass computes it:")
    for row in summary["activations"]:
        console.print(escape(f"  {row['name']:<11} {row['derivative']}"))


UNITS_PER_TABLE = 6
"""Unit columns per weights table, so that a table fits 80 columns."""
MAX_SHOWN = 12
"""Inputs (rows) and units (columns) of a layer, and input rows, shown in the terminal."""


def _arch_line(doc: dict[str, Any]) -> str:
    arch = doc["architecture"]
    sizes = arch["sizes"]
    acts = [*arch["activations"], arch["output"]]
    parts = [str(sizes[0])] + [f"{n} ({a})" for n, a in zip(sizes[1:], acts, strict=True)]
    return " -> ".join(parts)


def _unit_chunks(units: int) -> list[range]:
    shown = min(units, MAX_SHOWN)
    return [range(s, min(s + UNITS_PER_TABLE, shown)) for s in range(0, shown, UNITS_PER_TABLE)]


def _input_name(doc: dict[str, Any], k: int, i: int) -> str:
    """Input ``i`` of layer ``k``: a feature's name, or unit i + 1 of the layer before."""
    return str(doc["features"][i]) if k == 0 else f"h{k}.{i + 1}"


def inspect_report(console: Console, doc: dict[str, Any]) -> None:
    """A saved model: its architecture, a rounded table of weights and biases per layer
    and, when inputs were given, each layer's z and h for them (``--json`` has all)."""
    console.print(escape(f"model {doc['model']}"))
    console.print(escape(f"layers {_arch_line(doc)}, {doc['parameters']} parameters"))
    if doc["standardization"]:
        console.print("inputs are standardized with the training mean and scale before layer 1")
    cut = False
    for k, layer in enumerate(doc["layers"]):
        for cols in _unit_chunks(layer["units"]):
            console.print(
                escape(
                    f"layer {k + 1} ({layer['kind']}, {layer['activation']}): "
                    "z = x @ W + b, weights W[input, unit]"
                )
            )
            table = Table()
            table.add_column("input")
            for j in cols:
                table.add_column(f"unit {j + 1}", justify="right")
            for i, row in enumerate(layer["weights"][:MAX_SHOWN]):
                table.add_row(escape(_input_name(doc, k, i)), *(num(row[j], 4) for j in cols))
            table.add_row("bias b", *(num(layer["biases"][j], 4) for j in cols), end_section=True)
            console.print(table)
        cut = cut or layer["units"] > MAX_SHOWN or layer["inputs"] > MAX_SHOWN
    if doc["inputs"] is not None:
        _layer_values_tables(console, doc)
    if cut:
        console.print(f"(at most {MAX_SHOWN} inputs and units per layer shown; --json has all)")


def _layer_values_tables(console: Console, doc: dict[str, Any]) -> None:
    inputs = doc["inputs"]
    shown = range(min(len(inputs), MAX_SHOWN))
    for k, layer in enumerate(doc["layers"]):
        output = layer["kind"] == "output"
        for cols in _unit_chunks(layer["units"]):
            console.print(
                escape(f"layer {k + 1} on the inputs: z, then h = {layer['activation']}(z)")
            )
            table = Table()
            table.add_column("input")
            table.add_column("")
            for j in cols:
                table.add_column(f"unit {j + 1}", justify="right")
            if output:
                table.add_column("predicts")
            for r in shown:
                z, h = layer["pre_activations"][r], layer["activations"][r]
                label = escape(vec(inputs[r], 4))
                table.add_row(label, "z", *(num(z[j], 4) for j in cols), *([""] if output else []))
                pred = [escape(doc["predictions"][r])] if output else []
                table.add_row("", "h", *(num(h[j], 4) for j in cols), *pred, end_section=True)
            console.print(table)
    if len(inputs) > MAX_SHOWN:
        console.print(f"(the first {MAX_SHOWN} of {len(inputs)} inputs shown; --json has all)")
