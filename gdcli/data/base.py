"""What a data set is: the ``Dataset`` table, the task it poses, and the array types."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from gdcli.errors import nearest

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
Task = Literal["binary", "multiclass", "regression"]
"""What a target asks for; the one definition (``nn`` reads it too)."""


@dataclass(frozen=True, eq=False)
class Dataset:
    """A table of ``n`` samples with ``p`` features and one target.

    ``X`` is ``(n, p)`` float64. ``y`` is ``(n,)``: int64 indices into ``class_names``
    for classification, float64 values for regression (``class_names`` is None).
    """

    X: FloatArray
    y: npt.NDArray[Any]
    feature_names: tuple[str, ...]
    class_names: tuple[str, ...] | None
    name: str

    def __post_init__(self) -> None:
        if self.X.ndim != 2 or self.X.dtype != np.float64:
            raise ValueError(f"X must be a 2-D float64 array, got {self.X.dtype} {self.X.shape}")
        if self.y.shape != (self.X.shape[0],):
            raise ValueError(f"y has shape {self.y.shape}, expected ({self.X.shape[0]},)")
        if len(self.feature_names) != self.X.shape[1]:
            raise ValueError(
                f"{len(self.feature_names)} feature names for {self.X.shape[1]} columns"
            )
        expected = np.float64 if self.class_names is None else np.int64
        if self.y.dtype != expected:
            raise ValueError(f"y must be {np.dtype(expected)}, got {self.y.dtype}")
        if (
            self.class_names is not None
            and self.y.size
            and (self.y.min() < 0 or self.y.max() >= len(self.class_names))
        ):
            raise ValueError(f"class indices outside 0..{len(self.class_names) - 1}")

    @property
    def task(self) -> Task:
        """``"regression"`` without class names, else binary or multiclass by their count."""
        if self.class_names is None:
            return "regression"
        return "binary" if len(self.class_names) == 2 else "multiclass"

    def take(self, indices: npt.ArrayLike) -> Dataset:
        """The samples at ``indices`` (an int array of length ``m``) as an ``(m, p)`` set."""
        idx = np.asarray(indices, dtype=np.intp)
        return replace(self, X=self.X[idx], y=self.y[idx])


Parts = tuple[Dataset, "Dataset | None", "Dataset | None"]
"""``(train, val, test)``; val and test may be absent."""


def unknown_name(kind: str, name: str, valid: Sequence[str]) -> str:
    """The message for a name that is not one of ``valid``."""
    return f"unknown {kind} '{name}'{hint(name, valid)}; choose one of: {', '.join(valid)}"


def hint(name: str, valid: Sequence[str]) -> str:
    """`` (did you mean 'x'?)`` for the valid name nearest to ``name``, or an empty string."""
    near = nearest(name, valid)
    return f" (did you mean '{near}'?)" if near else ""
