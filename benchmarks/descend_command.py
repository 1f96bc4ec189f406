"""Descent as a user runs it: ``gdcli descend FILE --quiet --json`` in a subprocess,
against the hand-written loop of ``../shared/bench/peer_descend.py`` in the same run.

The workloads: Adam on Rosenbrock from 1 start for 20,000 iterations
(trace every step, and every 1,000th), and from 10,000 starts for 2,000 iterations
(trace every 1,000th). gdcli's time is the run's own ``seconds`` (summary.json, what a
user reads), the target; the command's wall time (interpreter start, imports, the
analysis of the final points and the files included) is shown beside it. The
command runs as a user runs it, with ``--workers auto`` (the default), which splits
10,000 starts over the machine's cores; the same run on one core (``--workers 1``)
is shown too. The baseline loop is single-threaded numpy and computes neither f
nor the gradient norm, which gdcli reports.

The last benchmark runs 1,000,000 starts x 200 iterations through the command and
reports its peak memory: the largest sum, over the command's process and its
workers, of their proportional set sizes (shared pages counted once), sampled
every 20 ms, and at least the largest process's peak RSS (``getrusage``). Also the
size of summary.json and the rows of starts.csv.

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
import threading
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


def run_command(
    text: str,
    work: Path,
    *options: str,
    memory: list[float] | None = None,
    env: dict[str, str] | None = None,
) -> tuple[float, float, dict]:
    """(the run's own seconds, wall seconds, summary) of one ``gdcli descend``, with
    ``env`` added to the environment; with ``memory``, the peak MB of its process
    tree is appended to it."""
    config = work / "bench.yaml"
    config.write_text(text, encoding="utf-8")
    out = work / "run"
    argv = [sys.executable, "-m", "gdcli", "descend", str(config), "--quiet", "--json"]
    t0 = time.perf_counter()
    with tempfile.TemporaryFile() as stdout, tempfile.TemporaryFile() as stderr:
        child = subprocess.Popen(
            [*argv, "--out", str(out), "--force", *options],
            stdout=stdout,
            stderr=stderr,
            env={**os.environ, **(env or {})},
        )
        peak = _TreeMemory(child.pid) if memory is not None else None
        code = child.wait()
        wall = time.perf_counter() - t0
        if peak is not None and memory is not None:
            memory.append(peak.stop())
        stdout.seek(0)
        stderr.seek(0)
        said, complaint = stdout.read().decode(), stderr.read().decode()
    if code != 0:
        raise RuntimeError(f"gdcli descend failed ({code}): {complaint[-500:]}")
    summary = json.loads(said)
    seconds = sum(a["seconds"] for a in summary["aggregates"])
    return seconds, wall, summary


class _TreeMemory:
    """The peak, in MB, of the summed proportional set sizes of a process and its
    descendants (Linux ``/proc``), sampled every ``EVERY`` seconds in a thread."""

    EVERY = 0.02

    def __init__(self, pid: int) -> None:
        self.pid, self.peak = pid, 0.0
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._watch, daemon=True)
        self.thread.start()

    def stop(self) -> float:
        self.done.set()
        self.thread.join()
        return self.peak

    def _watch(self) -> None:
        while not self.done.wait(self.EVERY):
            self.peak = max(self.peak, sum(_pss_mb(p) for p in _tree(self.pid)))


def _tree(root: int) -> list[int]:
    """``root`` and every process below it."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            parents.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo += parents.get(pid, [])
    return found


def _pss_mb(pid: int) -> float:
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return 0.0
    for line in text.splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _command_rows(
    name: str, what: str, text: str, mode: str, work: int, at: float, one_core: bool = False
) -> list[Result]:
    """Rows comparing the command (own seconds: the target; wall time) with the hand
    loop, as point-iterations per second; the best of ``REPEATS`` interleaved runs
    each. ``one_core`` adds the run's own seconds with ``--workers 1``, with and
    without the compiled loops (``GDCLI_NATIVE=0``: numpy's calls alone)."""
    labels = ("run seconds", "wall", "one core", "one core, numpy only")
    times: dict[str, list[float]] = {label: [] for label in (*labels, "hand")}
    how = {
        "one core": "--workers 1, run seconds",
        "one core, numpy only": "--workers 1, GDCLI_NATIVE=0, run seconds",
    }
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(REPEATS):
            s, w, _ = run_command(text, Path(tmp))
            times["run seconds"].append(s)
            times["wall"].append(w)
            if one_core:
                times["one core"].append(run_command(text, Path(tmp), "--workers", "1")[0])
                plain = run_command(text, Path(tmp), "--workers", "1", env={"GDCLI_NATIVE": "0"})
                times["one core, numpy only"].append(plain[0])
            h = hand_seconds(mode)
            if h is None:
                return []
            times["hand"].append(h)
    hand = min(times["hand"])
    baseline = f"peer_descend.py {mode} (numpy, analytic gradient, inline Adam, one core)"
    rows = []
    for label in labels:
        if not times[label]:
            continue
        rows.append(
            ratio_result(
                f"{name} ({label})",
                f"gdcli descend --quiet --json, {what}: {how.get(label, label)}",
                baseline,
                work / min(times[label]) / 1e6,
                work / hand / 1e6,
                "M pt-it/s",
                at_least=at,
                info=label != "run seconds",
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
    return _command_rows(
        "descend-command-many", what, text, "multi", 10_000 * 2_000, 1.0, one_core=True
    )


@benchmark("descend-command-million")
def command_million() -> list[Result]:
    """1,000,000 starts x 200 iterations: peak memory under 1.5 GB, summary.json under
    1 MB, starts.csv with a row per start."""
    n = 1_000_000
    text = config_text(f"starts: {{random: {n}}}", 200, 1000)
    memory: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        seconds, wall, _ = run_command(text, Path(tmp), memory=memory)
        largest = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        peak_mb = max(memory[0], largest)
        out = Path(tmp) / "run"
        summary_kb = (out / "summary.json").stat().st_size / 1024
        with open(out / "starts.csv", "rb") as fh:
            rows = sum(1 for _ in fh) - 1
    what = f"1,000,000 starts x 200 iterations (run {seconds:.1f} s, wall {wall:.1f} s)"
    return [
        ratio_result(
            "descend-million/peak",
            f"{what}: peak memory of the command and its workers (PSS)",
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
