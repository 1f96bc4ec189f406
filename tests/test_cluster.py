"""``--cluster``: the same runs on a Dask cluster give the same numbers.

One scheduler and two workers (``dask scheduler`` / ``dask worker`` on 127.0.0.1,
free ports, one thread each, no dashboard) serve the whole module; every process a
test starts is ended by its PID and checked gone.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("distributed")

ROOT = Path(__file__).parent.parent
BIN = Path(sys.executable).parent
XOR = ROOT / "configs" / "compare-xor.yaml"
SWEEP = ROOT / "configs" / "rosenbrock-lr-sweep.yaml"
BASINS = ROOT / "configs" / "himmelblau-basins.yaml"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def end(procs: list[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        if p.poll() is None:
            p.kill()
    for p in procs:
        p.wait(timeout=30)
        assert not alive(p.pid) or p.returncode is not None


class Cluster:
    def __init__(self) -> None:
        self.port = free_port()
        self.address = f"tcp://127.0.0.1:{self.port}"
        quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
        self.scheduler = subprocess.Popen(
            [BIN / "dask", "scheduler", "--host", "127.0.0.1", "--port", str(self.port),
             "--no-dashboard"],
            **quiet,
        )  # fmt: skip
        self.workers = [self.start_worker() for _ in range(2)]

    def start_worker(self) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [BIN / "dask", "worker", self.address, "--nthreads", "1", "--no-dashboard",
             "--no-nanny", "--host", "127.0.0.1"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip

    def wait_for(self, n: int) -> None:
        from distributed import Client

        with Client(self.address, timeout=30) as client:
            client.wait_for_workers(n, timeout=60)

    def procs(self) -> list[subprocess.Popen[bytes]]:
        return [*self.workers, self.scheduler]


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    c = Cluster()
    try:
        c.wait_for(2)
        yield c
    finally:
        end(c.procs())
        assert not any(alive(p.pid) for p in c.procs())


def gdcli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "gdcli"), *args], capture_output=True, text=True, cwd=cwd, timeout=300
    )


def numbers(summary: Any) -> Any:
    """A summary without its timings and paths."""
    if isinstance(summary, dict):
        return {
            k: numbers(v)
            for k, v in summary.items()
            if k not in ("seconds", "out_dir", "train_seconds")
        }
    if isinstance(summary, list):
        return [numbers(v) for v in summary]
    return summary


def run_json(*args: str, cwd: Path) -> dict[str, Any]:
    done = gdcli(*args, "--json", cwd=cwd)
    assert done.returncode == 0, done.stderr
    out: dict[str, Any] = json.loads(done.stdout)
    return out


def test_compare_on_the_cluster_equals_one_worker(cluster: Cluster, tmp_path: Path) -> None:
    one = run_json("compare-activations", str(XOR), "--workers", "1", "--out", "a", cwd=tmp_path)
    on = run_json(
        "compare-activations", str(XOR), "--cluster", cluster.address, "--out", "b", cwd=tmp_path
    )
    assert numbers(on) == numbers(one)
    assert len(on["runs"]) == 30
    assert (tmp_path / "b" / "trace.csv").read_text().count("\n") == (
        tmp_path / "a" / "trace.csv"
    ).read_text().count("\n")


def test_sweep_on_the_cluster_equals_one_worker_and_resumes(
    cluster: Cluster, tmp_path: Path
) -> None:
    short = ("--set", "iterations=3000")
    one = run_json("descend", str(SWEEP), *short, "--out", "a", cwd=tmp_path)
    on = run_json(
        "descend", str(SWEEP), *short, "--cluster", cluster.address, "--out", "b", cwd=tmp_path
    )
    assert numbers(on) == numbers(one)
    for row in on["points"]:  # written by the client, in the sweep's directory
        point = json.loads((tmp_path / "b" / row["dir"] / "summary.json").read_text())
        assert point["out_dir"] == str(Path("b") / row["dir"])
        assert (tmp_path / "b" / row["dir"] / "trace.csv").read_bytes() == (
            tmp_path / "a" / row["dir"] / "trace.csv"
        ).read_bytes()
    # --resume across a cluster run and a local one: nothing runs again
    again = run_json("descend", str(SWEEP), *short, "--resume", "--out", "b", cwd=tmp_path)
    assert all(r["resumed"] for r in again["points"])
    assert numbers(again["points"]) == [
        {**numbers(r), "resumed": True} for r in numbers(on["points"])
    ]


def test_many_start_descend_in_chunks_equals_one_worker(cluster: Cluster, tmp_path: Path) -> None:
    args = ("descend", str(BASINS), "--set", "starts.random=10000", "--set", "iterations=200")
    one = run_json(*args, "--out", "a", cwd=tmp_path)
    on = run_json(*args, "--cluster", cluster.address, "--out", "b", cwd=tmp_path)
    assert on["starts"] == 10_000
    assert numbers(on) == numbers(one)
    for name in ("starts.csv", "trace.csv"):
        assert (tmp_path / "b" / name).read_bytes() == (tmp_path / "a" / name).read_bytes()


def test_wrong_address_is_bad_input_naming_it(tmp_path: Path) -> None:
    address = f"tcp://127.0.0.1:{free_port()}"
    t0 = time.monotonic()
    done = gdcli("compare-activations", str(XOR), "--cluster", address, cwd=tmp_path)
    assert time.monotonic() - t0 < 10
    assert done.returncode == 2
    assert address in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_environment_names_the_cluster(tmp_path: Path) -> None:
    address = f"tcp://127.0.0.1:{free_port()}"
    done = subprocess.run(
        [str(BIN / "gdcli"), "descend", str(SWEEP)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "GDCLI_CLUSTER": address},
        timeout=60,
    )
    assert done.returncode == 2 and address in done.stderr


def test_sigint_on_the_cluster_saves_what_finished(cluster: Cluster, tmp_path: Path) -> None:
    proc = start(
        ["compare-activations", str(XOR), "--set", "epochs=1000000", "--cluster",
         cluster.address, "--out", "run", "--json"],
        tmp_path,
    )  # fmt: skip
    until_file(tmp_path / "run" / "config.yaml", proc)
    time.sleep(1.0)
    proc.send_signal(signal.SIGINT)
    out, err = finish(proc, tmp_path, 60)
    assert proc.returncode == 130, err
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["status"] == "interrupted"
    assert json.loads(out)["status"] == "interrupted"
    assert not alive(proc.pid)
    # the cancelled jobs ended on the workers: the cluster is free again
    t0 = time.monotonic()
    run_json("compare-activations", str(XOR), "--set", "seeds=[0]", "--cluster",
             cluster.address, "--out", "next", cwd=tmp_path)  # fmt: skip
    assert time.monotonic() - t0 < 30


def start(args: list[str], cwd: Path) -> subprocess.Popen[str]:
    """gdcli in the background, its output to files (a full pipe would block it)."""
    return subprocess.Popen(
        [str(BIN / "gdcli"), *args],
        cwd=cwd,
        stdout=(cwd / "stdout").open("w"),
        stderr=(cwd / "stderr").open("w"),
        text=True,
    )


def finish(proc: subprocess.Popen[str], cwd: Path, timeout: float = 120) -> tuple[str, str]:
    proc.wait(timeout=timeout)
    return (cwd / "stdout").read_text(), (cwd / "stderr").read_text()


def until_file(path: Path, proc: subprocess.Popen[str], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert proc.poll() is None, (path.parent.parent / "stderr").read_text()
        assert time.monotonic() < deadline
        time.sleep(0.05)


def test_local_cluster_is_closed_after_the_run(tmp_path: Path) -> None:
    import psutil

    before = {p.pid for p in psutil.Process().children(recursive=True)}
    proc = start(
        ["compare-activations", str(XOR), "--set", "seeds=[0]", "--cluster", "local",
         "--workers", "2", "--out", "run", "--json"],
        tmp_path,
    )  # fmt: skip
    seen: set[int] = set()
    while proc.poll() is None:
        with contextlib.suppress(psutil.Error):
            seen |= {p.pid for p in psutil.Process(proc.pid).children(recursive=True)}
        time.sleep(0.1)
    out, err = finish(proc, tmp_path)
    assert proc.returncode == 0, err
    assert len(json.loads(out)["runs"]) == 6
    assert seen - before, "the local cluster started no process"
    time.sleep(0.5)
    assert not [pid for pid in seen if alive(pid) and psutil.Process(pid).status() != "zombie"]


def test_a_lost_worker_s_jobs_run_again_elsewhere(cluster: Cluster, tmp_path: Path) -> None:
    """Last in the module: it kills one of the shared workers (and starts another)."""
    args = ("compare-activations", str(XOR), "--set", "epochs=2000", "--set", "seeds=[0,1]")
    one = run_json(*args, "--out", "a", cwd=tmp_path)
    proc = start([*args, "--cluster", cluster.address, "--out", "b", "--json"], tmp_path)
    until_file(tmp_path / "b" / "config.yaml", proc)
    time.sleep(0.8)
    victim = cluster.workers[1]
    assert proc.poll() is None, "the run ended before a worker could be lost"
    victim.kill()
    victim.wait(timeout=30)
    out, err = finish(proc, tmp_path)
    assert proc.returncode == 0, err
    on = json.loads(out)
    assert numbers(on) == numbers(one)
    assert all(r["status"] != "failed" for r in on["runs"])
    cluster.workers[1] = cluster.start_worker()


def test_shared_arrays_are_scattered_once() -> None:
    """The data every job holds travels once (scattered), not in each job."""
    from gdcli.experiments import cluster as dask_jobs

    data = np.arange(10_000, dtype=np.float64)
    items = [(data.copy(), k) for k in range(5)]

    class FakeClient:
        scattered = 0

        def scatter(self, a: Any, **kw: Any) -> str:
            FakeClient.scattered += 1
            assert kw["broadcast"] is True
            return "future"

    ex = dask_jobs.DaskExecutor.__new__(dask_jobs.DaskExecutor)
    ex.client, ex._shared = FakeClient(), {}
    ex.share(items)
    assert FakeClient.scattered == 1
    found: dict[str, np.ndarray] = {}
    stripped = dask_jobs._strip(items[3], found, ex._shared.__contains__)
    assert isinstance(stripped[0], dask_jobs._Shared) and stripped[1] == 3
    back = dask_jobs._restore(stripped, {stripped[0].digest: data})
    assert back[0] is data


def test_a_worker_of_another_gdcli_version_is_refused() -> None:
    from gdcli import __version__
    from gdcli.errors import UserError
    from gdcli.experiments.cluster import check_versions

    class FakeClient:
        def __init__(self, found: dict[str, str]) -> None:
            self.found = found

        def run(self, fn: Any) -> dict[str, str]:
            return self.found

    check_versions(FakeClient({"tcp://w1": __version__}), "tcp://s:8786")
    with pytest.raises(UserError) as err:
        check_versions(FakeClient({"tcp://w1": __version__, "tcp://w2": "0.0.1"}), "tcp://s:8786")
    assert "tcp://s:8786" in str(err.value) and "tcp://w2 has 0.0.1" in str(err.value)
    with pytest.raises(UserError, match="no workers"):
        check_versions(FakeClient({}), "tcp://s:8786")


def _worker_state() -> tuple[bool, bool]:
    import gdcli.experiments.compare  # noqa: F401  (imported already when forked)

    return signal.getsignal(signal.SIGTERM) == signal.SIG_DFL, "numpy" in sys.modules


def test_local_workers_start_forked_and_settled() -> None:
    """``--cluster local`` forks its workers (no interpreter start, no imports) and
    gives them what a spawned worker has: SIGTERM ends them, BLAS on one thread. With
    Dask's default port taken (by another cluster), nothing is said on stderr."""
    from gdcli.experiments.cluster import open_cluster
    from gdcli.experiments.jobs import FORK, one_blas_thread

    if not FORK:
        pytest.skip("workers are spawned here")
    previous = signal.signal(signal.SIGTERM, lambda *a: None)  # as the CLI's guard would
    taken = socket.socket()
    try:
        with contextlib.suppress(OSError):  # already taken is as good
            taken.bind(("", 8787))
            taken.listen()
        with warnings.catch_warnings(record=True) as said:
            warnings.simplefilter("always")
            with open_cluster("local", 2) as ex:
                state = ex.client.run(_worker_state)
    finally:
        taken.close()
        signal.signal(signal.SIGTERM, previous)
    assert list(state.values()) == [(True, True), (True, True)]
    assert not [w for w in said if "8787" in str(w.message)]
    assert one_blas_thread()  # this numpy's OpenBLAS has the setter the workers call
