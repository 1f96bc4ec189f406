"""One way to run independent jobs: ``run_jobs`` over any ``concurrent.futures.Executor``.

The optimizers of a descent, the (activation, seed) pairs of a comparison and the
points of a sweep are jobs: a top-level function of a picklable argument (a plan)
and ``should_stop``. ``run_jobs`` submits them, yields their results in submission
order, turns a job that raised into a failed result and, on a stop request, starts
nothing more and asks the running jobs to end after their current step.

Which executor runs them is the only thing that changes:

- ``SerialExecutor`` (one worker) runs a job in this process when its result is
  awaited, so a stop between jobs starts nothing more; its jobs poll the caller's
  ``should_stop`` directly.
- ``WorkerPool`` (several) is a process pool whose workers turn a stop signal
  (SIGINT, SIGTERM, SIGHUP) into a flag their job polls (``worker_should_stop``);
  ``interrupt`` sends it. On Linux its workers are forked, so they start at once
  with numpy and gdcli imported, and a worker dies with the process that started
  it, even when that one is killed outright, so no worker outlives its run.

An executor says how its jobs learn they should stop with ``job_should_stop`` and,
when they cannot see the caller's flag, passes a stop request on with
``interrupt()``; any other ``Executor`` gets ``worker_should_stop`` and cancellation.
"""

from __future__ import annotations

import collections
import contextlib
import ctypes
import dataclasses
import multiprocessing
import os
import signal
import sys
import warnings
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures.process import BrokenProcessPool
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any, TypeVar

from gdcli.errors import Terminated, UserError
from gdcli.signals import STOP_SIGNALS

Item = TypeVar("Item")
Result = TypeVar("Result")

StopFlag = Callable[[], bool]

# -- stopping the jobs of a pool ------------------------------------------------------

_stop_requested = False
"""Set in a pool worker by its stop-signal handler; read by ``worker_should_stop``."""

_progress: Any = None
"""In a pool worker: the pool's shared progress counters (``WorkerPool.tick``)."""

PROGRESS_SLOTS = 1024
"""Progress counters a pool shares with its workers: one per job, reused in turn
(jobs that far apart never run at the same time)."""

# SIGINT (Ctrl-C, and what ``interrupt`` sends), SIGTERM (``timeout``, a scheduler,
# ``docker stop``), SIGHUP (a closed terminal): a worker treats them alike.
_STOP_SIGNALS = set(STOP_SIGNALS)

_PR_SET_PDEATHSIG = 1  # linux/prctl.h

FORK = sys.platform.startswith("linux")
"""Whether worker processes (a pool's, a local cluster's) are forked from this one
(else spawned: fork is unsafe on macOS and absent on Windows)."""


def worker_should_stop() -> bool:
    """Whether this pool worker was asked to stop (its first stop signal): the
    ``should_stop`` of every job a pool runs."""
    return _stop_requested


def _request_stop(signum: int, frame: Any) -> None:
    global _stop_requested
    _stop_requested = True


def _start_worker(parent: int, progress: Any) -> None:
    """The initializer of a pool worker: a stop signal asks its job to stop, it never
    kills it; and the worker dies with ``parent``, the process that started it.

    The worker was started with the stop signals blocked (see ``WorkerPool.submit``),
    so a signal while it was starting is held until its handler is in place. Its BLAS
    runs one thread: the pool's workers are as many as the cores.
    """
    global _progress
    _progress = progress
    _die_with(parent)
    one_blas_thread()
    for sig in _STOP_SIGNALS:
        signal.signal(sig, _request_stop)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)


def _die_with(parent: int) -> None:
    """Have the kernel kill this process when ``parent`` dies (Linux; elsewhere a
    worker of a killed parent ends when it finds its pipes closed)."""
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # it died before the request was in place
        os._exit(1)


def one_blas_thread() -> bool:
    """Have the OpenBLAS this process loaded (numpy's) run one thread; whether it
    could (a BLAS without that call keeps its threads)."""
    try:
        maps = Path("/proc/self/maps").read_text(encoding="utf-8").splitlines()
    except OSError:
        return False
    libs = {line.split()[-1] for line in maps if "openblas" in line.rsplit("/", 1)[-1].lower()}
    for path in sorted(libs):
        with contextlib.suppress(OSError):
            lib = ctypes.CDLL(path)
            for name in BLAS_THREADS:
                if hasattr(lib, name):
                    getattr(lib, name)(1)
                    return True
    return False


BLAS_THREADS = (
    "scipy_openblas_set_num_threads64_",
    "scipy_openblas_set_num_threads",
    "openblas_set_num_threads64_",
    "openblas_set_num_threads",
)
"""The names OpenBLAS builds give their thread-count setter (numpy's wheels, distributions)."""


@dataclasses.dataclass(frozen=True)
class Tick:
    """A pool job's progress: each call adds ``weight`` to its counter, which the
    pool's process reads (``WorkerPool.done``). Picklable: it travels with the job."""

    slot: int
    weight: float

    def __call__(self) -> None:
        if _progress is not None and self.slot >= 0:
            _progress[self.slot] += self.weight


class NotStarted(Exception):
    """A pool job whose worker had been asked to stop before the job began."""


def _unless_stopped(fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
    if _stop_requested:
        raise NotStarted
    try:
        return fn(*args, **kwargs)
    finally:
        _give_back_memory()


def _give_back_memory() -> None:
    """Return the memory a finished job freed to the system (glibc keeps freed heap
    for the process otherwise): an idle worker of a million-start run held hundreds
    of megabytes while the run's files were written."""
    with contextlib.suppress(OSError, AttributeError, TypeError):  # not glibc
        ctypes.CDLL(None).malloc_trim(0)


# -- executors -------------------------------------------------------------------------


class _LazyFuture(Future[Any]):
    """A future whose job runs, in this process, the first time its outcome is awaited."""

    def __init__(self, job: Callable[[], Any]) -> None:
        super().__init__()
        self._job: Callable[[], Any] | None = job

    def _run(self) -> None:
        job, self._job = self._job, None
        if job is None or not self.set_running_or_notify_cancel():
            return
        try:
            self.set_result(job())
        except BaseException as exc:
            self.set_exception(exc)

    def result(self, timeout: float | None = None) -> Any:
        self._run()
        return super().result(timeout)

    def exception(self, timeout: float | None = None) -> BaseException | None:
        self._run()
        return super().exception(timeout)


class SerialExecutor(Executor):
    """One worker: this process, one job at a time, each when its result is awaited
    (``--workers 1``). Its jobs poll ``should_stop``, the caller's own flag."""

    def __init__(self, should_stop: StopFlag = lambda: False) -> None:
        self.job_should_stop = should_stop

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        return _LazyFuture(lambda: fn(*args, **kwargs))


class WorkerPool(ProcessPoolExecutor):
    """A pool of ``workers`` processes whose jobs can be asked to stop.

    Every worker turns a stop signal into its stop flag (``worker_should_stop``),
    and a job submitted to a worker already asked to stop raises ``NotStarted``
    instead of running; ``interrupt`` sends SIGINT to the pool's own workers. When
    the pool is left by ``KeyboardInterrupt`` or ``Terminated`` (a second signal:
    the jobs did not stop soon enough) its workers are killed, not awaited.
    """

    job_should_stop = staticmethod(worker_should_stop)

    def __init__(self, workers: int) -> None:
        context = multiprocessing.get_context("fork" if FORK else "spawn")
        self._done: Any = None  # no shared memory here: no progress from the workers
        with contextlib.suppress(OSError):
            self._done = context.RawArray("d", PROGRESS_SLOTS)
        self._ticks = 0
        super().__init__(
            max_workers=workers,
            mp_context=context,
            initializer=_start_worker,
            initargs=(os.getpid(), self._done),
        )
        self.slots = workers
        # The pool starts its workers as jobs are submitted; they are the children
        # of this process that were not there before it.
        self._others = {p.pid for p in multiprocessing.active_children()}

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        # A worker may be started here: it inherits the blocked stop signals, so one
        # that comes before its handlers are installed waits instead of killing it.
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
        # A forked worker flushes the standard streams it inherited when it ends:
        # nothing may wait in their buffers then. Python 3.12+ warns of fork while
        # threads run (a progress bar's): they hold no lock a worker takes.
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError, AttributeError):
                stream.flush()
        try:
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message=".*fork.*", category=DeprecationWarning)
                return super().submit(_unless_stopped, fn, *args, **kwargs)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)

    def tick(self, weight: float) -> Tick:
        """A new job's progress callback, adding ``weight`` per call to ``done``."""
        if self._done is None:
            return Tick(-1, weight)
        slot = self._ticks % PROGRESS_SLOTS
        self._ticks += 1
        self._done[slot] = 0.0
        return Tick(slot, weight)

    def done(self, ticks: list[Tick]) -> float:
        """The progress of the jobs of ``ticks`` so far."""
        if self._done is None:
            return 0.0
        return float(sum(self._done[t.slot] for t in ticks))

    def interrupt(self) -> None:
        """Ask every running job to stop after its current step."""
        for p in self._workers():
            if p.pid is not None:
                with contextlib.suppress(ProcessLookupError):  # it ended since it was listed
                    os.kill(p.pid, signal.SIGINT)

    def __exit__(self, exc_type: Any, exc_val: Any, exc_tb: Any) -> bool | None:
        if exc_type is not None and issubclass(exc_type, (KeyboardInterrupt, Terminated)):
            # A second signal: the jobs did not stop soon enough, so do not wait for
            # them (SIGKILL: a worker takes SIGTERM as a polite request).
            for p in self._workers():
                p.kill()
            self.shutdown(wait=True, cancel_futures=True)
            return False
        return super().__exit__(exc_type, exc_val, exc_tb)

    def _workers(self) -> list[BaseProcess]:
        return [p for p in multiprocessing.active_children() if p.pid not in self._others]


def cores() -> int:
    """The CPUs this process may run on (its affinity where the system says)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def make_executor(workers: int, should_stop: StopFlag, fallback: bool = False) -> Executor:
    """A process pool for ``workers > 1``, its workers started; this process otherwise,
    polling ``should_stop``. Where the system refuses new processes: this process
    with ``fallback`` (a count gdcli chose), else a ``UserError`` (one the user asked
    for)."""
    if workers <= 1:
        return SerialExecutor(should_stop)
    pool = WorkerPool(workers)
    try:
        pool.submit(int).result()  # forked workers all start at the first job
    except (OSError, BrokenProcessPool) as exc:
        pool.shutdown(wait=False, cancel_futures=True)
        if fallback:
            return SerialExecutor(should_stop)
        why = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
        raise UserError(f"--workers {workers}: cannot start worker processes ({why})") from None
    return pool


# -- running jobs ----------------------------------------------------------------------


def slots(executor: Executor) -> int:
    """How many jobs ``executor`` runs at once (``slots`` where it says, else 1)."""
    return int(getattr(executor, "slots", 1))


class _Arrivals:
    """Tells ``arrived`` of every job as it is done, in the order they end."""

    def __init__(self, futures: list[Future[Any]], arrived: Callable[[int], None] | None) -> None:
        self.futures, self.arrived = futures, arrived
        self.pending = list(range(len(futures))) if arrived is not None else []

    def check(self) -> None:
        if not self.pending:
            return
        left = []
        for k in self.pending:
            f = self.futures[k]
            if not f.done():
                left.append(k)
            elif not (f.cancelled() or isinstance(f.exception(), NotStarted)):
                assert self.arrived is not None
                self.arrived(k)
        self.pending = left


def in_order(
    executor: Executor,
    futures: list[Future[Any]],
    should_stop: StopFlag,
    poll: float = 0.05,
    arrived: Callable[[int], None] | None = None,
    watch: Callable[[], None] | None = None,
) -> Iterator[tuple[int, Future[Any]]]:
    """``(index, future)`` for each job, in submission order, once it is done;
    ``arrived(index)`` as each job ends, in the order they end (a progress bar);
    ``watch()`` every ``poll`` seconds while jobs run.

    When ``should_stop`` turns true the jobs that have not started are cancelled and
    the running ones are asked to stop (``executor.interrupt()``, where it has one);
    those still come back, with what they did. Jobs that never ran are left out.
    """
    arrivals = _Arrivals(futures, arrived)
    stopping = False
    for k, fut in enumerate(futures):
        while not stopping:
            if should_stop():
                stopping = True
                _stop(executor, futures)
                break
            with contextlib.suppress(FutureTimeout):
                fut.exception(timeout=poll)  # awaiting a serial job runs it
                break
            arrivals.check()
            if watch is not None:
                watch()
        arrivals.check()
        # a running job that was asked to stop ends after its current step
        if fut.cancelled() or isinstance(fut.exception(), NotStarted):
            continue
        yield k, fut


def _stop(executor: Executor, futures: list[Future[Any]]) -> None:
    for f in futures:
        f.cancel()
    interrupt = getattr(executor, "interrupt", None)
    if interrupt is not None:
        interrupt()


def run_jobs(
    executor: Executor,
    job: Callable[[Item, StopFlag], Result],
    items: list[Item],
    should_stop: StopFlag,
    failed: Callable[[Item, Exception], Result],
    arrived: Callable[[Item], None] | None = None,
    watch: Callable[[], None] | None = None,
) -> Iterator[tuple[Item, Result]]:
    """``(item, job(item, stop))`` for every item run on ``executor``, in item order;
    ``arrived(item)`` as each job ends, in the order they end; ``watch()`` now and
    then while they run.

    ``job`` is a top-level function and ``items`` picklable, so that any executor can
    run them; an executor with ``share`` is shown all items first (a cluster sends
    what they have in common once). A job that raised gives ``failed(item,
    exception)``. Once ``should_stop`` is true no job starts, the running ones end
    after their current step and the results end early.
    """
    stop = getattr(executor, "job_should_stop", worker_should_stop)
    share = getattr(executor, "share", None)
    if share is not None:
        share(items)
    futures = [executor.submit(job, item, stop) for item in items]
    told = None if arrived is None else (lambda k: arrived(items[k]))
    for k, fut in in_order(executor, futures, should_stop, arrived=told, watch=watch):
        try:
            result = fut.result()
        except Exception as exc:  # one failing job does not stop the others
            result = failed(items[k], exc)
        yield items[k], result


def split_items(
    items: list[Item], split: Callable[[Item, int], list[Item]], slots: int
) -> tuple[list[Item], dict[int, int]]:
    """Every item cut into parts (``split(item, slots)``) that run as jobs of their
    own, and the index of each part's item (by the part's ``id``)."""
    parts: list[Item] = []
    owner: dict[int, int] = {}
    for i, item in enumerate(items):
        for piece in split(item, slots):
            parts.append(piece)
            owner[id(piece)] = i
    return parts, owner


def join_parts(
    items: list[Item],
    owner: dict[int, int],
    ran: Iterator[tuple[Item, Result]],
    join: Callable[[Item, list[Result]], Result],
) -> Iterator[tuple[Item, Result]]:
    """The results of ``split_items``' parts put back together: ``join(item,
    results)`` once all of an item's parts arrived, in order. An item with a part
    that never ran (a stop) is left out."""
    counts = collections.Counter(owner.values())
    got: dict[int, list[Result]] = {}
    for part, result in ran:
        i = owner[id(part)]
        got.setdefault(i, []).append(result)
        if len(got[i]) == counts[i]:
            yield items[i], join(items[i], got.pop(i))


def error_text(exc: BaseException) -> str:
    """How a failed job's row names its error: ``Type: message``."""
    return f"{type(exc).__name__}: {exc}"
