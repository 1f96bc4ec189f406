"""Writes the bundled digits in the MedMNIST layout, for the tour's MedMNIST step.

    python docs/medmnist_like.py OUT.npz

MedMNIST files hold uint8 images ``{train,val,test}_images`` (n, H, W) and labels
``{train,val,test}_labels`` (n, 1). A real file (e.g. breastmnist.npz) is used the
same way: ``data: {npz: breastmnist.npz}``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from gdcli.data import load_bundled


def main(out: Path) -> None:
    ds = load_bundled("digits")
    images = np.rint(ds.X.reshape(-1, 8, 8) * 255).astype(np.uint8)
    labels = ds.y.astype(np.uint8)[:, None]
    order = np.random.default_rng(0).permutation(len(labels))
    parts = {"train": order[:1200], "val": order[1200:1450], "test": order[1450:]}
    arrays = {}
    for name, idx in parts.items():
        arrays[f"{name}_images"] = images[idx]
        arrays[f"{name}_labels"] = labels[idx]
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out, **arrays)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
