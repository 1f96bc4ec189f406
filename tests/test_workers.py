"""Stopping parallel runs: ``--workers > 1`` and Ctrl-C.

The first Ctrl-C ends every running job after its current step or epoch, keeps
what it did, cancels the jobs that had not started and marks the run interrupted;
a pool worker's SIGINT sets its stop flag and does not kill it. Also: a sweep whose
values repeat, and ``--resume`` with another sweep, are refused.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import wait
from pathlib import Path
from typing import Any

import pytest
import yaml
from clitools import gdcli

from gdcli.errors import ConfigError
from gdcli.experiments import jobs, session, sweep
from gdcli.experiments import plan as planning
from gdcli.experiments.config import CompareConfig, DescendConfig, validate
from gdcli.experiments.session import Session, run_compare, run_descend
from gdcli.runs import read_trace
from gdcli.yamlio import Document, apply_override, load_document

ROOT = Path(__file__).parent.parent
CONFIGS = ROOT / "configs"
XOR = CONFIGS / "compare-xor.yaml"
ROSENBROCK = CONFIGS / "rosenbrock-lr-sweep.yaml"
LONG = 10_000_000  # iterations or epochs that no test waits for


def read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def document(path: Path, *assignments: str) -> Document:
    doc = load_document(path)
    for a in assignments:
        apply_override(doc, a)
    return doc


def until(condition: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    """Poll ``condition`` until it holds; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


class Calls:
    """A ``should_stop`` that turns true on its ``n``-th call."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.calls = 0

    def __call__(self) -> bool:
        self.calls += 1
        return self.calls >= self.n


class Counting:
    """A progress sink that counts the finished jobs: the advances that name what
    ended (a pool's descent also advances, unnamed, while it runs)."""

    def __init__(self) -> None:
        self.done = 0

    def start(self, total: int, description: str) -> None:
        self.done = 0

    def advance(self, n: int = 1, description: str | None = None) -> None:
        self.done += description is not None


# -- the pool ------------------------------------------------------------------------------


def wait_for_stop(marker: str) -> str:
    """A pool job that says it started, then runs until its worker is asked to stop."""
    Path(marker).touch()
    deadline = time.monotonic() + 60
    while not jobs.worker_should_stop():
        if time.monotonic() > deadline:
            return "never asked"
        time.sleep(0.01)
    return "asked to stop"


def test_sigint_asks_a_workers_job_to_stop_and_the_worker_lives_on(tmp_path: Path) -> None:
    markers = [tmp_path / f"job{i}" for i in range(4)]
    with jobs.WorkerPool(2) as pool:
        futures = [pool.submit(wait_for_stop, str(m)) for m in markers]
        until(lambda: markers[0].exists() and markers[1].exists(), "two running jobs")
        t0 = time.monotonic()
        got = [(k, f.result()) for k, f in jobs.in_order(pool, futures, lambda: True)]
        assert time.monotonic() - t0 < 30
        # The two running jobs came back with what they did; the others never ran.
        assert got == [(0, "asked to stop"), (1, "asked to stop")]
        assert not markers[2].exists() and not markers[3].exists()
        # SIGINT did not kill the workers: they take a job and refuse it, as asked.
        late = pool.submit(wait_for_stop, str(tmp_path / "late"))
        assert isinstance(late.exception(timeout=60), jobs.NotStarted)
    assert not (tmp_path / "late").exists()


def test_a_sigint_while_the_workers_start_is_held_until_they_can_stop(tmp_path: Path) -> None:
    with jobs.WorkerPool(2) as pool:
        futures = [pool.submit(wait_for_stop, str(tmp_path / f"job{i}")) for i in range(3)]
        pool.interrupt()  # the workers are still starting
        wait(futures, timeout=60)
        for f in futures:
            # never a dead worker (BrokenProcessPool): the job either did not start or stopped
            assert isinstance(f.exception(), jobs.NotStarted) or f.result() == "asked to stop"


# -- compare-activations ---------------------------------------------------------------------


def xor_compare(*assignments: str) -> tuple[Any, Document]:
    doc = document(XOR, "activations=[tanh,relu]", "seeds=[0]", *assignments)
    return validate(doc, CompareConfig), doc


def test_in_process_a_stop_request_ends_the_running_training_after_its_epoch(
    tmp_path: Path,
) -> None:
    config, doc = xor_compare("epochs=50")
    out = tmp_path / "run"
    # Ends the second job part-way: the first one polls once before it starts and once
    # per epoch (51 calls), the second one polls again before it starts.
    summary = run_compare(config, doc, Session(out, should_stop=Calls(60))).summary
    assert summary["status"] == "interrupted"
    assert read_json(out / "summary.json") == summary
    tanh, relu = summary["runs"]
    assert (tanh["activation"], tanh["status"]) == ("tanh", "finished")
    assert (relu["activation"], relu["status"]) == ("relu", "interrupted")
    _, rows = read_trace(out / "trace.csv")
    epochs = {a: [int(r["epoch"]) for r in rows if r["activation"] == a] for a in ("tanh", "relu")}
    assert epochs["tanh"] == list(range(1, 51))
    done = len(epochs["relu"])
    assert 0 < done < 50
    assert epochs["relu"] == list(range(1, done + 1))
    # A half-trained run is listed, not averaged.
    results = {r["activation"]: r for r in summary["results"]}
    assert results["tanh"]["runs"] == 1
    assert results["tanh"]["train_loss"]["mean"] == tanh["train_loss"]
    assert results["relu"]["runs"] == 0
    assert results["relu"]["train_loss"]["mean"] is None


def test_with_workers_a_stop_request_keeps_the_finished_and_the_stopped_runs(
    tmp_path: Path,
) -> None:
    config, doc = xor_compare("epochs=5000", "seeds=[0,1,2,3]")
    out = tmp_path / "run"
    progress = Counting()
    t0 = time.monotonic()
    summary = run_compare(
        config,
        doc,
        Session(out, should_stop=lambda: progress.done >= 1, progress=progress),
        workers=2,
    ).summary
    assert time.monotonic() - t0 < 60
    assert summary["status"] == "interrupted"
    assert read_json(out / "summary.json") == summary
    runs = summary["runs"]
    pairs = [(a, s) for s in range(4) for a in ("tanh", "relu")]
    # A job finished (progress moves as jobs end, in any order); the ones that were
    # running when the request came are kept (finished, or stopped part-way), in job
    # order; the rest never started.
    assert 1 <= len(runs) < len(pairs)
    assert [(r["activation"], r["seed"]) for r in runs] == pairs[: len(runs)]
    assert "finished" in {r["status"] for r in runs}
    assert {r["status"] for r in runs} <= {"finished", "interrupted"}
    _, rows = read_trace(out / "trace.csv")
    for r in runs:
        epochs = [
            int(t["epoch"])
            for t in rows
            if (t["activation"], int(t["seed"])) == (r["activation"], r["seed"])
        ]
        assert epochs == list(range(1, len(epochs) + 1))
        assert (len(epochs) == 5000) == (r["status"] == "finished")
    assert len(rows) == sum(
        len([t for t in rows if (t["activation"], int(t["seed"])) == p]) for p in pairs[: len(runs)]
    )


# -- descend ----------------------------------------------------------------------------------


def test_with_workers_a_stop_request_ends_the_running_descents(tmp_path: Path) -> None:
    doc = Document(
        {
            "name": "stop-descend",
            "function": "rosenbrock",
            "start": [-1.5, 2.0],
            "iterations": LONG,
            "trace_every": 1000,
            "optimizers": [
                {"name": "adam", "lr": 0.01},  # converges within 40000 steps
                {"name": "gd", "lr": 1e-05},  # would take days
                {"name": "momentum", "lr": 1e-05, "momentum": 0.5},
            ],
        },
        "stop-descend.yaml",
    )
    config = validate(doc, DescendConfig)
    out = tmp_path / "run"
    progress = Counting()
    t0 = time.monotonic()
    result = run_descend(
        config,
        doc,
        Session(out, should_stop=lambda: progress.done >= 1, progress=progress),
        workers=2,
    )
    assert time.monotonic() - t0 < 60
    assert result.result.interrupted
    summary = read_json(out / "summary.json")
    assert summary["status"] == "interrupted"
    runs = summary["runs"]
    assert runs[0]["optimizer"] == "adam"
    assert runs[0]["status"] == "converged"
    # gd and momentum never end by themselves: whichever ran was stopped part-way.
    assert [r["optimizer"] for r in runs[1:]] == ["gd", "momentum"][: len(runs) - 1]
    for r in runs[1:]:
        assert r["status"] == "interrupted"
        assert 0 <= r["iterations"] < LONG
    _, rows = read_trace(out / "trace.csv")
    assert {int(t["run"]) for t in rows} == {r["run"] for r in runs}


# -- sweeps ---------------------------------------------------------------------------------


def rosenbrock_sweep(iterations: list[int]) -> tuple[Document, dict[str, list[Any]]]:
    doc = document(ROSENBROCK, "optimizer.lr=0.00001", "trace_every=1000")
    doc.data.pop("sweep")
    return doc, {"iterations": iterations}


def test_a_point_that_finished_in_a_worker_is_done_and_a_stopped_one_reruns(
    tmp_path: Path,
) -> None:
    # The long point comes first, so the sweep waits on it while the short one finishes.
    doc, spec = rosenbrock_sweep([LONG, 100])
    long_dir, short_dir = (p.name for p in sweep.points(spec))
    out = tmp_path / "sweep"

    def short_done() -> bool:
        done = sweep.existing_summary(out / short_dir)
        return done is not None and done["status"] == "finished"

    t0 = time.monotonic()
    summary = session.run_sweep(
        "descend",
        doc,
        DescendConfig,
        spec,
        out,
        force=False,
        resume=False,
        workers=2,
        should_stop=short_done,
        progress=Counting(),
    ).summary
    assert time.monotonic() - t0 < 60
    assert summary["status"] == "interrupted"
    assert read_json(out / "summary.json") == summary
    # each point shows its run's own status: lr 1e-5 spends any budget on Rosenbrock
    assert [(p["dir"], p["status"]) for p in summary["points"]] == [
        (long_dir, "interrupted"),
        (short_dir, "max_iterations"),
    ]
    assert summary["missing"] == []
    stopped = read_json(out / long_dir / "summary.json")
    assert stopped["status"] == "interrupted"
    assert [r["status"] for r in stopped["runs"]] == ["interrupted"]
    assert 0 < stopped["runs"][0]["iterations"] < LONG
    assert summary["points"][0]["metric"] == {"name": "best f", "value": stopped["runs"][0]["f"]}
    assert read_json(out / short_dir / "summary.json")["runs"][0]["iterations"] == 100


def test_in_process_a_stop_request_ends_a_point_part_way_and_resume_reruns_it(
    tmp_path: Path,
) -> None:
    doc, spec = rosenbrock_sweep([100, 5000])
    first, second = (p.name for p in sweep.points(spec))
    out = tmp_path / "sweep"

    def run(should_stop: Callable[[], bool], resume: bool) -> dict[str, Any]:
        return session.run_sweep(
            "descend",
            doc,
            DescendConfig,
            spec,
            out,
            force=False,
            resume=resume,
            workers=1,
            should_stop=should_stop,
            progress=Counting(),
        ).summary

    # The first point polls about 100 times; the request comes 200 polls later.
    stopped = run(Calls(300), resume=False)
    assert stopped["status"] == "interrupted"
    assert [(p["dir"], p["status"]) for p in stopped["points"]] == [
        (first, "max_iterations"),
        (second, "interrupted"),
    ]
    part = read_json(out / second / "summary.json")["runs"][0]
    assert part["status"] == "interrupted"
    assert 0 < part["iterations"] < 5000
    mtime = (out / first / "summary.json").stat().st_mtime_ns

    resumed = run(lambda: False, resume=True)
    assert resumed["status"] == "finished"
    assert [(p["dir"], p["status"], p["resumed"]) for p in resumed["points"]] == [
        (first, "max_iterations", True),
        (second, "max_iterations", False),
    ]
    assert (out / first / "summary.json").stat().st_mtime_ns == mtime
    assert read_json(out / second / "summary.json")["runs"][0]["iterations"] == 5000


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            ["optimizer.lr=0.01,0.01"],
            "--sweep optimizer.lr: optimizer.lr: the value 0.01 is given twice",
        ),
        (
            ["optimizer.lr=0.01,0.1,1e-2"],
            "--sweep optimizer.lr: optimizer.lr: the value 0.01 is given twice",
        ),
        (["optimizer.name=gd,'gd'"], 'the value "gd" is given twice'),
        (["seed=1,'1'"], 'the value "1" is given twice'),
        (["model.hidden=[8],[8]"], "--sweep model.hidden: model.hidden: the value [8] is given"),
        (
            ["optimizer.lr=0.1", "optimizer.lr=0.2"],
            "--sweep optimizer.lr is given twice; give all its values in one option",
        ),
    ],
    ids=["same", "same-number", "same-string", "same-directory", "same-list", "same-key"],
)
def test_a_sweep_that_repeats_a_value_or_a_key_exits_2_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, options: list[str], message: str
) -> None:
    monkeypatch.chdir(tmp_path)
    sweeps = [arg for option in options for arg in ("--sweep", option)]
    result = gdcli("compare-activations", XOR, *sweeps, "--out", tmp_path / "sweep")
    assert result.exit_code == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("gdcli: error: "), lines
    assert message in lines[0]
    assert list(tmp_path.iterdir()) == []


def test_a_repeated_value_in_the_files_sweep_is_located(tmp_path: Path) -> None:
    file = tmp_path / "twice.yaml"
    file.write_text(
        XOR.read_text(encoding="utf-8") + "sweep:\n  optimizer.lr: [0.1, 0.05, 0.1]\n",
        encoding="utf-8",
    )
    line = len(file.read_text(encoding="utf-8").splitlines())
    with pytest.raises(ConfigError) as info:
        planning.sweep_spec(load_document(file), [])
    (problem,) = info.value.problems
    assert (problem.file, problem.line) == (str(file), line)
    assert problem.column == len("  optimizer.lr: [0.1, 0.05, ") + 1
    assert problem.message == "the value 0.1 is given twice; each point runs once"
    # Distinct values of different types are distinct points.
    assert [p.name for p in sweep.points({"seed": [1, 1.0, "one"]})] == [
        "seed=1",
        "seed=1.0",
        "seed=one",
    ]


def test_resume_with_another_sweep_or_experiment_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "sweep"
    base = ("descend", ROSENBROCK, "--set", "iterations=50", "--out", out, "--json")
    first = gdcli(*base, "--sweep", "optimizer.lr=0.0001,0.001")
    assert first.exit_code == 0, first.stderr
    config = (out / "config.yaml").read_text(encoding="utf-8")
    summary = (out / "summary.json").read_text(encoding="utf-8")
    refused = {
        "values": gdcli(*base, "--sweep", "optimizer.lr=0.0001,0.002", "--resume"),
        "keys": gdcli(*base, "--sweep", "seed=0,1", "--resume"),
        "file": gdcli(*base, "--resume"),
        "set": gdcli(*base, "--sweep", "optimizer.lr=0.0001,0.001", "--set", "seed=3", "--resume"),
    }
    for why, result in refused.items():
        assert result.exit_code == 2, (why, result.stderr)
        lines = result.stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"gdcli: error: --resume: {out} holds ")
        assert "resume with the same config, --set and --sweep, or give a new --out" in lines[0]
    assert "the sweep optimizer.lr=0.0001,0.001, not optimizer.lr=0.0001,0.002" in (
        refused["values"].stderr
    )
    assert "0.001,0.002 seed=0,1; resume" in refused["keys"].stderr
    assert "the sweep optimizer.lr=0.0001,0.001, not optimizer.lr=1e-05,0.0001,0.0005" in (
        refused["file"].stderr
    )
    assert "a sweep of another experiment (it differs in seed)" in refused["set"].stderr
    # Nothing was touched, and the same sweep resumes.
    assert (out / "config.yaml").read_text(encoding="utf-8") == config
    assert (out / "summary.json").read_text(encoding="utf-8") == summary
    again = gdcli(*base, "--sweep", "optimizer.lr=0.0001,0.001", "--resume")
    assert again.exit_code == 0, again.stderr
    assert [p["resumed"] for p in json.loads(again.stdout)["points"]] == [True, True]
    assert yaml.safe_load(config)["sweep"] == {"optimizer.lr": [0.0001, 0.001]}


def test_resume_into_a_directory_that_holds_no_sweep_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "other"
    out.mkdir()
    (out / "notes.txt").write_text("mine", encoding="utf-8")
    result = gdcli("descend", ROSENBROCK, "--out", out, "--resume")
    assert result.exit_code == 2
    assert f"--resume: {out} holds no sweep to resume; give a new --out" in result.stderr
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]
    # A run that is not a sweep is no sweep either.
    run = tmp_path / "run"
    plain = gdcli("descend", CONFIGS / "rosenbrock.yaml", "--set", "iterations=5", "--out", run)
    assert plain.exit_code == 0, plain.stderr
    before = sorted(p.name for p in run.iterdir())
    result = gdcli("descend", ROSENBROCK, "--out", run, "--resume")
    assert result.exit_code == 2
    assert f"--resume: {run} holds no sweep to resume" in result.stderr
    assert sorted(p.name for p in run.iterdir()) == before
    # An empty directory is where a new sweep begins.
    empty = tmp_path / "empty"
    empty.mkdir()
    result = gdcli(
        "descend", ROSENBROCK, "--set", "iterations=5", "--out", empty, "--resume", "--json"
    )
    assert result.exit_code == 0, result.stderr
    assert [p["resumed"] for p in json.loads(result.stdout)["points"]] == [False] * 5


# -- Ctrl-C at the terminal -------------------------------------------------------------------


def cpu_seconds_of_children(pid: int) -> list[float]:
    """The CPU time of each child process of ``pid`` (Linux ``/proc``)."""
    try:
        kids = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return []
    ticks = os.sysconf("SC_CLK_TCK")
    seconds = []
    for kid in kids:
        try:
            fields = Path(f"/proc/{kid}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        seconds.append((int(fields[11]) + int(fields[12])) / ticks)  # utime + stime
    return seconds


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc, uses killpg")
def test_ctrl_c_stops_a_parallel_comparison_within_seconds_and_exits_130(
    tmp_path: Path,
) -> None:
    out = tmp_path / "run"
    command = [
        sys.executable,
        "-m",
        "gdcli",
        "compare-activations",
        str(CONFIGS / "compare-spirals.yaml"),
        "--set",
        "epochs=100000",
        "--workers",
        "2",
        "--out",
        str(out),
        "--json",
    ]
    env = {**os.environ, "NO_COLOR": "1"}
    proc = subprocess.Popen(
        command,
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        # The run directory exists once the run has begun (Ctrl-C is handled from
        # then on). A worker starts in well under a second of CPU time, so two
        # children past 1.5 s are two workers training.
        until(lambda: (out / "config.yaml").exists() or proc.poll() is not None, "the run")
        until(
            lambda: (
                sum(s > 1.5 for s in cpu_seconds_of_children(proc.pid)) >= 2
                or proc.poll() is not None
            ),
            "two training workers",
        )
        assert proc.poll() is None, proc.communicate()
        t0 = time.monotonic()
        os.killpg(proc.pid, signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=60)
        seconds = time.monotonic() - t0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
    assert proc.returncode == 130, stderr
    assert seconds < 30, seconds
    assert "Traceback" not in stderr
    assert stderr.splitlines() == ["gdcli: interrupted; what ran so far is saved"]
    summary = json.loads(stdout)
    assert summary == read_json(out / "summary.json")
    assert summary["status"] == "interrupted"
    # No job reaches 100000 epochs: the two that were running come back, stopped after
    # the epochs they did, which are in the trace; the other 16 never started.
    runs = summary["runs"]
    assert [(r["activation"], r["seed"], r["status"]) for r in runs] == [
        ("linear", 0, "interrupted"),
        ("sigmoid", 0, "interrupted"),
    ]
    _, rows = read_trace(out / "trace.csv")
    for r in runs:
        epochs = [int(t["epoch"]) for t in rows if t["activation"] == r["activation"]]
        assert 0 < len(epochs) < 100000
        assert epochs == list(range(1, len(epochs) + 1))
    assert len(rows) == sum(1 for t in rows if t["activation"] in ("linear", "sigmoid"))
