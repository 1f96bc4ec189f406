"""The in-place paths (optimizers' ``update_into``, the descent's fast loop) give the
pure path's numbers to the last bit."""

from __future__ import annotations

import numpy as np
import pytest

from gdcli.optim import make_optimizer

CASES = [
    ("gd", {"lr": 0.01}),
    ("gd", {"lr": 0.01, "weight_decay": 0.1}),
    ("momentum", {"lr": 0.01, "momentum": 0.9}),
    ("momentum", {"lr": 0.01, "momentum": 0.9, "dampening": 0.3}),
    ("nesterov", {"lr": 0.01, "momentum": 0.8}),
    ("adam", {"lr": 0.05}),
    ("adam", {"lr": 0.05, "weight_decay": 0.01, "amsgrad": True}),
    ("adamw", {"lr": 0.05}),
]


@pytest.mark.parametrize("shape", [(33, 3), (1, 2), (1, 5)])
@pytest.mark.parametrize(("name", "hyper"), CASES)
def test_update_into_is_update_to_the_last_bit(name: str, hyper: dict, shape: tuple) -> None:
    """Many rows (numpy calls into buffers) and few numbers (Python floats for Adam)."""
    rng = np.random.default_rng(4)
    X = rng.normal(size=shape)
    pure, fast = make_optimizer(name, **hyper), make_optimizer(name, **hyper)
    assert fast.update_into is not None, name
    s_pure, s_fast = pure.init([X]), fast.init([X.copy()])
    out = [np.empty_like(X)]
    for _ in range(25):
        g = rng.normal(size=X.shape) * rng.choice([1e-3, 1.0, 1e3], size=X.shape)
        before = g.copy()
        u, s_pure = pure.update([g], s_pure, [X])
        s_fast = fast.update_into([g], s_fast, [X], out)
        assert out[0].tobytes() == u[0].tobytes()
        assert g.tobytes() == before.tobytes()  # the gradient is only read
        assert s_fast.count == s_pure.count
        for a, b in zip(s_fast.parts, s_pure.parts, strict=True):
            for x, y in zip(a, b, strict=True):
                for p, q in zip(x, y, strict=True):
                    assert p.tobytes() == q.tobytes()
        X = X + u[0]


def test_optimizers_without_an_in_place_path_say_so() -> None:
    assert make_optimizer("newton").update_into is None
    assert make_optimizer("adam", clip_norm=1.0).update_into is None


def test_adam_in_floats_leaves_a_zero_denominator_to_numpy() -> None:
    """eps * (1 - b1) underflows to 0 and the gradient is 0: 0/0 is nan in numpy, an
    exception in Python."""
    pure, fast = make_optimizer("adam", eps=5e-324), make_optimizer("adam", eps=5e-324)
    X = np.zeros((1, 2))
    out = [np.empty_like(X)]
    with np.errstate(all="ignore"):
        u, _ = pure.update([np.zeros((1, 2))], pure.init([X]), [X])
        assert fast.update_into is not None
        fast.update_into([np.zeros((1, 2))], fast.init([X]), [X], out)
    assert np.isnan(out[0]).all() and out[0].tobytes() == u[0].tobytes()
