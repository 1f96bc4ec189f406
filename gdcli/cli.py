"""The command line: parse arguments, call one core function, render its result.

This is the only module that prints or exits. Every error gdcli raises on purpose
is a ``GdcliError``; they are caught once, in ``GdcliGroup.main``, and printed as
``gdcli: error: ...`` lines on stderr with the exit code of DESIGN.md. Anything
else is a bug: exit 1 with a hint to rerun with ``--debug``.

Heavy modules (numpy, the runners, matplotlib) are imported inside the commands,
so that ``gdcli --help`` stays fast.
"""

from __future__ import annotations

import errno
import os
import sys
import traceback
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from gdcli import __version__
from gdcli.errors import (
    EXIT_BROKEN_PIPE,
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    GdcliError,
    Problem,
    Terminated,
    UserError,
    os_error,
)
from gdcli.signals import EndOnStopSignal


def _say(line: str) -> None:
    # A closed stderr (`gdcli ... 2>&1 | head`) must not turn a message into a traceback.
    with suppress(OSError, ValueError):
        sys.stderr.write(line + "\n")
        sys.stderr.flush()


class _Stdout:
    """Whether this command has put its JSON document on stdout (``--json`` prints
    exactly one: the result, or on failure the error document)."""

    json_written = False


class GdcliGroup(TyperGroup):
    """Runs a command and turns every outcome into one exit code and short messages."""

    def main(  # type: ignore[override]
        self,
        args: list[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        argv = list(sys.argv[1:] if args is None else args)
        _Stdout.json_written = False
        # Runners handle non-finite numbers themselves (a diverged run is a result);
        # numpy's floating-point warnings must not reach the terminal raw.
        warnings.simplefilter("ignore", RuntimeWarning)
        if os.environ.get("_GDCLI_COMPLETE", "").endswith("_bash"):
            from gdcli.completion import use_for_bash

            use_for_bash()
        with EndOnStopSignal() as ending:
            try:
                if _show_completion(argv):
                    return _exit(EXIT_OK, standalone_mode)
                rv = super().main(
                    args=argv,
                    prog_name=prog_name or "gdcli",
                    complete_var=complete_var,
                    standalone_mode=False,
                    **extra,
                )
                sys.stdout.flush()  # a full disk behind `> file` shows here
                ending.decide()
                code = rv if isinstance(rv, int) else EXIT_OK
            except BaseException as exc:  # every outcome becomes one exit code
                ending.decide()
                code = _report(exc, argv)
            if args is None:  # the program itself, not a caller in its own process
                ending.settle()
        return _exit(code, standalone_mode)


def _exit(code: int, standalone_mode: bool) -> int:
    if standalone_mode:
        sys.exit(code)
    return code


SHELLS = ("bash", "zsh", "fish")


def _show_completion(argv: list[str]) -> bool:
    """``gdcli --show-completion SHELL``: print SHELL's completion script. (Typer, with
    shellingham installed, prints the script of the shell it detects and ignores
    the name.) Returns whether it did."""
    if len(argv) != 2 or argv[0] != "--show-completion" or argv[1] not in SHELLS:
        return False
    from typer._completion_shared import get_completion_script

    script = get_completion_script(prog_name="gdcli", complete_var="_GDCLI_COMPLETE", shell=argv[1])
    sys.stdout.write(script.strip("\n") + "\n")
    return True


def _report(exc: BaseException, argv: list[str]) -> int:
    """Say what ended the command: lines on stderr and, with ``--json``, one error
    document on stdout unless the command printed its own. Returns the exit code."""
    if "--debug" in argv and not isinstance(exc, (SystemExit, typer.Exit)):
        traceback.print_exception(exc)
    code, problems, lines = _diagnose(exc)
    for line in lines:
        _say(line)
    if code != EXIT_OK and "--json" in argv and not _Stdout.json_written:
        with suppress(OSError):
            _print_json(
                {
                    "status": "error",
                    "exit_code": code,
                    "errors": [p.to_dict() for p in problems],
                }
            )
            sys.stdout.flush()
    return code


Diagnosis = tuple[int, list[Problem], list[str]]


def _diagnose(exc: BaseException) -> Diagnosis:
    """The exit code, the problems (for ``--json``) and the stderr lines of ``exc``."""
    for kinds, diagnose in _DIAGNOSES:
        if isinstance(exc, kinds):
            return diagnose(exc)
    message = f"internal error: {type(exc).__name__}: {exc}"
    return (
        EXIT_INTERNAL,
        [Problem(message)],
        [f"gdcli: {message}. This is a bug in gdcli; rerun with --debug and report the traceback."],
    )


def _said(code: int, message: str, prefix: str = "gdcli: ") -> Diagnosis:
    return code, [Problem(message)], [f"{prefix}{message}"]


def _gdcli_error(exc: GdcliError) -> Diagnosis:
    if isinstance(exc, UserError):
        return exc.exit_code, list(exc.problems), [f"gdcli: error: {p}" for p in exc.problems]
    return _said(exc.exit_code, str(exc)) if str(exc) else (exc.exit_code, [], [])


def _os_error(exc: OSError) -> Diagnosis:
    """The user's environment, not a bug: a closed pipe ends quietly (as ``yes | head``
    does), anything else is one line naming the path and the reason."""
    if isinstance(exc, BrokenPipeError):
        _silence_stdout()
        return EXIT_BROKEN_PIPE, [], []
    # gdcli names the file of every error of its own files; one without a name
    # comes from writing stdout (`> /dev/full`)
    if _stdout_broken() or (exc.filename is None and exc.errno in _WRITE_ERRNOS):
        _silence_stdout()
        return _gdcli_error(os_error(exc, "standard output", "cannot write"))
    return _gdcli_error(os_error(exc))


_WRITE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO}


def _stdout_broken() -> bool:
    try:
        sys.stdout.flush()
    except (OSError, ValueError):
        return True
    return False


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so that Python's last flush at exit does not fail
    again with an "Exception ignored" message."""
    with suppress(OSError, ValueError, AttributeError):
        fd = os.open(os.devnull, os.O_WRONLY)
        os.dup2(fd, sys.stdout.fileno())
        os.close(fd)


def _exit_code(exc: SystemExit | typer.Exit) -> Diagnosis:
    if type(sys.stdout).__name__ == "PacifyFlushWrapper":  # typer met a closed pipe
        _silence_stdout()
        return EXIT_BROKEN_PIPE, [], []
    code = exc.exit_code if isinstance(exc, typer.Exit) else exc.code
    return (code if isinstance(code, int) else EXIT_OK if code is None else EXIT_INTERNAL), [], []


def _no_command(exc: Exception) -> Diagnosis:
    """`gdcli` alone: the help (typer has printed it on stdout; without rich it is the
    message), then exit 2 with one line, as click's NoArgsIsHelpError: no command ran."""
    help_text = getattr(exc, "format_message", lambda: "")().strip()
    if help_text:
        _say(help_text)
    return _said(EXIT_USAGE, "no command given; choose one of the commands above", "gdcli: error: ")


def _usage_error(exc: Exception) -> Diagnosis:
    """Say what click found wrong with the command line (unknown option, missing
    argument, bad value) in one line with a hint."""
    if type(exc).__name__ == "NoArgsIsHelpError":
        return _no_command(exc)
    code = int(getattr(exc, "exit_code", EXIT_USAGE))
    fmt = getattr(exc, "format_message", None)
    message = " ".join((fmt() if callable(fmt) else str(exc)).split())
    command = getattr(getattr(exc, "ctx", None), "command_path", None) or "gdcli"
    hint = f"see '{command} --help'"
    if command.endswith(" grad") and message.startswith("No such option: -"):
        hint = "a formula that starts with '-' reads as an option: write '(-x**2)'"
    return code, [Problem(message)], [f"gdcli: error: {message} ({hint})"]


# Tried in order: the first class that matches says how to report.
_DIAGNOSES: tuple[tuple[Any, Callable[[Any], Diagnosis]], ...] = (
    ((SystemExit, typer.Exit), _exit_code),
    (GdcliError, _gdcli_error),
    (Terminated, lambda e: _said(e.exit_code, str(e))),
    (typer.Abort, lambda e: _said(EXIT_INTERRUPTED, "aborted")),
    (KeyboardInterrupt, lambda e: _said(EXIT_INTERRUPTED, "interrupted")),
    (typer.exceptions.TyperException, _usage_error),
    (OSError, _os_error),
)


HELP = """\
A workbench for gradient descent and small neural networks: write an
experiment as a YAML file, run one command, get a loss table, a trace on
disk and, with --plot, pictures.

[bold]Examples[/bold]

  gdcli grad "3*x**3 + 10*y**2" --at 3,3       gradient, Hessian, verdict
  gdcli grad "3*exp(x**2 + 1)" --at 1 --graph  the evaluation graph
  gdcli functions                              the built-in test functions
  gdcli activations --plot                     every h and h', drawn
  gdcli optimizers                             update rules, defaults, Keras
  gdcli descend configs/rosenbrock.yaml        optimizers side by side
  gdcli train-mlp configs/breast-cancer.yaml   an MLP on medical data
  gdcli compare-activations configs/compare-xor.yaml
  gdcli predict runs/NAME/model.npz data.csv   predictions as CSV
  gdcli inspect runs/NAME/model.npz --input 0,1   inside a trained network
  gdcli plot runs/NAME                         pictures of a finished run
  gdcli schema descend                         JSON Schema for editors

Exit codes: 0 done (a diverged run is a result), 2 bad input (the user's
environment too: a full disk, a read-only directory), 3 --strict and a run
did not end well, 130 interrupted, 143 terminated (SIGTERM), 129 hung up
(SIGHUP): what ran is saved; 1 a bug (rerun with --debug).
"""

app = typer.Typer(
    name="gdcli",
    cls=GdcliGroup,
    help=HELP,
    rich_markup_mode="rich",
    add_completion=True,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        sys.stdout.write(f"gdcli {__version__}\n")
        raise typer.Exit(EXIT_OK)


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks of errors.")] = False,
) -> None:
    """A workbench for gradient descent and small neural networks."""


JsonOpt = Annotated[
    bool, typer.Option("--json", help="Print exactly one JSON document on stdout, nothing else.")
]
DebugOpt = Annotated[bool, typer.Option("--debug", help="Show the traceback of an error.")]


def _parse_point(text: str, example: str = "--at 3,3") -> list[float]:
    parts = [p.strip() for p in text.replace(";", ",").split(",")]
    values = []
    for i, p in enumerate(parts, start=1):
        try:
            v = float(p)
        except ValueError:
            raise UserError(
                f"--at: coordinate {i} '{p}' is not a number; write numbers separated by "
                f"commas, e.g. {example}"
            ) from None
        if v != v or v in (float("inf"), float("-inf")):
            raise UserError(f"--at: coordinate {i} must be finite, got '{p}'")
        values.append(v)
    return values


@app.command(
    epilog=(
        "[bold]Examples[/bold]\n\n"
        '  gdcli grad "3*x**3 + 10*y**2" --at 3,3\n\n'
        '  gdcli grad "2*x**3 - 6*x*y + 3*y**2" --at 0,0 --json\n\n'
        '  gdcli grad "3*exp(x**2 + 1)" --at 1 --graph\n\n'
        "  gdcli grad rosenbrock --at 1,1,1"
    )
)
def grad(
    function: Annotated[
        str,
        typer.Argument(help="A built-in name (see `gdcli functions`) or a formula in x, y, ..."),
    ],
    at: Annotated[
        str, typer.Option("--at", help="The point, comma-separated: X[,Y,...].", show_default=False)
    ],
    variables: Annotated[
        str | None,
        typer.Option(
            "--vars", help="Order of the formula's variables, e.g. y,x (default: sorted)."
        ),
    ] = None,
    graph_format: Annotated[
        str | None,
        typer.Argument(
            metavar="[dot]",
            help="With --graph: 'dot' prints the graph as Graphviz DOT instead of the table.",
            show_default=False,
        ),
    ] = None,
    graph: Annotated[
        bool,
        typer.Option(
            "--graph",
            help="Also print the evaluation graph: values, adjoints, local derivatives "
            "(--graph dot: as Graphviz DOT).",
        ),
    ] = False,
    plot: Annotated[
        bool,
        typer.Option(
            "--plot",
            help="Draw gradient.png (2 variables: the gradient as arrows on the contour "
            "map) and with --graph graph.png (the evaluation graph).",
        ),
    ] = False,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Directory of the pictures (default: the current one)."),
    ] = None,
    json_out: JsonOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Value, gradient, Hessian and the kind of critical point of a function at a point."""
    from gdcli.engine.analysis import run_grad

    if graph_format is not None and (graph_format != "dot" or not graph):
        raise UserError(
            f"unexpected argument '{graph_format}': after the function only --graph's "
            "format may follow, as in --graph dot"
        )
    order = tuple(v.strip() for v in variables.split(",")) if variables else None
    result = run_grad(function, _parse_point(at), order, graph)
    pictures = _grad_pictures(result, out) if plot else []
    if json_out:
        _print_json({**result.to_dict(), **({"pictures": pictures} if plot else {})})
        return
    if graph_format == "dot" and result.graph is not None:
        from gdcli.render.plot.graph import graph_dot

        sys.stdout.write(graph_dot(result.graph, f"f = {result.function.formula}"))
        return
    from gdcli.render import report

    console = report.make_console()
    report.grad_report(console, result.function, result.analysis)
    if result.graph is not None:
        report.graph_table(console, result.graph)
    for p in pictures:
        _say(f"gdcli: wrote {p}")


def _grad_pictures(result: Any, out: Path | None) -> list[str]:
    from gdcli.render.plot import plot_grad

    return [str(p) for p in plot_grad(result, Path(".") if out is None else out)]


@app.command(epilog="[bold]Examples[/bold]\n\n  gdcli functions\n\n  gdcli functions --json")
def functions(json_out: JsonOpt = False, debug: DebugOpt = False) -> None:
    """The built-in test functions: dimension, domain, known minima."""
    from gdcli.engine.functions import LIBRARY, library_summary

    if json_out:
        _print_json(library_summary())
        return
    from gdcli.render import report

    report.functions_table(report.make_console(), LIBRARY.values())


@app.command(epilog="[bold]Examples[/bold]\n\n  gdcli optimizers\n\n  gdcli optimizers --json")
def optimizers(json_out: JsonOpt = False, debug: DebugOpt = False) -> None:
    """Every optimizer and schedule: update rule, defaults, ranges, where Keras differs."""
    from gdcli.render.optimizers import optimizers_summary, text_lines

    summary = optimizers_summary()
    if json_out:
        _print_json(summary)
        return
    sys.stdout.write("\n".join(text_lines(summary)) + "\n")


def _show(doc: dict[str, Any], json_out: bool, render: str) -> None:
    """A command's result: one JSON document, or its report (``render.report.<render>``)
    and the pictures written."""
    if json_out:
        _print_json(doc)
        return
    from gdcli.render import report

    console = report.make_console()
    getattr(report, render)(console, doc)
    for picture in doc.get("pictures", []):
        console.print(f"wrote {picture}")


ACTIVATIONS_DIR = Path("runs") / "activations"


@app.command(
    epilog="[bold]Examples[/bold]\n\n  gdcli activations\n\n  gdcli activations --at 0,1 --json\n\n"
    "  gdcli activations --plot --out pictures"
)
def activations(
    at: Annotated[str, typer.Option("--at", help="The points x, comma-separated.")] = "-2,-1,0,1,2",
    plot: Annotated[
        bool,
        typer.Option(
            "--plot", help="Draw activations.png (h) and activation_derivatives.png (h')."
        ),
    ] = False,
    out: Annotated[
        Path,
        typer.Option("--out", help="Directory of the pictures (created if need be)."),
    ] = ACTIVATIONS_DIR,
    json_out: JsonOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Every activation h and its derivative h' (from the backward pass) at points."""
    from gdcli.engine.activations import activations_summary

    summary = activations_summary(_parse_point(at, "--at -2,-1,0,1,2"))
    if plot:
        from gdcli.render.plot.activations import save_activation_figures

        summary["pictures"] = [str(p) for p in save_activation_figures(out)]
    _show(summary, json_out, "activations_report")


# -- experiment commands ---------------------------------------------------------------


def _repeatable(flag: str, metavar: str, text: str, **more: Any) -> Any:
    """A repeatable ``--flag KEY=...`` option."""
    return Annotated[list[str] | None, typer.Option(flag, metavar=metavar, help=text, **more)]


def _complete_set(incomplete: str) -> list[str]:
    """``--set`` completion: the keys whose values are names, then those names."""
    from gdcli.completion import set_values

    return set_values(incomplete)


def _complete_config(incomplete: str) -> list[str]:
    from gdcli.completion import paths

    return paths(incomplete, suffixes=(".yaml", ".yml"))


def _complete_run_dir(incomplete: str) -> list[str]:
    from gdcli.completion import paths

    return paths(incomplete)


SetOpt = _repeatable(
    "--set",
    "KEY.PATH=VALUE",
    "Override a key of the file (value read as YAML); repeatable.",
    autocompletion=_complete_set,
)
OutOpt = Annotated[
    Path | None,
    typer.Option("--out", help="Run directory (default: runs/<name>-<timestamp>)."),
]
ForceOpt = Annotated[
    bool,
    typer.Option("--force", help="Replace an existing run directory (only gdcli's own files)."),
]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No tables, no progress bar.")]
PlotOpt = Annotated[bool, typer.Option("--plot", help="Also draw the pictures (PNG) of the run.")]
WindowOpt = Annotated[
    str | None,
    typer.Option(
        "--window",
        help="The box of a descent's contour map or curve: xmin,xmax[,ymin,ymax] "
        "(default: the function's window and the starts).",
    ),
]
FieldOpt = Annotated[
    bool,
    typer.Option(
        "--field",
        help="With --plot: draw the descent directions -grad f/|grad f| on the contour map.",
    ),
]
StrictOpt = Annotated[
    bool,
    typer.Option(
        "--strict",
        help="Exit 3 when any run did not end well: a descent that did not converge, a "
        "training that diverged or failed, any such run of a comparison or a sweep.",
    ),
]
WorkersOpt = Annotated[
    str,
    typer.Option(
        "--workers",
        metavar="N|auto",
        help="Processes (1 to 64) for independent runs: optimizers, (activation, seed) "
        "pairs, sweep points, and the starts of a descent in chunks. auto: a descent of "
        "at least 4,000 starts and 5 million point-iterations on every core, anything "
        "else in this process (a local cluster: one worker per core). Same numbers as "
        "one worker.",
    ),
]

MAX_WORKERS = 64


def _workers(value: str) -> int | None:
    """``--workers``: a count from 1 to ``MAX_WORKERS``, or None for auto."""
    if value.strip().lower() == "auto":
        return None
    try:
        n = int(value)
    except ValueError:
        n = 0
    if not 1 <= n <= MAX_WORKERS:
        raise UserError(
            f"--workers {value}: give a number of processes from 1 to {MAX_WORKERS}, or auto"
        )
    return n


ClusterOpt = Annotated[
    str | None,
    typer.Option(
        "--cluster",
        envvar="GDCLI_CLUSTER",
        metavar="ADDRESS",
        help="Run the independent runs on a Dask cluster: tcp://HOST:PORT of its scheduler, "
        "or local (a cluster of --workers processes for this run). Needs "
        "pip install 'gdcli\\[cluster]'. Same numbers as one worker.",
        show_default=False,
    ),
]
ConfigArg = Annotated[
    Path,
    typer.Argument(
        help="The experiment file (YAML).", show_default=False, autocompletion=_complete_config
    ),
]

DESCEND_EXAMPLE = """\
[bold]Example experiment file[/bold]

  name: seed-cubic
  function: "2*x**3 - 6*x*y + 3*y**2"  # a built-in name or a formula
  start: [2.0, 2.0]          # or starts: [[..], ..] or {random: 100}
  iterations: 5000
  tolerance: 1.0e-8          # converged when |grad| < tolerance
  optimizers:                # one run each (or one optimizer: {...})
    - {name: gd, lr: 0.01}
    - {name: momentum, lr: 0.01, momentum: 0.9}
    - {name: adam, lr: 0.05, schedule: {name: cosine, total_steps: 5000}}
  seed: 0
  trace_every: 1             # thin the trace of many starts

Optimizers: gd, momentum, nesterov, adagrad, rmsprop, adam, adamw, newton, armijo.
Schedules: constant, step, exponential, inverse_time, cosine (each with warmup_steps).
Every key: gdcli schema descend.

[bold]Examples[/bold]

  gdcli descend configs/cubic-saddle.yaml

  gdcli descend configs/rosenbrock.yaml --set iterations=20000 --json

  gdcli descend configs/quadratic-diverges.yaml --strict; echo $?
"""


SweepOpt = _repeatable(
    "--sweep",
    "KEY.PATH=V1,V2,...",
    "Run once per value (repeatable: a grid), each in its own sub-directory.",
)
DryRunOpt = Annotated[
    bool, typer.Option("--dry-run", help="With a sweep: list the points, run nothing.")
]
ResumeOpt = Annotated[
    bool, typer.Option("--resume", help="With a sweep: skip the points that already finished.")
]


CheckGradOpt = Annotated[
    bool,
    typer.Option(
        "--check-grad",
        help="Compare backprop with central differences on one batch before training.",
    ),
]

# Every option an experiment command can take: (annotation, default).
_OPTIONS: dict[str, tuple[Any, Any]] = {
    "out": (OutOpt, None),
    "force": (ForceOpt, False),
    "json_out": (JsonOpt, False),
    "quiet": (QuietOpt, False),
    "plot": (PlotOpt, False),
    "window": (WindowOpt, None),
    "field": (FieldOpt, False),
    "strict": (StrictOpt, False),
    "check_grad": (CheckGradOpt, False),
    "sweep": (SweepOpt, None),
    "dry_run": (DryRunOpt, False),
    "resume": (ResumeOpt, False),
    "workers": (WorkersOpt, "auto"),
    "cluster": (ClusterOpt, None),
}


def _experiment_command(
    name: str, epilog: str, own: tuple[str, ...]
) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Register an experiment command whose parameters are the config file,
    ``--set``, the options every experiment command shares, ``own`` (in --help in
    this order) and ``--debug``, declared once in ``_OPTIONS``."""
    import inspect

    shared = ("out", "force", "json_out", "quiet", "plot", "window")
    kind = inspect.Parameter.POSITIONAL_OR_KEYWORD
    params = [
        inspect.Parameter("config", kind, annotation=ConfigArg),
        inspect.Parameter("set_", kind, annotation=SetOpt, default=None),
        *(
            inspect.Parameter(key, kind, annotation=_OPTIONS[key][0], default=_OPTIONS[key][1])
            for key in (*shared, *own)
        ),
        inspect.Parameter("debug", kind, annotation=DebugOpt, default=False),
    ]

    def register(func: Callable[..., None]) -> Callable[..., None]:
        def command(config: Path, set_: list[str] | None, debug: bool, **options: Any) -> None:
            if "workers" in options:
                options["workers"] = _workers(options["workers"])
            func(config, set_, **options)

        command.__name__ = func.__name__
        command.__doc__ = func.__doc__
        command.__signature__ = inspect.Signature(params, return_annotation=None)  # type: ignore[attr-defined]
        app.command(name, epilog=epilog)(command)
        return func

    return register


def _no_sweep_options(dry_run: bool, resume: bool) -> None:
    if dry_run or resume:
        flag = "--dry-run" if dry_run else "--resume"
        raise UserError(f"{flag} goes with a sweep (--sweep KEY=V1,V2 or sweep: in the file)")


def _load(config: Path, overrides: list[str] | None) -> Any:
    from gdcli.yamlio import apply_override, load_document

    doc = load_document(config)
    for assignment in overrides or ():
        apply_override(doc, assignment)
    return doc


@dataclass(frozen=True)
class RunOptions:
    """The options every experiment command shares."""

    out: Path | None
    force: bool
    json_out: bool
    quiet: bool
    plot: bool
    sweep: list[str] | None
    dry_run: bool
    resume: bool
    workers: int | None  # None: auto
    cluster: str | None = None
    strict: bool = False
    check_grad: bool = False
    window: str | None = None
    field: bool = False


@dataclass(frozen=True)
class Outcome:
    """What the shared path needs from a run: the summary (as ``summary.json``), how
    to render it as tables, and whether it was interrupted."""

    summary: dict[str, Any]
    render: Callable[[Any], None]
    interrupted: bool


@dataclass(frozen=True)
class Experiment:
    """One experiment command: its config model (a name in ``experiments.config``),
    its runner (in ``experiments.session``, called with the options ``option`` picks)
    and its report (in ``render.report``, drawn from the summary or, with
    ``report_outcome``, from the runner's whole outcome)."""

    config: str
    runner: str
    report: str
    option: Callable[[RunOptions], Any]
    report_outcome: bool = False

    def run(self, cfg: Any, doc: Any, session: Any, opts: RunOptions) -> Outcome:
        from gdcli.experiments import session as sessions
        from gdcli.render import report

        done = getattr(sessions, self.runner)(cfg, doc, session, *self.option(opts))
        draw = getattr(report, self.report)
        shown = done if self.report_outcome else done.summary
        return Outcome(done.summary, lambda c: draw(c, shown), done.status == "interrupted")


EXPERIMENTS = {
    "descend": Experiment(
        "DescendConfig", "run_descend", "descend_report", lambda o: (o.workers, o.cluster), True
    ),
    "train-mlp": Experiment("TrainConfig", "run_train", "train_report", lambda o: (o.check_grad,)),
    "compare-activations": Experiment(
        "CompareConfig", "run_compare", "compare_report", lambda o: (o.workers, o.cluster)
    ),
}


def _run_experiment(
    command: str, config: Path, overrides: list[str] | None, opts: RunOptions
) -> None:
    """The one path of every experiment command: load the file (or run its sweep),
    run it in a session, then conclude (pictures, report, exit code)."""
    from gdcli.experiments import config as configs

    experiment = EXPERIMENTS[command]
    model = getattr(configs, experiment.config)
    loaded = _config_or_sweep(command, model, config, overrides, opts)
    if loaded is None:
        return
    cfg, doc = loaded
    with _session(opts.out, cfg.name, opts) as (session, guard):
        outcome = experiment.run(cfg, doc, session, opts)
        guard.finish()
    _conclude(outcome.summary, opts, outcome.render, guard.signum if outcome.interrupted else None)


@contextmanager
def _session(out: Path | None, name: str, opts: RunOptions) -> Iterator[tuple[Any, Any]]:
    """The run's Session and its InterruptGuard: the first stop signal (Ctrl-C,
    SIGTERM, SIGHUP) stops the run after its step, a second one at once; a progress
    bar unless the output is JSON or quiet. The run directories are released at the
    end, and a default directory that stayed empty (the run failed before it began)
    is removed."""
    from gdcli.experiments.session import Session
    from gdcli.render import report
    from gdcli.runs import InterruptGuard, claim_new_run_dir, release_run_dirs

    made = [] if out is not None else [p for p in (Path("runs"),) if not p.exists()]
    try:
        out_dir = out if out is not None else claim_new_run_dir(name)
    except BaseException:
        _remove_empty(made)
        raise
    try:
        with (
            InterruptGuard() as guard,
            report.RichProgress(not (opts.quiet or opts.json_out)) as progress,
        ):
            yield Session(out_dir, opts.force, guard.should_stop, progress), guard
    except Terminated as exc:
        # The second signal may come after the summary was written, while gdcli was
        # finishing: then the run is whole and saying otherwise would be false.
        if (out_dir / "summary.json").is_file():
            raise Terminated(exc.signum, "what ran so far is saved") from None
        detail = exc.detail or "the run stopped at once, without its summary"
        raise Terminated(exc.signum, f"{detail} ('{out_dir}' holds what was written)") from None
    except BaseException:
        if out is None:  # a default directory the run never wrote to, and its root
            _remove_empty([out_dir, *made])
        raise
    finally:
        release_run_dirs()


def _remove_empty(directories: list[Path]) -> None:
    for directory in directories:
        with suppress(OSError):
            directory.rmdir()  # only when empty


def _config_or_sweep(
    command: str, model: Any, config: Path, overrides: list[str] | None, opts: RunOptions
) -> tuple[Any, Any] | None:
    """The validated experiment and its document; None when the file or the options
    make it a sweep, which then runs here."""
    from gdcli.experiments.config import validate
    from gdcli.experiments.plan import sweep_spec

    doc = _load(config, overrides)
    spec = sweep_spec(doc, opts.sweep or [])
    if spec:
        _sweep(command, doc, model, spec, opts)
        return None
    _no_sweep_options(opts.dry_run, opts.resume)
    return validate(doc, model), doc


def _sweep(
    command: str, doc: Any, model: Any, spec: dict[str, list[Any]], opts: RunOptions
) -> None:
    """Run (or with --dry-run, list) the points of a sweep and show one table."""
    from gdcli.experiments.session import run_sweep
    from gdcli.render import report

    name = str(doc.data.get("name") or command)
    if opts.resume and opts.out is None:
        raise UserError("--resume needs --out DIR: the directory of the sweep to finish")
    if opts.dry_run:
        _sweep_plan(command, doc, model, spec, opts, opts.out or _default_dir(name))
        return
    with _session(opts.out, name, opts) as (session, guard):
        summary = run_sweep(
            command,
            doc,
            model,
            spec,
            session.out_dir,
            force=opts.force,
            resume=opts.resume,
            workers=opts.workers,
            should_stop=session.should_stop,
            progress=session.progress,
            cluster=opts.cluster,
        ).summary
        guard.finish()
    interrupted = summary["status"] == "interrupted"
    _conclude(
        summary,
        opts,
        lambda c: report.sweep_report(c, summary),
        guard.signum if interrupted else None,
    )


def _sweep_plan(
    command: str, doc: Any, model: Any, spec: dict[str, list[Any]], opts: RunOptions, out: Path
) -> None:
    """``--dry-run``: the points of the sweep and their directories; nothing runs."""
    from gdcli.experiments.plan import check_points
    from gdcli.experiments.sweep import points
    from gdcli.render import report

    pts = points(spec)
    check_points(doc, model, pts)
    plan = {
        "command": "sweep",
        "base_command": command,
        "keys": list(spec),
        "points": [{"values": p.values, "dir": str(out / p.name)} for p in pts],
        "out_dir": str(out),
    }
    if opts.json_out:
        _print_json(plan)
    else:
        report.sweep_plan(report.make_console(), plan)


def _default_dir(name: str) -> Path:
    from gdcli.runs import default_run_dir

    return default_run_dir(name)


@_experiment_command(
    "descend",
    DESCEND_EXAMPLE,
    ("field", "strict", "sweep", "dry_run", "resume", "workers", "cluster"),
)
def descend(config: Path, set_: list[str] | None, **options: Any) -> None:
    """Run optimizers from one or many starts on an analytic function."""
    _run_experiment("descend", config, set_, RunOptions(**options))


TRAIN_EXAMPLE = """\
[bold]Example experiment file[/bold]

  name: breast-cancer
  data: {name: breast_cancer, test_fraction: 0.2, standardize: true}
    # or {csv: file.csv, target: column} or {npz: file.npz} (X/y, MedMNIST)
    # built-in: xor, and, or, moons, circles, spirals, blobs
    # bundled: breast_cancer, digits
  model: {hidden: [32], activation: relu}  # output and loss: from the task
  optimizer: {name: adam, lr: 0.001}
  epochs: 200
  batch_size: 32                  # or full
  early_stopping: {patience: 20}  # needs data.val_fraction
  seed: 0

Every key: gdcli schema train-mlp.

[bold]Examples[/bold]

  gdcli train-mlp configs/xor.yaml

  gdcli train-mlp configs/breast-cancer.yaml --set model.hidden=[64] --json

  gdcli train-mlp configs/digits.yaml --check-grad
"""


@_experiment_command(
    "train-mlp",
    TRAIN_EXAMPLE,
    ("strict", "check_grad", "sweep", "dry_run", "resume", "workers", "cluster"),
)
def train_mlp(config: Path, set_: list[str] | None, **options: Any) -> None:
    """Train a multi-layer perceptron on a data set; report metrics; save the model."""
    _run_experiment("train-mlp", config, set_, RunOptions(**options))


@app.command(
    epilog="[bold]Examples[/bold]\n\n"
    "  gdcli predict runs/breast-cancer/model.npz patients.csv\n\n"
    "  gdcli predict model.npz data.csv --out predictions.csv\n\n"
    "  gdcli predict model.npz data.csv --json"
)
def predict(
    model: Annotated[Path, typer.Argument(help="A model.npz written by gdcli train-mlp.")],
    data: Annotated[
        Path, typer.Argument(help="A CSV with the model's feature columns (target optional).")
    ],
    out: Annotated[
        Path | None, typer.Option("--out", help="Write the predictions CSV here.")
    ] = None,
    json_out: JsonOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Predictions and class probabilities of a saved model, as CSV."""
    from gdcli.experiments.predict import predictions_csv, run_predict

    result = run_predict(model, data)
    text = predictions_csv(result)
    if out is not None:
        from gdcli.runs import atomic_write_text

        atomic_write_text(out, text)
    if json_out:
        _print_json(result.to_dict(str(out) if out else None))
    elif out is None:
        sys.stdout.write(text)
    if json_out:
        return
    if result.ignored_columns:
        _say(
            f"gdcli: warning: ignoring columns the model does not use: "
            f"{', '.join(result.ignored_columns)}"
        )
    if result.unknown_labels:
        _say(
            f"gdcli: warning: no accuracy: column '{result.target}' holds classes the model "
            f"does not know: {', '.join(result.unknown_labels)}"
        )
    elif result.missing_labels:
        _say(
            f"gdcli: warning: no accuracy: {result.missing_labels} empty cell(s) in column "
            f"'{result.target}'"
        )
    if result.accuracy is not None:
        _say(f"gdcli: accuracy {result.accuracy:.4f} on {result.n} rows with a target")


@app.command(
    epilog="[bold]Examples[/bold]\n\n  gdcli inspect runs/xor/model.npz\n\n"
    "  gdcli inspect runs/xor/model.npz --input 0,0 --input 0,1 --input 1,0 --input 1,1 "
    "--plot\n\n  gdcli inspect model.npz --data patients.csv --json"
)
def inspect(
    model: Annotated[Path, typer.Argument(help="A model.npz written by gdcli train-mlp.")],
    inputs: Annotated[
        list[str] | None,
        typer.Option(
            "--input",
            metavar="X1,X2,...",
            help="An input in the model's units, one number per feature; repeatable.",
        ),
    ] = None,
    data: Annotated[
        Path | None,
        typer.Option("--data", help="A CSV with the model's feature columns: every row an input."),
    ] = None,
    plot: Annotated[
        bool,
        typer.Option(
            "--plot", help="Two inputs: draw hidden_units.png, each unit's line over the inputs."
        ),
    ] = False,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Directory of the picture (default: the model's directory)."),
    ] = None,
    json_out: JsonOpt = False,
    debug: DebugOpt = False,
) -> None:
    """A saved model's weights and biases, and what each layer makes of given inputs."""
    from gdcli.experiments.inspection import run_inspect

    result = run_inspect(model, inputs or (), data)
    doc = result.to_dict()
    if plot:
        if result.X is None or result.model.arch.sizes[0] != 2:
            raise UserError(
                "--plot draws a model of 2 inputs over its inputs: give --input X1,X2 "
                "(repeatable) or --data FILE.csv"
            )
        from gdcli.render.plot.inspect import save_hidden_units

        doc["pictures"] = [str(save_hidden_units(result, out or model.parent))]
    _show(doc, json_out, "inspect_report")


COMPARE_EXAMPLE = """\
[bold]Example experiment file[/bold] (a train-mlp file plus these keys)

  name: compare-xor
  data: {name: xor}
  model: {hidden: [4], init: glorot_uniform}  # same weights for all
  optimizer: {name: adam, lr: 0.1}
  epochs: 500
  batch_size: full
  activations: [linear, sigmoid, tanh, relu, leaky_relu, heaviside]
  seeds: [0, 1, 2, 3, 4]    # or repeats: 5
  target_accuracy: 1.0      # count the epochs until reached

[bold]Examples[/bold]

  gdcli compare-activations configs/compare-xor.yaml

  gdcli compare-activations configs/compare-breast-cancer.yaml --workers 2 --json
"""


@_experiment_command(
    "compare-activations",
    COMPARE_EXAMPLE,
    ("strict", "workers", "cluster", "sweep", "dry_run", "resume"),
)
def compare_activations(config: Path, set_: list[str] | None, **options: Any) -> None:
    """Train the same MLP once per activation and seed; rank the activations."""
    _run_experiment("compare-activations", config, set_, RunOptions(**options))


EXPORT_HELP = """\
[bold]What is written[/bold]

  With --out DIR: DIR/train_torch.py, DIR/initial_weights.npz (gdcli's initial
  weights) and DIR/data.npz (the train/val/test parts as gdcli split and
  standardized them). Without --out the script goes to stdout and the two
  .npz files to a new runs/NAME-torch-TIME/ directory, which the script reads
  by its absolute path (stderr says where; the script's --arrays DIR overrides).

  The script draws the minibatch order from numpy's generator seeded as gdcli
  does, and its last line is a JSON object with the final figures named as in
  summary.json: "train_loss" equals gdcli's to float32 rounding.
  Keras is not offered: its optimizers differ from torch's (eps, Adagrad's
  accumulator), so the same numbers could not be promised.

[bold]Examples[/bold]

  gdcli export configs/xor.yaml --to torch --out torch-xor

  gdcli export configs/breast-cancer.yaml --to torch > train_torch.py
"""


@app.command("export", epilog=EXPORT_HELP)
def export(
    config: ConfigArg,
    to: Annotated[
        str, typer.Option("--to", help="The framework: torch (the only one).", show_default=False)
    ],
    set_: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            metavar="KEY.PATH=VALUE",
            help="Override a key of the file (value read as YAML); repeatable.",
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Write train_torch.py and its .npz arrays into this directory."),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Replace the files of an earlier export in --out.")
    ] = False,
    json_out: JsonOpt = False,
    debug: DebugOpt = False,
) -> None:
    """A standalone PyTorch script that trains a train-mlp experiment on the same numbers."""
    from gdcli.experiments.config import TrainConfig, validate
    from gdcli.experiments.export import check_exportable, check_target, export_torch

    check_target(to)
    doc = _load(config, set_)
    check_exportable(doc)
    done = export_torch(validate(doc, TrainConfig), doc, str(config), out, force)
    if json_out:
        _print_json(
            {
                "command": "export",
                "to": to,
                "experiment": done.name,
                "out_dir": str(done.out_dir),
                "files": [str(p) for p in done.files],
                "script": None if done.script_written else done.script,
            }
        )
        return
    if done.script_written:
        for path in done.files:
            sys.stdout.write(f"{path}\n")
        return
    sys.stdout.write(done.script)
    _say(
        f"gdcli: the script reads its arrays from {done.out_dir}/ "
        f"({', '.join(p.name for p in done.files)}); --out DIR writes all three together"
    )


@app.command(
    "plot",
    epilog="[bold]Examples[/bold]\n\n  gdcli plot runs/rosenbrock-20261128-101500\n\n"
    "  gdcli plot runs/breast-cancer --json",
)
def plot_command(
    run_dir: Annotated[
        Path,
        typer.Argument(help="A run directory written by gdcli.", autocompletion=_complete_run_dir),
    ],
    json_out: JsonOpt = False,
    window: WindowOpt = None,
    field: FieldOpt = False,
    animate: Annotated[
        bool,
        typer.Option(
            "--animate",
            help="Also write paths.gif (a descent's paths step by step) or boundary.gif "
            "(the decision boundary over the epochs of a run with snapshot_every).",
        ),
    ] = False,
    debug: DebugOpt = False,
) -> None:
    """Draw the pictures of a finished run from its files (PNG, into the run directory)."""
    from gdcli.render.plot import parse_window, plot_run

    if run_dir.exists() and not run_dir.is_dir():
        raise UserError(f"'{run_dir}' is a file, not a directory: give the run directory")

    box = parse_window(window) if window is not None else None
    paths = [str(p) for p in plot_run(run_dir, box, field=field, animate=animate)]
    if json_out:
        _print_json({"run_dir": str(run_dir), "pictures": paths})
    else:
        for p in paths:
            sys.stdout.write(p + "\n")


def _plot(out_dir: Path, window: str | None = None, field: bool = False) -> list[str]:
    """The pictures of a finished run. A run is a result whether or not it can be drawn
    (a run that diverged at once has nothing to draw), so a picture that cannot be
    made is a warning, never a change of the exit code."""
    from gdcli.render.plot import parse_window, plot_run

    try:
        box = parse_window(window) if window is not None else None
        return [p.name for p in plot_run(out_dir, box, field=field)]
    except GdcliError as exc:
        _say(f"gdcli: warning: no pictures: {' '.join(str(exc).split())}")
    except Exception as exc:  # a picture must not cost the user the run's report
        _say(
            f"gdcli: warning: no pictures: {type(exc).__name__}: {exc} "
            f"(a bug; `gdcli plot {out_dir} --debug` shows the traceback)"
        )
    return []


def _conclude(
    summary: dict[str, Any], opts: RunOptions, render: Any, stopped_by: int | None
) -> None:
    """After a run: pictures (with --plot), the summary (JSON or tables), warnings,
    the files written, then the exit code: 128 + the signal that stopped the run
    (``stopped_by``, None when nothing did), or 3 with --strict when a run did not
    end well."""
    from gdcli.errors import Interrupted, StrictFailure
    from gdcli.experiments.session import not_ended_well
    from gdcli.render import report

    interrupted = stopped_by is not None
    pictures = (
        _plot(Path(summary["out_dir"]), opts.window, opts.field)
        if opts.plot and not interrupted
        else []
    )
    if opts.json_out:
        _print_json(summary)
    elif not opts.quiet:
        console = report.make_console()
        render(console)
        if summary.get("command") == "sweep":
            files = ["config.yaml", "summary.json", f"{len(summary['points'])} run directories"]
        else:
            written = ("config.yaml", "trace.csv", "starts.csv", "summary.json")
            here = Path(summary["out_dir"])
            files = [f for f in written if (here / f).is_file()] + summary.get("files", [])
        report.run_footer(console, summary["out_dir"], [*files, *pictures])
    if not opts.json_out:
        for warning in summary.get("warnings", []):
            _say(f"gdcli: warning: {warning}")
    if stopped_by is not None:
        from gdcli.errors import SIGNAL_WORDS

        word = SIGNAL_WORDS.get(stopped_by, "stopped")
        raise Interrupted(f"{word}; what ran so far is saved", stopped_by)
    bad = not_ended_well(summary) if opts.strict else []
    if bad:
        verb = "converge" if summary.get("command") == "descend" else "end well"
        more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
        raise StrictFailure(f"--strict: at least one run did not {verb}: {bad[0]}{more}")


@app.command(
    epilog="[bold]Examples[/bold]\n\n  gdcli schema descend > descend.schema.json\n\n"
    "  gdcli schema train-mlp"
)
def schema(
    command: Annotated[str, typer.Argument(help="descend, train-mlp or compare-activations.")],
    debug: DebugOpt = False,
) -> None:
    """The JSON Schema of a command's experiment file, for editors."""
    from gdcli.experiments.config import schema as make_schema

    _print_json(make_schema(command))


def _print_json(obj: object) -> None:
    from gdcli.runs import dumps_json

    text = dumps_json(obj) + "\n"
    _Stdout.json_written = True
    sys.stdout.write(text)


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
