"""Data sets: built-in toy sets, bundled medical and image sets, CSV and NPZ files.

Every loader returns a :class:`Dataset` whose ``X`` is an ``(n, p)`` float64 array and
whose ``y`` is an ``(n,)`` array: int64 class indices into ``class_names`` for a
classification task, float64 values for a regression task (``class_names`` is None).
Class names are sorted (by name for text labels, numerically for integer labels), so
``class_names[1]`` is the positive class of a binary task whenever it sorts last
(``("benign", "malignant")``, ``("0", "1")``).

``base`` defines the table, ``datasets`` the named sets (the registry), ``files`` the
CSV and NPZ readers (public, shared with ``predict``), ``encoding`` the targets,
``scaling`` the standardizer and ``splits`` the train/validation/test parts. Bad data
is reported with :class:`gdcli.errors.DataError`, located by file, line and column
where there is one. Randomness comes only from the ``numpy.random.Generator`` a
caller passes in.
"""

from gdcli.data.base import Dataset, FloatArray, IntArray, Task
from gdcli.data.datasets import (
    BUILTIN,
    BUNDLED,
    DATASETS,
    LOGIC,
    DatasetInfo,
    load_bundled,
    make_builtin,
)
from gdcli.data.encoding import MAX_NUMERIC_CLASSES
from gdcli.data.files import (
    MAX_PROBLEMS,
    CsvTable,
    bad_cell,
    load_csv,
    load_npz,
    numeric_cells,
    raise_all,
    read_table,
    read_text,
    to_float,
)
from gdcli.data.reading import (
    MAX_ARRAY_BYTES,
    MAX_CSV_BYTES,
    MAX_NPZ_BYTES,
    NpzMessages,
    read_limited,
    read_npz,
    size_text,
)
from gdcli.data.scaling import Standardizer
from gdcli.data.splits import Parts, Splits, prepare, split

__all__ = [
    "BUILTIN",
    "BUNDLED",
    "DATASETS",
    "LOGIC",
    "MAX_ARRAY_BYTES",
    "MAX_CSV_BYTES",
    "MAX_NPZ_BYTES",
    "MAX_NUMERIC_CLASSES",
    "MAX_PROBLEMS",
    "CsvTable",
    "Dataset",
    "DatasetInfo",
    "FloatArray",
    "IntArray",
    "NpzMessages",
    "Parts",
    "Splits",
    "Standardizer",
    "Task",
    "bad_cell",
    "load_bundled",
    "load_csv",
    "load_npz",
    "make_builtin",
    "numeric_cells",
    "prepare",
    "raise_all",
    "read_limited",
    "read_npz",
    "read_table",
    "read_text",
    "size_text",
    "split",
    "to_float",
]
