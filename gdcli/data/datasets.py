"""The data sets gdcli knows by name: generated toy sets and bundled files, in one
registry (``DATASETS``) that config validation, the schema and the loaders read.

Randomness comes only from the ``numpy.random.Generator`` a caller passes in.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

import numpy as np

from gdcli.data.base import Dataset, FloatArray, IntArray, unknown_name
from gdcli.data.files import parse_csv
from gdcli.errors import DataError

DEFAULT_N = 200
BLOB_RING_RADIUS = 3.0
CIRCLES_FACTOR = 0.5
SPIRAL_ANGLE = 4.0  # radians an arm turns between r = 0 and r = 1


@dataclass(frozen=True)
class DatasetInfo:
    """A registry entry: ``kind`` is "logic" (the four corners of a truth table),
    "generated" (drawn from the caller's generator) or "bundled" (a file shipped
    with gdcli)."""

    kind: str
    description: str


DATASETS: dict[str, DatasetInfo] = {
    "xor": DatasetInfo("logic", "exclusive or of two bits: no line separates it"),
    "and": DatasetInfo("logic", "logical and of two bits"),
    "or": DatasetInfo("logic", "logical or of two bits"),
    "moons": DatasetInfo("generated", "two interleaving half circles"),
    "circles": DatasetInfo("generated", "a circle inside a circle"),
    "spirals": DatasetInfo("generated", "interleaved spiral arms, one class each"),
    "blobs": DatasetInfo("generated", "Gaussian clusters on a ring, one class each"),
    "breast_cancer": DatasetInfo("bundled", "Wisconsin diagnostic breast cancer, 569 x 30"),
    "digits": DatasetInfo("bundled", "8x8 handwritten digits, 1797 x 64"),
}
"""Data set name -> kind and description."""

LOGIC = tuple(n for n, d in DATASETS.items() if d.kind == "logic")
BUILTIN = tuple(n for n, d in DATASETS.items() if d.kind != "bundled")
BUNDLED = tuple(n for n, d in DATASETS.items() if d.kind == "bundled")

_CORNERS = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
_LOGIC_TARGETS = {
    "xor": np.array([0, 1, 1, 0], dtype=np.int64),
    "and": np.array([0, 0, 0, 1], dtype=np.int64),
    "or": np.array([0, 1, 1, 1], dtype=np.int64),
}


def make_builtin(
    name: str,
    *,
    n: int | None,
    noise: float,
    rng: np.random.Generator,
    arms: int = 2,
    centers: int = 3,
) -> Dataset:
    """A generated 2-D classification set: ``X`` is ``(n, 2)`` with features x1, x2.

    - ``xor``, ``and``, ``or``: without ``n``, exactly the four corners of the unit
      square with their truth-table targets and no noise; with ``n``, ``n`` points
      cycling through the corners (balanced across corners) plus Gaussian noise.
    - ``moons``: two interleaving half circles, as scikit-learn's ``make_moons``.
    - ``circles``: an outer unit circle (class 0) around an inner circle of radius 0.5
      (class 1), as scikit-learn's ``make_circles(factor=0.5)``.
    - ``spirals``: ``arms`` arms, one class each, points at radius 0..1 whose angle
      grows by 4 radians along the arm, the arms evenly rotated.
    - ``blobs``: ``centers`` isotropic Gaussian clusters of standard deviation
      ``noise`` whose centres sit evenly on a circle of radius 3 (a fixed layout, so
      ``noise`` alone sets how much the clusters overlap).

    For all but blobs, ``noise`` is the standard deviation of Gaussian noise added to
    both coordinates. ``n`` defaults to 200 for the non-logic sets; the generated
    samples are shuffled. The same ``rng`` state gives the same data.
    """
    if name not in BUILTIN:
        raise DataError(unknown_name("built-in data set", name, BUILTIN))
    if not (np.isfinite(noise) and noise >= 0):
        raise DataError(f"{name}: noise must be a finite number >= 0, got {noise}")
    if name in LOGIC:
        return _make_logic(name, n=n, noise=noise, rng=rng)
    n = DEFAULT_N if n is None else n
    k = {"spirals": arms, "blobs": centers}.get(name, 2)
    if k < 2:
        raise DataError(f"{name}: needs at least 2 classes, got {k}")
    if n < k:
        raise DataError(f"{name}: n must be at least {k} (one sample per class), got {n}")
    counts = np.full(k, n // k) + (np.arange(k) < n % k)
    if name == "moons":
        X, y = _moons(counts)
    elif name == "circles":
        X, y = _circles(counts)
    elif name == "spirals":
        X, y = _spirals(counts)
    else:
        X, y = _blob_centres(counts)
    X = X + rng.normal(0.0, noise, size=X.shape)
    order = rng.permutation(n)
    return Dataset(
        X=X[order],
        y=y[order],
        feature_names=("x1", "x2"),
        class_names=tuple(str(c) for c in range(k)),
        name=name,
    )


def _make_logic(name: str, *, n: int | None, noise: float, rng: np.random.Generator) -> Dataset:
    targets = _LOGIC_TARGETS[name]
    if n is None:
        X, y = _CORNERS.copy(), targets.copy()
    else:
        if n < 4:
            raise DataError(f"{name}: n must be at least 4 (one point per corner), got {n}")
        corner = np.arange(n) % 4
        X = _CORNERS[corner] + rng.normal(0.0, noise, size=(n, 2))
        y = targets[corner]
    return Dataset(X=X, y=y, feature_names=("x1", "x2"), class_names=("0", "1"), name=name)


def _labels(counts: IntArray) -> IntArray:
    return np.repeat(np.arange(len(counts), dtype=np.int64), counts)


def _moons(counts: IntArray) -> tuple[FloatArray, IntArray]:
    t_out = np.linspace(0.0, np.pi, counts[0])
    t_in = np.linspace(0.0, np.pi, counts[1])
    outer = np.column_stack([np.cos(t_out), np.sin(t_out)])
    inner = np.column_stack([1.0 - np.cos(t_in), 0.5 - np.sin(t_in)])
    return np.vstack([outer, inner]), _labels(counts)


def _circles(counts: IntArray) -> tuple[FloatArray, IntArray]:
    t_out = np.linspace(0.0, 2 * np.pi, counts[0], endpoint=False)
    t_in = np.linspace(0.0, 2 * np.pi, counts[1], endpoint=False)
    outer = np.column_stack([np.cos(t_out), np.sin(t_out)])
    inner = CIRCLES_FACTOR * np.column_stack([np.cos(t_in), np.sin(t_in)])
    return np.vstack([outer, inner]), _labels(counts)


def _spirals(counts: IntArray) -> tuple[FloatArray, IntArray]:
    arms = []
    for j, m in enumerate(counts):
        r = np.linspace(0.0, 1.0, m)
        theta = 2 * np.pi * j / len(counts) + SPIRAL_ANGLE * r
        arms.append(np.column_stack([r * np.cos(theta), r * np.sin(theta)]))
    return np.vstack(arms), _labels(counts)


def _blob_centres(counts: IntArray) -> tuple[FloatArray, IntArray]:
    """The noise-free blobs: every sample at its cluster centre on the ring."""
    y = _labels(counts)
    angle = 2 * np.pi * y / len(counts)
    return BLOB_RING_RADIUS * np.column_stack([np.cos(angle), np.sin(angle)]), y


def load_bundled(name: str) -> Dataset:
    """A data set shipped with gdcli.

    - ``breast_cancer``: Wisconsin diagnostic breast cancer, ``X`` (569, 30) with the
      header's feature names, classes ``("benign", "malignant")`` (malignant = 1).
    - ``digits``: 8x8 handwritten digits, ``X`` (1797, 64) = pixel / 16 in [0, 1],
      features ``px0..px63``, classes ``"0".."9"``.
    """
    if name == "breast_cancer":
        text = resources.files("gdcli.data.bundled").joinpath("wdbc.csv").read_text("utf-8")
        return parse_csv(text, source="wdbc.csv", target="diagnosis", name=name)
    if name == "digits":
        with resources.files("gdcli.data.bundled").joinpath("digits.npz").open("rb") as f:
            archive = np.load(f, allow_pickle=False)
            images, labels = archive["images"], archive["labels"]
        X = images.reshape(images.shape[0], -1).astype(np.float64) / 16.0
        return Dataset(
            X=X,
            y=labels.astype(np.int64),
            feature_names=tuple(f"px{i}" for i in range(X.shape[1])),
            class_names=tuple(str(c) for c in range(10)),
            name=name,
        )
    raise DataError(unknown_name("bundled data set", name, BUNDLED))
