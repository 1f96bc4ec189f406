"""Splitting a data set into train, validation and test parts, and preparing them."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gdcli.data.base import Dataset, IntArray
from gdcli.data.scaling import Standardizer
from gdcli.errors import DataError

Parts = tuple[Dataset, "Dataset | None", "Dataset | None"]
"""``(train, val, test)``; val and test may be absent."""


@dataclass(frozen=True, eq=False)
class Splits:
    """The parts a model is trained, tuned and tested on, after optional scaling."""

    train: Dataset
    val: Dataset | None
    test: Dataset | None
    scaler: Standardizer | None


def split(
    ds: Dataset, *, test_fraction: float, val_fraction: float, rng: np.random.Generator
) -> tuple[Dataset, Dataset | None, Dataset | None]:
    """Random ``(train, val, test)`` parts of ``ds``; a part whose fraction is 0 is None.

    Classification sets are split per class (stratified): class ``c`` with ``m_c``
    samples gives ``round(m_c * fraction)`` to each held-out part, and always keeps
    at least one sample in train. Regression sets are split by one permutation.
    Each part's samples are in random order. The same ``rng`` state gives the same
    parts.
    """
    for label, f in (("test_fraction", test_fraction), ("val_fraction", val_fraction)):
        if not 0.0 <= f < 1.0:
            raise DataError(f"{label} must be in [0, 1), got {f}")
    if test_fraction + val_fraction >= 1.0:
        raise DataError(
            f"test_fraction + val_fraction must be below 1, got {test_fraction + val_fraction}"
        )
    if ds.class_names is None:
        groups = [rng.permutation(ds.y.shape[0])]
    else:
        groups = [rng.permutation(np.flatnonzero(ds.y == c)) for c in range(len(ds.class_names))]
    train_idx, val_idx, test_idx = [], [], []
    for g in groups:
        m = g.shape[0]
        n_test = round(m * test_fraction)
        n_val = round(m * val_fraction)
        # keep one training sample per group, taking it from the larger held-out part
        while m > 0 and n_test + n_val >= m:
            if n_val >= n_test:
                n_val -= 1
            else:
                n_test -= 1
        test_idx.append(g[:n_test])
        val_idx.append(g[n_test : n_test + n_val])
        train_idx.append(g[n_test + n_val :])
    train = ds.take(rng.permutation(np.concatenate(train_idx)))
    return (
        train,
        _held_out(ds, val_idx, val_fraction, "validation", rng),
        _held_out(ds, test_idx, test_fraction, "test", rng),
    )


def _held_out(
    ds: Dataset, idx: list[IntArray], fraction: float, label: str, rng: np.random.Generator
) -> Dataset | None:
    if fraction == 0.0:
        return None
    flat = np.concatenate(idx)
    if flat.shape[0] == 0:
        raise DataError(
            f"a {label} fraction of {fraction} of {ds.y.shape[0]} samples leaves the"
            f" {label} part of '{ds.name}' empty"
        )
    return ds.take(rng.permutation(flat))


def prepare(
    source: Dataset | Parts,
    *,
    test_fraction: float = 0.0,
    val_fraction: float = 0.0,
    standardize: bool = False,
    rng: np.random.Generator,
) -> Splits:
    """Split (where needed) and standardize a data set, or the parts of a file.

    ``source`` is one data set, or ``(train, val, test)`` as :func:`load_npz` returns.
    Parts the source already defines are kept and their fraction is ignored; a
    missing part with a fraction above 0 is split off the train part (stratified),
    so its fraction is of the train part. With ``standardize``, a
    :class:`Standardizer` is fitted on the train part only and applied to every
    part.
    """
    train, val, test = source if isinstance(source, tuple) else (source, None, None)
    tf = 0.0 if test is not None else test_fraction
    vf = 0.0 if val is not None else val_fraction
    if tf > 0.0 or vf > 0.0:
        train, new_val, new_test = split(train, test_fraction=tf, val_fraction=vf, rng=rng)
        val = new_val if val is None else val
        test = new_test if test is None else test
    if not standardize:
        return Splits(train=train, val=val, test=test, scaler=None)
    scaler = Standardizer.fit(train.X)
    return Splits(
        train=scaler.apply(train),
        val=None if val is None else scaler.apply(val),
        test=None if test is None else scaler.apply(test),
        scaler=scaler,
    )
