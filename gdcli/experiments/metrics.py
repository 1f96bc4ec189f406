"""How good a network is on a data set: loss, accuracy, and for two classes the
confusion matrix, precision, recall, specificity, F1 and the area under the ROC curve."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gdcli import nn
from gdcli.data import Dataset


@dataclass
class Evaluation:
    """Loss and accuracy of a model on one data set, with the two-class figures."""

    loss: float
    accuracy: float | None
    confusion: list[list[int]] | None = None
    precision: float | None = None
    recall: float | None = None
    specificity: float | None = None
    f1: float | None = None
    roc_auc: float | None = None


def accuracy(arch: nn.Architecture, outputs: np.ndarray, y: np.ndarray) -> float | None:
    """Share of correct classes from logits (n, k); None for regression."""
    if arch.output == "identity":
        return None
    if outputs.shape[1] == 1:
        pred = (outputs[:, 0] > 0).astype(np.int64)
    else:
        pred = outputs.argmax(axis=1)
    hits = pred == y
    # the mean of the booleans, correctly rounded as .mean() rounds it, without its
    # Python-level overhead (the trainer asks once per minibatch)
    return np.count_nonzero(hits) / hits.size if hits.size else float("nan")


def roc_auc(scores: np.ndarray, y: np.ndarray) -> float | None:
    """Area under the ROC curve: P(score of a positive > score of a negative), ties
    counting one half (the Mann-Whitney statistic). None with one class only."""
    pos = y == 1
    n_pos, n_neg = int(pos.sum()), int((~pos).sum())
    if n_pos == 0 or n_neg == 0:
        return None
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores), dtype=np.float64)
    sorted_scores = scores[order]
    # average ranks over ties
    _, first, counts = np.unique(sorted_scores, return_index=True, return_counts=True)
    avg = first + (counts - 1) / 2.0 + 1.0
    ranks[order] = np.repeat(avg, counts)
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def _ratio(a: int, b: int) -> float | None:
    return a / b if b else None


def evaluate(arch: nn.Architecture, layers: list[nn.Layer], ds: Dataset) -> Evaluation:
    """Loss, accuracy and, for classes, the confusion matrix (rows: true class)."""
    loss, _, logits = nn.loss_and_grads(arch, layers, ds.X.astype(arch.dtype), ds.y, 0.0)
    acc = accuracy(arch, logits, ds.y)
    if arch.output == "identity" or ds.class_names is None:
        return Evaluation(loss, acc)
    k = len(ds.class_names)
    proba = nn.predict_proba(arch, layers, ds.X.astype(arch.dtype))
    pred = nn.predict(arch, layers, ds.X.astype(arch.dtype))
    confusion = np.zeros((k, k), dtype=np.int64)
    np.add.at(confusion, (ds.y, pred), 1)
    ev = Evaluation(loss, acc, confusion.tolist())
    if k == 2:
        tn, fp, fn, tp = (int(v) for v in confusion.ravel())
        ev.precision = _ratio(tp, tp + fp)
        ev.recall = _ratio(tp, tp + fn)
        ev.specificity = _ratio(tn, tn + fp)
        if ev.precision is not None and ev.recall is not None and ev.precision + ev.recall > 0:
            ev.f1 = 2 * ev.precision * ev.recall / (ev.precision + ev.recall)
        ev.roc_auc = roc_auc(proba[:, 1], ds.y)
    return ev
