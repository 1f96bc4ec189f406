"""The compiled loops of ``_native.c``, where the package was built with them.

``kernels`` is the extension module, or None where it was not built (no C
compiler at install time) or ``GDCLI_NATIVE=0`` is set: every caller then takes its
numpy path, which gives the same numbers.
"""

from __future__ import annotations

import os
from types import ModuleType

import numpy as np


def _load() -> ModuleType | None:
    if os.environ.get("GDCLI_NATIVE", "1") == "0":
        return None
    try:
        from gdcli.engine import _native
    except ImportError:
        return None
    return _native


kernels: ModuleType | None = _load()


def loops_for(*arrays: np.ndarray | None) -> ModuleType | None:
    """``kernels`` where they were built and every array given (None: an optional one
    left out) is a contiguous float64 one, as the loops take them; else None."""
    if kernels is None:
        return None
    given = [a for a in arrays if a is not None]
    if not all(a.dtype == np.float64 and a.flags.c_contiguous for a in given):
        return None
    return kernels
