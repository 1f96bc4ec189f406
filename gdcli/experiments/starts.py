"""The starts of a many-start descent in chunks: one optimizer's N starts cut into
row ranges that run as jobs of their own (on a pool or a cluster), joined back in
order.

Every start of a descent steps on its own (its optimizer state, its stop), so a
chunk of rows gives the numbers those rows give in the whole array: the starts are
drawn once from the plan's stream and a chunk is a slice of them. The joined run
holds every start's figures, ``starts.csv``, the summary and the trace rows as one
job would give them (the trace's rows of one iteration: those that moved, then
those that stopped without moving, each in start order). Only the median-f
sparkline of a chunked run is the median of the chunks' medians.
"""

from __future__ import annotations

import dataclasses
import itertools
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Executor
from typing import Any

import numpy as np

from gdcli.experiments.context import Progress
from gdcli.experiments.descend import (
    DescendJob,
    DescendJobResult,
    DescentRun,
    TraceBlock,
    descend_job,
)
from gdcli.experiments.jobs import Tick, join_parts, run_jobs, slots, split_items

MIN_CHUNK = 2_000
"""The fewest starts worth a job of their own."""

AUTO_STARTS = 2 * MIN_CHUNK
"""The fewest starts (per optimizer) that ``--workers auto`` splits over the cores."""

AUTO_WORK = 5_000_000
"""The fewest point-iterations (starts x iterations, per optimizer) that ``--workers
auto`` splits: about a fifth of a second on one core, against ~20 ms to fork a worker."""


def auto_workers(starts: int, iterations: int, cores: int) -> int:
    """The processes ``--workers auto`` runs a descent on: one per chunk of its starts
    on ``cores`` slots (``chunk_bounds``) when they are many and their work large,
    else one."""
    if starts < AUTO_STARTS or starts * iterations < AUTO_WORK:
        return 1
    return len(chunk_bounds(starts, cores))


def run_descend_jobs(
    executor: Executor,
    items: list[DescendJob],
    should_stop: Callable[[], bool],
    failed: Callable[[DescendJob, Exception], DescendJobResult],
    bar: PoolProgress | None = None,
) -> Iterator[tuple[DescendJob, DescendJobResult]]:
    """Every optimizer's run, its starts in chunks across ``executor``'s slots; each
    chunk tells ``bar`` of its iterations."""

    def parts(job: DescendJob, k: int) -> list[DescendJob]:
        return [p if bar is None else bar.ticked(job, p) for p in split(job, k)]

    pieces, owner = split_items(items, parts, slots(executor))
    ran = run_jobs(executor, descend_job, pieces, should_stop, failed, watch=bar)
    return join_parts(items, owner, ran, join)


class PoolProgress:
    """The progress bar of a descent whose jobs run in pool workers: each chunk counts
    the iterations of its starts in memory the pool shares (``WorkerPool.tick``),
    which this process reads as it waits. An optimizer shows its counted iterations
    per start until its run is back, then all of them (a start that converged needs
    no more)."""

    INTERVAL = 0.25
    """Seconds between two reads of the counters."""

    def __init__(self, pool: Any, progress: Progress, iterations: int) -> None:
        self.pool, self.progress, self.iterations = pool, progress, iterations
        self.ticks: dict[int, list[Tick]] = {}
        self.starts: dict[int, int] = {}
        self.ended: set[int] = set()
        self.shown = 0
        self.due = time.monotonic() + self.INTERVAL

    @classmethod
    def of(cls, executor: Executor, progress: Progress, iterations: int) -> PoolProgress | None:
        """The bar of ``executor``'s jobs; None where it shares no counters (a cluster)."""
        return cls(executor, progress, iterations) if hasattr(executor, "tick") else None

    def ticked(self, job: DescendJob, part: DescendJob) -> DescendJob:
        """``part`` of ``job`` with a counter that grows by its starts per iteration."""
        tick = self.pool.tick(float(part.plan.starts.shape[0]))
        self.ticks.setdefault(job.index, []).append(tick)
        self.starts[job.index] = int(job.plan.starts.shape[0])
        return dataclasses.replace(part, progress=tick)

    def __call__(self, label: str | None = None) -> None:
        if label is None and time.monotonic() < self.due:
            return
        self.due = time.monotonic() + self.INTERVAL
        now = sum(
            self.iterations if i in self.ended else int(self.pool.done(t) / self.starts[i])
            for i, t in self.ticks.items()
        )
        if now > self.shown or label is not None:
            self.progress.advance(max(0, now - self.shown), label)
            self.shown = max(now, self.shown)

    def end(self, index: int, label: str) -> None:
        """Optimizer ``index``'s run is back: all of its iterations are shown."""
        self.ended.add(index)
        self(label)


def chunk_bounds(n: int, slots: int) -> list[tuple[int, int]]:
    """Row ranges ``[lo, hi)`` covering n starts: one for a single slot or few starts,
    else one per slot of at least ``MIN_CHUNK`` rows (a chunk of more starts steps
    them faster: numpy's calls cost the same per call, and the slots run side by side)."""
    k = 1 if slots <= 1 else max(1, min(slots, n // MIN_CHUNK))
    edges = [n * i // k for i in range(k + 1)]
    return list(itertools.pairwise(edges))


@dataclasses.dataclass(frozen=True)
class ChunkJob(DescendJob):
    """Rows ``lo`` on of a descend job's starts (its plan holds only those rows)."""

    lo: int = 0

    @property
    def chunk(self) -> bool:
        return True


def split(job: DescendJob, slots: int) -> list[DescendJob]:
    bounds = chunk_bounds(int(job.plan.starts.shape[0]), slots)
    if len(bounds) == 1:
        return [job]
    return [
        ChunkJob(dataclasses.replace(job.plan, starts=job.plan.starts[lo:hi]), job.index, lo=lo)
        for lo, hi in bounds
    ]


def join(job: DescendJob, parts: list[DescendJobResult]) -> DescendJobResult:
    """The result of the whole job from its chunks' results, in row order."""
    if len(parts) == 1:
        return parts[0]
    error = next((p.error for p in parts if p.error is not None), None)
    if error is not None:
        return DescendJobResult(job.index, None, [], error)
    runs = [p.run for p in parts if p.run is not None]
    offsets = np.cumsum([0] + [r.n for r in runs[:-1]])
    blocks = _merged_blocks(parts, [int(o) for o in offsets])
    return DescendJobResult(
        job.index, _joined_run(runs), [b for b, _ in blocks], steps=[s for _, s in blocks]
    )


def _joined_run(runs: list[DescentRun]) -> DescentRun:
    first = runs[0]
    cat: dict[str, Any] = {
        f: np.concatenate([getattr(r, f) for r in runs])
        for f in (
            "starts", "x", "f", "grad_norm", "iterations", "status",
            "classification", "nearest", "distance",
        )
    }  # fmt: skip
    longest = max(len(r.history) for r in runs)
    history = [
        float(np.median([r.history[t] for r in runs if t < len(r.history)])) for t in range(longest)
    ]
    return dataclasses.replace(
        first,
        **cat,
        reason=[w for r in runs for w in r.reason],
        seconds=_elapsed(runs),
        history=history,
        warning=first.warning,  # the stability check looks at the first start
    )


def _elapsed(runs: list[DescentRun]) -> float:
    """The time from the first chunk's beginning to the last one's end: chunks that ran
    side by side count once (their sum would be the work, not the time it took)."""
    end = max(r.began + r.seconds for r in runs)
    return max(end - min(r.began for r in runs), max(r.seconds for r in runs))


def _merged_blocks(
    chunks: list[DescendJobResult], offsets: list[int]
) -> list[tuple[tuple[TraceBlock, int], int]]:
    """The chunks' trace blocks as one job's: per iteration, the rows of every chunk
    (starts shifted by the chunk's first row), those that moved before those that
    stopped without moving."""
    by_step: dict[int, list[TraceBlock]] = {}
    for part, lo in zip(chunks, offsets, strict=True):
        for (block, n), step in zip(part.blocks, part.steps, strict=True):
            rows = dict(block)
            rows["start"] = block["start"] + lo
            rows["iteration"] = np.broadcast_to(block["iteration"], (n,))
            by_step.setdefault(step, []).append(rows)
    return [(_one_step(by_step[step], step), step) for step in sorted(by_step)]


def _one_step(blocks: list[TraceBlock], step: int) -> tuple[TraceBlock, int]:
    n = [len(b["start"]) for b in blocks]
    joined: TraceBlock = {}
    for key in blocks[0]:
        values = [b[key] for b in blocks]
        if all(isinstance(v, np.ndarray) for v in values):
            joined[key] = np.concatenate(values)
        elif all(v == values[0] for v in values):
            joined[key] = values[0]
        else:
            joined[key] = np.repeat(np.array(values), n)
    order = np.argsort(joined["iteration"] != step, kind="stable")
    total = int(sum(n))
    if not (order == np.arange(total)).all():
        joined = {
            k: v[order] if isinstance(v, np.ndarray) and v.shape == (total,) else v
            for k, v in joined.items()
        }
    if (joined["iteration"] == step).all():
        joined["iteration"] = step
    return joined, total
