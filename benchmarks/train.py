"""Training: gdcli's trainer against a hand-fused numpy loop for the same network.

Both sides train the same ReLU MLP with softmax cross-entropy and SGD with
momentum (torch's rule: v = mu v + g, W -= lr v) on the same float32 data, from
the same initial weights, with the same minibatch order, for the same epochs.

The hand loop is what a careful numpy programmer writes without a graph: every
buffer preallocated, matrix products into ``out=``, the softmax gradient formed in
place, the momentum update in place. gdcli's side is ``train.Trainer.epochs()``
consumed to the end: its minibatch step (``nn.Step``: the graph's numbers into
preallocated buffers), the optimizer's in-place update, and its per-epoch
bookkeeping (running loss and accuracy, finiteness checks, a copy of the last good
weights). Both sides start from their data as they hold it (gdcli a float64
``Dataset``, the hand loop a float32 array) and time the initial weights and the
training. Both must end with the same weights (to float32 rounding).

Where scikit-learn or PyTorch happen to be installed, their ratios are printed too;
neither is a dependency.
"""

from __future__ import annotations

import numpy as np

from benchmarks._harness import Result, benchmark, best, interleaved, ratio_result
from gdcli import nn
from gdcli.data import Dataset, Splits
from gdcli.experiments.train import Trainer
from gdcli.optim import make_optimizer

LR, MU = 0.01, 0.9


def _data(n: int, p: int, k: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p)).astype(np.float32)
    W = rng.standard_normal((p, k))
    y = (X @ W).argmax(axis=1).astype(np.int64)
    return X, y


def _arch(sizes: tuple[int, ...]) -> nn.Architecture:
    return nn.Architecture(
        sizes=sizes,
        activations=("relu",) * (len(sizes) - 2),
        output="softmax",
        loss="cross_entropy",
        dtype="float32",
    )


def dataset(X: np.ndarray, y: np.ndarray, k: int) -> Dataset:
    """The data as gdcli holds it (float64 features), made before the clock starts as
    the hand loop's float32 array is."""
    names = tuple(f"x{i}" for i in range(X.shape[1]))
    return Dataset(X.astype(np.float64), y, names, tuple(map(str, range(k))), "bench")


def gdcli_train(sizes: tuple[int, ...], ds: Dataset, batch: int, epochs: int) -> list[nn.Layer]:
    arch = _arch(sizes)
    layers = nn.init_layers(arch, "he_normal", None, np.random.default_rng(0))
    trainer = Trainer(
        arch,
        layers,
        make_optimizer("momentum", lr=LR, momentum=MU),
        Splits(ds, None, None, None),
        epochs=epochs,
        batch_size=batch,
        rng=np.random.default_rng(1),
    )
    for _ in trainer.epochs():
        pass
    return nn.unflatten(trainer.params)


def hand_train(
    sizes: tuple[int, ...], X: np.ndarray, y: np.ndarray, batch: int, epochs: int
) -> list[nn.Layer]:
    """The same training, fused by hand: preallocated buffers, in-place updates."""
    arch = _arch(sizes)
    layers = nn.init_layers(arch, "he_normal", None, np.random.default_rng(0))
    Ws = [layer.W.copy() for layer in layers]
    bs = [layer.b.copy() for layer in layers]
    vW = [np.zeros_like(W) for W in Ws]
    vb = [np.zeros_like(b) for b in bs]
    gW = [np.empty_like(W) for W in Ws]
    L = len(Ws)
    rng = np.random.default_rng(1)
    n = X.shape[0]
    f32 = np.float32
    for _ in range(epochs):
        order = rng.permutation(n)
        for start in range(0, n, batch):
            idx = order[start : start + batch]
            xb, yb = X[idx], y[idx]
            m = xb.shape[0]
            acts = [xb]
            for i in range(L):
                z = acts[-1] @ Ws[i]
                z += bs[i]
                if i < L - 1:
                    np.maximum(z, 0, out=z)
                acts.append(z)
            z = acts[-1]
            z -= z.max(axis=1, keepdims=True)
            np.exp(z, out=z)
            z /= z.sum(axis=1, keepdims=True)
            z[np.arange(m), yb] -= 1
            z *= f32(1.0 / m)
            g = z
            for i in range(L - 1, -1, -1):
                np.matmul(acts[i].T, g, out=gW[i])
                gb = g.sum(axis=0)
                if i > 0:
                    g = g @ Ws[i].T
                    g *= acts[i] > 0
                vW[i] *= f32(MU)
                vW[i] += gW[i]
                Ws[i] -= f32(LR) * vW[i]
                vb[i] *= f32(MU)
                vb[i] += gb
                bs[i] -= f32(LR) * vb[i]
    return [nn.Layer(W, b) for W, b in zip(Ws, bs, strict=True)]


def _agree(a: list[nn.Layer], b: list[nn.Layer]) -> None:
    for la, lb in zip(a, b, strict=True):
        scale = max(1.0, float(np.abs(la.W).max()))
        err = float(np.abs(la.W - lb.W).max()) / scale
        if err > 1e-3:
            raise AssertionError(f"gdcli and the hand loop disagree: {err:.3g}")


def _case(
    name: str,
    sizes: tuple[int, ...],
    n: int,
    batch: int,
    epochs: int,
    limit: float,
    repeats: int,
) -> list[Result]:
    X, y = _data(n, sizes[0], sizes[-1], seed=0)
    ds = dataset(X, y, sizes[-1])
    _agree(gdcli_train(sizes, ds, batch, 1), hand_train(sizes, X, y, batch, 1))
    times = interleaved(
        {
            "gdcli": lambda: gdcli_train(sizes, ds, batch, epochs),
            "hand": lambda: hand_train(sizes, X, y, batch, epochs),
        },
        repeats=repeats,
    )
    label = f"{'-'.join(map(str, sizes))} relu, batch {batch}, momentum, {epochs} epochs"
    results = [
        ratio_result(
            name,
            f"gdcli Trainer, {label}",
            "hand-fused numpy loop",
            best(times["gdcli"]),
            best(times["hand"]),
            "s",
            at_most=limit,
        )
    ]
    results += _optional(name, sizes, X, y, batch, epochs, best(times["gdcli"]))
    return results


def _information(name: str, baseline: str, ours: float, theirs: float) -> Result:
    """A ratio printed for information: another library, no target."""
    return Result(
        name,
        "gdcli Trainer",
        baseline,
        ours,
        theirs,
        "s",
        ours / theirs,
        "ratio",
        "information",
        True,
    )


def _optional(
    name: str,
    sizes: tuple[int, ...],
    X: np.ndarray,
    y: np.ndarray,
    batch: int,
    epochs: int,
    ours: float,
) -> list[Result]:
    """Ratios against scikit-learn and PyTorch when they are installed (information only)."""
    out: list[Result] = []
    try:
        import warnings

        from sklearn.neural_network import MLPClassifier

        clf = MLPClassifier(
            hidden_layer_sizes=sizes[1:-1],
            solver="sgd",
            learning_rate_init=LR,
            momentum=MU,
            nesterovs_momentum=False,
            batch_size=batch,
            max_iter=epochs,
            shuffle=True,
            tol=0.0,
            n_iter_no_change=epochs + 1,
            alpha=0.0,
            random_state=0,
        )

        def fit() -> None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                clf.fit(X, y)

        t = best(interleaved({"sk": fit}, repeats=2)["sk"])
        out.append(_information(f"{name} vs scikit-learn", "sklearn MLPClassifier (sgd)", ours, t))
    except ImportError:
        pass
    try:
        import torch

        model = torch.nn.Sequential(
            *[
                m
                for i in range(len(sizes) - 1)
                for m in (
                    [torch.nn.Linear(sizes[i], sizes[i + 1])]
                    + ([torch.nn.ReLU()] if i < len(sizes) - 2 else [])
                )
            ]
        )
        opt = torch.optim.SGD(model.parameters(), lr=LR, momentum=MU)
        Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
        loss_fn = torch.nn.CrossEntropyLoss()

        def fit_torch() -> None:
            g = torch.Generator().manual_seed(1)
            for _ in range(epochs):
                perm = torch.randperm(len(Xt), generator=g)
                for s in range(0, len(Xt), batch):
                    idx = perm[s : s + batch]
                    opt.zero_grad()
                    loss_fn(model(Xt[idx]), yt[idx]).backward()
                    opt.step()

        t = best(interleaved({"torch": fit_torch}, repeats=2)["torch"])
        out.append(_information(f"{name} vs PyTorch", "torch (CPU), same loop", ours, t))
    except ImportError:
        pass
    return out


@benchmark("train small MLP")
def small_mlp() -> list[Result]:
    """[64, 128, 64, 10], batch 32: per-minibatch overhead dominates."""
    return _case("train 64-128-64-10 b32", (64, 128, 64, 10), 4096, 32, 5, 1.4, repeats=7)


@benchmark("train large MLP")
def large_mlp() -> list[Result]:
    """[784, 512, 256, 10], batch 256: matrix products dominate."""
    return _case("train 784-512-256-10 b256", (784, 512, 256, 10), 4096, 256, 4, 1.1, repeats=5)
