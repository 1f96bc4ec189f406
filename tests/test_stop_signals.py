"""SIGTERM and SIGHUP are handled as Ctrl-C is: real signals to real processes.

The first stop signal ends the run after its current step: the pool's workers are
asked to stop and end, what finished is saved (the model with its last finite
weights, ``summary.json`` with the status ``interrupted``) and gdcli exits with
128 + the signal (143 SIGTERM, 129 SIGHUP, 130 SIGINT). No process of the run is
left behind, which the tests check by PID. The signal goes to gdcli's own PID only,
as ``docker stop`` and ``kill`` send it: the workers hear of it from gdcli.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from clitools import error_document, gdcli

from gdcli.errors import Terminated
from gdcli.experiments import session as sessions
from gdcli.render.report import RichProgress
from gdcli.runs import read_trace
from gdcli.signals import EndOnStopSignal, InterruptGuard

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="finds a run's processes in /proc"
)

ROOT = Path(__file__).parent.parent
CONFIGS = ROOT / "configs"
LONG = "10000000"  # iterations no test waits for
EPOCHS = "1000000"  # epochs no test waits for


def descendants(pid: int) -> set[int]:
    """Every process below ``pid`` (children, their children, ...)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie waiting for its reaper has ended)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def until(condition: Callable[[], bool], what: str, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def rows_written(proc: subprocess.Popen[str], trace: Path, n: int) -> None:
    """Wait until the run has written ``n`` rows of its trace."""

    def written() -> bool:
        assert proc.poll() is None, proc.communicate()
        return trace.exists() and trace.read_text().count("\n") > n

    until(written, f"{n} rows of {trace}")


def start_training(out: Path, *more: object) -> subprocess.Popen[str]:
    """A training of XOR into ``out`` that runs until it is stopped."""
    return start(
        "train-mlp",
        CONFIGS / "xor.yaml",
        "--set",
        f"epochs={EPOCHS}",
        "--out",
        out,
        *more,
        cwd=out.parent,
    )


def start(*args: object, cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "gdcli", *map(str, args)],
        cwd=cwd,
        env={**os.environ, "NO_COLOR": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # so that the test can clean up the whole group
    )


def stop(proc: subprocess.Popen[str], sig: int, workers: int = 0) -> tuple[str, str, set[int]]:
    """Send ``sig`` to gdcli's PID alone once ``workers`` workers run; wait for the
    end. Returns stdout, stderr and the PIDs of every process the run had."""
    pids: set[int] = set()
    try:
        if workers:

            def running() -> bool:
                pids.update(descendants(proc.pid))
                assert proc.poll() is None, proc.communicate()
                # a worker starts in well under 2 s of CPU: past that it is in its job
                return sum(cpu_seconds(p) > 2.0 for p in pids) >= workers

            until(running, f"{workers} busy workers")
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
    return out, err, pids


def terminate_pool(proc: subprocess.Popen[str], out: Path) -> tuple[str, dict[str, Any], set[int]]:
    """SIGTERM to a run of two workers: exit 143, one line, an interrupted summary.
    Returns stdout, the summary and the PIDs of the run's processes."""
    stdout, stderr, pids = stop(proc, signal.SIGTERM, workers=2)
    assert proc.returncode == 143, stderr
    assert stderr.splitlines() == ["gdcli: terminated (SIGTERM); what ran so far is saved"]
    saved = summary_of(out)
    assert saved["status"] == "interrupted"
    return stdout, saved, pids


def no_process_remains(pids: set[int]) -> None:
    until(lambda: not [p for p in pids if alive(p)], f"the end of the processes {pids}", 30)


def summary_of(path: Path) -> dict[str, Any]:
    return dict(json.loads((path / "summary.json").read_text(encoding="utf-8")))


@pytest.mark.parametrize(
    ("sig", "code", "word"),
    [(signal.SIGTERM, 143, "terminated (SIGTERM)"), (signal.SIGHUP, 129, "hung up (SIGHUP)")],
)
def test_a_stop_signal_saves_a_training_and_exits_128_plus_the_signal(
    tmp_path: Path, sig: int, code: int, word: str
) -> None:
    out = tmp_path / "run"
    proc = start_training(out, "--json")
    rows_written(proc, out / "trace.csv", 3)
    stdout, stderr, _ = stop(proc, sig)
    assert proc.returncode == code, stderr
    assert stderr.splitlines() == [f"gdcli: {word}; what ran so far is saved"]
    printed = json.loads(stdout)
    saved = summary_of(out)
    assert printed == saved
    assert saved["status"] == "interrupted"
    _, rows = read_trace(out / "trace.csv")
    assert [int(r["epoch"]) for r in rows] == list(range(1, saved["epochs_run"] + 1))
    assert saved["epochs_run"] > 3
    with np.load(out / "model.npz") as model:
        weights = [model[k] for k in model.files if model[k].dtype.kind == "f"]
    assert weights and all(np.isfinite(w).all() for w in weights)
    # plot accepts the directory it left
    assert gdcli("plot", out, "--json").exit_code == 0


def test_sigterm_stops_a_parallel_descent_and_leaves_no_worker(tmp_path: Path) -> None:
    out = tmp_path / "run"
    proc = start(
        "descend", CONFIGS / "rosenbrock.yaml",
        "--set", f"iterations={LONG}",
        "--set", "optimizers=[{name: gd, lr: 1.0e-7}, {name: gd, lr: 2.0e-7}]",
        "--set", "trace_every=10000",
        "--workers", "2", "--out", out, "--json",
        cwd=tmp_path,
    )  # fmt: skip
    stdout, saved, pids = terminate_pool(proc, out)
    assert json.loads(stdout) == saved
    assert [r["status"] for r in saved["runs"]] == ["interrupted", "interrupted"]
    assert all(0 < r["iterations"] < int(LONG) for r in saved["runs"])
    no_process_remains(pids)


def test_sigterm_stops_a_parallel_comparison_and_leaves_no_worker(tmp_path: Path) -> None:
    out = tmp_path / "run"
    proc = start(
        "compare-activations", CONFIGS / "compare-xor.yaml", "--set", f"epochs={EPOCHS}",
        "--workers", "2", "--out", out, "--quiet",
        cwd=tmp_path,
    )  # fmt: skip
    _, saved, pids = terminate_pool(proc, out)
    assert [r["status"] for r in saved["runs"]] == ["interrupted", "interrupted"]
    no_process_remains(pids)


def test_sigterm_stops_a_parallel_sweep_and_every_point_is_saved(tmp_path: Path) -> None:
    out = tmp_path / "sweep"
    proc = start_training(out, "--sweep", "optimizer.lr=0.01,0.02,0.03", "--workers", "2", "-q")
    _, sweep, pids = terminate_pool(proc, out)
    ran = [p for p in sweep["points"] if p["status"] != "failed"]
    assert [p["status"] for p in ran] == ["interrupted", "interrupted"]
    assert sweep["missing"] == ["optimizer.lr=0.03"]
    for p in ran:
        assert summary_of(out / p["dir"])["status"] == "interrupted"
        assert (out / p["dir"] / "model.npz").exists()
    assert not (out / "optimizer.lr=0.03").exists()
    no_process_remains(pids)


def test_two_quick_ctrl_c_say_what_was_left(tmp_path: Path) -> None:
    out = tmp_path / "run"
    proc = start_training(out, "--quiet")
    rows_written(proc, out / "trace.csv", 1)
    proc.send_signal(signal.SIGINT)
    time.sleep(0.005)
    _, stderr, _ = stop(proc, signal.SIGINT)
    assert proc.returncode == 130, stderr
    # The second signal came while the run stopped (it has no summary then) or after
    # (it has one): stderr says which, in one line.
    [line] = stderr.splitlines()
    if (out / "summary.json").exists():
        assert line in ("gdcli: interrupted; what ran so far is saved", "gdcli: interrupted")
    else:
        assert line == (
            "gdcli: interrupted; the run stopped at once, without its summary "
            f"('{out}' holds what was written)"
        )


def test_ctrl_c_after_the_run_is_back_leaves_it_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two Ctrl-C as the run's block closes (its progress bar ends): the run is back
    and its files written, so they change nothing. One of them could once land where
    no code told a whole run from a cut one, and gdcli said it stopped without its
    summary beside the summary it had written."""
    closing = RichProgress.__exit__

    def closed_with_two_signals(self: Any, *exc: object) -> Any:
        os.kill(os.getpid(), signal.SIGINT)
        os.kill(os.getpid(), signal.SIGINT)
        return closing(self, *exc)

    monkeypatch.setattr(RichProgress, "__exit__", closed_with_two_signals)
    out = tmp_path / "run"
    result = gdcli("train-mlp", CONFIGS / "xor.yaml", "--out", out, "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads((out / "summary.json").read_text())["status"] == "finished"


def test_a_finished_guard_lets_stop_signals_pass() -> None:
    with InterruptGuard() as guard:
        guard.finish()
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.01)
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.01)
    assert not guard.requested and guard.signum is None


def double_ctrl_c(*args: Any, **kwargs: Any) -> None:
    """A run that is sent two Ctrl-C, the second before it could stop."""
    os.kill(os.getpid(), signal.SIGINT)
    time.sleep(0.01)
    os.kill(os.getpid(), signal.SIGINT)
    time.sleep(1)
    raise AssertionError("the second Ctrl-C did not stop the run")


def test_a_second_ctrl_c_says_the_run_stopped_without_its_summary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sessions, "run_train", double_ctrl_c)
    out = tmp_path / "run"
    result = gdcli("train-mlp", CONFIGS / "xor.yaml", "--out", out, "--json")
    assert result.exit_code == 130
    message = (
        "interrupted; the run stopped at once, without its summary "
        f"('{out}' holds what was written)"
    )
    assert result.stderr.splitlines() == [f"gdcli: {message}"]
    assert error_document(result)["errors"][0]["message"] == message


def test_a_signal_outside_a_run_ends_gdcli_with_its_code(monkeypatch: pytest.MonkeyPatch) -> None:
    def terminated(*args: Any) -> None:
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(1)

    monkeypatch.setattr("gdcli.yamlio.load_document", terminated)
    result = gdcli("descend", CONFIGS / "rosenbrock.yaml", "--json")
    assert result.exit_code == 143
    assert result.stderr == "gdcli: terminated (SIGTERM)\n"
    assert error_document(result)["errors"][0]["message"] == "terminated (SIGTERM)"
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


def test_terminated_is_not_an_exception_a_job_could_swallow() -> None:
    assert not issubclass(Terminated, Exception)
    assert Terminated(signal.SIGTERM).exit_code == 143
    assert Terminated(signal.SIGHUP).exit_code == 129


POOL = """
import sys, time
from gdcli.experiments.jobs import WorkerPool
pool = WorkerPool(2)
futures = [pool.submit(time.sleep, 60) for _ in range(2)]
time.sleep(3)
print(" ".join(str(p.pid) for p in pool._workers()), flush=True)
time.sleep(60)
"""


def test_workers_die_with_a_gdcli_that_was_killed_outright(tmp_path: Path) -> None:
    # SIGKILL cannot be handled: the kernel ends the workers with their parent.
    proc = subprocess.Popen(
        [sys.executable, "-c", POOL], stdout=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        assert proc.stdout is not None
        workers = {int(p) for p in proc.stdout.readline().split()}
        assert len(workers) == 2 and all(alive(p) for p in workers)
        proc.kill()
        proc.wait()
        no_process_remains(workers)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@pytest.mark.parametrize("delay", [0.02, 0.1])
def test_a_second_ctrl_c_after_the_summary_still_exits_130(tmp_path: Path, delay: float) -> None:
    """A second signal while gdcli finishes a saved run must not kill it by that signal
    (Python would re-raise an unhandled SIGINT at exit and the code would be -2)."""
    out = tmp_path / "run"
    proc = start_training(out, "--quiet")
    rows_written(proc, out / "trace.csv", 1)
    proc.send_signal(signal.SIGINT)
    time.sleep(delay)
    _, stderr, _ = stop(proc, signal.SIGINT)
    assert proc.returncode == 130, stderr
    assert len(stderr.splitlines()) == 1, stderr


def test_running_gdcli_inside_another_program_leaves_its_signal_handlers() -> None:
    """Only the gdcli process itself ignores late stop signals as it exits; a caller
    that runs it in its own process (a test runner, a notebook) keeps its handlers,
    and so do the processes it starts afterwards."""
    stops = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    before = {s: signal.getsignal(s) for s in stops}
    assert gdcli("functions", "--json").exit_code == 0
    assert {s: signal.getsignal(s) for s in stops} == before


def test_a_stop_signal_after_the_outcome_is_decided_does_not_cut_its_report() -> None:
    """A second Ctrl-C that lands while gdcli reports the first one's outcome used to
    raise in the middle of the report (a traceback, exit 1): once ``decide`` is
    called, stop signals change nothing; before, they end gdcli."""
    with EndOnStopSignal() as ending:
        with pytest.raises(Terminated):
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(1)  # the handler runs at the next bytecode
        ending.decide()
        os.kill(os.getpid(), signal.SIGINT)
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.01)
