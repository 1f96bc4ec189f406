"""Comparing arrays to the last bit."""

from __future__ import annotations

import numpy as np


def bits(a: np.ndarray | None) -> bytes:
    """a's bytes, every nan made one: IEEE 754 gives a nan's sign and payload no
    meaning, and which operand's nan an operation passes on is the compiler's choice
    (x86 passes on the first). Signed zeros and every number stay as they are."""
    if a is None:
        return b""
    a = np.array(a, dtype=np.float64, copy=True)
    a[np.isnan(a)] = np.nan
    return a.tobytes()
