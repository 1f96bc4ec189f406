"""Shared numerical yardsticks: float64 central differences and a relative error."""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator

import numpy as np
import pytest

Scalar = Callable[[np.ndarray], float]

# A suite started in the background of a non-interactive shell (or under nohup)
# inherits Ctrl-C (or SIGHUP) ignored, and so would every gdcli process it starts,
# which rightly keeps an ignored signal ignored: the tests that stop gdcli with a
# signal need the usual dispositions.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)
if signal.getsignal(signal.SIGHUP) is signal.SIG_IGN:
    signal.signal(signal.SIGHUP, signal.SIG_DFL)


def central_gradient(f: Scalar, x: np.ndarray, rel_step: float = 1e-6) -> np.ndarray:
    """d f / d x by central differences, one coordinate at a time; same shape as x.

    The step is ``rel_step * max(1, |x_i|)``; dividing by the difference of the two
    shifted points as stored (not by 2h) removes the rounding of ``x_i +- h``.
    """
    x = np.asarray(x, dtype=np.float64)
    g = np.empty_like(x)
    for i in np.ndindex(x.shape):
        h = rel_step * max(1.0, abs(x[i]))
        hi, lo = x.copy(), x.copy()
        hi[i] += h
        lo[i] -= h
        g[i] = (f(hi) - f(lo)) / (hi[i] - lo[i])
    return g


def relative_error(a: np.ndarray, b: np.ndarray) -> float:
    """max |a - b| / max(1, max |a|, max |b|): relative for large entries, absolute near 0."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    scale = max(1.0, float(np.max(np.abs(a), initial=0.0)), float(np.max(np.abs(b), initial=0.0)))
    return float(np.max(np.abs(a - b), initial=0.0)) / scale


@pytest.fixture(scope="session")
def fd_gradient() -> Callable[..., np.ndarray]:
    return central_gradient


@pytest.fixture(scope="session")
def rel_err() -> Callable[[np.ndarray, np.ndarray], float]:
    return relative_error


@pytest.fixture(autouse=True)
def stop_signal_handlers_are_left_as_found() -> Iterator[None]:
    """gdcli run in-process (as CliRunner does) must leave the caller's handlers of the
    stop signals as it found them: a handler left behind, or a signal left ignored,
    changes how every later test and every process it starts reacts to Ctrl-C."""
    stops = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    before = {s: signal.getsignal(s) for s in stops}
    yield
    after = {s: signal.getsignal(s) for s in stops}
    for s in stops:
        signal.signal(s, before[s])  # so that one culprit does not fail the tests after it
    assert after == before, f"the test changed the stop-signal handlers: {before} -> {after}"
