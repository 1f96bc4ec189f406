"""Jobs on a Dask cluster (``--cluster ADDRESS``): an ``Executor`` for ``jobs.run_jobs``.

Only this module imports dask, and only when ``--cluster`` is given
(``pip install 'gdcli[cluster]'``). ``open_cluster`` connects to a running scheduler
(``tcp://host:port``) or starts a local one (``local``: ``workers`` processes, closed
with the executor), checks that every worker runs this gdcli version, and returns a
``DaskExecutor``:

- a job is submitted with ``retries``, so the jobs of a worker lost mid-run run again
  elsewhere; jobs are pure (a plan in, a result out), so a rerun gives the same
  result;
- a large array that several jobs hold (their data) is scattered to every worker
  once, found by its content, and the jobs take it there instead of each carrying
  it in its own message;
- a job that writes a run directory (a sweep point: an item with ``out_dir``) writes
  it to a temporary directory on its worker and sends the files back: the client
  writes them, so workers need no shared disk;
- a stop cancels every job that has not finished, keeps what had, and sets the
  run's stop event (a ``distributed.Event``), which running jobs poll at most every
  ``STOP_POLL`` seconds, so that they end and free their workers.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import hashlib
import json
import signal
import socket
import tempfile
import threading
import time
import uuid
import warnings
from collections.abc import Callable
from concurrent.futures import Executor, Future, InvalidStateError
from pathlib import Path
from typing import Any

import numpy as np

from gdcli import __version__
from gdcli.errors import UserError
from gdcli.experiments.jobs import FORK, one_blas_thread
from gdcli.runs import atomic_write_bytes, prepare_run_dir, release_run_dirs, write_json

CONNECT_TIMEOUT = 5.0
"""Seconds to reach a scheduler before the address is reported unreachable."""

RETRIES = 3
"""Times a job runs again when its worker is lost."""

STOP_POLL = 0.5
"""Seconds between a running job's looks at the run's stop event."""

SHARED_BYTES = 1 << 15
"""Arrays of at least this many bytes are scattered once instead of sent per job."""


def open_cluster(address: str, workers: int) -> DaskExecutor:
    """The executor of the Dask cluster at ``address`` (or a new local one of
    ``workers`` processes for ``local``), its workers' gdcli version checked."""
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise UserError(
            "--cluster needs Dask: pip install 'gdcli[cluster]' (dask[distributed])"
        ) from None
    cluster = None
    if address == "local":
        cluster = _local_cluster(LocalCluster, workers)
        client = Client(cluster)
    else:
        client = _connect(Client, address)
    executor = DaskExecutor(client, cluster)
    try:
        check_versions(client, address)
        if cluster is not None and FORK:
            client.run(settle_forked_worker)
    except BaseException:
        executor.close()
        raise
    return executor


def _local_cluster(cluster_type: Any, workers: int) -> Any:
    """A local cluster of ``workers`` single-threaded processes.

    On Linux its workers are forked from this process: they start at once, with
    numpy and gdcli already imported, instead of each starting an interpreter and
    importing them (about a second of a short run on two cores); elsewhere they are
    spawned (Dask's default), as fork is unsafe there. Each worker's BLAS runs one
    thread, so that workers do not share cores with each other's BLAS threads (a
    spawned worker reads Dask's OPENBLAS_NUM_THREADS=1; a forked one keeps this
    process's BLAS and is told, ``settle_forked_worker``).
    """
    import dask

    method = "fork" if FORK else "spawn"
    settings = {
        "distributed.worker.multiprocessing-method": method,
        # the statistical profiler samples every worker's stack each 10 ms for a
        # dashboard a local cluster does not have: 5% of a run's CPU
        "distributed.worker.profile.enabled": False,
        # monitors that wake a worker's event loop, which then takes the GIL from the
        # job: less often (about 4% of a run's CPU; they only watch)
        "distributed.admin.tick.interval": "1s",
        "distributed.worker.memory.monitor-interval": "2s",
        "distributed.admin.system-monitor.interval": "5s",
    }
    # Python 3.12+ warns of fork with threads running: the loop thread is idle then
    with dask.config.set(settings), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*fork.*", category=DeprecationWarning)
        return cluster_type(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            # the scheduler's HTTP server (health, metrics) on a free port: on 8787, the
            # default, a cluster already there made Dask warn on stderr
            scheduler_kwargs={"dashboard_address": ":0"},
        )


def _connect(client_type: Any, address: str) -> Any:
    """A client of the scheduler at ``address``; a ``UserError`` naming it within
    ``CONNECT_TIMEOUT`` seconds when none answers there."""
    host, _, port = address.partition("://")[2].rpartition(":")
    if "://" not in address or not host or not port.isdigit():
        raise UserError(
            f"--cluster {address}: not a scheduler address; give tcp://HOST:PORT or local"
        )
    try:
        # a refused port fails here at once; dask's own connect would retry until its timeout
        socket.create_connection((host.strip("[]"), int(port)), CONNECT_TIMEOUT).close()
    except OSError as exc:
        raise _unreachable(address, exc) from None
    try:
        return client_type(address, timeout=CONNECT_TIMEOUT, set_as_default=False)
    except Exception as exc:  # whatever answers there does not speak Dask
        raise _unreachable(address, exc) from None


def _unreachable(address: str, exc: BaseException) -> UserError:
    why = " ".join(str(exc).split())[:200] or type(exc).__name__
    return UserError(
        f"--cluster {address}: no Dask scheduler answered within {CONNECT_TIMEOUT:g} s "
        f"({why}); start one with `dask scheduler` or check the address"
    )


def worker_version() -> str:
    """The gdcli version of the process it runs in (a worker's, through ``client.run``)."""
    return __version__


def settle_forked_worker() -> None:
    """Make a worker forked from the client (``_local_cluster``) like a spawned one:
    its BLAS on one thread, and SIGTERM and SIGHUP ending it (it inherited the
    client's handlers, which would take them for stop requests). Dask's worker
    handles SIGINT itself. Run in the worker's main thread (``client.run``)."""
    one_blas_thread()
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_DFL)


def check_versions(client: Any, address: str) -> None:
    """Refuse workers whose gdcli version is not the client's (their numbers could
    differ), and a cluster with no workers."""
    found: dict[str, str] = client.run(worker_version)
    if not found:
        raise UserError(f"--cluster {address}: the scheduler has no workers; start some")
    other = {w: v for w, v in found.items() if v != __version__}
    if other:
        listed = ", ".join(f"{w} has {v}" for w, v in sorted(other.items()))
        raise UserError(
            f"--cluster {address}: workers run another gdcli version than this one "
            f"({__version__}): {listed}; install gdcli {__version__} on every worker"
        )


class DaskExecutor(Executor):
    """``run_jobs``'s executor on a Dask ``client`` (and the local ``cluster`` it
    closes, if any)."""

    def __init__(self, client: Any, cluster: Any = None) -> None:
        self.client, self.cluster = client, cluster
        self.job_should_stop = ClusterStop(f"gdcli-stop-{uuid.uuid4().hex}")
        self._shared: dict[str, Any] = {}  # content digest -> scattered future
        self._futures: list[Any] = []

    @property
    def slots(self) -> int:
        """The threads of all workers: how many jobs run at once."""
        return max(1, sum(self.client.nthreads().values()))

    def share(self, items: list[Any]) -> None:
        """Scatter to every worker, once, each large array that more than one of
        ``items`` holds (a data set every run of a comparison trains on)."""
        seen: dict[str, int] = {}
        arrays: dict[str, np.ndarray] = {}
        for item in items:
            found: dict[str, np.ndarray] = {}
            _strip(item, found, lambda d: False)
            arrays.update(found)
            for d in found:
                seen[d] = seen.get(d, 0) + 1
        for d, n in seen.items():
            if n > 1 and d not in self._shared:
                self._shared[d] = self.client.scatter(arrays[d], broadcast=True, hash=False)

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        found: dict[str, np.ndarray] = {}
        args = tuple(_strip(a, found, self._shared.__contains__) for a in args)
        shared = {d: self._shared[d] for d in found if d in self._shared}
        remote = self.client.submit(
            run_remote, fn, args, kwargs, shared, retries=RETRIES, pure=False
        )
        self._futures.append(remote)
        return _bridge(remote, str(getattr(args[0], "out_dir", "")) if args else "")

    def interrupt(self) -> None:
        """Ask the running jobs to end (they were cancelled: their results are not
        wanted, but their workers are)."""
        from distributed import Event

        with contextlib.suppress(Exception):
            Event(self.job_should_stop.name, client=self.client).set()

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        if cancel_futures:
            self.client.cancel(self._futures, force=True)
        self.close()

    def close(self) -> None:
        """Leave the cluster: the client, and the local cluster when it is ours."""
        with contextlib.suppress(Exception):
            self.client.close(timeout=CONNECT_TIMEOUT)
        if self.cluster is not None:
            with contextlib.suppress(Exception):
                self.cluster.close(timeout=CONNECT_TIMEOUT)

    def __exit__(self, exc_type: Any, exc_val: Any, exc_tb: Any) -> None:
        # leaving on an error or a second signal: what still runs is not wanted
        self.shutdown(cancel_futures=exc_type is not None)


# -- on the worker ---------------------------------------------------------------------


class ClusterStop:
    """A job's ``should_stop`` on a worker: whether the run's stop event ``name`` is
    set, asked of the scheduler at most every ``STOP_POLL`` seconds (not at the
    first call: a job that just started has nothing to stop)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._due = 0.0
        self._stopped = False

    def __call__(self) -> bool:
        now = time.monotonic()
        if self._stopped or now < self._due:
            return self._stopped
        first, self._due = self._due == 0.0, now + STOP_POLL
        if not first:
            from distributed import Event

            with contextlib.suppress(Exception):  # no scheduler: nothing can stop it
                self._stopped = bool(Event(self.name).is_set())
        return self._stopped


def run_remote(
    fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any], shared: dict[str, Any]
) -> Any:
    """``fn(*args, **kwargs)`` on a worker, the shared arrays put back in place. A job
    whose item has an ``out_dir`` writes it to a temporary directory here; its files
    come back with the result (``Written``) for the client to write."""
    args = tuple(_restore(a, shared) for a in args)
    item = args[0] if args else None
    if not (dataclasses.is_dataclass(item) and hasattr(item, "out_dir")):
        return fn(*args, **kwargs)
    with tempfile.TemporaryDirectory(prefix="gdcli-job-") as tmp:
        where = Path(tmp) / "run"
        moved = copy.copy(item)
        object.__setattr__(moved, "out_dir", str(where))
        try:
            result = fn(moved, *args[1:], **kwargs)
        finally:
            release_run_dirs()  # the temporary directory goes; so does its lock
        files = {str(p.relative_to(where)): p.read_bytes() for p in where.rglob("*") if p.is_file()}
        return Written(result, str(where), files)


@dataclasses.dataclass(frozen=True)
class Written:
    """A job's result and the files it wrote under ``where`` (relative path -> bytes)."""

    result: Any
    where: str
    files: dict[str, bytes]

    def write(self, out_dir: str) -> Any:
        """Write the files under ``out_dir`` (on the client) and return the result,
        the worker's directory replaced by ``out_dir`` in it and in JSON files."""
        out = prepare_run_dir(Path(out_dir), force=True)
        for name, data in sorted(self.files.items()):
            path = out / name
            path.parent.mkdir(parents=True, exist_ok=True)
            if path.suffix == ".json":
                write_json(path, _moved(json.loads(data), self.where, out_dir))
            else:
                atomic_write_bytes(path, data)
        return _moved(self.result, self.where, out_dir)


def _moved(obj: Any, old: str, new: str) -> Any:
    if isinstance(obj, str):
        return new if obj == old else obj
    if isinstance(obj, dict):
        return {k: _moved(v, old, new) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_moved(v, old, new) for v in obj]
    return obj


# -- the client's side of a job ----------------------------------------------------------


class _Remote(Future[Any]):
    """A job's ``concurrent.futures`` face: done when the Dask future is; ``cancel``
    cancels the job on the cluster; a result with files (``Written``) is written
    here, on the client, when it is first read."""

    def __init__(self, remote: Any, out_dir: str) -> None:
        super().__init__()
        self.remote, self.out_dir = remote, out_dir
        self._out: tuple[Any] | None = None

    def cancel(self) -> bool:
        if self.done():
            return False
        with contextlib.suppress(Exception):
            self.remote.cancel(force=True)
        return super().cancel()

    def result(self, timeout: float | None = None) -> Any:
        raw = super().result(timeout)
        if self._out is None:
            self._out = (raw.write(self.out_dir) if isinstance(raw, Written) else raw,)
        return self._out[0]


def _bridge(remote: Any, out_dir: str) -> _Remote:
    fut = _Remote(remote, out_dir)

    def settle(done: Any) -> None:
        with contextlib.suppress(InvalidStateError):  # cancelled meanwhile
            if done.status == "finished":
                fut.set_result(done.result())
            elif done.status == "error":
                fut.set_exception(done.exception())

    remote.add_done_callback(settle)
    return fut


# -- shared arrays ------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _Shared:
    """Where a scattered array goes back (its content digest)."""

    digest: str


def _digest(a: np.ndarray) -> str:
    h = hashlib.blake2b(np.ascontiguousarray(a).tobytes(), digest_size=20)
    h.update(f"{a.dtype.str}{a.shape}".encode())
    return h.hexdigest()


def _strip(obj: Any, found: dict[str, np.ndarray], share: Callable[[str], bool]) -> Any:
    """``obj`` with its large numeric arrays listed in ``found`` (by digest) and, where
    ``share(digest)``, replaced by ``_Shared``; through dataclasses, tuples, lists and
    dicts. Unchanged parts are not copied."""
    if isinstance(obj, np.ndarray):
        if obj.nbytes < SHARED_BYTES or obj.dtype.kind not in "biufc":
            return obj
        d = _digest(obj)
        found[d] = obj
        return _Shared(d) if share(d) else obj
    return _walk(obj, lambda v: _strip(v, found, share))


def _restore(obj: Any, shared: dict[str, Any]) -> Any:
    if isinstance(obj, _Shared):
        return shared[obj.digest]
    return _walk(obj, lambda v: _restore(v, shared))


def _walk(obj: Any, f: Callable[[Any], Any]) -> Any:
    """``obj`` with ``f`` applied to its parts (a copy only where a part changed)."""
    if isinstance(obj, (tuple, list)):
        parts = [f(v) for v in obj]
        if all(a is b for a, b in zip(parts, obj, strict=True)):
            return obj
        return type(obj)(*parts) if hasattr(obj, "_fields") else type(obj)(parts)  # a NamedTuple
    if isinstance(obj, dict):
        new = {k: f(v) for k, v in obj.items()}
        return obj if all(new[k] is v for k, v in obj.items()) else new
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        changed = {}
        for fld in dataclasses.fields(obj):
            v = getattr(obj, fld.name)
            w = f(v)
            if w is not v:
                changed[fld.name] = w
        if not changed:
            return obj
        out = copy.copy(obj)
        for k, w in changed.items():
            object.__setattr__(out, k, w)
        return out
    return obj
