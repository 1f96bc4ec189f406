"""Per-column scaling, fitted on the training part only."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from gdcli.data.base import Dataset, FloatArray
from gdcli.errors import DataError


@dataclass(frozen=True, eq=False)
class Standardizer:
    """Per-column affine scaling ``(X - mean) / scale``; ``mean`` and ``scale`` are ``(p,)``.

    Fit it on the training part only, then transform every part with it.
    """

    mean: FloatArray
    scale: FloatArray

    @classmethod
    def fit(cls, X: FloatArray) -> Standardizer:
        """Column means and population standard deviations of ``X`` (``(n, p)``, n >= 1).

        A constant column gets scale 1, so it maps to zeros instead of NaN.
        """
        if X.ndim != 2 or X.shape[0] == 0:
            raise ValueError(f"cannot fit a standardizer on an array of shape {X.shape}")
        mean = X.mean(axis=0)
        scale = X.std(axis=0)
        # max == min is an exact test for a constant column; std may be 1e-17 there.
        scale[np.ptp(X, axis=0) == 0] = 1.0
        return cls(mean=mean, scale=scale)

    def transform(self, X: FloatArray) -> FloatArray:
        """``(n, p)`` -> ``(n, p)`` standardized copy."""
        if X.ndim != 2 or X.shape[1] != self.mean.shape[0]:
            raise DataError(
                f"expected {self.mean.shape[0]} features, got an array of shape {X.shape}"
            )
        return (X - self.mean) / self.scale

    def apply(self, ds: Dataset) -> Dataset:
        """``ds`` with its ``X`` standardized."""
        return replace(ds, X=self.transform(ds.X))
