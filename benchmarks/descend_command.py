"""Descent as a user runs it: ``gdcli descend FILE --quiet --json`` in a subprocess,
against the hand-written loop of ``../shared/bench/peer_descend.py`` in the same run.

The workloads: Adam on Rosenbrock from 1 start for 20,000 iterations
(trace every step, and every 1,000th), and from 10,000 starts for 2,000 iterations
(trace every 1,000th). gdcli's time is the run's own ``seconds`` (summary.json, what a
user reads) and, in a second row, the command's wall time (interpreter start, imports
and files included). The baseline loop computes neither f nor the gradient norm,
which gdcli reports; the targets hold against it anyway.

The last benchmark runs 1,000,000 starts x 200 iterations through the command and
reports its peak memory (``getrusage`` of the child), the size of summary.json and
the rows of starts.csv.

The peer loops are not copied into the repository: they are read from
``../shared/bench`` beside the checkout (or ``$GDCLI_PEER_BENCH``); without them the
comparisons are skipped with a message and only the million-start run is reported.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks._harness import Result, benchmark, ratio_result

ROOT = Path(__file__).resolve().parent.parent
REPEATS = 3


def peer_dir() -> Path | None:
    """Where peer_descend.py lives: $GDCLI_PEER_BENCH, or ../shared/bench beside the
    checkout (a worktree one level deeper looks one more level up)."""
    env = os.environ.get("GDCLI_PEER_BENCH")
    candidates = [Path(env)] if env else []
    candidates += [ROOT.parent / "shared" / "bench", ROOT.parent.parent / "shared" / "bench"]
    return next((p for p in candidates if (p / "peer_descend.py").is_file()), None)


def hand_seconds(mode: str) -> float | None:
    """The numpy peer's seconds for ``single`` or ``multi``; None without the peers."""
    where = peer_dir()
    if where is None:
        print("peer_descend.py not found in ../shared/bench: comparisons skipped", file=sys.stderr)
        return None
    out = subprocess.run(
        [sys.executable, str(where / "peer_descend.py"), mode],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for line in out.splitlines():
        row = json.loads(line)
        if row.get("peer") == "numpy":
            return float(row["seconds"])
    return None


def config_text(starts: str, iterations: int, trace_every: int) -> str:
    # tolerance far below what Adam reaches: every run takes its whole budget
    return (
        f"name: bench\nfunction: rosenbrock\n{starts}\niterations: {iterations}\n"
        f"tolerance: 1.0e-300\ntrace_every: {trace_every}\nseed: 0\n"
        "optimizer: {name: adam, lr: 0.001}\n"
    )


def run_command(text: str, work: Path) -> tuple[float, float, dict]:
    """(the run's own seconds, wall seconds, summary) of one ``gdcli descend``."""
    config = work / "bench.yaml"
    config.write_text(text, encoding="utf-8")
    out = work / "run"
    t0 = time.perf_counter()
    child = subprocess.run(
        [
            sys.executable,
            "-m",
            "gdcli",
            "descend",
            str(config),
            "--quiet",
            "--json",
            "--out",
            str(out),
            "--force",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - t0
    if child.returncode != 0:
        raise RuntimeError(f"gdcli descend failed ({child.returncode}): {child.stderr[-500:]}")
    summary = json.loads(child.stdout)
    seconds = sum(a["seconds"] for a in summary["aggregates"])
    return seconds, wall, summary


def _command_rows(name: str, what: str, text: str, mode: str, work: int, at: float) -> list[Result]:
    """Rows comparing the command (own seconds, wall time) with the hand loop, as
    point-iterations per second; the best of ``REPEATS`` interleaved runs each."""
    own, walls, hands = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(REPEATS):
            s, w, _ = run_command(text, Path(tmp))
            own.append(s)
            walls.append(w)
            h = hand_seconds(mode)
            if h is None:
                return []
            hands.append(h)
    hand = min(hands)
    baseline = f"peer_descend.py {mode} (numpy, analytic gradient, inline Adam)"
    rows = []
    for label, seconds in (("run seconds", min(own)), ("wall", min(walls))):
        rows.append(
            ratio_result(
                f"{name} ({label})",
                f"gdcli descend --quiet --json, {what}: {label}",
                baseline,
                work / seconds / 1e6,
                work / hand / 1e6,
                "M pt-it/s",
                at_least=at,
            )
        )
    return rows


@benchmark("descend-command-1")
def command_single() -> list[Result]:
    """1 start x 20,000 iterations, trace every step and every 1,000th: throughput at
    least 1/1.5 of the hand loop's (the command at most 1.5x its time)."""
    rows = []
    for every in (1, 1000):
        text = config_text("start: [-1.5, 2.0]", 20_000, every)
        what = f"Adam on Rosenbrock, 1 start, 20,000 iterations, trace every {every}"
        rows += _command_rows(f"descend-command-1/{every}", what, text, "single", 20_000, 1 / 1.5)
    return rows


@benchmark("descend-command-many")
def command_many() -> list[Result]:
    """10,000 starts x 2,000 iterations, trace every 1,000th: at least the hand loop's
    throughput."""
    text = config_text("starts: {random: 10000, low: [-2.0, -1.0], high: [2.0, 3.0]}", 2_000, 1000)
    what = "Adam on Rosenbrock, 10,000 starts x 2,000 iterations, trace every 1,000"
    return _command_rows("descend-command-many", what, text, "multi", 10_000 * 2_000, 1.0)


@benchmark("descend-command-million")
def command_million() -> list[Result]:
    """1,000,000 starts x 200 iterations: peak memory under 1.5 GB, summary.json under
    1 MB, starts.csv with a row per start."""
    n = 1_000_000
    text = config_text(f"starts: {{random: {n}}}", 200, 1000)
    with tempfile.TemporaryDirectory() as tmp:
        seconds, wall, _ = run_command(text, Path(tmp))
        peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        out = Path(tmp) / "run"
        summary_kb = (out / "summary.json").stat().st_size / 1024
        with open(out / "starts.csv", "rb") as fh:
            rows = sum(1 for _ in fh) - 1
    what = f"1,000,000 starts x 200 iterations (run {seconds:.1f} s, wall {wall:.1f} s)"
    return [
        ratio_result(
            "descend-million/peak",
            f"{what}: peak RSS",
            "1.5 GB",
            peak_mb,
            1536.0,
            "MB",
            at_most=1.0,
        ),
        ratio_result(
            "descend-million/summary",
            f"{what}: summary.json",
            "1 MB",
            summary_kb,
            1024.0,
            "KB",
            at_most=1.0,
        ),
        ratio_result(
            "descend-million/starts.csv",
            f"{what}: starts.csv rows",
            "one per start",
            float(rows),
            float(n),
            "rows",
            at_least=1.0,
        ),
    ]
