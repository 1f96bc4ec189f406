"""``python -m benchmarks [-k SUBSTRING ...]``: run the benchmarks, print the report.

Each benchmark runs in a fresh interpreter, so that none inherits the heap, the
caches or the lazily imported modules of another (one long benchmark can change
the allocator's behaviour enough to shift the next one's ratio by a fifth).

Always exits 0: a MISS is information for whoever reads the report, and timings
on shared machines are too noisy to fail a build on.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import json
import pkgutil
import subprocess
import sys
import time
import traceback

import benchmarks
from benchmarks._harness import REGISTRY, Benchmark, Result, render


def load_all() -> None:
    """Import every benchmark module of the package, so that each registers itself."""
    for module in pkgutil.iter_modules(benchmarks.__path__):
        if not module.name.startswith("_"):
            importlib.import_module(f"benchmarks.{module.name}")


def run_here(name: str, fn: Benchmark) -> list[Result] | None:
    """The results of one benchmark run in this process; None when it fails."""
    try:
        return fn()
    except Exception:  # one broken benchmark must not hide the others
        print(f"benchmark {name} failed:", file=sys.stderr)
        traceback.print_exc()
        return None


def run_apart(name: str) -> list[Result] | None:
    """The results of one benchmark run in a fresh interpreter; None when it fails."""
    child = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--child", name],
        stdout=subprocess.PIPE,
        text=True,
        check=False,
    )
    try:
        rows = json.loads(child.stdout) if child.returncode == 0 else None
    except json.JSONDecodeError:
        rows = None
    if rows is None:
        print(f"benchmark {name} failed (exit code {child.returncode})", file=sys.stderr)
        return None
    return [Result(**row) for row in rows]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument(
        "-k",
        dest="only",
        action="append",
        default=[],
        metavar="SUBSTRING",
        help="run only the benchmarks whose name contains SUBSTRING (repeatable)",
    )
    parser.add_argument(
        "--in-process",
        action="store_true",
        help="run every benchmark in this interpreter (for profiling; less isolated)",
    )
    parser.add_argument("--child", metavar="NAME", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    load_all()

    if args.child is not None:  # one benchmark for a parent process: JSON on stdout
        own = run_here(args.child, dict(REGISTRY)[args.child])
        if own is None:
            return 1
        print(json.dumps([dataclasses.asdict(r) for r in own]))
        return 0

    selected = [(n, fn) for n, fn in REGISTRY if not args.only or any(s in n for s in args.only)]
    results: list[Result] = []
    failed = []
    for name, fn in selected:
        print(f"running {name} ...", file=sys.stderr, flush=True)
        t0 = time.perf_counter()
        got = run_here(name, fn) if args.in_process else run_apart(name)
        if got is None:
            failed.append(name)
            continue
        results.extend(got)
        print(f"  {time.perf_counter() - t0:.1f} s", file=sys.stderr, flush=True)
    print(render(results))
    targeted = [r for r in results if r.passed is not None]
    missed = [r.name for r in targeted if not r.passed]
    summary = f"{len(targeted) - len(missed)} of {len(targeted)} targets met"
    if missed:
        summary += f"; missed: {', '.join(missed)}"
    if failed:
        summary += f"; failed to run (see stderr): {', '.join(failed)}"
    print(summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
