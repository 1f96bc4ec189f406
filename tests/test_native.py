"""The compiled loops (``gdcli/engine/_native.c``) give numpy's numbers to the last bit:
Adam's update, the gradient norms and screen of a descent, and the replayed program's
runs of exact operations, against the numpy paths they stand for."""

from __future__ import annotations

import copy
import os
import pickle
import shutil
import subprocess
import sys
import sysconfig
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from bitwise import bits
from hypothesis import given, settings
from hypothesis import strategies as st

from gdcli.engine import autograd as ag
from gdcli.engine import native
from gdcli.engine.functions import LIBRARY, resolve
from gdcli.engine.replay import CompiledRun, NativeProgram, Program
from gdcli.experiments import descend as descend_module
from gdcli.experiments.descend import Descent, _RunawayLimits
from gdcli.optim import make_optimizer
from gdcli.optim.transforms import _adam_arrays, _adam_native, scale_by_adagrad, scale_by_rms

built = pytest.mark.skipif(native.kernels is None, reason="gdcli was built without a C compiler")

EDGES = [0.0, -0.0, 1.0, -1.0, 1e-310, -1e300, 1e300, np.inf, -np.inf, np.nan]


def test_the_loops_are_built_where_there_is_a_c_compiler() -> None:
    """An install on a machine with a compiler and Python's headers builds them (the
    extension is optional: without them, gdcli takes its numpy paths); a failed build
    must not pass unseen."""
    cc = (sysconfig.get_config_var("CC") or "cc").split()[0]
    headers = Path(sysconfig.get_paths()["include"], "Python.h")
    if shutil.which(cc) is None or not headers.exists():
        pytest.skip("no C compiler or no Python headers here")
    if os.environ.get("GDCLI_NATIVE") == "0":
        pytest.skip("GDCLI_NATIVE=0 turns the loops off")
    assert native.kernels is not None


def _with_edges(rng: np.random.Generator, shape: tuple[int, ...], share: float) -> np.ndarray:
    a = rng.standard_normal(shape) * np.exp(rng.uniform(-30, 30, shape))
    mask = rng.random(shape) < share
    a[mask] = rng.choice(EDGES, size=int(mask.sum()))
    return a


# -- Adam -----------------------------------------------------------------------------


@built
@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 40),
    t=st.integers(1, 3000),
    amsgrad=st.booleans(),
    b1=st.sampled_from([0.0, 0.5, 0.9, 0.99]),
    b2=st.sampled_from([0.0, 0.9, 0.999]),
    eps=st.sampled_from([0.0, 1e-8, 1.0]),
)
def test_adam_loop_equals_numpy_calls_bit_for_bit(
    seed: int, n: int, t: int, amsgrad: bool, b1: float, b2: float, eps: float
) -> None:
    rng = np.random.default_rng(seed)
    g = _with_edges(rng, (n, 3), 0.1)
    # v and v_max signed too: their ties of 0.0 and -0.0 are numpy's maximum's to settle
    m, v = _with_edges(rng, (n, 3), 0.05), _with_edges(rng, (n, 3), 0.05)
    vmax = _with_edges(rng, (n, 3), 0.05) if amsgrad else None
    moments = (b1, b2, eps, t)
    ours = [a.copy() for a in (m, v)] + [None if vmax is None else vmax.copy()]
    theirs = [a.copy() for a in (m, v)] + [None if vmax is None else vmax.copy()]
    out_ours, out_theirs = np.empty_like(g), np.empty_like(g)
    with np.errstate(all="ignore"):
        assert _adam_native(g, ours[0], ours[1], out_ours, moments, ours[2])
        _adam_arrays(g, theirs[0], theirs[1], out_theirs, np.empty_like(g), moments, theirs[2])
    assert bits(out_ours) == bits(out_theirs)
    for a, b in zip(ours, theirs, strict=True):
        assert bits(a) == bits(b)


@built
def test_amsgrad_keeps_numpys_zero_on_a_tie() -> None:
    """np.maximum(-0.0, 0.0) is 0.0: the second on a tie."""
    g, m = np.zeros((1, 2)), np.zeros((1, 2))
    v, vmax = np.zeros((1, 2)), np.full((1, 2), -0.0)  # v stays 0.0 * 1 + 0 * 0 = 0.0
    ours, theirs = vmax.copy(), vmax.copy()
    moments = (0.9, 1.0, 0.0, 1)
    with np.errstate(all="ignore"):  # 0 / 0: the step is nan, as in numpy
        _adam_native(g, m.copy(), v.copy(), np.empty((1, 2)), moments, ours)
        _adam_arrays(g, m.copy(), v.copy(), np.empty((1, 2)), np.empty((1, 2)), moments, theirs)
    assert bits(ours) == bits(theirs) and not np.signbit(ours).any()


@built
def test_adam_loop_reads_a_gradient_that_is_also_its_output() -> None:
    """In a chain the previous transform's output is the gradient: g is out."""
    rng = np.random.default_rng(3)
    g = rng.standard_normal((50, 2))
    m, v = np.zeros_like(g), np.zeros_like(g)
    expect = np.empty_like(g)
    _adam_arrays(g, m.copy(), v.copy(), expect, np.empty_like(g), (0.9, 0.999, 1e-8, 1), None)
    out = g.copy()
    assert _adam_native(out, m, v, out, (0.9, 0.999, 1e-8, 1), None)
    assert out.tobytes() == expect.tobytes()
    # at t = 1, m_hat = g and sqrt(v_hat) = |g|: the step is g / (|g| + eps)
    assert np.allclose(out, g / (np.abs(g) + 1e-8), rtol=1e-12)


@built
def test_adam_loop_leaves_float32_and_strided_leaves_to_numpy() -> None:
    g = np.ones((4, 2), dtype=np.float32)
    m, v = np.zeros_like(g), np.zeros_like(g)
    assert not _adam_native(g, m, v, np.empty_like(g), (0.9, 0.999, 1e-8, 1), None)
    g64 = np.ones((4, 4))[:, ::2]
    m64, v64 = np.zeros((4, 2)), np.zeros((4, 2))
    assert not _adam_native(g64, m64, v64, np.empty((4, 2)), (0.9, 0.999, 1e-8, 1), None)
    assert not m64.any()


@pytest.mark.parametrize("loops", [True, False], ids=["compiled", "numpy"])
@pytest.mark.parametrize(
    "transform",
    [
        scale_by_rms(0.99, 1e-8, centered=False),
        scale_by_rms(0.9, 1e-3, centered=True),
        scale_by_adagrad(1e-10, 0.1),
    ],
    ids=["rms", "rms-centered", "adagrad"],
)
def test_rmsprop_and_adagrad_in_place_equal_their_pure_update(
    transform: Any, loops: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The in-place paths (compiled, and numpy's calls into buffers) against the
    update that makes new arrays, for 30 updates with edge values in g; g is out."""
    if loops and native.kernels is None:
        pytest.skip("gdcli was built without a C compiler")
    if not loops:
        monkeypatch.setattr(native, "kernels", None)
    rng = np.random.default_rng(7)
    params = [np.zeros((300, 3))]
    pure, state = transform.init(params), transform.init(params)
    for count in range(30):
        g = _with_edges(rng, (300, 3), 0.02 if count % 3 else 0.0)
        with np.errstate(all="ignore"):
            expect, pure = transform.update([g], pure, params, count, None)
            out = [g.copy()]
            transform.inplace(out, state, params, count, out)
        assert bits(out[0]) == bits(expect[0])
        for ours, theirs in zip(state, pure, strict=True):
            for a, b in zip(ours, theirs, strict=True):
                assert bits(a) == bits(b)


# -- norms and screen -------------------------------------------------------------------


@built
@pytest.mark.parametrize("d", range(1, 8))
@pytest.mark.parametrize("n", [1, 7, 64, 301])
def test_norms_and_screen_equal_the_numpy_ones(d: int, n: int) -> None:
    rng = np.random.default_rng(d * 1000 + n)
    for trial in range(12):
        share = 0.0 if trial % 3 == 0 else 0.02
        g, X = _with_edges(rng, (n, d), share), _with_edges(rng, (n, d), share)
        f = _with_edges(rng, (n,), share)
        limits = _RunawayLimits(
            np.full(n, rng.choice([np.inf, 1e200, 1e10])), np.full(n, rng.choice([1e300, 1e12]))
        )
        tol = float(rng.choice([0.0, 1e-6, 1e20]))
        norms = np.empty(n)
        with np.errstate(all="ignore"):
            got = descend_module._native_screen(f, g, X, norms, tol, limits)
            expect_norms = descend_module._row_norms(g, np.empty(n), np.empty(n))
            clean, some = descend_module._screen(f, expect_norms, X, tol, limits)
        assert got is not None
        assert bits(norms) == bits(expect_norms)
        assert got[0] == clean
        if clean:  # a screen that fails is followed row by row, its second answer unused
            assert got[1] == some


@built
def test_screen_catches_each_kind_of_trouble() -> None:
    n, d = 300, 2
    f, g, X = np.ones(n), np.ones((n, d)), np.ones((n, d))
    limits = _RunawayLimits(np.full(n, 10.0), np.full(n, 100.0))
    assert descend_module._native_screen(f, g, X, np.empty(n), 1.0, limits) == (True, False)
    for array, at, value in [
        (f, (7,), np.nan),
        (f, (7,), -np.inf),
        (f, (7,), 11.0),  # above the runaway limit of f
        (g, (7, 1), np.inf),
        (g, (7, 1), 1e200),  # finite, but its norm overflows
        (X, (299, 0), -101.0),  # beyond the runaway limit of |x|
        (X, (0, 1), np.nan),
    ]:
        keep = array[at]
        array[at] = value
        got = descend_module._native_screen(f, g, X, np.empty(n), 1.0, limits)
        assert got is not None and got[0] is False, (at, value)
        array[at] = keep
    g[5] = 0.0
    assert descend_module._native_screen(f, g, X, np.empty(n), 1.0, limits) == (True, True)


# -- replayed programs ----------------------------------------------------------------


def _runs(program: Program) -> list[NativeProgram]:
    return [k.program for k in program._kernels if isinstance(k, CompiledRun)]


def _cases() -> list[tuple[str, int]]:
    out = []
    for name, entry in sorted(LIBRARY.items()):
        dims = [entry.dimension] if entry.dimension else [2, 3, 5]
        out += [(name, d) for d in dims]
    return out


@built
@pytest.mark.parametrize(("name", "d"), _cases())
@pytest.mark.parametrize("n", [2, 3, 257, 600])  # blocks are 256 rows
def test_compiled_runs_equal_numpy_kernels_and_the_graph(
    name: str, d: int, n: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every built-in function, over fewer rows than a block, one more than a block and
    several blocks, at random points and at signed zeros, infinities and nans."""
    fn = resolve(name, dimension=d)
    rng = np.random.default_rng(n * 10 + d)
    X = rng.uniform(-3.0, 3.0, size=(n, d))
    compiled = Program.record(fn.objective, X)
    assert compiled is not None
    if n != d:
        assert _runs(compiled), f"{name}: no run of its program was compiled"
    with monkeypatch.context() as m:
        m.setattr(native, "kernels", None)
        plain = Program.record(fn.objective, X)
    assert plain is not None and not _runs(plain)
    for k in range(4):
        P = rng.uniform(-3.0, 3.0, size=X.shape)
        if k % 2:
            P[rng.random(P.shape) < 0.3] = rng.choice(EDGES)
        with np.errstate(all="ignore"):
            f, g = compiled.value_and_grad(P)
            f1, g1 = plain.value_and_grad(P)
            f0, g0 = ag.value_and_grad(fn.objective, P)
        assert bits(f) == bits(f1) == bits(f0)
        assert bits(g) == bits(g1) == bits(g0)


@built
def test_a_run_whose_rows_would_mix_is_left_to_numpy() -> None:
    """Writing element i + 1 of an array that element i is read from: one pass over
    the whole array gives a prefix sum of sorts; blocks would give other numbers."""
    n = 300
    buf = np.arange(n + 1, dtype=np.float64)
    shifted = [partial(np.add, buf[:-1], 1.0, buf[1:]), partial(np.multiply, buf[1:], 2.0, buf[1:])]
    out = np.zeros(n)
    kept = [np.zeros((n, 2)), out]
    assert NativeProgram.compile(shifted, n, kept) == shifted
    cols = np.zeros((n, 2))
    fine = [
        partial(np.add, cols[:, 0], 1.0, cols[:, 1]),
        partial(np.multiply, cols[:, 1], 3.0, out),
    ]
    compiled = NativeProgram.compile(fine, n, [np.zeros((n, 2)), out])
    assert len(compiled) == 1 and isinstance(compiled[0], CompiledRun)
    compiled[0]()
    assert np.array_equal(out, np.full(n, 3.0)) and np.array_equal(cols[:, 1], np.ones(n))


@built
def test_arrays_that_are_not_a_row_per_point_are_left_to_numpy() -> None:
    """A (1, n) array has n numbers but one row: its columns are not the points."""
    n = 50
    a, b = np.arange(n, dtype=np.float64).reshape(1, n), np.empty((1, n))
    kernels = [partial(np.multiply, a, 2.0, b), partial(np.add, b, 1.0, b)]
    assert NativeProgram.compile(kernels, n, [np.zeros((n, 2))]) == kernels


@built
@pytest.mark.parametrize(("n", "d"), [(3, 5), (5, 2), (8, 3), (130, 3)])
def test_a_transposed_intermediate_is_left_to_numpy(n: int, d: int) -> None:
    """f = sum_i x_i^2 through a (d, n) array: not a row per point (it once wrote past
    its buffers or gave wrong gradients)."""

    def objective(X: ag.Tensor) -> ag.Tensor:
        return (X.T * X.T).sum(axis=0)

    X = np.random.default_rng(0).uniform(-1, 1, (n, d))
    program = Program.record(objective, X)
    assert program is not None
    f, g = program.value_and_grad(X)
    assert bits(f) == bits((X * X).sum(axis=1)) and bits(g) == bits(2.0 * X)


@built
def test_an_operation_that_overwrites_its_own_input_is_left_to_numpy() -> None:
    """A[:, 1:] = A[:, 1:] + A[:, :-1] reads column 1 after numpy's copy of it, not
    after this operation wrote it."""
    n = 4
    A = np.arange(12.0).reshape(n, 3)
    out = np.zeros(n)
    kernels = [
        partial(np.add, A[:, 1:], A[:, :-1], A[:, 1:]),
        partial(np.multiply, A[:, 0], 1.0, out),
    ]
    expect = A.copy()
    expect[:, 1:] = expect[:, 1:] + expect[:, :-1]
    for k in NativeProgram.compile(kernels, n, [np.zeros((n, 2)), out]):
        k()
    assert np.array_equal(A, expect) and np.array_equal(A[:, 2], [3.0, 9.0, 15.0, 21.0])
    M = np.arange(12.0).reshape(n, 3)
    column = [partial(np.multiply, M[:, :1], 3.0, M), partial(np.add, M[:, 0], 1.0, out)]
    assert NativeProgram.compile(column, n, [np.zeros((n, 2)), out]) == column


@built
def test_rows_read_in_reverse_are_left_to_numpy() -> None:
    """Column 0 written with its rows reversed, then read from element 1 on as n
    numbers: blocks of rows would read rows that a later block writes."""
    n = 300
    M = np.arange(3.0 * n).reshape(n, 3)
    src, out = -np.arange(n) - 1.0, np.zeros(n)
    kernels = [
        partial(np.add, src, 0.0, M[::-1, 0]),
        partial(np.multiply, M.reshape(-1)[1 : n + 1], 1.0, out),
    ]
    assert NativeProgram.compile(kernels, n, [np.zeros((n, 2)), M, out]) == kernels


@built
def test_a_value_read_outside_its_run_is_kept_in_memory() -> None:
    """a = x*x and b = a + 1 compile; np.exp then reads a, so a may not be scratch."""
    n = 200
    x = np.linspace(-1.0, 1.0, n)
    a, b, e = np.empty(n), np.empty(n), np.empty(n)
    kernels = [
        partial(np.multiply, x, x, a),
        partial(np.add, a, 1.0, b),
        partial(np.exp, a, e),
    ]
    compiled = NativeProgram.compile(kernels, n, [np.zeros((n, 3)), b])
    assert len(compiled) == 2 and isinstance(compiled[0], CompiledRun)
    assert not compiled[0].program.scratch
    for k in compiled:
        k()
    assert np.array_equal(e, np.exp(x * x)) and np.array_equal(b, x * x + 1.0)


@built
def test_a_compiled_run_is_neither_pickled_nor_copied() -> None:
    """Its addresses belong to this process's arrays: a copy would write into them."""
    fn = resolve("rosenbrock", dimension=2)
    program = Program.record(fn.objective, np.zeros((10, 2)))
    assert program is not None
    run = program._kernels[0]
    assert isinstance(run, CompiledRun)
    with pytest.raises(TypeError, match="addresses"):
        pickle.dumps(run)
    with pytest.raises(TypeError, match="addresses"):
        copy.deepcopy(run)


@built
def test_malformed_programs_are_refused_not_run() -> None:
    run = native.kernels.run_program  # type: ignore[union-attr]
    a = np.zeros(4)
    addr = np.array([a.__array_interface__["data"][0]], dtype=np.int64)
    one = np.ones(1, dtype=np.int64)
    with pytest.raises(ValueError, match="malformed"):
        run(np.array([[9, 0, 0, 0]], dtype=np.int64), addr, one, one, 4)
    with pytest.raises(ValueError, match="malformed"):
        run(np.array([[1, 0, 0, 3]], dtype=np.int64), addr, one, one, 4)
    with pytest.raises(TypeError, match="int64"):
        run(np.zeros((1, 4)), addr, one, one, 4)
    with pytest.raises(TypeError, match="float64"):
        native.kernels.adam(*(np.zeros(3, dtype=np.float32),) * 3, None, np.zeros(3), *[0.5] * 7)  # type: ignore[union-attr]


# -- whole descents ---------------------------------------------------------------------

OPTIMIZERS = [
    ("adam", {"lr": 0.05}),
    ("adam", {"lr": 0.05, "amsgrad": True}),
    ("adamw", {"lr": 0.05}),
    ("gd", {"lr": 0.002}),
    ("momentum", {"lr": 0.002, "momentum": 0.9}),
    ("rmsprop", {"lr": 0.01}),
    ("rmsprop", {"lr": 0.01, "centered": True}),
    ("adagrad", {"lr": 0.1}),
]


def _trajectory(d: Descent) -> list[tuple[bytes, ...]]:
    return [(bits(s.X), bits(s.f), bits(s.grad_norm)) for s in d.steps()]


@built
@pytest.mark.parametrize("name", ["rosenbrock", "himmelblau", "rastrigin", "goldstein_price"])
@pytest.mark.parametrize(("optimizer", "hyper"), OPTIMIZERS)
def test_a_descent_with_the_loops_equals_one_without(
    name: str, optimizer: str, hyper: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    fn = resolve(name, dimension=2)
    box = np.array(fn.window())
    X0 = np.random.default_rng(5).uniform(box[:, 0] * 1.5, box[:, 1] * 1.5, size=(300, 2))
    kwargs = {"iterations": 150, "tolerance": 1e-3}
    fast = Descent(fn, make_optimizer(optimizer, **hyper), X0, **kwargs)
    a = _trajectory(fast)
    with monkeypatch.context() as m:
        m.setattr(native, "kernels", None)
        slow = Descent(fn, make_optimizer(optimizer, **hyper), X0, **kwargs)
        b = _trajectory(slow)
    assert a == b
    assert fast.run.status.tolist() == slow.run.status.tolist()
    assert fast.run.iterations.tolist() == slow.run.iterations.tolist()


@built
def test_adam_on_rosenbrock_reaches_its_minimum_through_the_loops() -> None:
    fn = resolve("rosenbrock", dimension=2)
    X0 = np.random.default_rng(0).uniform(-1.5, 1.5, size=(500, 2))
    run = Descent(fn, make_optimizer("adam", lr=0.05), X0, iterations=6000, tolerance=1e-3)
    for _ in run.steps():
        pass
    # the Hessian's smallest eigenvalue at the minimum (1, 1) is about 0.4: a point
    # where |grad| < 1e-3 lies within about 1e-3 / 0.4 = 2.5e-3 of it
    assert (run.run.status == "converged").all()
    assert np.abs(run.run.x - 1.0).max() < 5e-3
    assert run.run.f.max() < 1e-5


@built
def test_a_run_whose_sum_of_coordinates_overflows_keeps_the_same_history(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Few starts near the largest float: the screens agree that every entry is finite
    (a sum of them overflows), and the medians keep numpy's zero."""
    fn = resolve("x*(y*1e-200)")
    lr, x0 = 1e-3, -1e308
    _, g = ag.value_and_grad(fn.objective, np.array([[x0, 1.0]]))
    X0 = np.array([[x0, lr * g[0, 1]]] * 2)  # one step puts y at 0.0, so f = -0.0
    histories = []
    for loops in (native.kernels, None):
        monkeypatch.setattr(native, "kernels", loops)
        d = Descent(fn, make_optimizer("gd", lr=lr), X0, iterations=2, tolerance=1e-3)
        for _ in d.steps():
            pass
        histories.append(bits(np.array(d.run.history)))
    assert histories[0] == histories[1]
    assert not np.signbit(np.frombuffer(histories[0])[1])  # np.median([-0.0, -0.0]) is 0.0


def test_the_median_of_the_history_is_numpys_to_the_sign_of_zero() -> None:
    rng = np.random.default_rng(2)
    values = np.array([0.0, -0.0, 1.0, -1.0, 1e308, -1e308, np.inf, -np.inf, 5e-324])
    for n in [1, 2, 3, 4, 5, 6, 65, 66]:
        for _ in range(200):
            f = rng.choice(values, size=n)
            with np.errstate(all="ignore"):
                expect = float(np.median(f))
                got = descend_module._median(f, finite=bool(np.isfinite(f).all()))
            assert bits(np.array(got)) == bits(np.array(expect)), f


def test_short_rows_are_summed_from_left_to_right_as_numpy_does() -> None:
    """Python 3.12's sum() of floats compensates its rounding: not numpy's numbers."""
    row = [-8.85786977383987e-08, -0.012842248587321945, -9.303320528882286e-05]
    g = np.array([row] * 3)
    expect = np.sqrt((g * g).sum(axis=1))
    assert bits(descend_module._row_norms(g)) == bits(expect)
    assert float(expect[0]) == 0.01284258556380704  # math.fsum would give ...7041


def test_the_command_writes_the_same_files_without_the_loops(tmp_path: Path) -> None:
    """GDCLI_NATIVE=0 takes the numpy paths: the same trace and starts, byte for byte."""
    config = tmp_path / "many.yaml"
    config.write_text(
        "name: many\nfunction: himmelblau\nstarts: {random: 400}\nseed: 3\n"
        "iterations: 300\noptimizers: [{name: adam, lr: 0.05}, {name: momentum, lr: 0.001}]\n"
    )
    outs = []
    for flag in ("1", "0"):
        out = tmp_path / f"run{flag}"
        env = {**os.environ, "GDCLI_NATIVE": flag}
        cmd = [sys.executable, "-m", "gdcli", "descend", str(config), "--out", str(out), "--quiet"]
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        outs.append(out)
    for name in ("trace.csv", "starts.csv"):
        assert (outs[0] / name).read_bytes() == (outs[1] / name).read_bytes(), name
