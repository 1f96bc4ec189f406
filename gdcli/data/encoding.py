"""Targets as class indices or regression values."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from gdcli.data.base import FloatArray, IntArray

MAX_NUMERIC_CLASSES = 20
"""A numeric target with more distinct values than this (or any non-integer value)
is a regression target; otherwise its values are class labels."""


def encode_numeric(values: FloatArray) -> tuple[npt.NDArray[Any], tuple[str, ...] | None]:
    """``(n,)`` finite numbers -> class indices and names, or float64 values for regression."""
    distinct = np.unique(values)
    if len(distinct) > MAX_NUMERIC_CLASSES or np.any(distinct != np.round(distinct)):
        return values.astype(np.float64), None
    y = np.searchsorted(distinct, values).astype(np.int64)
    return y, tuple(str(int(v)) for v in distinct)


def encode_text(values: Sequence[str]) -> tuple[IntArray, tuple[str, ...]]:
    """``n`` labels -> ``(n,)`` indices into the sorted distinct labels."""
    names = tuple(sorted(set(values)))
    index = {label: i for i, label in enumerate(names)}
    return np.array([index[v] for v in values], dtype=np.int64), names
