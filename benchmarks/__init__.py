"""gdcli's performance benchmarks: ``python -m benchmarks`` (or ``make bench``).

Each benchmark times gdcli against a baseline measured in the same run and states
its target as a ratio between the two, never in absolute seconds. The report is a
table with PASS or MISS per target; the command always exits 0.

To add benchmarks, write a module in this package (``benchmarks/train.py``) with
functions decorated by ``@benchmark("name")`` from ``benchmarks._harness`` that
return a list of ``Result``; ``python -m benchmarks`` imports every module whose
name does not start with an underscore and runs what is in ``REGISTRY``, each
benchmark in a fresh interpreter (``--in-process`` runs them all in one).
"""

from benchmarks._harness import REGISTRY, Benchmark, Result, benchmark, ratio_result

__all__ = ["REGISTRY", "Benchmark", "Result", "benchmark", "ratio_result"]
