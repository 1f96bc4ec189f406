"""What every benchmark shares: the result record, the registry and the timers.

A benchmark never compares with a fixed number of seconds: the machines it runs on
are shared and noisy, so each one times gdcli and a baseline in the same run,
interleaved, and states its target as a ratio (or a difference) between the two.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Result:
    """One line of the report: gdcli's number, the baseline's, and the verdict.

    ``value`` and ``reference`` are in ``unit``; ``score`` is the compared quantity
    (a ratio or a difference) and ``target`` says in words what it must satisfy.
    """

    name: str
    measured: str
    baseline: str
    value: float
    reference: float
    unit: str
    score: float
    score_label: str
    target: str
    passed: bool | None  # None: a figure for the reader, with no target


Benchmark = Callable[[], list[Result]]
"""A benchmark: takes nothing, times gdcli against its baseline, returns result lines."""

REGISTRY: list[tuple[str, Benchmark]] = []
"""Every benchmark in registration order, as ``(name, function)``.

A module of this package registers its benchmarks with ``@benchmark("name")``;
``python -m benchmarks`` imports every module whose name does not start with an
underscore, so a new module (``benchmarks/train.py``) needs nothing else.
"""


def benchmark(name: str) -> Callable[[Benchmark], Benchmark]:
    """Decorator adding a benchmark function to ``REGISTRY`` under ``name``."""

    def add(fn: Benchmark) -> Benchmark:
        if any(n == name for n, _ in REGISTRY):
            raise ValueError(f"benchmark {name!r} is registered twice")
        REGISTRY.append((name, fn))
        return fn

    return add


def time_once(fn: Callable[[], object]) -> float:
    """Wall-clock seconds of one call of ``fn``."""
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def interleaved(
    candidates: dict[str, Callable[[], object]], repeats: int, warmup: int = 1
) -> dict[str, list[float]]:
    """Seconds of ``repeats`` calls of each candidate, taken in turn (a, b, a, b, ...)
    so that a slow patch of a shared machine hits every candidate alike.

    ``warmup`` untimed rounds come first (imports, caches, page faults).
    """
    for _ in range(warmup):
        for fn in candidates.values():
            fn()
    times: dict[str, list[float]] = {key: [] for key in candidates}
    for _ in range(repeats):
        for key, fn in candidates.items():
            times[key].append(time_once(fn))
    return times


def best(times: list[float]) -> float:
    """The fastest of repeated timings: the run least disturbed by other load."""
    return min(times)


def median(times: list[float]) -> float:
    return statistics.median(times)


def ratio_result(
    name: str,
    measured: str,
    baseline: str,
    value: float,
    reference: float,
    unit: str,
    *,
    at_most: float | None = None,
    at_least: float | None = None,
    info: bool = False,
) -> Result:
    """A result whose score is ``value / reference``, bounded above or below, or
    (``info``) shown without a target."""
    score = value / reference
    if info:
        return Result(name, measured, baseline, value, reference, unit, score, "ratio", "", None)
    if at_most is not None:
        target, passed = f"<= {at_most:g}", score <= at_most
    elif at_least is not None:
        target, passed = f">= {at_least:g}", score >= at_least
    else:
        raise ValueError("give at_most or at_least")
    return Result(name, measured, baseline, value, reference, unit, score, "ratio", target, passed)


def render(results: list[Result]) -> str:
    """The report as a plain-text table (no colour: it goes to logs as often as to a tty)."""
    header = ("benchmark", "gdcli", "baseline", "compared", "target", "")
    rows = [header]
    for r in results:
        rows.append(
            (
                r.name,
                f"{_num(r.value)} {r.unit}",
                f"{_num(r.reference)} {r.unit}",
                f"{r.score_label} {r.score:.3g}",
                r.target,
                {True: "PASS", False: "MISS", None: "info"}[r.passed],
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = []
    for k, row in enumerate(rows):
        cells = [
            cell.ljust(w) if i in (0, 4, 5) else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  ".join(cells).rstrip())
        if k == 0:
            lines.append("  ".join("-" * w for w in widths))
    legend = [f"  {r.name}: {r.measured}  vs  {r.baseline}" for r in results]
    return "\n".join([*lines, "", *legend])


def _num(x: float) -> str:
    return f"{x:.4g}"
