"""The compiled loops of ``_native.c``, where the package was built with them.

``kernels`` is the extension module, or None where it was not built (no C
compiler at install time) or ``GDCLI_NATIVE=0`` is set: every caller then takes its
numpy path, which gives the same numbers.
"""

from __future__ import annotations

import os
from types import ModuleType


def _load() -> ModuleType | None:
    if os.environ.get("GDCLI_NATIVE", "1") == "0":
        return None
    try:
        from gdcli.engine import _native
    except ImportError:
        return None
    return _native


kernels: ModuleType | None = _load()
