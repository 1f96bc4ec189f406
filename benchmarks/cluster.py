"""A Dask cluster (``--cluster``): scaling of a comparison, and the cost of one job.

- ``cluster-scaling``: ``gdcli compare-activations`` on spirals, 6 activations x 4
  seeds (``configs/compare-spirals.yaml`` with ``seeds=[0,1,2,3]``), trained for
  ``EPOCHS`` epochs instead of the file's 200: the size of comparison one sends to
  a cluster (about 35 s on one core, where the file's takes about 7 s, too little to
  pay for starting a cluster and importing gdcli twice over). On a local cluster
  of 2 worker processes (``--cluster local --workers 2``, its start and close
  included) against ``--workers 1``, the two commands timed in turn ``ROUNDS``
  times, medians compared; target: at least 1.7 times faster on a 2-core machine.
  The process pool (``--workers 2``) is timed alongside, for information.
- ``cluster-job-overhead``: ``jobs.run_jobs`` of tiny jobs (``operator.is_``, which
  does nothing) on a running 2-worker local cluster, against the same jobs in this
  process; the difference per job is the cluster's cost of a job (submit, send,
  run, collect), target at most 20 ms.
"""

from __future__ import annotations

import operator
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks._harness import Result, benchmark, interleaved, median, ratio_result, time_once

ROOT = Path(__file__).parent.parent
SPIRALS = ROOT / "configs" / "compare-spirals.yaml"
SPEEDUP = 1.7
EPOCHS = 1000
ROUNDS = 2
TINY_JOBS = 200
MAX_OVERHEAD_MS = 20.0


def _gdcli(*args: str) -> None:
    gdcli = Path(sys.executable).parent / "gdcli"
    subprocess.run([str(gdcli), *args], check=True, stdout=subprocess.DEVNULL)


@benchmark("cluster-scaling")
def scaling() -> list[Result]:
    base = ("compare-activations", str(SPIRALS), "--set", "seeds=[0,1,2,3]", "--quiet")
    base += ("--set", f"epochs={EPOCHS}", "--force")
    with tempfile.TemporaryDirectory() as tmp:
        times = interleaved(
            {
                "one": lambda: _gdcli(*base, "--workers", "1", "--out", f"{tmp}/one"),
                "two": lambda: _gdcli(
                    *base, "--cluster", "local", "--workers", "2", "--out", f"{tmp}/two"
                ),
                "pool": lambda: _gdcli(*base, "--workers", "2", "--out", f"{tmp}/pool"),
            },
            repeats=ROUNDS,
            warmup=0,
        )
    one, two, pool = (median(times[k]) for k in ("one", "two", "pool"))
    return [
        ratio_result(
            "cluster-scaling",
            f"compare-activations spirals 6x4 {EPOCHS} epochs, --cluster local --workers 2",
            "the same with --workers 1",
            two,
            one,
            "s",
            at_most=1 / SPEEDUP,
        ),
        ratio_result(
            "pool-scaling",
            f"compare-activations spirals 6x4 {EPOCHS} epochs, --workers 2 (process pool)",
            "the same with --workers 1",
            pool,
            one,
            "s",
            at_most=1 / SPEEDUP,
        ),
    ]


@benchmark("cluster-job-overhead")
def job_overhead() -> list[Result]:
    from gdcli.experiments.cluster import open_cluster
    from gdcli.experiments.jobs import SerialExecutor, run_jobs

    items = list(range(TINY_JOBS))

    def run(executor: object) -> None:
        for _ in run_jobs(executor, operator.is_, items, lambda: False, lambda i, e: e):  # type: ignore[arg-type]
            pass

    with open_cluster("local", 2) as cluster:
        run(cluster)  # warm-up: the workers import what the jobs need
        on = median([time_once(lambda: run(cluster)) for _ in range(3)])
    here = median([time_once(lambda: run(SerialExecutor())) for _ in range(3)])
    extra = (on - here) / TINY_JOBS * 1000
    return [
        Result(
            name="cluster-job-overhead",
            measured=f"{TINY_JOBS} tiny jobs on a 2-worker local cluster, per job",
            baseline="the same jobs in this process, per job",
            value=on / TINY_JOBS * 1000,
            reference=here / TINY_JOBS * 1000,
            unit="ms",
            score=extra,
            score_label="diff ms",
            target=f"<= {MAX_OVERHEAD_MS:g}",
            passed=extra <= MAX_OVERHEAD_MS,
        )
    ]
