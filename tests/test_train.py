"""The training core: figures of ``metrics.evaluate`` and ``metrics.roc_auc`` against hand
and brute-force computations, early stopping and divergence of ``train.Trainer``
(which weights come back), and the model file of ``model_arrays`` / ``load_model``.
"""

from __future__ import annotations

import csv
import itertools
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gdcli import nn
from gdcli.data import Dataset
from gdcli.experiments import metrics, modelfile, train
from gdcli.experiments import plan as planning
from gdcli.experiments.config import TrainConfig, load_config
from gdcli.experiments.session import Session, run_train
from gdcli.runs import atomic_save_npz

CONFIGS = Path(__file__).parent.parent / "configs"
BREAST_CANCER = CONFIGS / "breast-cancer.yaml"


def linear_model(w: float, b: float, dtype: str = "float64") -> tuple[nn.Architecture, list]:
    """One input, one sigmoid output, no hidden layer: the logit is w * x + b."""
    arch = nn.Architecture(sizes=(1, 1), activations=(), output="sigmoid", loss="bce", dtype=dtype)
    dt = np.dtype(dtype)
    return arch, [nn.Layer(np.array([[w]], dtype=dt), np.array([b], dtype=dt))]


def binary_set(x: list[float], y: list[int]) -> Dataset:
    return Dataset(
        X=np.array(x, dtype=np.float64).reshape(-1, 1),
        y=np.array(y, dtype=np.int64),
        feature_names=("x",),
        class_names=("neg", "pos"),
        name="hand",
    )


def brute_force_auc(scores: np.ndarray, y: np.ndarray) -> float:
    """P(score of a positive > score of a negative) over all pairs, a tie counting 1/2."""
    pos, neg = scores[y == 1], scores[y == 0]
    total = sum(1.0 if p > q else 0.5 if p == q else 0.0 for p, q in itertools.product(pos, neg))
    return total / (len(pos) * len(neg))


def plan_from(path: Path, *overrides: str) -> tuple[TrainConfig, object, train.TrainPlan]:
    config, doc = load_config(path, TrainConfig, overrides)
    return config, doc, planning.train_plan(config, doc)


def trainer_for(config: TrainConfig, p: train.TrainPlan) -> train.Trainer:
    """A trainer set up exactly as ``experiment.run_train`` sets it up."""
    return train.Trainer(
        p.arch,
        p.layers,
        p.optimizer,
        p.splits,
        epochs=config.epochs,
        batch_size=None if config.batch_size == "full" else config.batch_size,
        rng=np.random.default_rng([config.seed, 1]),
        l2=config.l2,
        patience=config.early_stopping.patience if config.early_stopping else None,
        min_delta=config.early_stopping.min_delta if config.early_stopping else 0.0,
    )


def run_with_snapshots(t: train.Trainer) -> list[list[np.ndarray]]:
    """Train to the end; the parameters after every yielded epoch, copied."""
    snapshots = []
    for _ in t.epochs():
        snapshots.append([p.copy() for p in t.params])
    return snapshots


# -- two-class figures ---------------------------------------------------------------

# logits w*x with w = 1: 3 true positives, 2 false negatives, 4 true negatives and
# 1 false positive, all well away from the threshold 0.
HAND_POS = [2.0, 1.0, 0.5, -0.5, -1.5]
HAND_NEG = [-2.0, -1.0, -0.25, -3.0, 0.75]


def test_evaluate_two_class_figures_equal_the_hand_computed_ones() -> None:
    arch, layers = linear_model(1.0, 0.0)
    ds = binary_set(HAND_POS + HAND_NEG, [1] * 5 + [0] * 5)
    ev = metrics.evaluate(arch, layers, ds)
    # rows: true class (neg, pos); columns: predicted
    assert ev.confusion == [[4, 1], [2, 3]]
    assert ev.accuracy == pytest.approx(7 / 10, abs=1e-15)
    assert ev.precision == pytest.approx(3 / 4, abs=1e-15)  # tp / (tp + fp)
    assert ev.recall == pytest.approx(3 / 5, abs=1e-15)  # tp / (tp + fn)
    assert ev.specificity == pytest.approx(4 / 5, abs=1e-15)  # tn / (tn + fp)
    assert ev.f1 == pytest.approx(2 / 3, abs=1e-15)  # 2 * 0.75 * 0.6 / 1.35
    # positive above negative in 5 + 5 + 4 + 3 + 2 = 19 of the 25 pairs, no ties
    assert ev.roc_auc == pytest.approx(19 / 25, abs=1e-15)
    z = np.array(HAND_POS + HAND_NEG)
    t = np.array([1.0] * 5 + [0.0] * 5)
    bce = np.mean(np.log1p(np.exp(z)) - t * z)  # -[t log s(z) + (1 - t) log(1 - s(z))]
    assert ev.loss == pytest.approx(bce, rel=1e-12)


def test_evaluate_without_predicted_positives_has_no_precision_and_no_f1() -> None:
    arch, layers = linear_model(0.0, -1.0)  # every logit -1: always "neg"
    ev = metrics.evaluate(arch, layers, binary_set(HAND_POS + HAND_NEG, [1] * 5 + [0] * 5))
    assert ev.confusion == [[5, 0], [5, 0]]
    assert ev.precision is None
    assert ev.f1 is None
    assert ev.recall == 0.0
    assert ev.specificity == 1.0
    assert ev.roc_auc == 0.5  # every pair tied


def test_evaluate_multiclass_confusion_and_no_two_class_figures() -> None:
    arch = nn.Architecture(
        sizes=(3, 3), activations=(), output="softmax", loss="cross_entropy", dtype="float64"
    )
    layers = [nn.Layer(np.eye(3), np.zeros(3))]  # logits = x: predicts the largest entry
    X = np.array([[3, 0, 0], [2, 1, 0], [0, 5, 1], [1, 0, 2], [0, 2, 1], [4, 0, 1]], float)
    y = np.array([0, 1, 1, 2, 2, 2])
    ds = Dataset(X=X, y=y, feature_names=("a", "b", "c"), class_names=("a", "b", "c"), name="m")
    ev = metrics.evaluate(arch, layers, ds)
    assert ev.confusion == [[1, 0, 0], [1, 1, 0], [1, 1, 1]]
    assert ev.accuracy == pytest.approx(3 / 6)
    assert (ev.precision, ev.recall, ev.specificity, ev.f1, ev.roc_auc) == (None,) * 5
    lse = np.log(np.exp(X).sum(axis=1))
    assert ev.loss == pytest.approx(np.mean(lse - X[np.arange(6), y]), rel=1e-12)


def test_evaluate_roc_auc_is_the_pairwise_statistic_of_the_model_probabilities() -> None:
    rng = np.random.default_rng(7)
    x = np.round(rng.normal(size=60), 1)  # one decimal: many tied scores
    y = (x + rng.normal(scale=1.0, size=60) > 0).astype(int)
    arch, layers = linear_model(1.5, 0.2)
    ds = binary_set(list(x), list(y))
    ev = metrics.evaluate(arch, layers, ds)
    p = nn.predict_proba(arch, layers, ds.X)[:, 1]
    assert ev.roc_auc == pytest.approx(brute_force_auc(p, ds.y), abs=1e-12)
    assert 0.5 < ev.roc_auc < 1.0


def test_evaluate_accuracy_agrees_with_its_confusion_matrix_near_the_threshold() -> None:
    arch, layers = linear_model(1.0, 0.0, dtype="float32")
    ds = binary_set([1e-9, 2.0, -1.0, -3.0], [1, 1, 0, 0])
    ev = metrics.evaluate(arch, layers, ds)
    cm = np.array(ev.confusion)
    assert ev.accuracy == np.trace(cm) / cm.sum()
    assert list(nn.predict(arch, layers, ds.X)) == [1, 1, 0, 0]


# -- roc_auc ------------------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(min_value=-4, max_value=4), st.booleans()), min_size=2, max_size=40
    ).filter(lambda rows: len({label for _, label in rows}) == 2)
)
def test_roc_auc_equals_the_brute_force_pair_count_with_ties(
    rows: list[tuple[int, bool]],
) -> None:
    scores = np.array([s / 4 for s, _ in rows])  # 9 distinct values: ties are common
    y = np.array([int(label) for _, label in rows])
    assert metrics.roc_auc(scores, y) == pytest.approx(brute_force_auc(scores, y), abs=1e-12)


def test_roc_auc_on_random_float32_scores_with_ties() -> None:
    rng = np.random.default_rng(3)
    for _ in range(20):
        n = int(rng.integers(2, 80))
        scores = np.round(rng.random(n), 1).astype(np.float32)
        y = rng.integers(0, 2, n)
        y[:2] = [0, 1]
        assert metrics.roc_auc(scores, y) == pytest.approx(brute_force_auc(scores, y), abs=1e-12)


def test_roc_auc_limits() -> None:
    s = np.array([0.1, 0.4, 0.35, 0.8])
    assert metrics.roc_auc(s, np.array([0, 0, 1, 1])) == 0.75  # 0.35 < 0.4: one pair wrong
    assert metrics.roc_auc(s, np.array([0, 0, 0, 1])) == 1.0
    assert metrics.roc_auc(s, np.array([1, 0, 0, 0])) == 0.0
    assert metrics.roc_auc(s, np.array([1, 1, 1, 1])) is None
    assert metrics.roc_auc(s, np.array([0, 0, 0, 0])) is None


# -- the trainer --------------------------------------------------------------------


def test_trainer_yields_one_record_per_epoch_that_the_trace_repeats(tmp_path: Path) -> None:
    config, doc = load_config(CONFIGS / "xor.yaml", TrainConfig, ["epochs=40"])
    trained = run_train(config, doc, Session(tmp_path / "run"))
    p, result, summary = trained.plan, trained.result, trained.summary
    assert [e.epoch for e in result.history] == list(range(1, 41))
    with (tmp_path / "run" / "trace.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 40
    for row, e in zip(rows, result.history, strict=True):
        assert float(row["train_loss"]) == e.train_loss  # written so it reads back exactly
        assert float(row["train_accuracy"]) == e.train_accuracy
        assert row["val_loss"] == row["val_accuracy"] == ""
        assert float(row["lr"]) == 0.05
    assert summary["history"]["train_loss"] == [e.train_loss for e in result.history]
    # full batch on the four corners: the epoch's loss is the loss at its start
    start, _, _ = nn.loss_and_grads(p.arch, p.layers, p.splits.train.X, p.splits.train.y)
    assert result.history[0].train_loss == pytest.approx(start, rel=1e-6)


def test_trace_splits_the_data_loss_from_the_l2_penalty(tmp_path: Path) -> None:
    """Full batch on XOR: epoch 1's data loss is the loss at the initial weights and its
    penalty is 0.5*l2*sum(W**2) over the initial weight matrices, each in its own column."""
    l2 = 0.05
    config, doc = load_config(CONFIGS / "xor.yaml", TrainConfig, ["epochs=3", f"l2={l2}"])
    trained = run_train(config, doc, Session(tmp_path / "run"))
    p, first = trained.plan, trained.result.history[0]
    data_loss, _, _ = nn.loss_and_grads(p.arch, p.layers, p.splits.train.X, p.splits.train.y)
    penalty = sum(0.5 * l2 * float(np.sum(W * W)) for W, _ in p.layers)
    assert penalty > 0.01
    assert first.train_loss == pytest.approx(data_loss, rel=1e-6)  # float32 network
    assert first.l2_penalty == pytest.approx(penalty, rel=1e-6)
    with (tmp_path / "run" / "trace.csv").open(newline="") as fh:
        row = next(csv.DictReader(fh))
    assert float(row["l2_penalty"]) == first.l2_penalty


def test_early_stopping_returns_the_weights_of_the_best_validation_epoch() -> None:
    config, _, p = plan_from(
        BREAST_CANCER, "data.val_fraction=0.2", "early_stopping.patience=3", "epochs=1000"
    )
    t = trainer_for(config, p)
    snapshots = run_with_snapshots(t)
    result = t.finish()
    val_losses = [e.val_loss for e in result.history]
    best = int(np.argmin(val_losses)) + 1
    assert result.status == "early_stopped"
    assert result.best_epoch == best
    assert result.epochs_run == best + 3 < 1000  # stopped after 3 epochs without progress
    assert all(v > val_losses[best - 1] for v in val_losses[best:])
    for kept, saved in zip(nn.flatten(result.layers), snapshots[best - 1], strict=True):
        np.testing.assert_array_equal(kept, saved)
    val = metrics.evaluate(p.arch, result.layers, p.splits.val)
    assert val.loss == pytest.approx(min(val_losses), abs=1e-6)
    assert result.final["val"].loss == pytest.approx(min(val_losses), abs=1e-6)
    # the last epoch's weights were worse on validation
    last = metrics.evaluate(p.arch, nn.unflatten(snapshots[-1]), p.splits.val)
    assert last.loss > val.loss


def test_early_stopping_run_saves_the_best_weights(tmp_path: Path) -> None:
    config, doc = load_config(
        BREAST_CANCER,
        TrainConfig,
        ["data.val_fraction=0.2", "early_stopping.patience=3", "epochs=1000", "seed=2"],
    )
    trained = run_train(config, doc, Session(tmp_path / "run"))
    p, result, summary = trained.plan, trained.result, trained.summary
    assert summary["status"] == "early_stopped"
    with (tmp_path / "run" / "trace.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == summary["epochs_run"] < 1000
    best_val = min(float(r["val_loss"]) for r in rows)
    best_row = min(rows, key=lambda r: float(r["val_loss"]))
    assert int(best_row["epoch"]) == summary["best_epoch"] == summary["epochs_run"] - 3
    model = modelfile.load_model(tmp_path / "run" / "model.npz")
    for a, b in zip(nn.flatten(model.layers), nn.flatten(result.layers), strict=True):
        np.testing.assert_array_equal(a, b)
    assert metrics.evaluate(model.arch, model.layers, p.splits.val).loss == pytest.approx(
        best_val, abs=1e-6
    )
    assert summary["final"]["val_loss"] == pytest.approx(best_val, abs=1e-6)


def test_divergence_keeps_the_weights_of_the_last_finite_epoch() -> None:
    # plain gd with lr 10 on the logistic loss: finite after epoch 1, overflows in epoch 2
    config, _, p = plan_from(BREAST_CANCER, "optimizer.name=gd", "optimizer.lr=10.0", "epochs=30")
    t = trainer_for(config, p)
    snapshots = run_with_snapshots(t)
    result = t.finish()
    assert result.status == "diverged"
    assert 1 <= result.epochs_run < 30
    assert f"epoch {result.epochs_run + 1}" in (result.reason or "")
    assert all(np.isfinite(e.train_loss) for e in result.history)
    for kept, saved in zip(nn.flatten(result.layers), snapshots[-1], strict=True):
        assert np.isfinite(kept).all()
        np.testing.assert_array_equal(kept, saved)
    assert all(np.isfinite(ev.loss) for ev in result.final.values())


def test_divergence_in_the_first_epoch_keeps_the_initial_weights() -> None:
    config, _, p = plan_from(BREAST_CANCER, "optimizer.name=gd", "optimizer.lr=1.0e6")
    t = trainer_for(config, p)
    assert run_with_snapshots(t) == []
    result = t.finish()
    assert (result.status, result.epochs_run) == ("diverged", 0)
    for kept, initial in zip(nn.flatten(result.layers), nn.flatten(p.layers), strict=True):
        np.testing.assert_array_equal(kept, initial)


# -- the model file -----------------------------------------------------------------


def test_model_arrays_round_trip_through_load_model(tmp_path: Path) -> None:
    config, doc = load_config(BREAST_CANCER, TrainConfig, ["epochs=2"])
    trained = run_train(config, doc, Session(tmp_path / "run"))
    p, result = trained.plan, trained.result
    path = tmp_path / "copy.npz"
    atomic_save_npz(path, modelfile.model_arrays(p, result))
    for source in (path, tmp_path / "run" / "model.npz"):
        model = modelfile.load_model(source)
        assert model.arch == p.arch
        assert [w.shape for w in nn.flatten(model.layers)] == [(30, 32), (32,), (32, 1), (1,)]
        for a, b in zip(nn.flatten(model.layers), nn.flatten(result.layers), strict=True):
            assert a.dtype == np.float32
            np.testing.assert_array_equal(a, b)
        assert model.feature_names == p.splits.train.feature_names
        assert len(model.feature_names) == 30
        assert model.class_names == ("benign", "malignant")
        assert p.splits.scaler is not None
        np.testing.assert_array_equal(model.mean, p.splits.scaler.mean)
        np.testing.assert_array_equal(model.scale, p.splits.scaler.scale)
    raw = np.random.default_rng(0).normal(10.0, 3.0, size=(5, 30))
    expected = ((raw - p.splits.scaler.mean) / p.splits.scaler.scale).astype(np.float32)
    np.testing.assert_array_equal(model.prepare(raw), expected)
