"""Edges of the grad verdicts, data and model files (issues 12 and 13): what is not
there is not printed, special and oversized files are refused before they are read."""

from __future__ import annotations

import pytest

from tests.clitools import gdcli, parse_json

# -- grad: no Hessian where there is none (issue 12 item 6) -----------------------------


@pytest.mark.parametrize(
    ("formula", "at", "kind"),
    [
        ("relu(x)", "0", "non-smooth"),
        ("abs(x)", "0", "non-smooth"),
        ("x**99999999", "1", "undefined"),
    ],
)
def test_no_hessian_is_reported_where_the_point_has_none(formula: str, at: str, kind: str) -> None:
    out = parse_json(gdcli("grad", formula, "--at", at, "--json").stdout)
    assert out["classification"] == kind
    assert out["hessian"] is None and out["eigenvalues"] is None
    table = gdcli("grad", formula, "--at", at).stdout
    assert f"point is    {kind}" in table
    assert "Hessian" not in table.replace("no Hessian", "").replace("its Hessian", "")
    assert "eigenvalues" not in table and "1166" not in table and "2333" not in table


def test_a_smooth_point_keeps_its_hessian_table() -> None:
    table = gdcli("grad", "1e-7*(x**2 + y**2)", "--at", "0,0").stdout
    assert "Hessian" in table and "eigenvalues" in table
    assert "point is    minimum" in table
