"""Descent: gdcli's runner against the loop a person would write by hand in numpy.

Both sides run Adam (torch's defaults, lr 0.01) on the 2-D Rosenbrock function
for a fixed number of iterations with a tolerance too small to stop early. The
hand loop uses the analytic gradient and the Adam update written inline on an
(N, 2) array; per iteration it also computes f and the gradient norms, as the
runner reports both and stops on the norm. gdcli's side is ``Descent.steps()``
consumed to the end, nothing written to disk.

Both sides start from the same points and must end at the same points (to 1e-9
relative), so that the comparison is between two ways of doing the same work.
"""

from __future__ import annotations

import numpy as np

from benchmarks._harness import Result, benchmark, best, interleaved, ratio_result
from gdcli.engine.functions import resolve
from gdcli.experiments.descend import Descent
from gdcli.optim import make_optimizer

LR = 0.01
B1, B2, EPS = 0.9, 0.999, 1e-8
TOLERANCE = 0.0  # no norm is below it: both sides take every iteration

SINGLE_ITERATIONS = 20_000
SINGLE_START = (-1.5, 2.0)
MAX_SINGLE_RATIO = 1.3  # the runner at most 1.3x the hand loop, one start

MANY_STARTS = 10_000
MANY_ITERATIONS = 200
MIN_THROUGHPUT_RATIO = 0.5

AGREEMENT = 1e-9
# 20,000 Adam steps amplify the last-bit differences between the analytic gradient
# and the evaluation graph's (both sides circle the minimum at the end)
SINGLE_AGREEMENT = 1e-3


def rosenbrock(X: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """f(x, y) = 100 (y - x^2)^2 + (1 - x)^2 at the rows of X (N, 2): values (N,),
    gradients (N, 2) and gradient norms (N,)."""
    x, y = X[:, 0], X[:, 1]
    r = y - x * x
    f = 100.0 * r * r + (1.0 - x) ** 2
    gx = -400.0 * x * r - 2.0 * (1.0 - x)
    gy = 200.0 * r
    return f, np.stack([gx, gy], axis=1), np.sqrt(gx * gx + gy * gy)


def hand_adam_rosenbrock(
    X0: np.ndarray, iterations: int, tol: float
) -> tuple[np.ndarray, np.ndarray]:
    """Adam from the rows of X0 (N, 2); stops early when every row's gradient norm
    is below ``tol``. Returns the final points (N, 2) and values (N,)."""
    X = X0.copy()
    m = np.zeros_like(X)
    v = np.zeros_like(X)
    f, g, gnorm = rosenbrock(X)
    for t in range(1, iterations + 1):
        if (gnorm < tol).all():
            break
        m = B1 * m + (1.0 - B1) * g
        v = B2 * v + (1.0 - B2) * (g * g)
        m_hat = m / (1.0 - B1**t)
        v_hat = v / (1.0 - B2**t)
        X = X - LR * m_hat / (np.sqrt(v_hat) + EPS)
        f, g, gnorm = rosenbrock(X)
    return X, f


def gdcli_adam_rosenbrock(
    X0: np.ndarray, iterations: int, tol: float
) -> tuple[np.ndarray, np.ndarray]:
    """The same descent through gdcli's runner: final points (N, 2) and values (N,)."""
    fn = resolve("rosenbrock", dimension=2)
    run = Descent(fn, make_optimizer("adam", lr=LR), X0, iterations=iterations, tolerance=tol)
    steps = 0
    for _ in run.steps():
        steps += 1
    if steps != iterations + 1:
        raise RuntimeError(f"gdcli stopped after {steps - 1} of {iterations} iterations")
    return run.run.x, run.run.f


def _gap(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(a - b)) / max(1.0, float(np.max(np.abs(b)))))


def _check_same_work(X0: np.ndarray, iterations: int, agreement: float = AGREEMENT) -> str:
    """Run both sides once; raise unless they end at the same points and values."""
    (X_g, f_g), (X_h, f_h) = (
        gdcli_adam_rosenbrock(X0, iterations, TOLERANCE),
        hand_adam_rosenbrock(X0, iterations, TOLERANCE),
    )
    gap = max(_gap(X_g, X_h), _gap(f_g, f_h))
    if not gap <= agreement:
        raise RuntimeError(f"gdcli and the hand loop disagree by {gap:.3g} (relative)")
    return f"final points agree to {gap:.1g}"


@benchmark("descend-1")
def single_start() -> list[Result]:
    """Per-iteration time for one start: the fixed cost of each step."""
    X0 = np.array([SINGLE_START])
    n = SINGLE_ITERATIONS
    note = _check_same_work(X0, n, SINGLE_AGREEMENT)
    times = interleaved(
        {
            "gdcli": lambda: gdcli_adam_rosenbrock(X0, n, TOLERANCE),
            "hand": lambda: hand_adam_rosenbrock(X0, n, TOLERANCE),
        },
        repeats=5,
    )
    value, reference = best(times["gdcli"]) / n * 1e6, best(times["hand"]) / n * 1e6
    result = ratio_result(
        "descend-1",
        f"Descent.steps(), Adam on Rosenbrock, 1 start, {n} iterations ({note})",
        "hand-written numpy loop, analytic gradient, inline Adam",
        value,
        reference,
        "us/it",
        at_most=MAX_SINGLE_RATIO,
    )
    return [result]


@benchmark("descend-many")
def many_starts() -> list[Result]:
    """Point-iterations per second for many starts stepping together."""
    rng = np.random.default_rng(0)
    X0 = rng.uniform([-2.0, -1.0], [2.0, 3.0], size=(MANY_STARTS, 2))
    n = MANY_ITERATIONS
    note = _check_same_work(X0, n)
    times = interleaved(
        {
            "gdcli": lambda: gdcli_adam_rosenbrock(X0, n, TOLERANCE),
            "hand": lambda: hand_adam_rosenbrock(X0, n, TOLERANCE),
        },
        repeats=3,
    )
    work = MANY_STARTS * n / 1e6
    value, reference = work / best(times["gdcli"]), work / best(times["hand"])
    result = ratio_result(
        "descend-many",
        f"Descent.steps(), Adam on Rosenbrock, {MANY_STARTS} starts, {n} iterations ({note})",
        "the same hand-written loop on the (N, 2) array",
        value,
        reference,
        "M pt-it/s",
        at_least=MIN_THROUGHPUT_RATIO,
    )
    return [result]
