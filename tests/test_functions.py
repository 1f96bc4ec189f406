"""Tests for gdcli.engine.functions (the library, resolve) and gdcli.engine.analysis."""

from __future__ import annotations

import io
import json
import math
import re

import numpy as np
import pytest
from rich.console import Console

from gdcli.engine import autograd as ag
from gdcli.engine.analysis import (
    analyze_point,
    classify,
    classify_eigenvalues,
    run_grad,
    stable_step_bound,
)
from gdcli.engine.functions import LIBRARY, library_summary, resolve
from gdcli.errors import ExpressionError, UserError
from gdcli.render import report

# every library function in every dimension we check: any-n ones at n = 2 and n = 5
ENTRIES = [
    (name, d)
    for name, f in LIBRARY.items()
    for d in ([f.dimension] if f.dimension is not None else [2, 5])
]
IDS = [f"{name}-{d}d" for name, d in ENTRIES]

# what analyze_point should call each listed kind of critical point
VERDICT = {
    "global minimum": "minimum",
    "local minimum": "minimum",
    "maximum": "maximum",
    "saddle": "saddle",
    "degenerate": "degenerate",
}


def test_the_library_holds_the_lecture_functions_and_the_classics() -> None:
    for name in ("cubic_quadratic", "cubic_saddle", "gaussian_bumps", "exp_square"):
        assert name in LIBRARY
    for name in ("sphere", "rosenbrock", "rastrigin", "ackley", "himmelblau", "beale"):
        assert name in LIBRARY
    assert all(f.name == key for key, f in LIBRARY.items())


@pytest.mark.parametrize(("name", "d"), ENTRIES, ids=IDS)
def test_listed_critical_points_have_zero_gradient_and_the_listed_value(name: str, d: int) -> None:
    fn = resolve(name, d)
    points = LIBRARY[name].critical_points(d)
    assert points, f"{name} lists no critical point"
    X = np.array([p.x for p in points])
    assert X.shape == (len(points), d)
    values, grads = ag.value_and_grad(fn.objective, X)
    for p, v, g in zip(points, values, grads, strict=True):
        assert np.linalg.norm(g) < 1e-6, f"{name} at {p.x}: |grad| = {np.linalg.norm(g):.3g}"
        assert abs(v - p.f) <= 1e-9 * max(1.0, abs(p.f)), f"{name} at {p.x}: f = {v!r} != {p.f!r}"


@pytest.mark.parametrize(("name", "d"), ENTRIES, ids=IDS)
def test_listed_kinds_agree_with_the_second_order_test(name: str, d: int) -> None:
    fn = resolve(name, d)
    for p in LIBRARY[name].critical_points(d):
        kind = analyze_point(fn, np.array(p.x)).classification
        if name == "ackley":
            # Ackley's minimum is the tip of a cone (sqrt of a sum of squares): a kink,
            # where no Hessian exists and the second-order test must not pretend.
            assert kind == "non-smooth", (name, p)
        else:
            assert kind == VERDICT[p.kind], (name, p)


@pytest.mark.parametrize(
    ("formula", "at", "kind"),
    [
        ("abs(x)", [0.0], "non-smooth"),
        ("relu(x) + y**2", [0.0, 0.0], "non-smooth"),
        ("abs(x)", [1.0], "not-critical"),
        ("sqrt(-x)", [1.0], "undefined"),
        ("x**0.5", [0.0], "undefined"),
        ("x**2 + y**2", [0.0, 0.0], "minimum"),
    ],
)
def test_kinks_and_non_finite_points_are_not_given_a_second_order_verdict(
    formula: str, at: list[float], kind: str
) -> None:
    fn = resolve(formula, len(at))
    assert analyze_point(fn, np.array(at)).classification == kind


@pytest.mark.parametrize(("name", "d"), ENTRIES, ids=IDS)
def test_gradient_matches_central_differences_on_the_domain(
    name: str, d: int, fd_gradient, rel_err
) -> None:
    fn = resolve(name, d)
    bounds = np.array(LIBRARY[name].domain(d))
    assert bounds.shape == (d, 2) and (bounds[:, 0] < bounds[:, 1]).all()
    rng = np.random.default_rng(20240501 + d)
    X = rng.uniform(bounds[:, 0], bounds[:, 1], size=(6, d))
    _, grads = ag.value_and_grad(fn.objective, X)
    for x, g in zip(X, grads, strict=True):
        fd = fd_gradient(lambda v: float(fn.values(v[None, :])[0]), x)
        assert rel_err(g, fd) < 1e-7, f"{name} at {x}"


@pytest.mark.parametrize(("name", "d"), ENTRIES, ids=IDS)
def test_minima_lie_inside_the_suggested_domain(name: str, d: int) -> None:
    entry = LIBRARY[name]
    bounds = np.array(entry.domain(d))
    for p in entry.minima(d):
        assert ((bounds[:, 0] <= p.x) & (p.x <= bounds[:, 1])).all(), (name, p.x, bounds)
    if not entry.minima(d):
        assert entry.no_minimum, f"{name} has no minimum and does not say why"


def test_any_n_minima_scale_with_the_dimension() -> None:
    st = LIBRARY["styblinski_tang"]
    (m2,) = st.minima(2)
    (m5,) = st.minima(5)
    assert m5.f == pytest.approx(2.5 * m2.f, rel=1e-14)
    assert m2.f == pytest.approx(-78.33233140754282, rel=1e-12)
    assert LIBRARY["rosenbrock"].minima(7)[0].x == (1.0,) * 7


# -- classification ---------------------------------------------------------------

WORKED = [
    ("2*x**3 - 6*x*y + 3*y**2", (0.0, 0.0), "saddle"),
    ("2*x**3 - 6*x*y + 3*y**2", (1.0, 1.0), "minimum"),
    ("x*y*exp(-(x**2+y**2)/2)", (1.0, -1.0), "minimum"),
    ("x*y*exp(-(x**2+y**2)/2)", (-1.0, 1.0), "minimum"),
    ("x*y*exp(-(x**2+y**2)/2)", (1.0, 1.0), "maximum"),
    ("x*y*exp(-(x**2+y**2)/2)", (-1.0, -1.0), "maximum"),
    ("x*y*exp(-(x**2+y**2)/2)", (0.0, 0.0), "saddle"),
    ("3*x**3 + 10*y**2", (0.0, 0.0), "degenerate"),
    ("3*x**3 + 10*y**2", (3.0, 3.0), "not-critical"),
]


@pytest.mark.parametrize(("formula", "at", "kind"), WORKED)
def test_lecture_points_are_classified(formula: str, at: tuple[float, float], kind: str) -> None:
    a = analyze_point(resolve(formula, 2), np.array(at))
    assert a.classification == kind


def test_cubic_saddle_analysis_numbers() -> None:
    a = run_grad("2*x**3 - 6*x*y + 3*y**2", [1.0, 1.0]).analysis
    assert a.value == -1.0
    np.testing.assert_array_equal(a.gradient, [0.0, 0.0])
    np.testing.assert_allclose(a.hessian, [[12.0, -6.0], [-6.0, 6.0]], rtol=1e-9)
    # eigenvalues of [[12, -6], [-6, 6]]: 9 -+ sqrt(45), ascending
    np.testing.assert_allclose(a.eigenvalues, [9 - math.sqrt(45), 9 + math.sqrt(45)], rtol=1e-9)
    assert a.grad_norm == 0.0


def test_classify_eigenvalues_signs_and_tolerance() -> None:
    lam = np.array(
        [
            [1.0, 2.0],
            [-3.0, -1.0],
            [-1.0, 1.0],
            [0.0, 5.0],
            [1e-7, 1.0],  # zero within 1e-6 * max(1, |lambda|)
            [1e-5, 1.0],  # clearly positive
            [2e-4, 1000.0],  # zero relative to the largest: 2e-4 <= 1e-6 * 1000
            [np.nan, 1.0],
        ]
    )
    kinds = classify_eigenvalues(lam)
    expected = [
        "minimum",
        "maximum",
        "saddle",
        "degenerate",
        "degenerate",
        "minimum",
        "degenerate",
        "degenerate",
    ]
    assert list(kinds) == expected


def test_classify_marks_large_or_nan_gradients_not_critical() -> None:
    grads = np.array([[0.0, 5e-7], [0.0, 2e-6], [np.nan, 0.0]])
    lam = np.array([[1.0, 2.0], [1.0, 2.0], [1.0, 2.0]])
    assert list(classify(grads, lam)) == ["minimum", "not-critical", "not-critical"]


def test_stable_step_bound_is_two_over_the_largest_eigenvalue() -> None:
    assert stable_step_bound(np.diag([2.0, 200.0])) == pytest.approx(0.01, rel=1e-14)
    assert stable_step_bound(np.array([[12.0, -6.0], [-6.0, 6.0]])) == pytest.approx(
        2 / (9 + math.sqrt(45)), rel=1e-14
    )
    assert stable_step_bound(np.diag([-1.0, -2.0])) == math.inf


# -- resolve ------------------------------------------------------------------------


def test_resolve_library_names_are_forgiving_about_case_and_hyphens() -> None:
    fn = resolve("Three-Hump-Camel")
    assert fn.name == "three_hump_camel" and fn.entry is LIBRARY["three_hump_camel"]
    assert fn.variables == ("x", "y")


def test_resolve_any_n_function_takes_the_dimension_of_the_point() -> None:
    fn = resolve("rosenbrock", 4)
    assert fn.variables == ("x1", "x2", "x3", "x4")
    assert fn.values(np.ones((1, 4)))[0] == 0.0
    assert fn.values(np.zeros((1, 4)))[0] == 3.0  # three (1 - 0)^2 terms


@pytest.mark.parametrize(
    ("spec", "dimension", "needle"),
    [
        ("rosenbrock", 1, "takes any n >= 2 variable(s), got a point with 1"),
        ("himmelblau", 3, "takes 2 variable(s), got a point with 3"),
        ("x**2 + y**2", 3, "has 2 variable(s) (x, y), got a point with 3"),
        pytest.param("3*x**3 + 10*y**2", 1, "has 2 variable(s) (x, y), got a point with 1"),
        ("rosenbrok", 2, "did you mean 'rosenbrock'?"),
        ("himmelblu", 2, "did you mean 'himmelblau'?"),
        ("banana", None, "unknown function 'banana'"),
    ],
)
def test_resolve_rejects_with_a_message_naming_the_problem(spec, dimension, needle) -> None:
    with pytest.raises(UserError) as err:
        resolve(spec, dimension)
    assert needle in str(err.value)
    assert "\n" not in str(err.value)


def test_resolve_short_bare_names_are_formulas() -> None:
    fn = resolve("t", 1)
    assert fn.variables == ("t",) and fn.entry is None
    with pytest.raises(ExpressionError, match="'sin' is a function"):
        resolve("sin")


def test_resolve_declared_variable_order() -> None:
    fn = resolve("x - 2*y", 2, variables=("y", "x"))
    values, grads = ag.value_and_grad(fn.objective, np.array([[1.0, 5.0]]))  # y = 1, x = 5
    assert values[0] == 3.0
    np.testing.assert_array_equal(grads[0], [-2.0, 1.0])


def test_library_name_with_declared_variables_gets_a_sensible_message() -> None:
    with pytest.raises(UserError) as err:
        resolve("sphere", 2, variables=("a", "b"))
    assert "did you mean 'sphere'" not in str(err.value)


def test_gradients_quoted_in_descriptions_are_right() -> None:
    claim = re.compile(r"grad f\(([^)]*)\) = \(([^)]*)\)")
    checked = 0
    for f in LIBRARY.values():
        for at, grad in claim.findall(f.description):
            x = [float(v) for v in at.split(",")]
            _, g = ag.value_and_grad(f.objective, np.array([x]))
            assert g[0].tolist() == [float(v) for v in grad.split(",")], (f.name, at)
            checked += 1
    assert checked >= 2


# -- gdcli functions data and table ---------------------------------------------------


def test_library_summary_is_plain_json_with_every_minimum() -> None:
    summary = library_summary()
    assert [s["name"] for s in summary] == list(LIBRARY)
    back = json.loads(json.dumps(summary, allow_nan=False))
    for s, f in zip(back, LIBRARY.values(), strict=True):
        assert s["expression"] == f.formula
        assert s["dimension"] == f.dimension
        assert len(s["domain"]) == (f.dimension or 2)
        assert [(m["x"], m["f"]) for m in s["minima"]] == [(list(p.x), p.f) for p in f.minima()]
    himmelblau = back[list(LIBRARY).index("himmelblau")]
    assert len(himmelblau["minima"]) == 4
    gaussian = back[list(LIBRARY).index("gaussian_bumps")]
    assert sorted(c["kind"] for c in gaussian["critical_points"]) == [
        "maximum",
        "maximum",
        "saddle",
    ]


def _rendered_rows(text: str) -> dict[str, list[str]]:
    """Table body rows keyed by name; wrapped continuation lines joined into their row."""
    rows: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in text.splitlines():
        if not line.startswith("│"):
            continue
        cells = [c.strip() for c in line.strip("│").split("│")]
        if cells[0]:
            current = rows.setdefault(cells[0], cells)
        elif current is not None:
            for i, c in enumerate(cells):
                if c:
                    current[i] = f"{current[i]} {c}".strip()
    return rows


def test_functions_table_renders_on_a_fixed_width_console() -> None:
    out = io.StringIO()
    console = Console(width=100, record=True, file=out)
    report.functions_table(console, LIBRARY.values())
    text = console.export_text()
    assert "\x1b" not in out.getvalue()
    assert all(len(line) <= 100 for line in text.splitlines())
    rows = _rendered_rows(text)
    assert list(rows) == list(LIBRARY)
    assert rows["cubic_quadratic"] == ["cubic_quadratic", "2", "[-4, 4] x [-4, 4]", "none"]
    assert rows["rosenbrock"] == ["rosenbrock", "any n >= 2", "[-2, 2] x [-1, 3]", "(1, 1) -> 0"]
    assert rows["exp_square"] == ["exp_square", "1", "[-1.5, 1.5]", "(0) -> 8.154845"]
    assert rows["gaussian_bumps"][3] == "(1, -1) -> -0.3678794 (-1, 1) -> -0.3678794"
    assert rows["styblinski_tang"][3] == "(-2.903534, -2.903534) -> -78.33233"
    assert rows["goldstein_price"][1:] == ["2", "[-2, 2] x [-2, 2]", "(0, -1) -> 3"]
