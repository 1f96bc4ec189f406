"""The shipped experiment files say what their runs do."""

from __future__ import annotations

import csv
import itertools
import json
from pathlib import Path

import pytest
from clitools import gdcli

CONFIGS = Path(__file__).parent.parent / "configs"


def test_cubic_gradient_creeps_to_the_degenerate_point_as_its_comment_says(
    tmp_path: Path,
) -> None:
    config = CONFIGS / "cubic-gradient.yaml"
    text = config.read_text(encoding="utf-8")
    assert "downhill forever" not in text
    assert "creeps towards the degenerate" in text and "x is still 0.053 after" in text
    out = tmp_path / "run"
    result = gdcli("descend", config, "--out", out, "--json")
    assert result.exit_code == 0, result.stderr
    (run,) = json.loads(result.stdout)["runs"]
    assert (run["status"], run["iterations"]) == ("max_iterations", 200)
    # x follows x - lr * 9x^2 = x - 0.09 x^2 from 3 and never crosses 0
    x = 3.0
    for _ in range(200):
        x -= 0.01 * 9.0 * x * x
    assert run["x"][0] == pytest.approx(x, rel=1e-12)
    assert f"{run['x'][0]:.3f}" == "0.053"
    assert abs(run["x"][1]) < 1e-15
    with (out / "trace.csv").open(newline="", encoding="utf-8") as fh:
        xs = [float(row[next(k for k in row if k in ("x", "x1"))]) for row in csv.DictReader(fh)]
    assert all(a > b > 0.0 for a, b in itertools.pairwise(xs))
