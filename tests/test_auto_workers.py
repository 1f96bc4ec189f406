"""``--workers auto`` (the default): a descent of many starts runs its starts in
chunks on every core, with the numbers of one process and a progress bar that moves
while the chunks run; anything smaller, and every other command, in this process."""

from __future__ import annotations

import errno
import itertools
import json
import multiprocessing.context
import os
import time
from pathlib import Path
from typing import Any

import pytest
from clitools import gdcli

from gdcli.engine import native
from gdcli.experiments import session
from gdcli.experiments.config import DescendConfig, load_config
from gdcli.experiments.jobs import WorkerPool
from gdcli.experiments.session import Session, run_descend
from gdcli.experiments.starts import (
    AUTO_STARTS,
    AUTO_WORK,
    MIN_CHUNK,
    PoolProgress,
    auto_workers,
)


def experiment(tmp_path: Path, starts: int, iterations: int) -> Path:
    path = tmp_path / "many.yaml"
    path.write_text(
        f"name: many\nfunction: rosenbrock\nstarts: {{random: {starts}}}\n"
        f"iterations: {iterations}\ntolerance: 1.0e-300\ntrace_every: {iterations // 2}\n"
        "seed: 3\noptimizer: {name: adam, lr: 0.001}\n",
        encoding="utf-8",
    )
    return path


@pytest.mark.parametrize(
    ("starts", "iterations", "cores", "workers"),
    [
        (AUTO_STARTS - 1, 10**6, 8, 1),  # too few starts to split
        (AUTO_STARTS, AUTO_WORK // AUTO_STARTS - 1, 8, 1),  # too little work
        (AUTO_STARTS, AUTO_WORK // AUTO_STARTS, 8, AUTO_STARTS // MIN_CHUNK),
        (10_000, 2_000, 2, 2),
        (10_000, 2_000, 1, 1),
        (1_000_000, 200, 64, 64),
        (100_000, 200, 64, 100_000 // MIN_CHUNK),
    ],
)
def test_auto_runs_a_descent_on_the_cores_only_when_its_starts_are_many(
    starts: int, iterations: int, cores: int, workers: int
) -> None:
    assert auto_workers(starts, iterations, cores) == workers


@pytest.mark.parametrize("value", ["0", "65", "-1", "lots", "2.5", ""])
def test_workers_other_than_1_to_64_or_auto_exit_2(tmp_path: Path, value: str) -> None:
    result = gdcli("descend", experiment(tmp_path, 10, 10), "--workers", value, "--quiet")
    assert result.exit_code == 2
    assert f"--workers {value}: give a number of processes from 1 to 64, or auto" in (result.stderr)


def _spy_workers(monkeypatch: pytest.MonkeyPatch, cores: int) -> list[int]:
    """The worker counts the session asks for, on a machine of ``cores`` cores."""
    asked: list[int] = []
    make = session.make_executor

    def spy(workers: int, should_stop: Any, fallback: bool = False) -> Any:
        asked.append(workers)
        return make(workers, should_stop, fallback)

    monkeypatch.setattr(session, "make_executor", spy)
    monkeypatch.setattr(session, "cores", lambda: cores)
    return asked


def _run(config: Path, out: Path, *options: str) -> dict[str, Any]:
    result = gdcli("descend", config, "--out", out, "--quiet", *options)
    assert result.exit_code == 0, result.stderr
    summary: dict[str, Any] = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    return _untimed(summary)


def _untimed(value: Any) -> Any:
    """``value`` without its timings and paths (which differ between any two runs)."""
    if isinstance(value, dict):
        return {k: _untimed(v) for k, v in value.items() if k not in ("seconds", "out_dir")}
    if isinstance(value, list):
        return [_untimed(v) for v in value]
    return value


def test_auto_splits_many_starts_over_the_cores_with_the_numbers_of_one_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked = _spy_workers(monkeypatch, cores=2)
    config = experiment(tmp_path, AUTO_STARTS, AUTO_WORK // AUTO_STARTS)
    auto = _run(config, tmp_path / "auto")
    one = _run(config, tmp_path / "one", "--workers", "1")
    assert asked == [2, 1]
    assert json.dumps(auto, sort_keys=True) == json.dumps(one, sort_keys=True)
    for name in ("starts.csv", "trace.csv"):
        assert (tmp_path / "auto" / name).read_bytes() == (tmp_path / "one" / name).read_bytes()


def test_auto_keeps_a_small_descent_and_a_comparison_in_this_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked = _spy_workers(monkeypatch, cores=8)
    _run(experiment(tmp_path, AUTO_STARTS - 1, 2_000), tmp_path / "few")
    compare = Path(__file__).parent.parent / "configs" / "compare-xor.yaml"
    result = gdcli(
        "compare-activations", compare, "--out", tmp_path / "xor", "--quiet",
        "--set", "epochs=5", "--set", "seeds=[0]",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert asked == [1, 1]


class Recorded:
    """A progress bar that keeps every call, with the time it came."""

    enabled = True

    def __init__(self) -> None:
        self.total = 0
        self.calls: list[tuple[float, int, str | None]] = []

    def start(self, total: int, description: str) -> None:
        self.total = total

    def advance(self, n: int = 1, description: str | None = None) -> None:
        self.calls.append((time.monotonic(), n, description))


def test_a_pool_runs_progress_moves_while_its_chunks_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # chunks long enough to be read while they run: numpy's loops, counters read often
    monkeypatch.setattr(native, "kernels", None)
    monkeypatch.setattr(PoolProgress, "INTERVAL", 0.01)
    config = experiment(tmp_path, 2 * MIN_CHUNK, 6_000)
    cfg, doc = load_config(config, DescendConfig, [])
    bar = Recorded()
    done = run_descend(cfg, doc, Session(tmp_path / "run", progress=bar), workers=2)
    assert done.status == "finished"
    assert sum(n for _, n, _ in bar.calls) == bar.total == 6_000
    *during, last = bar.calls
    assert last[2] == "adam(lr=0.001)"
    # the counters were read while the chunks ran: the bar stood part way at some time
    shown = list(itertools.accumulate(n for _, n, _ in during))
    assert any(0 < k < bar.total for k in shown)


def _four_steps(tick: Any) -> None:
    """A job of four steps: its counter is its own (one job, one process)."""
    for _ in range(4):
        tick()


def test_a_pool_counts_each_jobs_progress_apart() -> None:
    with WorkerPool(2) as pool:
        ticks = [pool.tick(2.0), pool.tick(3.0)]
        for f in [pool.submit(_four_steps, t) for t in ticks]:
            f.result()
        assert pool.done(ticks[:1]) == 8.0
        assert pool.done(ticks) == 20.0


def _no_fork() -> int:
    raise OSError(errno.EAGAIN, "Resource temporarily unavailable")


def test_where_no_process_can_start_auto_runs_here_and_a_count_asked_for_exits_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = experiment(tmp_path, AUTO_STARTS, AUTO_WORK // AUTO_STARTS)
    one = _run(config, tmp_path / "one", "--workers", "1")
    monkeypatch.setattr(session, "cores", lambda: 2)
    monkeypatch.setattr(os, "fork", _no_fork)
    assert _run(config, tmp_path / "auto") == one
    asked = gdcli("descend", config, "--out", tmp_path / "two", "--quiet", "--workers", "2")
    assert asked.exit_code == 2
    assert asked.stderr.strip().endswith(
        "--workers 2: cannot start worker processes (Resource temporarily unavailable)"
    )


def test_without_shared_memory_a_pool_runs_and_its_bar_moves_at_the_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refused(*args: Any, **kwargs: Any) -> Any:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(multiprocessing.context.BaseContext, "RawArray", refused)
    cfg, doc = load_config(experiment(tmp_path, 2 * MIN_CHUNK, 500), DescendConfig, [])
    bar = Recorded()
    done = run_descend(cfg, doc, Session(tmp_path / "run", progress=bar), workers=2)
    assert done.status == "finished"
    assert [(n, label) for _, n, label in bar.calls] == [(500, "adam(lr=0.001)")]
