"""The trainer's step without a graph (``nn.Step``, the flat in-place optimizer update)
gives the graph path's numbers to the last bit: ``Trainer(fast=True)`` against
``Trainer(fast=False)`` (``nn.loss_and_grads`` and the optimizer's pure update, as
training ran before the fast path) for every activation, every output and loss,
both dtypes, L2 on and off, every optimizer the trainer offers, and a last minibatch
smaller than the others."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pytest

from gdcli import nn
from gdcli.data import Dataset, Splits
from gdcli.experiments.train import Trainer
from gdcli.optim import make_optimizer

HEADS: list[tuple[Any, Any, int]] = [
    ("sigmoid", "bce", 1),
    ("softmax", "cross_entropy", 3),
    ("sigmoid", "mse", 1),
    ("softmax", "mse", 3),
    ("identity", "mse", 1),
]
OPTIMIZERS: list[tuple[str, dict[str, Any]]] = [
    ("momentum", {"lr": 0.05}),
    ("adam", {"lr": 0.01}),
    ("gd", {"lr": 0.1, "weight_decay": 0.01}),
    ("nesterov", {"lr": 0.05}),
    ("adamw", {"lr": 0.01}),
    ("rmsprop", {"lr": 0.01, "momentum": 0.5}),
    ("adam", {"lr": 0.01, "amsgrad": True}),
    ("adagrad", {"lr": 0.05}),
    ("momentum", {"lr": 0.05, "dampening": 0.1}),
    ("adam", {"lr": 0.01, "clip_norm": 0.5}),
    ("gd", {"lr": 0.1}),
]
DTYPES: tuple[Any, ...] = ("float32", "float64")
CASES = list(itertools.product(nn.ACTIVATIONS, HEADS, DTYPES))


def variant(case: int) -> tuple[int, float]:
    """The optimizer (an index into OPTIMIZERS) and the l2 of a case: with an odd
    number of optimizers, every dtype meets every optimizer with and without l2, and
    every activation and head come with and without l2."""
    j = case // 2 + case % 2
    return j % len(OPTIMIZERS), 0.01 * (j % 2)


def dataset(output: str, k: int, n: int, seed: int) -> Dataset:
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 4))
    names = tuple(f"x{i}" for i in range(4))
    if output == "identity":
        y = X @ rng.standard_normal(4) + 0.1 * rng.standard_normal(n)
        return Dataset(X, y, names, None, "regression")
    if k == 1:
        y = (X[:, 0] + X[:, 1] > 0).astype(np.int64)
    else:
        y = (X @ rng.standard_normal((4, k))).argmax(axis=1).astype(np.int64)
    return Dataset(X, y, names, tuple(map(str, range(max(k, 2)))), "classes")


def trainer(case: int, fast: bool, *, epochs: int = 3, lr_scale: float = 1.0) -> Trainer:
    """Case ``case`` of CASES with an optimizer and l2 that vary with it: 37 rows in
    minibatches of 8 (the last has 5), a validation part and early stopping."""
    act, (output, loss, k), dtype = CASES[case]
    which, l2 = variant(case)
    name, hyper = OPTIMIZERS[which]
    hyper = {**hyper, "lr": hyper["lr"] * lr_scale}
    arch = nn.Architecture(
        (4, 5, 3, k), (act, "tanh" if act != "tanh" else "relu"), None, output, loss, dtype
    )
    layers = nn.init_layers(arch, "he_normal", None, np.random.default_rng(case))
    splits = Splits(dataset(output, k, 37, case), dataset(output, k, 11, case + 99), None, None)
    return Trainer(
        arch,
        layers,
        make_optimizer(name, **hyper),
        splits,
        epochs=epochs,
        batch_size=8,
        rng=np.random.default_rng(case),
        l2=l2,
        patience=2,
        fast=fast,
    )


def run(t: Trainer) -> tuple[list[dict[str, str]], list[np.ndarray], list[np.ndarray]]:
    with np.errstate(all="ignore"):
        # repr tells every float apart, nan equals nan: equal reprs are equal bits
        rows = [{k: repr(v) for k, v in e.row().items() if k != "seconds"} for e in t.epochs()]
        result = t.finish()
    return rows, nn.flatten(result.layers), [p.copy() for p in t.params]


def assert_same(fast: Trainer, graph: Trainer) -> None:
    rows_f, kept_f, last_f = run(fast)
    rows_g, kept_g, last_g = run(graph)
    assert rows_f == rows_g
    assert (fast.status, fast.reason) == (graph.status, graph.reason)
    for a, b in zip([*kept_f, *last_f], [*kept_g, *last_g], strict=True):
        assert a.dtype == b.dtype
        assert np.array_equal(a, b, equal_nan=True)


@pytest.mark.parametrize("case", range(len(CASES)), ids=["-".join(map(str, c)) for c in CASES])
def test_fast_training_is_the_graph_training_to_the_last_bit(case: int) -> None:
    fast, graph = trainer(case, fast=True), trainer(case, fast=False)
    assert isinstance(fast._loop().step, nn.Step)  # the fast path is the one that runs
    assert not isinstance(graph._loop().step, nn.Step)
    assert_same(fast, graph)


def test_every_optimizer_and_both_dtypes_meet_every_activation_and_head() -> None:
    optimizers = {(*variant(c), CASES[c][2]) for c in range(len(CASES))}
    assert len(optimizers) == len(OPTIMIZERS) * 2 * 2
    heads = {(CASES[c][0], CASES[c][1][:2], variant(c)[1]) for c in range(len(CASES))}
    assert len(heads) == len(CASES)


@pytest.mark.parametrize("case", [4, 8, 22, 38])
def test_a_diverging_run_stops_at_the_same_minibatch_on_both_paths(case: int) -> None:
    fast, graph = trainer(case, True, lr_scale=1e6), trainer(case, False, lr_scale=1e6)
    assert_same(fast, graph)
    assert fast.status == "diverged"


@pytest.mark.parametrize("case", [3, 22, 61])
def test_step_gives_loss_and_grads_numbers_call_after_call(case: int) -> None:
    """Minibatches of several sizes in turn, the parameters changed in place between
    calls: the buffers of one size never leak into another call."""
    t = trainer(case, fast=True)
    arch, params, rng = t.arch, t.params, np.random.default_rng(case)
    step = nn.Step(arch, params, 0.3)
    X, y = t.splits.train.X.astype(arch.dtype), t.splits.train.y
    for rows in (8, 5, 8, 37, 5):
        idx = rng.permutation(len(y))[:rows]
        value, penalty, grads, logits = step(X[idx], y[idx])
        want, want_grads, want_logits = nn.loss_and_grads(
            arch, nn.unflatten(params), X[idx], y[idx], 0.3
        )
        assert value == want
        assert penalty == sum(0.5 * 0.3 * float(np.vdot(W, W)) for W in params[::2])
        assert np.array_equal(logits, want_logits)
        for a, b in zip(grads, nn.flatten(want_grads), strict=True):
            assert a.dtype == b.dtype and np.array_equal(a, b)
        for p, g in zip(params, grads, strict=True):
            p -= 0.1 * g


def test_step_needs_parameters_of_the_architecture_dtype() -> None:
    t = trainer(0, fast=True)
    assert nn.Step.applies(t.arch, t.params)
    assert not nn.Step.applies(t.arch, [p.astype(np.float64) for p in t.params])
    assert not nn.Step.applies(t.arch, [np.asfortranarray(p) for p in t.params][:1])


def test_pack_copies_arrays_into_views_of_one_flat_array() -> None:
    a, b = np.arange(6.0).reshape(2, 3), np.array([7.0, 8.0])
    flat, (va, _) = nn.pack([a, b])
    assert flat is not None and flat.tolist() == [0, 1, 2, 3, 4, 5, 7, 8]
    va += 1  # a view: the flat array moves with it, the original does not
    assert flat[:6].tolist() == [1, 2, 3, 4, 5, 6] and a[0, 0] == 0.0
    none, copies = nn.pack([a, b.astype(np.float32)])
    assert none is None and copies[1].dtype == np.float32 and copies[0] is not a


@pytest.mark.parametrize("name", ["adam", "adamw"])
def test_adam_in_place_on_few_float32_numbers_rounds_as_float32(name: str) -> None:
    """Python floats make float64's operations, not float32's: a leaf of a few float32
    numbers (an output bias) takes the numpy path."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=3).astype(np.float32)
    pure, fast = make_optimizer(name, lr=0.05), make_optimizer(name, lr=0.05)
    assert fast.update_into is not None
    s_pure, s_fast = pure.init([X]), fast.init([X.copy()])
    out = [np.empty_like(X)]
    for _ in range(20):
        g = rng.normal(size=3).astype(np.float32)
        u, s_pure = pure.update([g], s_pure, [X])
        s_fast = fast.update_into([g], s_fast, [X], out)
        assert out[0].dtype == np.float32 and out[0].tobytes() == u[0].tobytes()
        X = X + u[0]


@pytest.mark.parametrize("dtype", DTYPES)
def test_a_network_of_a_few_numbers_trains_alike_on_both_paths(dtype: Any) -> None:
    """A perceptron (5 numbers, as configs/xor-perceptron.yaml has 3) with Adam: its one flat
    array is few enough numbers for Adam's Python-float path."""
    arch = nn.Architecture((4, 1), (), None, "sigmoid", "bce", dtype)
    layers = nn.init_layers(arch, "glorot_uniform", None, np.random.default_rng(3))
    data = dataset("sigmoid", 1, 4, 3)

    def make(fast: bool) -> Trainer:
        opt = make_optimizer("adam", lr=0.05)
        splits = Splits(data, None, None, None)
        rng = np.random.default_rng(0)
        return Trainer(arch, layers, opt, splits, epochs=30, batch_size=3, rng=rng, fast=fast)

    assert_same(make(True), make(False))
