"""``TraceWriter.write_columns`` joins plain lines itself: the csv module's text, byte
for byte, with and without cells that need quoting, however many rows it formats at
a time."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gdcli import runs
from gdcli.runs import TraceWriter


@pytest.mark.parametrize("block", [7, 40, runs.COLUMN_ROWS])
@pytest.mark.parametrize("label", ["adam", "adam, lr 0.1", 'say "hi"', "two\nlines", ""])
def test_write_columns_is_write_many_byte_for_byte(
    tmp_path: Path, label: str, block: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runs, "COLUMN_ROWS", block)
    rng = np.random.default_rng(5)
    n = 40
    columns = {
        "run": 0,
        "optimizer": label,
        "start": np.arange(n),
        "iteration": np.arange(n, dtype=np.uint32),
        "f": rng.normal(size=n) * 10.0 ** rng.integers(-300, 300, n),
        "ok": [bool(i % 2) for i in range(n)],
        "none": [None] * n,
    }
    columns["f"][[3, 5, 7]] = [np.nan, np.inf, -0.0]
    names = list(columns)
    with TraceWriter(tmp_path / "a.csv", names) as a:
        a.write_columns(columns, n)
    rows = [
        {k: (v[i] if isinstance(v, (np.ndarray, list)) else v) for k, v in columns.items()}
        for i in range(n)
    ]
    with TraceWriter(tmp_path / "b.csv", names) as b:
        b.write_many(rows)
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()


def test_a_lone_empty_column_is_quoted_as_csv_does(tmp_path: Path) -> None:
    with TraceWriter(tmp_path / "a.csv", ["name"]) as a:
        a.write_columns({"name": ["", "x"]}, 2)
    assert (tmp_path / "a.csv").read_text() == 'name\n""\nx\n'
